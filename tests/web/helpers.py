"""What the web app's tests share besides fixtures: the test agent, awkward inputs, the
fake Rasa server, and small helpers to sign in, read pages and check error answers."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.requests.store import RequestRecord
from bot.services import Services

AGENT = "alice"
PASSWORD = "correct horse battery staple"
SENDER = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER_SENDER = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'
INJECTION = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
SQL = "'; DROP TABLE requests; -- 1' OR '1'='1"
LONG = "x" * 20_000
#: Settings that switch the rate limits off, so each bad-input case is judged on its own.
NO_LIMITS = {"rate_limit_per_minute": 0, "chat_rate_limit_per_minute": 0}
ALLOWED_ORIGIN = "https://www.example.org"
#: The web tests' key for conversation ids (Settings.session_secret) and the cookie that carries one.
SESSION_SECRET = "web-tests-session-secret"
CONVERSATION_COOKIE = "member_conversation"
EVIL_ORIGIN = "https://evil.example.net"

#: Messages that are odd but valid: they must reach Rasa as the member wrote them.
VALID_MESSAGES = [
    "Can I claim for my 🦷 dentist? 😀👍🏽 👨‍👩‍👧",
    "Как подать заявление на возмещение?",
    "如何提交索赔？",
    "كيف أقدم مطالبة؟",
    "दावा कैसे करें?",
    "Πώς υποβάλλω αξίωση;",
    "請求はどうすればいいですか",
    INJECTION,
    SQL,
]

# --------------------------------------------------------------------------- the fake Rasa

#: A cited answer as the REST channel sends it, with a message our client must drop.
CANNED_ANSWER: list[dict[str, Any]] = [
    {"text": "Send us the **claim form**.\nSource: [FAQ › Claims](/documents/faq#claims-1)"},
    {"custom": {"type": "answer", "answer_id": 7, "citations": []}},
    {"text": "Did this help?", "buttons": [{"title": "Yes", "payload": "/feedback"}]},
    {"unknown": "dropped"},
]

#: A tracker's events: button payloads, a handoff, markup and a javascript: link.
CANNED_EVENTS: list[dict[str, Any]] = [
    {"event": "action", "name": "action_session_start"},
    {"event": "user", "text": "hello", "timestamp": 1.0},
    {
        "event": "bot",
        "text": "Hi! What can I do?",
        "timestamp": 2.0,
        "data": {"buttons": [{"title": "Make a request", "payload": '/start{"a":"b"}'}]},
    },
    {"event": "user", "text": '/start{"a":"b"}', "timestamp": 3.0},
    {"event": "user", "text": "/human_handoff", "timestamp": 4.0},
    {"event": "bot", "text": "Ref **HO-1234-5678**", "data": {"custom": {"type": "handoff"}}},
    {"event": "user", "text": MARKUP, "timestamp": 5.0},
    {"event": "bot", "text": "See [this](javascript:alert(1)) or [that](/documents/faq#a-1)"},
]


@dataclass
class FakeRasa:
    """A real aiohttp server standing in for Rasa (REST channel, tracker, parse, status)
    and the action server's health check.

    By default it echoes each message (``echo``, formatted with the message) after
    ``delay`` seconds; ``answer`` replaces the echo with fixed messages and
    ``empty_reply`` with nothing at all, as Rasa 3.6 answers when the action server is
    down. It records what reached it (``received``, and the conversation of each message in
    ``senders``), every call as (path, query) in ``calls``, and the most calls it held at
    once (``peak``). With ``token`` set, its HTTP API (tracker, parse, status) answers only
    calls carrying ``?token=<token>`` (401 otherwise), as Rasa started with
    ``--auth-token`` does; the REST channel needs none. Events added to a tracker through
    the API are kept in ``appended`` as (conversation, events). Tests change these attributes at
    any time: each request reads them.
    """

    delay: float = 0.0
    echo: str = "You said: {message}"
    answer: list[dict[str, Any]] | None = None
    empty_reply: bool = False
    action_server_up: bool = True
    events: list[dict[str, Any]] = field(default_factory=list)
    intent: dict[str, Any] = field(default_factory=lambda: {"name": "claim_submit", "confidence": 0.9})
    token: str = ""
    received: list[str] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)
    metadata: list[dict[str, Any] | None] = field(default_factory=list)  # each message's, as sent
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    appended: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    in_flight: int = 0
    peak: int = 0

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls.append((request.path, dict(request.query)))
        return await handler(request)

    def _refused(self, request: web.Request) -> web.Response | None:
        """Rasa's answer to an API call without the right token (None when it may pass)."""
        if not self.token or request.query.get("token") == self.token:
            return None
        return web.json_response(
            {"status": "failure", "reason": "NotAuthenticated", "message": "User is not authenticated.", "code": 401},
            status=401,
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body["message"])
        self.senders.append(body["sender"])
        self.metadata.append(body.get("metadata"))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        to = body["sender"]
        if self.empty_reply:
            return web.json_response([])
        if self.answer is not None:
            return web.json_response([{"recipient_id": to, **message} for message in self.answer])
        return web.json_response([{"recipient_id": to, "text": self.echo.format(message=body["message"])}])

    async def _tracker(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        return refused or web.json_response({"sender_id": request.match_info["sender"], "events": self.events})

    async def _append(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused:
            return refused
        self.appended.append((request.match_info["sender"], await request.json()))
        return web.json_response({"sender_id": request.match_info["sender"], "events": self.events})

    async def _parse(self, request: web.Request) -> web.Response:
        return self._refused(request) or web.json_response({"intent": self.intent, "entities": []})

    async def _status(self, request: web.Request) -> web.Response:
        return self._refused(request) or web.json_response({"model_file": "models/fake.tar.gz"})

    async def _hello(self, request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: 3.6.21")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, status=200 if self.action_server_up else 503)

    def app(self) -> web.Application:
        """The server's routes (Rasa's and the action server's on one port)."""
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_get("/conversations/{sender}/tracker", self._tracker)
        app.router.add_post("/conversations/{sender}/tracker/events", self._append)
        app.router.add_post("/model/parse", self._parse)
        app.router.add_get("/status", self._status)
        app.router.add_get("/", self._hello)
        app.router.add_get("/health", self._health)
        return app


# --------------------------------------------------------------------------- pages


class _Fields(HTMLParser):
    """Collects ids, hidden inputs, meta tags, script tags and attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.inputs: dict[str, str] = {}
        self.meta: dict[str, str] = {}
        self.scripts: list[dict[str, str | None]] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.passage_ids: list[str] = []
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name, value in attrs:
            self.attributes.append((tag, name, value))
        if "id" in a:
            self.ids.append(a["id"])
        if "data-passage-id" in a:
            self.passage_ids.append(a["data-passage-id"])
        if tag == "input" and a.get("name"):
            self.inputs[a["name"]] = a.get("value") or ""
        if tag == "meta" and a.get("name"):
            self.meta[a["name"]] = a.get("content") or ""
        if tag == "script":
            self.scripts.append(a)
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_bodies.append(data)


def parse(html: str) -> _Fields:
    """The ids, inputs, meta tags, scripts and attributes of ``html``."""
    fields = _Fields()
    fields.feed(html)
    return fields


# --------------------------------------------------------------------------- agents


async def login(client: TestClient, name: str = AGENT, password: str = PASSWORD, **headers: str) -> Any:
    """Post the login form (with its CSRF token); the response, not followed."""
    form = parse(await (await client.get("/agent/login")).text()).inputs
    return await client.post(
        "/agent/login",
        data={"name": name, "password": password, "csrf_token": form["csrf_token"], "next": "/agent"},
        allow_redirects=False,
        headers=headers,
    )


async def login_form_token(client: TestClient) -> str:
    """The CSRF token of a freshly loaded login form."""
    html = await (await client.get("/agent/login")).text()
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def sign_in(client: TestClient) -> str:
    """Sign in as the test agent; the session's CSRF token."""
    token = await login_form_token(client)
    response = await client.post(
        "/agent/login",
        data={"name": AGENT, "password": PASSWORD, "csrf_token": token, "next": "/agent"},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    page = await (await client.get("/agent")).text()
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def submit(services: Services, kind: str = "data_rights", **data: str) -> RequestRecord:
    """Store a request from SENDER (a data-rights request for Jane Doe unless overridden)."""
    values = {
        "request_type": "access",
        "full_name": "Jane Doe",
        "email": "jane.doe@example.com",
        "member_id": "AB123456",
        "date_of_birth": "1985-03-12",
        "details": "a copy of my data",
    }
    values.update(data)
    return services.store.submit(kind, values, conversation_id=SENDER)


# --------------------------------------------------------------------------- answers


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text


async def error_json(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The JSON error body of ``response`` after checking its status (and code)."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/json"
    no_traceback(text)
    data = json.loads(text)
    assert data["message"]
    if code is not None:
        assert data["error"] == code, data
    return data


def raw_json(body: bytes) -> dict[str, Any]:
    """Keyword arguments to post ``body`` as it is, labelled JSON."""
    return {"data": body, "headers": {"Content-Type": "application/json"}}


def conversation_of(client: TestClient) -> str | None:
    """The conversation id in ``client``'s cookie jar (the one the server issued), if any."""
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/api/chat")).get(CONVERSATION_COOKIE)
    return cookie.value if cookie is not None else None


async def new_conversation(client: TestClient) -> str:
    """Start a new conversation on ``client`` (as the widget's "Start over" does); its id."""
    response = await client.post("/api/chat/session")
    assert response.status == 200, await response.text()
    conversation = conversation_of(client)
    assert conversation
    return conversation


async def chat_staggered(client: TestClient, messages: list[str], gap: float = 0.02) -> list[tuple[int, Any]]:
    """Send each message from its own conversation, ``gap`` apart, all waiting at once.

    A session that keeps no cookies: every message starts a conversation of its own.
    """
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as fresh:

        async def one(i: int, message: str) -> tuple[int, Any]:
            await asyncio.sleep(i * gap)
            async with fresh.post(client.make_url("/api/chat"), json={"message": message}) as response:
                return response.status, await response.json()

        return await asyncio.gather(*(one(i, m) for i, m in enumerate(messages)))
