"""bot.rasa_plugins.tracker_store on the live Rasa server: what lands in the SQLite file.

The store skips Rasa's recount of stored events at every save, trusting the count its
retrieve saw. If that were ever wrong, events would be written twice or not at all;
and if Rasa could not import the store, it would quietly keep conversations in memory.
So: real turns (answers, a form, a restart) through the REST channel, and after each
one the events in the database must be exactly Rasa's tracker, once each, in order.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

from bot.devtools.stack import TRACKER_STORE_TYPE
from bot.evaluation.stories import StoryRunner, _http
from bot.rasa_plugins.server import api_url


def _stored_rows(runner: StoryRunner, sender: str) -> list[str]:
    path = runner.settings.var_dir / "tracker.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return [data for (data,) in db.execute("SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,))]


def _tracker_events(runner: StoryRunner, sender: str) -> list[tuple[str, float]]:
    url = api_url(runner.rasa_url, f"/conversations/{sender}/tracker", runner.settings.rasa_token, include_events="ALL")
    tracker = _http("GET", url)
    return [(e["event"], e["timestamp"]) for e in tracker["events"]]


def test_the_live_server_uses_our_store_and_writes_each_event_once(live_runner: StoryRunner) -> None:
    endpoints = (live_runner.settings.var_dir / "endpoints.yml").read_text()
    assert f"type: {TRACKER_STORE_TYPE}" in endpoints
    sender = f"store-{uuid.uuid4().hex[:12]}"
    turns = [
        "hi",
        "how do I submit a claim?",
        "please call me back",
        "Maria Lopez",
        "how long do you take to answer an email?",  # a question in the middle of the form
        "+44 20 7946 0958",
        "cancel",
        "/restart",
        "how do I reset my password?",
    ]
    rows_before = 0
    for n, text in enumerate(turns, 1):
        assert live_runner.send(sender, text) or text == "/restart", text
        rows = _stored_rows(live_runner, sender)
        # Rasa's tracker is rebuilt from these rows, so it shows a duplicate too: the
        # independent checks are that no event is stored twice and none is skipped.
        assert len(set(rows)) == len(rows), f"an event was stored twice after {text!r}"
        stored = [(json.loads(r)["event"], json.loads(r)["timestamp"]) for r in rows]
        assert [kind for kind, _ in stored].count("user") == n, f"the user event of {text!r} is missing"
        assert stored[-1][0] == "action" and json.loads(rows[-1])["name"] == "action_listen", text
        assert stored == _tracker_events(live_runner, sender), text
        assert len(rows) > rows_before, text
        rows_before = len(rows)
    assert {"user", "bot", "action", "active_loop", "slot", "restart"} <= {kind for kind, _ in stored}
