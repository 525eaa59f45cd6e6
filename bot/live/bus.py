"""The bus that carries live events (a message, typing, a change of the queue) to every
web process, so a member connected to one process and an agent connected to another
still talk in real time.

Events are small JSON objects. :class:`LocalBus` delivers them inside one process (the
embedded set-up, one web app). :class:`PostgresBus` sends them through PostgreSQL's
``LISTEN``/``NOTIFY`` on the database that already holds the live record, so the
scaled-out set-up needs no other server: a ``NOTIFY`` is sent in its own short
transaction, and one listening connection per process is read from the event loop
(``add_reader`` on its socket) without a thread per message. Either way a publisher
receives its own events like every other process, which keeps one delivery path.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

#: The PostgreSQL notification channel.
CHANNEL = "bot_live"
#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD = 7900

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class LocalBus:
    """Events delivered to this process's subscribers only."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def start(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        self._handlers.clear()

    async def publish(self, event: dict[str, Any]) -> None:
        await self._deliver(event)

    async def _deliver(self, event: dict[str, Any]) -> None:
        for handler in list(self._handlers):
            try:
                await handler(event)
            except Exception:  # one failing socket must not stop delivery to the others
                log.exception("live event handler failed")


class PostgresBus(LocalBus):
    """Events through PostgreSQL ``NOTIFY``/``LISTEN`` (``dsn``: a libpq connection string)."""

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn
        self._listener: Any = None
        self._sender: Any = None
        self._send_lock = asyncio.Lock()
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None

    def _connect(self) -> Any:
        import psycopg2

        connection = psycopg2.connect(self.dsn, connect_timeout=10)
        connection.autocommit = True
        return connection

    async def start(self) -> None:
        self._listener = await asyncio.to_thread(self._connect)
        self._sender = await asyncio.to_thread(self._connect)
        with self._listener.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        asyncio.get_running_loop().add_reader(self._listener.fileno(), self._readable)
        self._pump = asyncio.create_task(self._deliver_in_order())

    async def _deliver_in_order(self) -> None:
        """One event after the other, as PostgreSQL delivered them: a member's messages
        reach the agent in the order they were sent."""
        while True:
            await self._deliver(await self._inbox.get())

    def _readable(self) -> None:
        try:
            self._listener.poll()
        except Exception:
            log.exception("live bus: the listening connection failed")
            return
        while self._listener.notifies:
            note = self._listener.notifies.pop(0)
            try:
                event = json.loads(note.payload)
            except ValueError:
                continue
            self._inbox.put_nowait(event)

    async def publish(self, event: dict[str, Any]) -> None:
        payload = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        if len(payload.encode("utf-8")) > MAX_PAYLOAD:
            raise ValueError("live event too large for the bus")
        async with self._send_lock:
            await asyncio.to_thread(self._notify, payload)

    def _notify(self, payload: str) -> None:
        with self._sender.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    async def close(self) -> None:
        await super().close()
        if self._pump is not None:
            self._pump.cancel()
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
        if self._sender is not None:
            self._sender.close()


def bus_for(database_url: str) -> LocalBus:
    """The bus for the live record's database: PostgreSQL's NOTIFY when it is PostgreSQL
    (several web processes share it), in-process otherwise (SQLite: one machine, one web app)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return PostgresBus(url.set(drivername="postgresql").render_as_string(hide_password=False))
    return LocalBus()
