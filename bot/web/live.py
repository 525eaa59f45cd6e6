"""Live hand-off in the web app: the member's and the agent's WebSockets, the agents' live
page, and the hooks the member chat calls (:mod:`bot.web.member`).

Handlers only parse, call :class:`bot.live.service.LiveService` and answer. A
:class:`LiveHub` per process keeps this process's open sockets (members by conversation,
agents by name) and turns every bus event into what each of them may see: a member gets
their own conversation's state and messages, never an agent's account name beyond its
first part; an agent gets the queue (waiting times, no member data) and the
conversations they have taken, with suggested passages for every new member message.

Sockets check the page's origin (no other site may open them with the browser's cookies),
read only JSON objects, and every message goes through the same cleaning and length
limit as the chat (:func:`bot.web.member.chat_message`) and a rate limit per
conversation (member) or per agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import WSMsgType, web

from bot.dialogue.validation import MAX_MESSAGE_CHARS
from bot.language.messages import gettext
from bot.live.bus import bus_for
from bot.live.service import NOT_SENT, TOO_FAST, LiveError, LiveService, first_name
from bot.live.store import ACTIVE, AVAILABLE, AWAY, ENDED, WAITING, LiveConversation, LiveStoreError
from bot.privacy.masking import mask_text
from bot.web.cors import same_origin
from bot.web.html import render
from bot.web.jsonio import BadRequest, json_error, parse_json_object
from bot.web.keys import RASA, RETRIEVER_POOL, SERVICES, SETTINGS
from bot.web.rasa import RasaUnavailable, transcript
from bot.web.ratelimit import RateLimiter
from bot.web.security import AGENT_KEY, public_origin
from bot.web.views import copy_text, suggestions

log = logging.getLogger(__name__)

#: Seconds between the checks for conversations whose agent has gone (and the heartbeats
#: that keep this process's agents present).
SWEEP_SECONDS = 5.0
#: Seconds between two typing notices from one socket (the rest are dropped).
TYPING_SECONDS = 1.5
#: Suggested passages shown for each member message.
SUGGESTIONS = 3
#: The member's hand-off could not be queued (in the language the assistant answers in).
NOT_REACHED = "Sorry, I could not reach member services just now. Please ask again in a moment."


class LiveHub:
    """This process's live sockets and the live service they talk to."""

    def __init__(self, app: web.Application, service: LiveService) -> None:
        settings = app[SETTINGS]
        self.app = app
        self.service = service
        self.members: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.agents: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.member_limit = RateLimiter(settings.live_rate_limit_per_minute, settings.live_rate_limit_burst)
        self.agent_limit = RateLimiter(settings.live_rate_limit_per_minute, settings.live_rate_limit_burst)
        self._tasks: set[asyncio.Task[None]] = set()
        self._turns: dict[int, tuple[asyncio.Lock, int]] = {}  # each conversation's lock, steps holding or awaiting it

    # ----------------------------------------------------------------- what browsers see

    async def member_state(self, live: LiveConversation | None) -> dict[str, Any] | None:
        """A member's view of their hand-off: status, place in the queue and recent members'
        wait (seconds, None without history) while waiting, agent's first name."""
        if live is None:
            return None
        position = await self.service.position(live) if live.status == WAITING else 0
        wait = await self.service.wait_estimate() if live.status == WAITING else None
        return {
            "status": live.status,
            "position": position,
            "wait_seconds": None if wait is None else round(wait),
            "agent": first_name(live.agent) if live.agent and live.status == ACTIVE else None,
        }

    async def queue_view(self) -> list[dict[str, Any]]:
        now = time.time()
        waiting = await asyncio.to_thread(self.service.store.queue)
        return [
            {"id": live.id, "position": n, "waiting_seconds": round(now - live.created_at), "since": live.created_at}
            for n, live in enumerate(waiting, start=1)
        ]

    async def agent_transcript(self, conversation: str) -> list[dict[str, Any]]:
        """The conversation so far as an agent reads it: the assistant's turns from Rasa's
        tracker and the live messages, in order, the member's words masked."""
        try:
            events = await self.app[RASA].tracker_events(conversation)
        except RasaUnavailable:
            events = []
        turns = [
            {
                "role": "member" if turn["role"] == "user" else "bot",
                "author": "",
                "text": mask_text(turn.get("text") or "") if turn["role"] == "user" else turn.get("text") or "",
                "timestamp": turn.get("timestamp") or 0,
            }
            for turn in transcript(events)
            if turn.get("text")
        ]
        for message in await asyncio.to_thread(self.service.store.messages, conversation):
            turns.append({**message.as_dict(), "author": first_name(message.author) if message.author else ""})
        turns.sort(key=lambda t: t["timestamp"] or 0)
        return turns

    async def conversation_view(self, live: LiveConversation, agent: str) -> dict[str, Any]:
        return {
            "type": "conversation",
            "id": live.id,
            "status": live.status,
            "mine": live.agent == agent,
            "since": live.created_at,
            "transcript": await self.agent_transcript(live.conversation_id),
        }

    async def suggest(self, text: str) -> list[dict[str, Any]]:
        """The best passages for a member's message, highest score first, each with the band
        the assistant would give it and the text an agent can insert."""
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(
            self.app[RETRIEVER_POOL], suggestions, self.app[SERVICES].retriever, text, SUGGESTIONS
        )
        found.sort(key=lambda s: s["confidence"], reverse=True)
        return [
            {
                "band": s["band"],
                "score": s["confidence"],
                "title": s["title"],
                "section": s["section"],
                "url": s["local_url"],
                "text": s["text"],
                "insert": copy_text(s),
            }
            for s in found
        ]

    # ----------------------------------------------------------------- bus events

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "queue":
            await self._queue_changed()
            return
        conversation, live_id = event.get("conversation"), event.get("live_id")
        agent = event.get("agent") or event.get("previous_agent")
        if kind == "message":
            message = event["message"]
            await self._to_members(conversation, self._member_message(message))
            await self._to_agent(agent, {"type": "message", "id": live_id, "message": self._agent_message(message)})
            if message["role"] == "member" and agent and self.agents.get(agent):
                # Off the delivery path: the next messages need not wait for the retriever.
                self.background(self._suggest_to(agent, live_id, message))
        elif kind == "typing":
            if event.get("role") == "agent":
                await self._to_members(conversation, {"type": "typing"})
            else:
                await self._to_agent(agent, {"type": "typing", "id": live_id})
        elif kind == "status":
            if conversation in self.members:
                live = await asyncio.to_thread(self.service.store.get, live_id)
                await self._to_members(conversation, {"type": "state", "live": await self.member_state(live)})
            await self._to_agent(
                agent, {"type": "status", "id": live_id, "status": event.get("status"), "reason": event.get("reason")}
            )

    @staticmethod
    @contextlib.contextmanager
    def connected(
        sockets: dict[str, set[web.WebSocketResponse]], key: str, ws: web.WebSocketResponse
    ) -> Iterator[None]:
        """``ws`` is one of ``key``'s open sockets while the block runs."""
        sockets[key].add(ws)
        try:
            yield
        finally:
            sockets[key].discard(ws)
            if not sockets[key]:
                del sockets[key]

    def background(self, work: Any) -> None:
        """Run ``work`` as a task the hub keeps until it is done."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _suggest_to(self, agent: str, live_id: int, message: dict[str, Any]) -> None:
        items = await self.suggest(message["text"])
        await self._to_agent(agent, {"type": "suggestions", "id": live_id, "message_id": message["id"], "items": items})

    async def in_turn(self, live_id: int, work: Any) -> None:
        """Run an agent's step for one conversation after that conversation's earlier ones,
        but beside the steps for their other conversations (an agent with four chats must
        not make the fourth member wait for the first three)."""
        lock, waiting = self._turns.get(live_id, (asyncio.Lock(), 0))
        self._turns[live_id] = (lock, waiting + 1)
        try:
            async with lock:
                await work
        finally:
            lock, waiting = self._turns[live_id]
            if waiting == 1:
                del self._turns[live_id]
            else:
                self._turns[live_id] = (lock, waiting - 1)

    @staticmethod
    def _member_message(message: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "message",
            "role": message["role"],
            "author": first_name(message["author"]) if message["role"] == "agent" else "",
            "text": message["text"],
            "timestamp": message["timestamp"],
        }

    @staticmethod
    def _agent_message(message: dict[str, Any]) -> dict[str, Any]:
        return {**message, "author": first_name(message["author"]) if message["author"] else ""}

    async def _queue_changed(self) -> None:
        if self.agents:
            await self._to_all_agents({"type": "queue", "items": await self.queue_view()})
        for conversation in list(self.members):
            live = await self.service.open_for(conversation)
            if live is not None and live.status == WAITING:
                await self._to_members(conversation, {"type": "state", "live": await self.member_state(live)})

    async def _send(self, sockets: set[web.WebSocketResponse], data: dict[str, Any]) -> None:
        for ws in list(sockets):
            if ws.closed:
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(data)

    async def _to_members(self, conversation: str | None, data: dict[str, Any]) -> None:
        if conversation and conversation in self.members:
            await self._send(self.members[conversation], data)

    async def _to_agent(self, agent: str | None, data: dict[str, Any]) -> None:
        if agent and agent in self.agents:
            await self._send(self.agents[agent], data)

    async def _to_all_agents(self, data: dict[str, Any]) -> None:
        for sockets in list(self.agents.values()):
            await self._send(sockets, data)

    # ----------------------------------------------------------------- background

    async def keep_alive(self, grace_seconds: float) -> None:
        """Every few seconds: mark this process's connected agents as seen, and put back in
        the queue the conversations of agents nobody has seen for the grace period."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                for agent in [a for a, sockets in self.agents.items() if sockets]:
                    await asyncio.to_thread(self.service.store.seen, agent)
                await self.service.sweep(grace_seconds)
            except LiveStoreError:
                log.warning("live record unavailable; retrying", exc_info=True)


LIVE = web.AppKey("live", LiveHub)


async def live_ctx(app: web.Application) -> AsyncIterator[None]:
    """The live record's tables, the bus between processes and the hub; the sweeper task."""
    settings = app[SETTINGS]
    store = app[SERVICES].live
    await asyncio.to_thread(store.create_schema)
    bus = bus_for(settings.request_db_url)
    await bus.start()
    hub = LiveHub(app, LiveService(store, bus, app[RASA].resume))
    bus.subscribe(hub.on_event)
    app[LIVE] = hub
    sweeper = asyncio.create_task(hub.keep_alive(settings.live_agent_grace_seconds))
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    for sockets in [*hub.members.values(), *hub.agents.values()]:
        for ws in list(sockets):
            await ws.close()
    await bus.close()


# --------------------------------------------------------------------------- member chat hooks


async def after_reply(request: web.Request, conversation: str, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """When the assistant's reply puts the member through to a person (the action paused
    the conversation and said ``live_handoff``), queue it: the member's live state. If the
    queue cannot be written, the assistant is resumed and the member told to try the form."""
    if not any((m.get("custom") or {}).get("type") == "live_handoff" for m in messages):
        return None
    hub = request.app[LIVE]
    try:
        live = await hub.service.join(conversation)
    except LiveStoreError:
        log.exception("could not queue a live hand-off")
        with contextlib.suppress(RasaUnavailable):
            await request.app[RASA].resume(conversation)
        language = next((c["language"] for m in messages if isinstance(c := m.get("custom"), dict) and "language" in c),
                        "en")
        messages.append({"text": gettext(NOT_REACHED, str(language))})
        return None
    return await hub.member_state(live)


async def live_message(request: web.Request, conversation: str, message: str) -> web.Response | None:
    """A chat message sent while the conversation is with a person goes to them, not to
    the (paused) assistant; None when the conversation is not live."""
    hub = request.app[LIVE]
    if request.app[SETTINGS].live_enabled is False:
        return None
    live = await hub.service.open_for(conversation)
    if live is None:
        return None
    wait = hub.member_limit.hit(conversation)
    if wait:
        return json_error(429, "too_many_messages", TOO_FAST)
    await hub.service.member_says(conversation, message)
    return web.json_response({"messages": [], "live": await hub.member_state(live)})


async def live_history(request: web.Request, conversation: str, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The member's history with the live messages in their place."""
    live = await asyncio.to_thread(request.app[LIVE].service.store.messages, conversation)
    if not live:
        return turns
    merged = [*turns]
    for message in live:
        shown = LiveHub._member_message(message.as_dict())
        merged.append({"role": "user" if shown["role"] == "member" else shown["role"], **_without_type(shown)})
    merged.sort(key=lambda t: t.get("timestamp") or 0)
    return merged


def _without_type(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in ("type", "role")}


# --------------------------------------------------------------------------- sockets


def _same_site(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or same_origin(origin, public_origin(request))


async def _messages(ws: web.WebSocketResponse) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects a socket sends; anything else gets an error answer."""
    async for raw in ws:
        if raw.type != WSMsgType.TEXT:
            continue
        try:
            yield parse_json_object(raw.data.encode("utf-8", "replace"))
        except BadRequest as exc:
            await ws.send_json({"type": "error", "message": exc.message})


async def _open_socket(request: web.Request) -> web.WebSocketResponse:
    if not _same_site(request):
        raise web.HTTPForbidden(text="WebSockets are only for pages of this site.")
    ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=64 * 1024)
    await ws.prepare(request)
    return ws


async def member_socket(request: web.Request) -> web.StreamResponse:
    """``GET /api/live/ws``: the member's side of a live chat (the cookie's conversation)."""
    from bot.web.member import chat_message, conversation_of, log_name

    conversation = conversation_of(request)
    if conversation is None:
        return json_error(403, "no_conversation", "Start a conversation first.")
    hub = request.app[LIVE]
    ws = await _open_socket(request)
    last_typing = 0.0
    with hub.connected(hub.members, conversation, ws):
        await ws.send_json({"type": "state", "live": await hub.member_state(await hub.service.open_for(conversation))})
        async for data in _messages(ws):
            kind = data.get("type")
            try:
                if kind == "message":
                    wait = hub.member_limit.hit(conversation)
                    if wait:
                        await _refuse(ws, TOO_FAST)
                        continue
                    text = chat_message(data.get("text") if isinstance(data.get("text"), str) else "")
                    await hub.service.member_says(conversation, text)
                elif kind == "typing" and time.monotonic() - last_typing > TYPING_SECONDS:
                    last_typing = time.monotonic()
                    await hub.service.member_typing(conversation)
                elif kind == "leave":
                    await hub.service.member_leaves(conversation)
            except (BadRequest, LiveError) as exc:
                await _refuse(ws, getattr(exc, "message", str(exc)))
            except LiveStoreError:
                log.exception("live message of %s not stored", log_name(request, conversation))
                await _refuse(ws, NOT_SENT)
    return ws


async def member_state(request: web.Request) -> web.Response:
    """``GET /api/live/state``: the member's live hand-off, if one is waiting or under way."""
    from bot.web.member import conversation_of

    conversation = conversation_of(request)
    hub = request.app[LIVE]
    live = await hub.service.open_for(conversation) if conversation else None
    return web.json_response({"live": await hub.member_state(live)})


def _live_id(data: dict[str, Any]) -> int:
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(400, "invalid_field", "The field 'id' must be a conversation number.")
    return value


async def _agent_step(hub: LiveHub, ws: web.WebSocketResponse, agent: str, data: dict[str, Any]) -> None:
    """One thing an agent's console asked for; refusals and faults are answered on the socket."""
    from bot.web.member import chat_message

    service = hub.service
    kind = data.get("type")
    try:
        if kind == "presence":
            status = AVAILABLE if data.get("status") == AVAILABLE else AWAY
            await asyncio.to_thread(service.store.set_presence, agent, status)
            await ws.send_json({"type": "presence", "presence": status})
        elif kind == "open":
            live = await asyncio.to_thread(service.store.get, _live_id(data))
            if live is None or live.status == ENDED or (live.status == ACTIVE and live.agent != agent):
                raise LiveError("This conversation is not in the queue any more.")
            await ws.send_json(await hub.conversation_view(live, agent))
        elif kind == "accept":
            live = await service.accept(_live_id(data), agent)
            view = await hub.conversation_view(live, agent)
            await ws.send_json(view)
            last_member = next((t for t in reversed(view["transcript"]) if t["role"] == "member"), None)
            if last_member:
                await ws.send_json(
                    {"type": "suggestions", "id": live.id, "items": await hub.suggest(last_member["text"])}
                )
        elif kind == "message":
            if hub.agent_limit.hit(agent):
                raise LiveError("You're sending messages very fast. Please wait a moment.")
            text = chat_message(data.get("text") if isinstance(data.get("text"), str) else "")
            await service.agent_says(_live_id(data), agent, text)
        elif kind == "typing":
            await service.agent_typing(_live_id(data), agent)
        elif kind == "end":
            await service.finish(_live_id(data), agent, str(data.get("reason")))
    except (BadRequest, LiveError) as exc:
        await _refuse(ws, getattr(exc, "message", str(exc)))
    except LiveStoreError:
        log.exception("live step of agent %s failed", agent)
        await _refuse(ws, "The live record is unavailable. Please try again.")


async def _refuse(ws: web.WebSocketResponse, message: str) -> None:
    if not ws.closed:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_json({"type": "error", "message": message})


async def agent_socket(request: web.Request) -> web.StreamResponse:
    """``GET /agent/live/ws`` (behind the agent guard): an agent's live console.

    Steps about one conversation (message, typing, end) run in that conversation's turn
    and beside other conversations' steps; typing notices are thinned out.
    """
    agent = request[AGENT_KEY].name
    hub = request.app[LIVE]
    store = hub.service.store
    ws = await _open_socket(request)
    last_typing = 0.0
    with hub.connected(hub.agents, agent, ws):
        await asyncio.to_thread(store.seen, agent)
        presence = await asyncio.to_thread(store.presence, agent)
        await ws.send_json({"type": "hello", "agent": agent, "first_name": first_name(agent), "presence": presence})
        await ws.send_json({"type": "queue", "items": await hub.queue_view()})
        for live in await asyncio.to_thread(store.handled_by, agent):
            await ws.send_json(await hub.conversation_view(live, agent))
        async for data in _messages(ws):
            kind = data.get("type")
            if kind == "typing":
                if time.monotonic() - last_typing < TYPING_SECONDS:
                    continue
                last_typing = time.monotonic()
            if kind in ("message", "typing", "end") and isinstance(data.get("id"), int):
                hub.background(hub.in_turn(data["id"], _agent_step(hub, ws, agent, data)))
            else:
                await _agent_step(hub, ws, agent, data)
    return ws


async def agent_live_page(request: web.Request) -> web.Response:
    """``GET /agent/live``: presence, the queue, the conversations the agent has taken."""
    from bot.web.agent import agent_page

    session = request[AGENT_KEY]
    body = render("live.html", name=first_name(session.name), max_chars=MAX_MESSAGE_CHARS)
    return agent_page(request, "Live chats", body, section="live")


def setup(app: web.Application) -> None:
    """Register the live routes and their start-up context."""
    app.cleanup_ctx.append(live_ctx)
    app.router.add_get("/api/live/state", member_state, name="live_state")
    app.router.add_get("/api/live/ws", member_socket, name="live_member_ws")
    app.router.add_get("/agent/live", agent_live_page, name="agent_live")
    app.router.add_get("/agent/live/ws", agent_socket, name="agent_live_ws")
