"""The web app: member help page with the chat widget, source documents, agent console, JSON API.

Start it with ``python -m bot.web --port 8080`` (``bot.devtools.stack`` does); build it in code
with :func:`bot.web.app.create_app`.
"""

from bot.web.app import create_app

__all__ = ["create_app"]
