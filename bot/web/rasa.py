"""Our side of the Rasa server: the REST channel, the tracker, NLU parsing, health.

One :class:`RasaClient` per app, sharing the app's aiohttp ClientSession. Failures are
turned into :class:`RasaUnavailable` (HTTP 502 for the caller), :class:`RasaTimeout`
(504) or :class:`RasaBusy` (503), never a traceback.

Rasa's HTTP API (trackers, NLU parse, status) answers only calls carrying ``?token=``;
:meth:`RasaClient.api_url` is the one place that adds it. The REST channel needs none.
Error messages name the call (``the tracker``), never its URL: that would put the
token and the member's conversation id (which opens their transcript) into the logs.

Calls to Rasa pass an admission gate: at most ``max_in_flight`` at once, the others wait
their turn first come, first served. Rasa works on one event loop and is CPU-bound, so
letting fifty members' messages in at once does not make it faster: it interleaves them,
and the unlucky ones (starved at every await) wait five times as long as the median and
hit the timeout. A queue in front keeps the waits fair; past ``max_waiting`` queued calls
a new one is turned away at once (503) instead of waiting in vain.

:func:`transcript` turns tracker events into what a person reads: who said what, with
buttons and our custom payloads.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.rasa_plugins.server import api_url

#: Button payloads members send without a preceding button (the widget's own controls).
KNOWN_PAYLOADS = {
    "/human_handoff": "Talk to a person",
    "/start_data_rights_request": "Make a data-protection request",
    "/request_guarantee_of_payment": "Request a guarantee of payment",
    "/request_callback": "Request a callback",
    "/restart": "Start over",
}


class RasaUnavailable(Exception):
    """Rasa could not be reached or answered with an error."""

    status = 502


class RasaTimeout(RasaUnavailable):
    """Rasa did not answer in time."""

    status = 504


class RasaBusy(RasaUnavailable):
    """The queue towards Rasa was full, or no slot freed up within the timeout: the call
    was never sent.

    Unlike a timeout, Rasa has not seen the message, so the member can simply send it again.
    """

    status = 503


class RasaNoReply(RasaUnavailable):
    """Rasa answered a member's message with no messages at all.

    Rasa 3.6 does this when the custom action server is unreachable: it logs the error,
    drops the action's events and returns an empty list, so to the member the assistant
    simply fell silent.
    """

    status = 502


def _clean_message(raw: Any) -> dict[str, Any] | None:
    """Keep the parts of a Rasa output message the widget understands."""
    if not isinstance(raw, dict):
        return None
    message: dict[str, Any] = {}
    if isinstance(raw.get("text"), str) and raw["text"]:
        message["text"] = raw["text"]
    buttons = raw.get("buttons") or raw.get("quick_replies")
    if isinstance(buttons, list):
        message["buttons"] = [
            {"title": str(b.get("title") or b.get("payload")), "payload": str(b.get("payload") or "")}
            for b in buttons
            if isinstance(b, dict) and (b.get("payload") or b.get("title"))
        ]
    if isinstance(raw.get("custom"), dict):
        message["custom"] = raw["custom"]
    if isinstance(raw.get("image"), str) and raw["image"].startswith(("https://", "http://", "/")):
        message["image"] = raw["image"]
    return message or None


class RasaClient:
    """Calls to the Rasa server (and the action server's health endpoint)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        rasa_url: str,
        action_server_url: str,
        *,
        timeout: float = 15.0,
        health_timeout: float = 3.0,
        parse_timeout: float = 5.0,
        max_in_flight: int = 8,
        max_waiting: int = 200,
        token: str = "",
    ) -> None:
        self.session = session
        self.rasa_url = rasa_url.rstrip("/")
        self._token = token
        self.action_server_url = action_server_url.rstrip("/")
        self.timeout = timeout
        self.health_timeout = health_timeout
        self.parse_timeout = parse_timeout
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self.max_waiting = max_waiting
        # asyncio.Semaphore wakes its waiters in the order they came (Python >= 3.11.1).
        self._gate = asyncio.Semaphore(max_in_flight)
        #: Calls waiting for a slot (the ones under way are what the semaphore counts).
        self.waiting = 0

    def api_url(self, path: str) -> str:
        """The URL of a call to Rasa's HTTP API (``path`` such as ``/model/parse``), with
        the API token when one is configured."""
        return api_url(self.rasa_url, path, self._token)

    async def _request(self, method: str, url: str, what: str, timeout: float, payload: Any = None) -> Any:
        """One call to Rasa through the gate; ``timeout`` covers the wait and the call.

        ``what`` names the call in errors (and so in logs) instead of ``url``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._gate.locked() and self.waiting >= self.max_waiting:
            # Overloaded: say so at once rather than keep one more member waiting in vain.
            raise RasaBusy(f"{self.waiting} calls already wait for Rasa ({self.max_in_flight} in flight)")
        self.waiting += 1
        try:
            await asyncio.wait_for(self._gate.acquire(), timeout)
        except TimeoutError as exc:
            raise RasaBusy(f"no free slot towards Rasa within {timeout:g} s ({self.max_in_flight} in flight)") from exc
        finally:
            self.waiting -= 1
        try:
            return await self._call(method, url, what, max(deadline - loop.time(), 0.001), timeout, payload)
        finally:
            self._gate.release()

    async def _call(self, method: str, url: str, what: str, remaining: float, timeout: float, payload: Any) -> Any:
        try:
            async with self.session.request(
                method, url, json=payload, timeout=aiohttp.ClientTimeout(total=remaining)
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa's {what} answered HTTP {response.status}")
                body = await response.read()
        except TimeoutError as exc:
            raise RasaTimeout(f"Rasa's {what} did not answer within {timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise RasaUnavailable(f"Rasa's {what}: {type(exc).__name__}") from exc
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RasaUnavailable(f"Rasa's {what} answered something that is not JSON") from exc

    async def send(self, sender: str, message: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Send a member's message through the REST channel (with ``metadata``, which our
        actions read from the user event); the bot's replies."""
        body: dict[str, Any] = {"sender": sender, "message": message}
        if metadata:
            body["metadata"] = metadata
        data = await self._request(
            "POST", f"{self.rasa_url}/webhooks/rest/webhook", "REST channel", self.timeout, body
        )
        if not isinstance(data, list):
            raise RasaUnavailable("the REST channel did not answer with a list of messages")
        return [m for m in (_clean_message(raw) for raw in data) if m]

    async def tracker_events(self, sender: str) -> list[dict[str, Any]]:
        """The events of a conversation (empty for a conversation Rasa has not seen)."""
        data = await self._request(
            "GET", self.api_url(f"/conversations/{quote(sender, safe='')}/tracker"), "tracker", self.timeout
        )
        events = data.get("events") if isinstance(data, dict) else None
        return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []

    async def append_events(self, sender: str, events: list[dict[str, Any]]) -> None:
        """Add events to a conversation's tracker through Rasa's HTTP API (with the token)."""
        await self._request(
            "POST",
            self.api_url(f"/conversations/{quote(sender, safe='')}/tracker/events"),
            "tracker events",
            self.timeout,
            events,
        )

    async def pause(self, sender: str) -> None:
        """Silence the assistant in a conversation (Rasa's ``pause`` event): Rasa keeps
        logging the conversation but predicts no action until it is resumed."""
        await self.append_events(sender, [{"event": "pause"}])

    async def resume(self, sender: str) -> None:
        """Let the assistant answer again (Rasa's ``resume`` event), listening for the
        member's next message as if it had just asked for it."""
        await self.append_events(sender, [{"event": "resume"}, {"event": "action", "name": "action_listen"}])

    async def parse(self, text: str) -> dict[str, Any] | None:
        """The NLU intent of a text as {name, confidence}, or None when Rasa cannot say."""
        try:
            data = await self._request(
                "POST", self.api_url("/model/parse"), "NLU parse", self.parse_timeout, {"text": text}
            )
        except RasaUnavailable:
            return None
        intent = data.get("intent") if isinstance(data, dict) else None
        if not isinstance(intent, dict) or not intent.get("name"):
            return None
        try:
            confidence = round(float(intent.get("confidence") or 0.0), 4)
        except (TypeError, ValueError):
            confidence = 0.0
        return {"name": str(intent["name"]), "confidence": confidence}

    async def _ok(self, url: str) -> bool:
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=self.health_timeout)) as response:
                await response.read()
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False

    async def action_server_ok(self) -> bool:
        """Whether the action server answers its health check (within the health timeout)."""
        return await self._ok(f"{self.action_server_url}/health")

    async def health(self) -> dict[str, bool]:
        """Whether the Rasa server and the action server answer, checked concurrently."""
        rasa, actions = await asyncio.gather(self._ok(f"{self.rasa_url}/"), self.action_server_ok())
        return {"rasa": rasa, "action_server": actions}


def transcript(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """User and bot turns of a tracker, in order, as the chat shows them.

    A user message that is a button payload is shown as the button's title (from the
    preceding bot message, or the widget's own controls), like the member saw it.
    """
    turns: list[dict[str, Any]] = []
    titles: dict[str, str] = {}
    for event in events:
        kind = event.get("event")
        timestamp = event.get("timestamp")
        if kind == "user":
            text = event.get("text")
            if not isinstance(text, str):
                continue
            shown = text
            if text.startswith("/"):
                shown = titles.get(text) or KNOWN_PAYLOADS.get(text.split("{", 1)[0]) or text
            turns.append({"role": "user", "text": shown, "timestamp": timestamp})
        elif kind == "bot":
            data = event.get("data") if isinstance(event.get("data"), dict) else {}
            message = _clean_message({**data, "text": event.get("text")})
            if not message:
                continue
            for button in message.get("buttons", []):
                titles[button["payload"]] = button["title"]
            turns.append({"role": "bot", **message, "timestamp": timestamp})
    return turns
