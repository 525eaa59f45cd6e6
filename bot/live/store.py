"""The record of live conversations: the queue, who took which conversation, every message
exchanged, and agents' presence, in the request store's database (SQLite embedded,
PostgreSQL scaled out), so a web process restart loses nothing and every process sees
the same state.

Every change of a conversation's state is one conditional ``UPDATE``: accepting sets the
agent only ``WHERE status = 'waiting'``, so when two agents accept at the same moment the
database lets exactly one of them change the row and the other sees ``rowcount == 0``.

Texts are stored as shown: cleaned, card data cut out (:mod:`bot.privacy.cards`, so no
card number is ever stored) and masked (:func:`bot.privacy.masking.mask_text`).
Times are seconds since the epoch, like the timestamps of Rasa's tracker events, so a
live exchange and the assistant's turns sort into one history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

#: States of a live conversation: waiting in the queue, with an agent, or over.
WAITING, ACTIVE, ENDED = "waiting", "active", "ended"
OPEN = (WAITING, ACTIVE)
#: Who wrote a live message: the member, the agent, or the service itself (joined, left).
ROLES = ("member", "agent", "system")
AVAILABLE, AWAY = "available", "away"

metadata = MetaData()

live_conversations = Table(
    "live_conversations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", String(128), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("agent", String(64), nullable=True, index=True),
    Column("created_at", Float, nullable=False),
    Column("accepted_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("end_reason", String(32), nullable=True),
)

live_messages = Table(
    "live_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("live_id", Integer, ForeignKey("live_conversations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("author", String(64), nullable=False, default=""),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

live_agents = Table(
    "live_agents",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("seen_at", Float, nullable=False),
)


def create_tables(tables: MetaData, engine: Engine) -> None:
    """Create missing tables, tolerating another process creating them at the same moment
    (two web apps starting together: PostgreSQL then reports a duplicate to one of them)."""
    try:
        tables.create_all(engine)
    except SQLAlchemyError:
        time.sleep(0.5)
        tables.create_all(engine)  # the other process has finished: nothing left to create


class LiveStoreError(Exception):
    """The live record could not be read or written (the database is down or refused)."""


@dataclass(frozen=True)
class LiveConversation:
    """One live hand-off of a member's conversation."""

    id: int
    conversation_id: str
    status: str
    agent: str | None
    created_at: float
    accepted_at: float | None
    ended_at: float | None
    end_reason: str | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


@dataclass(frozen=True)
class LiveMessage:
    """One message of a live exchange, as stored (masked)."""

    id: int
    live_id: int
    role: str
    author: str
    text: str
    created_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "live_id": self.live_id,
            "role": self.role,
            "author": self.author,
            "text": self.text,
            "timestamp": self.created_at,
        }


def _conversation(row: Any) -> LiveConversation:
    return LiveConversation(**{c: row._mapping[c] for c in live_conversations.c.keys()})


def _message(row: Any) -> LiveMessage:
    return LiveMessage(**{c: row._mapping[c] for c in live_messages.c.keys()})


class LiveStore:
    """Queue, assignments, messages and presence on an SQLAlchemy engine (the request store's)."""

    def __init__(self, engine: Engine, clock: Any = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def _run(self, operation: str, work: Any) -> Any:
        try:
            with self.engine.begin() as connection:
                return work(connection)
        except SQLAlchemyError as exc:
            raise LiveStoreError(f"{operation} failed ({type(getattr(exc, 'orig', None) or exc).__name__})") from exc

    def create_schema(self) -> None:
        """Create the live tables if they are missing; safe on every start."""
        try:
            create_tables(metadata, self.engine)
        except SQLAlchemyError as exc:
            raise LiveStoreError(f"create_schema failed ({type(exc).__name__})") from exc

    # ----------------------------------------------------------------- conversations

    def open_for(self, conversation_id: str) -> LiveConversation | None:
        """The conversation's live hand-off that is waiting or under way, if any."""

        def work(c: Any) -> LiveConversation | None:
            row = c.execute(
                select(live_conversations)
                .where(live_conversations.c.conversation_id == conversation_id, live_conversations.c.status.in_(OPEN))
                .order_by(live_conversations.c.id.desc())
                .limit(1)
            ).first()
            return _conversation(row) if row else None

        return self._run("open_for", work)

    def get(self, live_id: int) -> LiveConversation | None:
        def work(c: Any) -> LiveConversation | None:
            row = c.execute(select(live_conversations).where(live_conversations.c.id == live_id)).first()
            return _conversation(row) if row else None

        return self._run("get", work)

    def enqueue(self, conversation_id: str) -> tuple[LiveConversation, bool]:
        """Put the conversation in the queue: (its live hand-off, whether it is new). A
        conversation already waiting or with an agent keeps its place."""
        existing = self.open_for(conversation_id)
        if existing is not None:
            return existing, False
        now = self.clock()

        def work(c: Any) -> int:
            return c.execute(
                insert(live_conversations).values(conversation_id=conversation_id, status=WAITING, created_at=now)
            ).inserted_primary_key[0]

        live_id = self._run("enqueue", work)
        return self.get(live_id), True  # type: ignore[return-value]

    def queue(self) -> list[LiveConversation]:
        """Conversations waiting for an agent, longest waiting first."""

        def work(c: Any) -> list[LiveConversation]:
            rows = c.execute(
                select(live_conversations)
                .where(live_conversations.c.status == WAITING)
                .order_by(live_conversations.c.created_at, live_conversations.c.id)
            )
            return [_conversation(r) for r in rows]

        return self._run("queue", work)

    def position(self, live: LiveConversation) -> int:
        """1 for the conversation waiting longest; 0 when it is not waiting."""
        if live.status != WAITING:
            return 0

        def work(c: Any) -> int:
            ahead = c.execute(
                select(func.count())
                .select_from(live_conversations)
                .where(live_conversations.c.status == WAITING, live_conversations.c.id < live.id)
            ).scalar_one()
            return int(ahead) + 1

        return self._run("position", work)

    def recent_waits(self, since: float, limit: int) -> list[float]:
        """Seconds from joining the queue to being accepted, for the last ``limit``
        conversations accepted since ``since``, latest first (one that went back to the
        queue counts from when it first joined, as its member waited)."""
        waited = live_conversations.c.accepted_at - live_conversations.c.created_at

        def work(c: Any) -> list[float]:
            rows = c.execute(
                select(waited)
                .where(live_conversations.c.accepted_at >= since)
                .order_by(live_conversations.c.accepted_at.desc())
                .limit(limit)
            )
            return [float(r[0]) for r in rows]

        return self._run("recent_waits", work)

    def handled_by(self, agent: str) -> list[LiveConversation]:
        """The conversations ``agent`` has under way."""

        def work(c: Any) -> list[LiveConversation]:
            rows = c.execute(
                select(live_conversations)
                .where(live_conversations.c.status == ACTIVE, live_conversations.c.agent == agent)
                .order_by(live_conversations.c.accepted_at)
            )
            return [_conversation(r) for r in rows]

        return self._run("handled_by", work)

    def _transition(self, operation: str, live_id: int, where: Any, values: dict[str, Any]) -> bool:
        def work(c: Any) -> bool:
            result = c.execute(
                update(live_conversations).where(live_conversations.c.id == live_id, where).values(**values)
            )
            return result.rowcount == 1

        return self._run(operation, work)

    def accept(self, live_id: int, agent: str) -> bool:
        """``agent`` takes the waiting conversation; False when someone else did first (or it ended)."""
        values = {"status": ACTIVE, "agent": agent, "accepted_at": self.clock()}
        return self._transition("accept", live_id, live_conversations.c.status == WAITING, values)

    def requeue(self, live_id: int, agent: str) -> bool:
        """Put a conversation ``agent`` had back at its place in the queue (their browser dropped)."""
        where = and_(live_conversations.c.status == ACTIVE, live_conversations.c.agent == agent)
        return self._transition("requeue", live_id, where, {"status": WAITING, "agent": None, "accepted_at": None})

    def end(self, live_id: int, reason: str) -> bool:
        """End the live hand-off (handed back, closed, the member left); False if it had ended."""
        values = {"status": ENDED, "ended_at": self.clock(), "end_reason": reason}
        return self._transition("end", live_id, live_conversations.c.status.in_(OPEN), values)

    # ----------------------------------------------------------------- messages

    def add_message(self, live_id: int, role: str, author: str, text: str) -> LiveMessage:
        """Store one message (``text`` already cleaned and masked by the caller)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        now = self.clock()

        def work(c: Any) -> LiveMessage:
            new_id = c.execute(
                insert(live_messages).values(live_id=live_id, role=role, author=author, text=text, created_at=now)
            ).inserted_primary_key[0]
            return LiveMessage(new_id, live_id, role, author, text, now)

        return self._run("add_message", work)

    def messages(self, conversation_id: str) -> list[LiveMessage]:
        """Every live message of a member's conversation (all its hand-offs), in order."""

        def work(c: Any) -> list[LiveMessage]:
            rows = c.execute(
                select(live_messages)
                .join(live_conversations, live_conversations.c.id == live_messages.c.live_id)
                .where(live_conversations.c.conversation_id == conversation_id)
                .order_by(live_messages.c.id)
            )
            return [_message(r) for r in rows]

        return self._run("messages", work)

    def delete_conversations(self, conversation_ids: list[str], *, dry_run: bool = False) -> int:
        """Delete the live hand-offs of these member conversations with their messages
        (retention and erasure); the number of messages deleted (or that would be)."""
        if not conversation_ids:
            return 0

        def work(c: Any) -> int:
            chosen = select(live_conversations.c.id).where(live_conversations.c.conversation_id.in_(conversation_ids))
            count = c.execute(
                select(func.count()).select_from(live_messages).where(live_messages.c.live_id.in_(chosen))
            ).scalar_one()
            if not dry_run:
                c.execute(delete(live_messages).where(live_messages.c.live_id.in_(chosen)))
                c.execute(delete(live_conversations).where(live_conversations.c.conversation_id.in_(conversation_ids)))
            return int(count)

        return self._run("delete_conversations", work)

    # ----------------------------------------------------------------- presence

    def set_presence(self, agent: str, status: str) -> None:
        """Record ``agent`` as available or away, seen now."""
        if status not in (AVAILABLE, AWAY):
            raise ValueError(f"unknown presence {status!r}")
        now = self.clock()

        def work(c: Any) -> None:
            changed = c.execute(
                update(live_agents).where(live_agents.c.name == agent).values(status=status, seen_at=now)
            ).rowcount
            if not changed:
                c.execute(insert(live_agents).values(name=agent, status=status, seen_at=now))

        self._run("set_presence", work)

    def seen(self, agent: str) -> None:
        """``agent``'s console is still connected (a heartbeat)."""
        now = self.clock()
        self._run(
            "seen", lambda c: c.execute(update(live_agents).where(live_agents.c.name == agent).values(seen_at=now))
        )

    def presence(self, agent: str) -> str:
        """``agent``'s chosen presence (away when never set)."""
        row = self._run(
            "presence", lambda c: c.execute(select(live_agents.c.status).where(live_agents.c.name == agent)).first()
        )
        return row[0] if row else AWAY

    def available_agents(self, fresh_seconds: float) -> list[str]:
        """Agents who are available and whose console was seen in the last ``fresh_seconds``."""
        since = self.clock() - fresh_seconds

        def work(c: Any) -> list[str]:
            rows = c.execute(
                select(live_agents.c.name).where(live_agents.c.status == AVAILABLE, live_agents.c.seen_at >= since)
            )
            return [r[0] for r in rows]

        return self._run("available_agents", work)

    def abandoned(self, grace_seconds: float) -> list[LiveConversation]:
        """Conversations under way whose agent's console has not been seen for ``grace_seconds``."""
        since = self.clock() - grace_seconds

        def work(c: Any) -> list[LiveConversation]:
            rows = c.execute(
                select(live_conversations)
                .outerjoin(live_agents, live_agents.c.name == live_conversations.c.agent)
                .where(
                    live_conversations.c.status == ACTIVE,
                    (live_agents.c.seen_at.is_(None)) | (live_agents.c.seen_at < since),
                )
            )
            return [_conversation(r) for r in rows]

        return self._run("abandoned", work)
