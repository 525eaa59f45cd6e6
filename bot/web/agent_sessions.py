"""Agent sessions in the database, so every web process behind the load balancer knows
every signed-in agent (and a restart signs nobody out).

Same interface and rules as :class:`bot.web.auth.SessionStore` (absolute and idle expiry,
a CSRF token per session, tokens kept only as their SHA-256), on the request store's
database. Times are wall-clock seconds: several processes compare them. ``last_seen``
is written at most once a minute per session, so browsing the console does not mean a
database write per page.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.live.store import create_tables
from bot.web.auth import AgentSession

#: How stale ``last_seen`` may get before a request writes it again (seconds).
TOUCH_SECONDS = 60.0

metadata = MetaData()
agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class SharedSessionStore:
    """Agent sessions in a database table; ``engine`` is called on first use (the app's
    database is opened at start-up, after the app is built)."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        lifetime_seconds: float,
        idle_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self.lifetime_seconds = lifetime_seconds
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._ready = False
        self._lock = threading.Lock()

    def _db(self) -> Engine:
        engine = self._engine()
        if not self._ready:
            with self._lock:
                if not self._ready:
                    create_tables(metadata, engine)
                    self._ready = True
        return engine

    def _expired(self, created: float, last_seen: float, now: float) -> bool:
        return now - created > self.lifetime_seconds or now - last_seen > self.idle_seconds

    def create(self, name: str) -> tuple[str, AgentSession]:
        """A new session for ``name``: (the cookie token, the session)."""
        self.purge()
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = AgentSession(name=name, csrf_token=secrets.token_urlsafe(32), created=now, last_seen=now)
        with self._db().begin() as c:
            c.execute(
                insert(agent_sessions).values(
                    key=_key(token), name=name, csrf_token=session.csrf_token, created=now, last_seen=now
                )
            )
        return token, session

    def get(self, token: str | None) -> AgentSession | None:
        """The live session for a cookie token (and mark it used), or None; a database
        fault counts as no session (the agent is asked to sign in)."""
        if not token or len(token) > 256:
            return None
        key, now = _key(token), self.clock()
        try:
            with self._db().begin() as c:
                row = c.execute(select(agent_sessions).where(agent_sessions.c.key == key)).first()
                if row is None:
                    return None
                if self._expired(row.created, row.last_seen, now):
                    c.execute(delete(agent_sessions).where(agent_sessions.c.key == key))
                    return None
                last_seen = row.last_seen
                if now - last_seen > TOUCH_SECONDS:
                    c.execute(update(agent_sessions).where(agent_sessions.c.key == key).values(last_seen=now))
                    last_seen = now
        except SQLAlchemyError:
            return None
        return AgentSession(name=row.name, csrf_token=row.csrf_token, created=row.created, last_seen=last_seen)

    def delete(self, token: str | None) -> None:
        """End a session (logout); unknown tokens are ignored."""
        if token:
            with self._db().begin() as c:
                c.execute(delete(agent_sessions).where(agent_sessions.c.key == _key(token)))

    def purge(self) -> None:
        """Drop expired sessions."""
        now = self.clock()
        with self._db().begin() as c:
            c.execute(
                delete(agent_sessions).where(
                    (agent_sessions.c.created < now - self.lifetime_seconds)
                    | (agent_sessions.c.last_seen < now - self.idle_seconds)
                )
            )

    def __len__(self) -> int:
        with self._db().begin() as c:
            return int(c.execute(select(func.count()).select_from(agent_sessions)).scalar_one())
