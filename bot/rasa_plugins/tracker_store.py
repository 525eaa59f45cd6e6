"""Rasa's SQL tracker store without the recount of stored events at every save.

This module runs inside the Rasa server (``.venv-rasa``): ``endpoints.yml`` names
:class:`CountedSQLTrackerStore` as its tracker store type. It may import only Rasa and
the standard library.

Why: Rasa 3.6's ``SQLTrackerStore.save`` finds the events it has not written yet by
counting, with a second query, the events of the conversation's latest session in the
database; under 20 concurrent conversations that query alone took 12% of the Rasa
server's CPU (py-spy). But every save follows a ``retrieve`` of the same conversation in
the same turn, under the conversation's lock, and that retrieve has just read exactly
those events. So we remember how many it read and use that number once, at the next
save. Anything else falls back to Rasa's own count: a save with no retrieve before it,
a second save in the same turn, a tracker fetched with all sessions, a failed write.

Caution, because Rasa falls back to a tracker store *in memory* with only a warning when
it cannot import a custom type: tests/test_retention.py records real conversations and
reads them back from the SQLite file, and tests/test_rasa_tracker_store.py checks the
stored events turn by turn.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

#: Conversations whose count is remembered at most (reads with no save after them, such as
#: a transcript shown in the agent console, would otherwise pile up).
MAX_REMEMBERED = 10_000


class CountedSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` that reuses the event count its last retrieve saw."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Conversation id -> events of its latest session in the database, as read by
        #: the last retrieve; taken (and so forgotten) by the next save.
        self._stored: dict[str, int] = {}

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        # Forget first: if the read fails, the next save must count for itself.
        self._stored.pop(sender_id, None)
        tracker = await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        if not fetch_events_from_all_sessions:
            if len(self._stored) >= MAX_REMEMBERED:
                self._stored.pop(next(iter(self._stored)))  # the oldest
            self._stored[sender_id] = len(tracker.events) if tracker is not None else 0
        return tracker

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        stored = self._stored.pop(tracker.sender_id, None)
        if stored is None or stored > len(tracker.events):
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))
