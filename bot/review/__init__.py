"""Conversation review: the answer log seen by reviewers, their verdicts and the audit log.

``store.py`` queries the answer log and keeps review actions and audit entries (tables in
bot/requests/models.py, in the request store's database); ``grouping.py`` puts similar
questions together with the index's own query encoder; ``charts.py`` draws the dashboard
as inline SVG; ``export.py`` writes reviewed items into the data files the index and the
calibration read.
"""
