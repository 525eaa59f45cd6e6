"""Retention and erasure across the two places member data lives: Rasa's tracker store and ours.

Conversations are in Rasa's SQL tracker store (table ``events``, one row per event, keyed
by ``sender_id``; SQLite ``var/tracker.db`` by default, PostgreSQL when scaled out);
requests, notes, status events, the answer log, reviewers' actions on it and the
audit log are in the request store (:mod:`bot.requests.store`), and so are live chats
with agents (:mod:`bot.live.store`), which go with their conversation. Two operations,
both behind ``bot retention``:

* :func:`purge` (regular retention): delete conversations whose last event is older
  than the retention period and, in the request store, requests closed, answers
  logged, review actions taken and audit entries written before then. A conversation
  that an open request points to is kept: the agent working on it may need it.
* :func:`erase` (a completed deletion request, GDPR art. 17): delete everything about
  one member found by member id and/or email: their requests with notes and events,
  the conversations those requests came from with the answers logged in them (and
  reviewers' actions on those answers, which copy the question), and
  conversations in which the member typed one of those identifiers (a form abandoned
  before submission still holds them).

Order matters for erasure: only the request rows link a member to their conversation
ids, so conversations are deleted first and the requests last; if anything fails, the
command can simply be run again. Reports carry counts only, never identifiers. On
SQLite, deleted rows are zeroed in the file (``secure_delete``) and the write-ahead log
is checkpointed, so the values are gone from disk, not just from query results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    or_,
    select,
)
from sqlalchemy import delete as sql_delete
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.dialogue.validation import normalise_member_id
from bot.live.store import LiveStore, LiveStoreError
from bot.requests import RequestStore, RequestStoreError
from bot.settings import Settings

__all__ = ["RetentionError", "RetentionReport", "TrackerDatabase", "erase", "purge"]

_CHUNK = 500
#: Event types whose data can hold what the member typed: their messages and slot values.
_MEMBER_INPUT_EVENTS = ("user", "slot")

# Rasa's SQLTrackerStore.SQLEvent (rasa/core/tracker_store.py), the columns we use.
_METADATA = MetaData()
EVENTS = Table(
    "events",
    _METADATA,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("data", Text),
)


class RetentionError(Exception):
    """A database could not be read or changed; the message names which, never the data."""


@dataclass
class RetentionReport:
    """What a purge or erasure deleted (or, on a dry run, would delete): counts per kind."""

    action: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)

    #: Printed labels, in order; keys missing from ``counts`` are not printed.
    LABELS = {
        "conversations": "conversations",
        "conversations_by_request": "  linked by the member's requests",
        "conversations_by_identifier": "  found by the member's identifiers",
        "conversations_kept": "conversations kept (open request)",
        "conversation_events": "conversation events",
        "requests": "requests",
        "notes": "request notes",
        "events": "request status events",
        "answers": "recorded answers (with feedback)",
        "review_actions": "review actions on answers",
        "audit_entries": "audit log entries",
        "live_messages": "live chat messages",
    }

    def lines(self) -> list[str]:
        """Human-readable summary, one count per line."""
        verb = "would delete" if self.dry_run else "deleted"
        head = f"retention {self.action}{' (dry run, nothing deleted)' if self.dry_run else ''}: {verb}"
        width = max(len(label) for label in self.LABELS.values())
        body = [f"  {label:<{width}}  {self.counts[key]}" for key, label in self.LABELS.items() if key in self.counts]
        return [head, *body]


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def _checkpoint(engine: Engine) -> None:
    """On SQLite in WAL mode, move committed pages into the file and empty the log (deleted values included)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


class TrackerDatabase:
    """Rasa's SQL tracker store, read and pruned directly with SQLAlchemy Core.

    Rasa has no API to delete a conversation, and its tracker store rows are plain:
    deleting a sender's rows is what deleting the conversation means (Rasa starts a new,
    empty tracker if that sender writes again). A SQLite file that does not exist yet
    (Rasa never ran) is an empty store; it is not created.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        path = _sqlite_file(url)
        self._missing = path is not None and not path.is_file()
        kwargs: dict[str, Any] = {"hide_parameters": True}
        if make_url(url).get_backend_name() != "sqlite":
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise RetentionError(f"cannot open the tracker store ({type(exc).__name__})") from exc
        if self.engine.dialect.name == "sqlite":

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA busy_timeout=10000")  # Rasa may be writing
                cursor.execute("PRAGMA secure_delete=ON")  # zero deleted rows in the file
                cursor.close()

    def close(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> TrackerDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _has_events(self) -> bool:
        if self._missing:
            return False
        try:
            with self.engine.connect() as connection:
                return self.engine.dialect.has_table(connection, "events")
        except SQLAlchemyError as exc:
            raise RetentionError(f"cannot read the tracker store ({type(exc).__name__})") from exc

    def idle_conversations(self, before: datetime) -> list[str]:
        """Senders whose newest event is older than ``before``."""
        if not self._has_events():
            return []
        query = (
            select(EVENTS.c.sender_id)
            .group_by(EVENTS.c.sender_id)
            .having(func.max(EVENTS.c.timestamp) < before.timestamp())
        )
        return sorted(self._scalars(query))

    def conversations_mentioning(self, email: str | None = None, member_id: str | None = None) -> list[str]:
        """Senders who typed this email or member id, as a message or as a slot value.

        SQL narrows the search with a case-insensitive substring match on the event
        data; each candidate is then checked in Python on the parsed event (whole value,
        not part of a longer one), so a member id that happens to occur inside a
        timestamp or another id never makes us erase someone else's conversation.
        """
        matchers = _identifier_patterns(email, member_id)
        if not matchers or not self._has_events():
            return []
        query = select(EVENTS.c.sender_id, EVENTS.c.data).where(
            EVENTS.c.type_name.in_(_MEMBER_INPUT_EVENTS),
            or_(*(func.lower(EVENTS.c.data).contains(needle, autoescape=True) for needle, _ in matchers)),
        )
        found: set[str] = set()
        try:
            with self.engine.connect() as connection:
                for sender_id, data in connection.execute(query):
                    if sender_id not in found and _mentions(data, [pattern for _, pattern in matchers]):
                        found.add(sender_id)
        except SQLAlchemyError as exc:
            raise RetentionError(f"cannot read the tracker store ({type(exc).__name__})") from exc
        return sorted(found)

    def delete_conversations(
        self, sender_ids: Iterable[str], *, idle_before: datetime | None = None, dry_run: bool = False
    ) -> dict[str, int]:
        """Delete every event of these senders; returns counts of conversations and events.

        With ``idle_before`` a conversation is only deleted if it is still idle when the
        delete runs (the member may have come back since it was selected).
        """
        ids = sorted(set(sender_ids))
        counts = {"conversations": 0, "conversation_events": 0}
        if not ids or not self._has_events():
            return counts
        try:
            with self.engine.begin() as connection:
                for start in range(0, len(ids), _CHUNK):
                    chunk = ids[start : start + _CHUNK]
                    condition = EVENTS.c.sender_id.in_(chunk)
                    if idle_before is not None:
                        active = select(EVENTS.c.sender_id).where(
                            condition, EVENTS.c.timestamp >= idle_before.timestamp()
                        )
                        condition = condition & EVENTS.c.sender_id.not_in(active)
                    counts["conversations"] += connection.execute(
                        select(func.count(func.distinct(EVENTS.c.sender_id))).where(condition)
                    ).scalar_one()
                    if dry_run:
                        counts["conversation_events"] += connection.execute(
                            select(func.count()).select_from(EVENTS).where(condition)
                        ).scalar_one()
                    else:
                        counts["conversation_events"] += connection.execute(
                            sql_delete(EVENTS).where(condition)
                        ).rowcount
            if not dry_run:
                _checkpoint(self.engine)
        except SQLAlchemyError as exc:
            raise RetentionError(f"cannot delete from the tracker store ({type(exc).__name__})") from exc
        return counts

    def _scalars(self, query: Any) -> list[Any]:
        try:
            with self.engine.connect() as connection:
                return list(connection.execute(query).scalars())
        except SQLAlchemyError as exc:
            raise RetentionError(f"cannot read the tracker store ({type(exc).__name__})") from exc


def _identifier_patterns(email: str | None, member_id: str | None) -> list[tuple[str, re.Pattern[str]]]:
    """(lower-case SQL needle, exact-match pattern) for each identifier given."""
    out = []
    if email and email.strip():
        value = " ".join(email.split()).lower()
        # Not part of a longer address: no address character before, no domain continuing after.
        pattern = re.compile(
            rf"(?<![A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~\-]){re.escape(value)}(?![A-Za-z0-9\-]|\.[A-Za-z0-9])", re.I
        )
        out.append((value, pattern))
    if member_id and member_id.strip():
        value = normalise_member_id(member_id)
        out.append((value.lower(), re.compile(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", re.I)))
    return out


def _mentions(data: str | None, patterns: Sequence[re.Pattern[str]]) -> bool:
    """Whether a user or slot event's text/value contains one of the identifiers."""
    try:
        parsed = json.loads(data or "{}")
    except ValueError:
        return False
    values = [parsed.get("text"), parsed.get("value")] if isinstance(parsed, dict) else []
    texts = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values if v is not None]
    return any(p.search(t) for p in patterns for t in texts)


def _open(settings: Settings) -> tuple[RequestStore, TrackerDatabase]:
    try:
        store = RequestStore.from_settings(settings)
        store.create_schema()
    except RequestStoreError as exc:
        raise RetentionError(f"request store: {exc}") from exc
    return store, TrackerDatabase(settings.tracker_db_url)


@contextmanager
def _opened(settings: Settings, *, dry_run: bool) -> Iterator[tuple[RequestStore, TrackerDatabase]]:
    """Both stores for one retention run, closed afterwards whatever happens.

    A request-store error inside the block becomes a :class:`RetentionError`. After a run
    that deleted (not ``dry_run``), SQLite's write-ahead log is checkpointed so the
    deleted values leave the disk too.
    """
    store, tracker = _open(settings)
    try:
        yield store, tracker
        if not dry_run:
            _checkpoint(store.engine)
    except (RequestStoreError, LiveStoreError) as exc:
        raise RetentionError(f"request store: {exc}") from exc
    finally:
        store.close()
        tracker.close()


def purge(
    settings: Settings, days: int | None = None, *, now: datetime | None = None, dry_run: bool = False
) -> RetentionReport:
    """Delete conversations idle, and requests closed, for more than ``days`` (default: settings)."""
    days = settings.retention_days if days is None else days
    if days < 0:
        raise ValueError("days must not be negative")
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    report = RetentionReport("purge", dry_run)
    with _opened(settings, dry_run=dry_run) as (store, tracker):
        keep = store.open_request_conversations()
        idle = tracker.idle_conversations(cutoff)
        report.counts["conversations_kept"] = sum(1 for sender in idle if sender in keep)
        gone = [sender for sender in idle if sender not in keep]
        report.counts.update(tracker.delete_conversations(gone, idle_before=cutoff, dry_run=dry_run))
        report.counts["live_messages"] = _live(store).delete_conversations(gone, dry_run=dry_run)
        report.counts.update(store.delete_older_than(days, now=now, dry_run=dry_run))
    return report


def erase(
    settings: Settings, *, member_id: str | None = None, email: str | None = None, dry_run: bool = False
) -> RetentionReport:
    """Erase everything held about the member with this member id and/or email."""
    if not (member_id and member_id.strip()) and not (email and email.strip()):
        raise ValueError("give a member id or an email")
    report = RetentionReport("erase", dry_run)
    with _opened(settings, dry_run=dry_run) as (store, tracker):
        linked = set(store.member_conversations(email=email, member_id=member_id))
        mentioned = set(tracker.conversations_mentioning(email=email, member_id=member_id)) - linked
        report.counts.update(tracker.delete_conversations(linked | mentioned, dry_run=dry_run))
        report.counts["conversations_by_request"] = len(linked)
        report.counts["conversations_by_identifier"] = len(mentioned)
        report.counts.update(store.erase_member(email=email, member_id=member_id, dry_run=dry_run))
        report.counts["answers"] += store.delete_answers(sorted(mentioned), dry_run=dry_run)
        report.counts["review_actions"] += store.delete_review_actions(sorted(mentioned), dry_run=dry_run)
        report.counts["live_messages"] = _live(store).delete_conversations(sorted(linked | mentioned), dry_run=dry_run)
    return report


def _live(store: RequestStore) -> LiveStore:
    """The live chats' record, in the request store's database."""
    live = LiveStore(store.engine)
    live.create_schema()
    return live
