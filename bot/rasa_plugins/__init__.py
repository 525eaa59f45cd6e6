"""Code the Rasa server loads (named in credentials.yml, endpoints.yml and rasa-logging.yml).

Runs in .venv-rasa (Python 3.10): standard library and Rasa's own dependencies only.
"""
