"""The web app (bot/web) through aiohttp's test client.

A real retriever (the session fixture from conftest.py) and a real SQLite request store
in tmp_path. The Rasa server is *not* running for most tests, so the member chat's
502 path is what they see; a few tests start a small fake Rasa (aiohttp_server) to
check what we do with its answers and with a slow answer (504).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
import socket
import uuid
from html.parser import HTMLParser

import pytest
from aiohttp import web
from yarl import URL

from bot.dialogue.facts import FactBook
from bot.requests import RequestStore
from bot.services import Services
from bot.web import create_app
from bot.web.accounts import main as accounts_main
from bot.web.auth import (
    AccountError,
    LoginLimiter,
    SessionStore,
    make_entry,
    parse_accounts,
    verify_password,
)
from bot.web.html import markdown_lite
from bot.web.keys import SERVICES
from bot.web.rasa import transcript

PASSWORD = "correct horse battery staple"
SENDER = "0f8fad5b-d9cb-469f-a165-70867728950e"
MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="session")
def agent_entry() -> str:
    return make_entry("alice", PASSWORD)


def _settings(settings, tmp_path, agent_entry, rasa_url: str, **extra):
    return dataclasses.replace(
        settings,
        database_url=f"sqlite:///{tmp_path}/requests.db",
        rasa_url=rasa_url,
        action_server_url=rasa_url,
        var_dir=tmp_path / "var",
        extra={"agent_accounts": agent_entry, **extra},
    )


@pytest.fixture(scope="session")
def closed_port():
    """A port bound but never listened on: connections are refused, and no other server
    (such as the aiohttp test server picking an ephemeral port) can take it meanwhile,
    which a port that was merely free a moment ago does not guarantee."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def web_settings(settings, tmp_path, agent_entry, closed_port):
    """Settings whose Rasa and action server URLs point at a closed port."""
    return _settings(settings, tmp_path, agent_entry, f"http://127.0.0.1:{closed_port}")


@pytest.fixture
def services(web_settings, retriever):
    store = RequestStore.from_settings(web_settings)
    store.create_schema()
    yield Services(settings=web_settings, retriever=retriever, store=store, facts=FactBook(retriever.passages))
    store.close()


@pytest.fixture
async def client(aiohttp_client, web_settings, services):
    return await aiohttp_client(create_app(web_settings, services=services))


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

    def handle_starttag(self, tag, attrs):
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

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.script_bodies.append(data)


def parse(html: str) -> _Fields:
    fields = _Fields()
    fields.feed(html)
    return fields


async def login(client, name: str = "alice", password: str = PASSWORD, **headers):
    form = parse(await (await client.get("/agent/login")).text()).inputs
    return await client.post(
        "/agent/login",
        data={"name": name, "password": password, "csrf_token": form["csrf_token"], "next": "/agent"},
        allow_redirects=False,
        headers=headers,
    )


@pytest.fixture
async def agent(client) -> str:
    """Log in as alice; the session's CSRF token."""
    response = await login(client)
    assert response.status == 303, await response.text()
    page = await client.get("/agent")
    return parse(await page.text()).meta["csrf-token"]


def submit(services, kind="data_rights", **data):
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


# --------------------------------------------------------------------------- pages and headers


async def test_member_page_has_chat_widget_and_no_inline_script(client):
    response = await client.get("/")
    assert response.status == 200
    html = await response.text()
    page = parse(html)
    assert "Automated assistant" in html and "not a person" in html
    assert 'href="/documents/cigna-ihs-data-protection-notice"' in html  # privacy notice before the first message
    assert 'aria-live="polite"' in html and 'role="log"' in html
    assert {"chat-log", "chat-input", "chat-handoff", "chat-restart", "chat-typing"} <= set(page.ids)
    assert 'for="chat-input"' in html  # the input has a label
    assert page.scripts and all(s.get("src", "").startswith("/static/") for s in page.scripts)
    assert not page.script_bodies  # no inline script
    assert not [a for a in page.attributes if a[1].startswith("on")]  # no inline event handlers
    assert not [a for a in page.attributes if a[1] in ("src", "href") and "//" in (a[2] or "")]  # no CDN


async def test_security_headers_on_pages_api_and_static(client):
    for path in ("/", "/documents", "/agent/login", "/healthz", "/static/style.css", "/nope"):
        response = await client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "same-origin", path
        assert response.headers["X-Frame-Options"] == "DENY", path
    assert (await client.get("/healthz")).headers["Cache-Control"] == "no-store"


async def test_static_assets_are_served_by_us(client):
    for path, kind in (
        ("/static/chat.js", "javascript"),
        ("/static/markdown.js", "javascript"),
        ("/static/agent.js", "javascript"),
        ("/static/style.css", "css"),
        ("/static/favicon.svg", "svg"),
    ):
        response = await client.get(path)
        assert response.status == 200, path
        assert kind in response.headers["Content-Type"], path
        body = await response.text()
        assert "http://" not in body.replace("http://www.w3.org", "") and "https://" not in body, path


async def test_unknown_page_is_a_friendly_404(client):
    response = await client.get("/no/such/page")
    assert response.status == 404
    assert "text/html" in response.headers["Content-Type"]
    assert "Page not found" in await response.text()


# --------------------------------------------------------------------------- documents


async def test_documents_page_has_an_anchor_for_every_passage(client, retriever):
    by_doc: dict[str, list] = {}
    for p in retriever.passages:
        by_doc.setdefault(p.doc_id, []).append(p)
    for doc_id, passages in by_doc.items():
        response = await client.get(f"/documents/{doc_id}")
        assert response.status == 200, doc_id
        page = parse(await response.text())
        assert len(page.ids) == len(set(page.ids)), f"duplicate ids on {doc_id}"
        assert {p.anchor for p in passages} <= set(page.ids), doc_id
        assert page.passage_ids == [p.id for p in passages], f"{doc_id}: passages missing or out of order"
        for p in passages:
            path, _, anchor = p.local_url.partition("#")
            assert path == f"/documents/{doc_id}" and anchor == p.anchor


async def test_documents_index_and_unknown_document(client, retriever):
    html = await (await client.get("/documents")).text()
    for doc_id in {p.doc_id for p in retriever.passages}:
        assert f'href="/documents/{doc_id}"' in html
    missing = await client.get("/documents/no-such-document")
    assert missing.status == 404
    assert "Document not found" in await missing.text()


async def test_document_text_is_escaped(client, retriever):
    html = await (await client.get("/documents/cigna-health-benefits-member-faq")).text()
    assert "<li>" in html  # "• " items are a list
    faq = next(p for p in retriever.passages if p.doc_id == "cigna-health-benefits-member-faq" and "’" in p.text)
    assert faq.anchor in html


# --------------------------------------------------------------------------- member chat


async def test_chat_with_rasa_down_is_a_502_with_contact_channels(client):
    response = await client.post("/api/chat", json={"sender": SENDER, "message": "how do I claim?"})
    assert response.status == 502
    data = await response.json()
    assert data["error"] == "assistant_unavailable"
    assert "sorry" in data["message"].lower() and "contact us by email, by post, or by phone" in data["message"]
    assert "Traceback" not in data["message"]
    [message] = data["messages"]
    assert message["custom"]["type"] == "unavailable"
    assert message["custom"]["citations"][0]["local_url"].startswith("/documents/cigna-health-benefits-member-faq#")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": "hi"}, 400, "invalid_sender"),
        ({"sender": "short", "message": "hi"}, 400, "invalid_sender"),
        ({"sender": "../../etc/passwd-aaaaaaaaaaaaaaa", "message": "hi"}, 400, "invalid_sender"),
        ({"sender": SENDER}, 400, "missing_field"),
        ({"sender": SENDER, "message": 42}, 400, "invalid_field"),
        ({"sender": SENDER, "message": "   "}, 400, "empty_message"),
        ({"sender": SENDER, "message": "x" * 2001}, 413, "message_too_long"),
    ],
)
async def test_chat_input_validation(client, body, status, code):
    response = await client.post("/api/chat", json=body)
    assert response.status == status
    data = await response.json()
    assert data["error"] == code and data["message"]


async def test_chat_message_of_exactly_2000_chars_reaches_rasa(client):
    response = await client.post("/api/chat", json={"sender": SENDER, "message": "x" * 2000})
    assert response.status == 502  # validated, then Rasa (down) was asked


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (b"", "empty_body"),
        (b"\xff\xfe", "malformed_json"),
    ],
)
async def test_malformed_json_is_a_400(client, raw, code):
    response = await client.post("/api/chat", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"] == code


async def test_oversized_body_is_a_413(client):
    body = b'{"sender": "' + SENDER.encode() + b'", "message": "' + b"x" * 200_000 + b'"}'
    response = await client.post("/api/chat", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert (await response.json())["error"] == "too_large"


async def test_history_with_rasa_down_is_a_502(client):
    response = await client.get("/api/chat/history", params={"sender": SENDER})
    assert response.status == 502
    assert (await response.json())["error"] == "assistant_unavailable"
    bad = await client.get("/api/chat/history", params={"sender": "x"})
    assert bad.status == 400


async def test_feedback_is_recorded_for_the_senders_own_answer(client, services):
    answer_id = services.store.record_answer(SENDER, "how do I claim?", "faq#claims-1", 0.8, "answer")
    response = await client.post("/api/feedback", json={"sender": SENDER, "answer_id": answer_id, "helpful": False})
    assert response.status == 200
    assert (await response.json()) == {"ok": True, "answer_id": answer_id, "helpful": False}
    assert services.store.get_answer(answer_id).helpful is False

    other = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    response = await client.post("/api/feedback", json={"sender": other, "answer_id": answer_id, "helpful": True})
    assert response.status == 404
    assert services.store.get_answer(answer_id).helpful is False
    response = await client.post("/api/feedback", json={"sender": SENDER, "answer_id": 999999, "helpful": True})
    assert response.status == 404


@pytest.mark.parametrize(
    "body",
    [
        {"sender": SENDER, "answer_id": "1", "helpful": True},
        {"sender": SENDER, "answer_id": True, "helpful": True},
        {"sender": SENDER, "answer_id": 1, "helpful": "yes"},
        {"sender": SENDER, "answer_id": -3, "helpful": True},
        {"answer_id": 1, "helpful": True},
    ],
)
async def test_feedback_validation(client, body):
    response = await client.post("/api/feedback", json=body)
    assert response.status == 400


# --------------------------------------------------------------------------- a fake Rasa


def fake_rasa_app(delay: float = 0.0) -> web.Application:
    """Enough of Rasa's HTTP API for our client: REST channel, tracker, parse, status."""

    async def webhook(request):
        body = await request.json()
        await asyncio.sleep(delay)
        to = body["sender"]
        text = "Send us the **claim form**.\nSource: [FAQ › Claims](/documents/faq#claims-1)"
        return web.json_response(
            [
                {"recipient_id": to, "text": text},
                {"recipient_id": to, "custom": {"type": "answer", "answer_id": 7, "citations": []}},
                {"recipient_id": to, "text": "Did this help?", "buttons": [{"title": "Yes", "payload": "/feedback"}]},
                {"recipient_id": to, "unknown": "dropped"},
            ]
        )

    async def tracker(request):
        return web.json_response(
            {
                "sender_id": request.match_info["sender"],
                "events": [
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
                ],
            }
        )

    async def parse_text(request):
        return web.json_response({"intent": {"name": "claim_submit", "confidence": 0.93}, "entities": []})

    async def hello(request):
        return web.Response(text="Hello from Rasa: 3.6.21")

    async def health(request):
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_get("/conversations/{sender}/tracker", tracker)
    app.router.add_post("/model/parse", parse_text)
    app.router.add_get("/", hello)
    app.router.add_get("/health", health)
    return app


@pytest.fixture
async def rasa_client(aiohttp_client, aiohttp_server, settings, tmp_path, agent_entry, retriever):
    server = await aiohttp_server(fake_rasa_app())
    web_settings = _settings(settings, tmp_path, agent_entry, str(server.make_url("")).rstrip("/"))
    store = RequestStore.from_settings(web_settings)
    store.create_schema()
    services = Services(settings=web_settings, retriever=retriever, store=store, facts=FactBook(retriever.passages))
    yield await aiohttp_client(create_app(web_settings, services=services))
    store.close()


async def test_chat_relays_rasa_messages(rasa_client):
    response = await rasa_client.post("/api/chat", json={"sender": SENDER, "message": "how do I claim?"})
    assert response.status == 200
    data = await response.json()
    assert data["sender"] == SENDER
    assert data["messages"][0]["text"].startswith("Send us the **claim form**")
    assert data["messages"][1] == {"custom": {"type": "answer", "answer_id": 7, "citations": []}}
    assert data["messages"][2]["buttons"] == [{"title": "Yes", "payload": "/feedback"}]
    assert len(data["messages"]) == 3  # the unknown message is dropped, recipient ids are not passed on


async def test_history_replays_the_tracker(rasa_client):
    response = await rasa_client.get("/api/chat/history", params={"sender": SENDER})
    assert response.status == 200
    messages = (await response.json())["messages"]
    assert [m["role"] for m in messages] == ["user", "bot", "user", "user", "bot", "user", "bot"]
    assert messages[2]["text"] == "Make a request"  # a payload is shown as its button's title
    assert messages[3]["text"] == "Talk to a person"
    assert messages[4]["custom"] == {"type": "handoff"}


async def test_request_detail_shows_the_transcript_escaped(rasa_client):
    await login(rasa_client)
    store = rasa_client.app[SERVICES].store
    record = store.submit("handoff", {"reason": "talk to a person"}, conversation_id=SENDER)
    html = await (await rasa_client.get(f"/agent/requests/{record.reference}")).text()
    transcript_html = html[html.index('class="transcript"') :]
    assert "Make a request" in transcript_html and "Talk to a person" in transcript_html
    assert "Ref <strong>HO-1234-5678</strong>" in transcript_html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in transcript_html
    assert 'href="/documents/faq#a-1"' in transcript_html and 'href="javascript' not in html
    assert "[this](javascript:alert(1))" in transcript_html  # shown as text, not as a link
    api = await (await rasa_client.get(f"/api/requests/{record.reference}/transcript")).json()
    assert api["conversation_id"] == SENDER
    assert api["messages"][0] == {"role": "user", "text": "hello", "timestamp": 1.0}


def test_markdown_lite_escapes_before_formatting():
    html = markdown_lite('**bold** <b>x</b> [a](/documents/d#p) [b](javascript:x) [c](/x" onclick="y)')
    assert html.startswith("<strong>bold</strong> &lt;b&gt;x&lt;/b&gt; ")
    assert '<a href="/documents/d#p" rel="noopener noreferrer">a</a>' in html
    assert "[b](javascript:x)" in html and 'onclick="' not in html
    masked = markdown_lite("Email: j***@e***.com, born **/**/1985, ref **DR-1234-5678**")
    assert masked == "Email: j***@e***.com, born **/**/1985, ref <strong>DR-1234-5678</strong>"


async def test_healthz_all_ok_with_rasa_up(rasa_client):
    data = await (await rasa_client.get("/healthz")).json()
    assert data == {"status": "ok", "web": "ok", "rasa": "ok", "action_server": "ok", "index": "ok", "database": "ok"}


async def test_suggest_shows_the_intent_when_rasa_is_up(rasa_client):
    await login(rasa_client)
    csrf = parse(await (await rasa_client.get("/agent")).text()).meta["csrf-token"]
    response = await rasa_client.post(
        "/api/suggest", json={"message": "how do I claim"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status == 200
    assert (await response.json())["intent"] == {"name": "claim_submit", "confidence": 0.93}


async def test_slow_rasa_is_a_504(aiohttp_client, aiohttp_server, settings, tmp_path, agent_entry, retriever):
    server = await aiohttp_server(fake_rasa_app(delay=2.0))
    web_settings = _settings(settings, tmp_path, agent_entry, str(server.make_url("")).rstrip("/"), rasa_timeout=0.3)
    store = RequestStore.from_settings(web_settings)
    store.create_schema()
    services = Services(settings=web_settings, retriever=retriever, store=store, facts=FactBook(retriever.passages))
    client = await aiohttp_client(create_app(web_settings, services=services))
    response = await client.post("/api/chat", json={"sender": SENDER, "message": "hello"})
    assert response.status == 504
    data = await response.json()
    assert data["error"] == "assistant_timeout" and "too long" in data["message"]
    store.close()


def gated_rasa_app(delay: float, seen: list[str], load: dict[str, int]) -> web.Application:
    """A REST channel that answers after ``delay``, noting each message and how many it holds at once."""

    async def webhook(request):
        body = await request.json()
        seen.append(body["message"])
        load["now"] += 1
        load["peak"] = max(load["peak"], load["now"])
        try:
            await asyncio.sleep(delay)
        finally:
            load["now"] -= 1
        return web.json_response([{"recipient_id": body["sender"], "text": f"You said {body['message']}"}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    return app


async def _gated_client(aiohttp_client, aiohttp_server, settings, tmp_path, agent_entry, retriever, delay, **extra):
    seen: list[str] = []
    load = {"now": 0, "peak": 0}
    server = await aiohttp_server(gated_rasa_app(delay, seen, load))
    web_settings = _settings(settings, tmp_path, agent_entry, str(server.make_url("")).rstrip("/"), **extra)
    store = RequestStore.from_settings(web_settings)
    store.create_schema()
    services = Services(settings=web_settings, retriever=retriever, store=store, facts=FactBook(retriever.passages))
    client = await aiohttp_client(create_app(web_settings, services=services))
    return client, store, seen, load


async def _chat_staggered(client, messages: list[str], gap: float = 0.02):
    """Send each message from its own conversation, ``gap`` apart, all waiting at once."""

    async def one(i: int, message: str):
        await asyncio.sleep(i * gap)
        response = await client.post("/api/chat", json={"sender": str(uuid.uuid4()), "message": message})
        return response.status, await response.json()

    return await asyncio.gather(*(one(i, m) for i, m in enumerate(messages)))


async def test_rasa_gets_at_most_max_in_flight_calls_and_every_member_a_reply(
    aiohttp_client, aiohttp_server, settings, tmp_path, agent_entry, retriever
):
    client, store, seen, load = await _gated_client(
        aiohttp_client, aiohttp_server, settings, tmp_path, agent_entry, retriever, 0.1, rasa_max_in_flight="2"
    )
    messages = [f"question {i}" for i in range(10)]
    results = await _chat_staggered(client, messages, gap=0.0)
    assert [status for status, _ in results] == [200] * 10
    assert [data["messages"][0]["text"] for _, data in results] == [f"You said {m}" for m in messages]
    assert load["peak"] == 2 and sorted(seen) == sorted(messages)
    store.close()


async def test_queued_calls_reach_rasa_first_come_first_served(
    aiohttp_client, aiohttp_server, settings, tmp_path, agent_entry, retriever
):
    client, store, seen, load = await _gated_client(
        aiohttp_client, aiohttp_server, settings, tmp_path, agent_entry, retriever, 0.1, rasa_max_in_flight="1"
    )
    messages = [f"question {i}" for i in range(6)]
    results = await _chat_staggered(client, messages)
    assert [status for status, _ in results] == [200] * 6
    assert seen == messages and load["peak"] == 1
    store.close()


async def test_a_full_queue_turns_a_message_away_at_once_unsent(
    aiohttp_client, aiohttp_server, settings, tmp_path, agent_entry, retriever
):
    client, store, seen, _ = await _gated_client(
        aiohttp_client, aiohttp_server, settings, tmp_path, agent_entry, retriever, 0.5,
        rasa_max_in_flight="1", rasa_max_waiting="1",
    )
    results = await _chat_staggered(client, ["first", "second", "third"])
    assert [status for status, _ in results] == [200, 200, 503]
    busy = results[2][1]
    assert busy["error"] == "assistant_busy" and "was not sent" in busy["message"]
    assert busy["messages"][0]["custom"]["type"] == "unavailable"
    assert seen == ["first", "second"]  # the third never reached Rasa
    store.close()


def test_transcript_skips_non_message_events():
    events = [
        {"event": "session_started"},
        {"event": "user", "text": None},
        {"event": "bot", "text": "", "data": {}},
        {"event": "bot", "text": "hi", "data": {"buttons": [{"title": "A", "payload": "/a"}]}},
        {"event": "user", "text": "/a"},
        {"event": "user", "text": "/unknown_intent"},
    ]
    assert transcript(events) == [
        {"role": "bot", "text": "hi", "buttons": [{"title": "A", "payload": "/a"}], "timestamp": None},
        {"role": "user", "text": "A", "timestamp": None},
        {"role": "user", "text": "/unknown_intent", "timestamp": None},
    ]


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("path", ["/agent", "/agent/requests", "/agent/requests/DR-0000-0000", "/agent/anything"])
async def test_anonymous_agent_pages_redirect_to_login(client, path):
    response = await client.get(path, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/agent/login?next=/agent")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/requests"),
        ("GET", "/api/requests/DR-0000-0000"),
        ("PATCH", "/api/requests/DR-0000-0000"),
        ("GET", "/api/requests/DR-0000-0000/transcript"),
        ("POST", "/api/suggest"),
    ],
)
async def test_anonymous_agent_api_is_401(client, method, path):
    response = await client.request(method, path, json={"message": "x", "status": "done"})
    assert response.status == 401
    assert (await response.json())["error"] == "unauthenticated"


async def test_anonymous_form_posts_do_nothing(client, services):
    record = submit(services)
    response = await client.post(
        f"/agent/requests/{record.reference}/status", data={"status": "done"}, allow_redirects=False
    )
    assert response.status == 302 and response.headers["Location"].startswith("/agent/login")
    assert services.store.get(record.reference).status == "new"


async def test_bad_password_is_refused(client):
    response = await login(client, password="wrong password")
    assert response.status == 401
    assert "wrong" in await response.text()
    assert "agent_session" not in response.cookies
    response = await login(client, name="mallory")
    assert response.status == 401
    assert (await client.get("/api/requests")).status == 401


async def test_login_form_needs_its_csrf_token(client):
    await client.get("/agent/login")
    response = await client.post(
        "/agent/login", data={"name": "alice", "password": PASSWORD, "csrf_token": "forged"}, allow_redirects=False
    )
    assert response.status == 403
    response = await client.post(
        "/agent/login", data={"name": "alice", "password": PASSWORD, "csrf_token": "é"}, allow_redirects=False
    )
    assert response.status == 403
    assert (await client.get("/api/requests")).status == 401


async def test_login_sets_a_strict_httponly_session_cookie(client):
    response = await login(client)
    assert response.status == 303 and response.headers["Location"] == "/agent"
    cookie = next(h for h in response.headers.getall("Set-Cookie") if h.startswith("agent_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    assert (await client.get("/api/requests")).status == 200


async def test_session_cookie_is_secure_behind_https(client):
    response = await login(client, **{"X-Forwarded-Proto": "https"})
    cookie = next(h for h in response.headers.getall("Set-Cookie") if h.startswith("agent_session="))
    assert "Secure" in cookie
    assert "Strict-Transport-Security" in response.headers


async def test_login_redirects_only_to_agent_pages(client):
    form = parse(await (await client.get("/agent/login")).text()).inputs
    response = await client.post(
        "/agent/login",
        data={"name": "alice", "password": PASSWORD, "csrf_token": form["csrf_token"], "next": "https://evil.example/"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/agent"


async def test_failed_logins_are_rate_limited(client):
    for _ in range(5):
        assert (await login(client, password="wrong password")).status == 401
    response = await login(client)  # even the right password, for a while
    assert response.status == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many" in await response.text()


async def test_other_accounts_failures_do_not_lock_an_agent_out(client):
    for _ in range(5):
        assert (await login(client, name="bob", password="wrong password")).status == 401
    assert (await login(client, name="bob")).status == 429  # bob's name is locked
    assert (await login(client)).status == 303  # alice, from the same address, is not


async def test_logout_needs_csrf_and_ends_the_session(client, agent):
    refused = await client.post("/agent/logout", data={}, allow_redirects=False)
    assert refused.status == 403
    assert (await client.get("/api/requests")).status == 200
    response = await client.post("/agent/logout", data={"csrf_token": agent}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/agent/login"
    assert (await client.get("/api/requests")).status == 401
    assert (await client.get("/agent", allow_redirects=False)).status == 302


async def test_agent_pages_are_not_cached(client, agent):
    response = await client.get("/agent/requests")
    assert response.headers["Cache-Control"] == "no-store"


def test_accounts_entries_and_passwords():
    entry = make_entry("bob", "a long password")
    name, salt, digest = entry.split(":")
    assert name == "bob" and len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(digest)) == 32
    accounts = parse_accounts(f"# agents\n{entry}, {make_entry('carol', 'another password')}")
    assert set(accounts) == {"bob", "carol"}
    assert verify_password(accounts, "bob", "a long password")
    assert not verify_password(accounts, "bob", "a long passwore")
    assert not verify_password(accounts, "carol", "a long password")
    assert not verify_password(accounts, "nobody", "a long password")
    for bad in ("bob:zz:00", "bob:00", "bad name:00:" + "00" * 32, "bob:00:0011"):
        with pytest.raises(AccountError):
            parse_accounts(bad)
    with pytest.raises(AccountError):
        make_entry("bob", "short")


def test_accounts_command_appends_entry(tmp_path, monkeypatch, capsys):
    path = tmp_path / "agents.txt"
    monkeypatch.setattr("sys.stdin", io.StringIO("first password\n"))
    assert accounts_main(["dave", "--append", "--file", str(path)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("second password\n"))
    assert accounts_main(["dave", "--append", "--file", str(path)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    accounts = parse_accounts(path.read_text())
    assert list(accounts) == ["dave"] and path.read_text().strip() == printed
    assert verify_password(accounts, "dave", "second password")
    assert path.stat().st_mode & 0o077 == 0


async def test_accounts_file_is_read(aiohttp_client, settings, tmp_path, retriever):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "agents.txt").write_text(make_entry("erin", "erins password") + "\n")
    web_settings = dataclasses.replace(
        settings, database_url=f"sqlite:///{tmp_path}/r.db", var_dir=tmp_path / "var", extra={}
    )
    store = RequestStore.from_settings(web_settings)
    store.create_schema()
    services = Services(settings=web_settings, retriever=retriever, store=store, facts=FactBook(retriever.passages))
    client = await aiohttp_client(create_app(web_settings, services=services))
    assert (await login(client, name="erin", password="erins password")).status == 303
    store.close()


def test_sessions_expire():
    now = [0.0]
    store = SessionStore(lifetime_seconds=100, idle_seconds=30, clock=lambda: now[0])
    token, session = store.create("alice")
    assert store.get(token) is session
    now[0] = 25
    assert store.get(token) is session
    now[0] = 50  # used at 25, so idle only 25 s
    assert store.get(token) is session
    now[0] = 90
    assert store.get(token) is None  # idle for 40 s
    token, _ = store.create("alice")
    for t in (110, 130, 150, 170, 190):
        now[0] = t
        assert store.get(token) is not None
    now[0] = 195
    assert store.get(token) is None  # absolute lifetime (created at 90)
    assert store.get("not-a-token") is None and store.get(None) is None


def test_login_limiter_window():
    now = [0.0]
    limiter = LoginLimiter(max_failures=2, window_seconds=60, clock=lambda: now[0])
    limiter.fail(["ip:a"])
    assert limiter.retry_after(["ip:a"]) == 0
    limiter.fail(["ip:a"])
    assert limiter.retry_after(["ip:a", "name:x"]) > 0
    now[0] = 61
    assert limiter.retry_after(["ip:a"]) == 0


# --------------------------------------------------------------------------- suggestions


async def test_suggest_returns_top_passages(client, agent):
    response = await client.post(
        "/api/suggest",
        json={"message": "How do I submit a claim for my medical expenses?"},
        headers={"X-CSRF-Token": agent},
    )
    assert response.status == 200
    data = await response.json()
    assert data["intent"] is None  # Rasa is down here
    suggestions = data["suggestions"]
    assert 3 <= len(suggestions) <= 5
    for s in suggestions:
        assert set(s) >= {"passage_id", "title", "section", "url", "local_url", "text", "score", "confidence"}
        assert 0.0 <= s["confidence"] <= 1.0
        assert s["local_url"].startswith("/documents/")
    assert suggestions[0]["passage_id"].startswith("cigna-health-benefits-member-faq#")
    # Most confident first: the percentage agents read goes down the list.
    assert [s["confidence"] for s in suggestions] == sorted((s["confidence"] for s in suggestions), reverse=True)
    assert {s["band"] for s in suggestions} <= {"answer", "clarify", "abstain"}


async def test_suggest_needs_csrf_and_valid_input(client, agent):
    assert (await client.post("/api/suggest", json={"message": "claims"})).status == 403
    headers = {"X-CSRF-Token": agent}
    assert (await client.post("/api/suggest", json={"message": " "}, headers=headers)).status == 400
    assert (await client.post("/api/suggest", json={"message": "x" * 2001}, headers=headers)).status == 413
    assert (await client.post("/api/suggest", json={}, headers=headers)).status == 400
    response = await client.post("/api/suggest", data=b"{", headers={**headers, "Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["error"] == "malformed_json"
    wrong = await client.post("/api/suggest", json={"message": "claims"}, headers={"X-CSRF-Token": "nope"})
    assert wrong.status == 403 and (await wrong.json())["error"] == "csrf"


async def test_console_suggestions_without_javascript(client, agent):
    response = await client.post("/agent/suggest", data={"csrf_token": agent, "message": "I forgot my password"})
    assert response.status == 200
    html = await response.text()
    assert html.count('class="suggestion ') >= 3
    assert "data-copy-text=" in html and "Copy answer" in html
    assert "Intent unavailable" in html
    refused = await client.post("/agent/suggest", data={"message": "I forgot my password"})
    assert refused.status == 403


# --------------------------------------------------------------------------- requests API


async def test_list_requests_with_filters(client, agent, services):
    dr = submit(services)
    cb = services.store.submit("callback", {"full_name": "Sam Roe", "phone_number": "+32 470 12 34 56"})
    services.store.update_status(cb.reference, "done", "bob")
    data = await (await client.get("/api/requests")).json()
    assert [r["reference"] for r in data["requests"]] == [cb.reference, dr.reference]
    first = data["requests"][1]
    assert first["kind"] == "data_rights" and first["status"] == "new"
    assert first["days_left"] in (29, 30) and first["due_text"].endswith("days left")
    assert "data" not in first and "jane.doe@example.com" not in str(first)  # lists show the masked summary
    only = await (await client.get("/api/requests", params={"kind": "data_rights"})).json()
    assert [r["reference"] for r in only["requests"]] == [dr.reference]
    done = await (await client.get("/api/requests", params={"status": "done"})).json()
    assert [r["reference"] for r in done["requests"]] == [cb.reference]
    page = await (await client.get("/api/requests", params={"limit": 1, "offset": 1})).json()
    assert [r["reference"] for r in page["requests"]] == [dr.reference] and page["count"] == 1


@pytest.mark.parametrize(
    "params",
    [{"kind": "pizza"}, {"status": "lost"}, {"limit": "ten"}, {"limit": "0"}, {"limit": "501"}, {"offset": "-1"}],
)
async def test_list_requests_rejects_bad_filters(client, agent, params):
    response = await client.get("/api/requests", params=params)
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_query"


async def test_get_request_and_unknown_reference(client, agent, services):
    record = submit(services)
    data = (await (await client.get(f"/api/requests/{record.reference}")).json())["request"]
    assert data["data"]["email"] == "jane.doe@example.com" and data["conversation_id"] == SENDER
    assert data["events"][0]["to_status"] == "new"
    lower = await client.get(f"/api/requests/{record.reference.lower()}")
    assert lower.status == 200  # references are normalised
    missing = await client.get("/api/requests/DR-0000-0000")
    assert missing.status == 404 and (await missing.json())["error"] == "not_found"


async def test_patch_request_status_and_note(client, agent, services):
    record = submit(services)
    headers = {"X-CSRF-Token": agent}
    response = await client.patch(f"/api/requests/{record.reference}", json={"status": "in_progress"}, headers=headers)
    assert response.status == 200
    data = (await response.json())["request"]
    assert data["status"] == "in_progress"
    last = data["events"][-1]
    assert (last["author"], last["from_status"], last["to_status"]) == ("alice", "new", "in_progress")
    response = await client.patch(
        f"/api/requests/{record.reference}", json={"note": "Called the member", "status": "done"}, headers=headers
    )
    data = (await response.json())["request"]
    assert data["status"] == "done" and data["notes"][0]["text"] == "Called the member"
    assert data["notes"][0]["author"] == "alice" and data["due_text"] == "closed"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"status": "archived"}, 400, "invalid_status"),
        ({}, 400, "missing_field"),
        ({"note": "  "}, 400, "empty_note"),
        ({"note": "x" * 10_001}, 413, "note_too_long"),
        ({"status": "done", "owner": "me"}, 400, "unknown_field"),
        ({"status": 3}, 400, "invalid_field"),
    ],
)
async def test_patch_request_rejects_bad_input(client, agent, services, body, status, code):
    record = submit(services)
    response = await client.patch(f"/api/requests/{record.reference}", json=body, headers={"X-CSRF-Token": agent})
    assert response.status == status
    assert (await response.json())["error"] == code
    assert services.store.get(record.reference).status == "new"


async def test_patch_request_errors(client, agent, services):
    record = submit(services)
    headers = {"X-CSRF-Token": agent}
    missing = await client.patch("/api/requests/DR-0000-0000", json={"status": "done"}, headers=headers)
    assert missing.status == 404
    malformed = await client.patch(
        f"/api/requests/{record.reference}", data=b"{status", headers={**headers, "Content-Type": "application/json"}
    )
    assert malformed.status == 400
    no_csrf = await client.patch(f"/api/requests/{record.reference}", json={"status": "done"})
    assert no_csrf.status == 403 and (await no_csrf.json())["error"] == "csrf"
    assert services.store.get(record.reference).status == "new"


async def test_transcript_with_rasa_down_is_a_502(client, agent, services):
    record = submit(services)
    response = await client.get(f"/api/requests/{record.reference}/transcript")
    assert response.status == 502
    assert (await response.json())["error"] == "rasa_unavailable"


async def test_unknown_api_route_and_method_are_json(client, agent):
    response = await client.get("/api/nothing-here")
    assert response.status == 404 and (await response.json())["error"] == "not_found"
    response = await client.delete("/api/requests")
    assert response.status == 405 and "error" in await response.json()


async def test_healthz_reports_components_and_stays_200(client):
    response = await client.get("/healthz")
    assert response.status == 200
    data = await response.json()
    assert data == {
        "status": "degraded",
        "web": "ok",
        "rasa": "error",
        "action_server": "error",
        "index": "ok",
        "database": "ok",
    }


# --------------------------------------------------------------------------- agent pages


async def test_inbox_shows_deadlines_and_escapes_markup(client, agent, services):
    record = submit(services, full_name=MARKUP, details=MARKUP)
    services.store.submit("guarantee_of_payment", {"member_id": "AB123456", "treatment": MARKUP})
    response = await client.get("/agent/requests")
    html = await response.text()
    assert response.status == 200
    assert "<script>alert" not in html and "<img src=x" not in html
    assert record.reference in html and "Data rights" in html and "Guarantee of payment" in html
    assert re.search(r"(29|30) days left", html)
    page = parse(html)
    assert not page.script_bodies and not [a for a in page.attributes if a[1].startswith("on")]
    filtered = await (await client.get("/agent/requests", params={"kind": "guarantee_of_payment"})).text()
    assert record.reference not in filtered
    assert (await client.get("/agent/requests", params={"status": "bogus"})).status == 400


async def test_request_detail_escapes_everything(client, agent, services):
    record = submit(services, full_name=MARKUP, details=MARKUP, email='"><svg onload=alert(1)>@example.com')
    headers = {"X-CSRF-Token": agent}
    await client.patch(f"/api/requests/{record.reference}", json={"note": MARKUP}, headers=headers)
    response = await client.get(f"/agent/requests/{record.reference}")
    html = await response.text()
    assert response.status == 200
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "AB123456" in html  # full details for the signed-in agent
    assert "The transcript cannot be loaded right now" in html
    page = parse(html)
    assert not page.script_bodies and not [a for a in page.attributes if a[1].startswith("on")]
    assert page.inputs["csrf_token"] == agent


async def test_request_detail_forms_change_status_and_add_notes(client, agent, services):
    record = submit(services)
    response = await client.post(
        f"/agent/requests/{record.reference}/status",
        data={"csrf_token": agent, "status": "in_progress"},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"].endswith("?done=status")
    response = await client.post(
        f"/agent/requests/{record.reference}/notes", data={"csrf_token": agent, "note": "Sent the form"}
    )
    html = await response.text()
    assert "Your note was added." in html and "Sent the form" in html
    updated = services.store.get(record.reference)
    assert updated.status == "in_progress" and updated.notes[0].author == "alice"
    forged = await client.post(
        f"/agent/requests/{record.reference}/status", data={"csrf_token": "x", "status": "done"}, allow_redirects=False
    )
    assert forged.status == 403
    bad = await client.post(f"/agent/requests/{record.reference}/status", data={"csrf_token": agent, "status": "gone"})
    assert bad.status == 400
    assert services.store.get(record.reference).status == "in_progress"


async def test_unknown_request_page_is_404(client, agent):
    response = await client.get("/agent/requests/DR-0000-0000")
    assert response.status == 404
    assert "Request not found" in await response.text()


def test_openapi_documents_every_api_route(web_settings, services):
    import yaml

    from bot.settings import ROOT

    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
    assert spec["openapi"].startswith("3.0")
    app = create_app(web_settings, services=services)
    routes = {
        (r.resource.canonical, r.method.lower())
        for r in app.router.routes()
        if r.resource is not None and (r.resource.canonical.startswith("/api/") or r.resource.canonical == "/healthz")
        and r.method != "HEAD"
    }
    documented = {(path, method) for path, item in spec["paths"].items() for method in item if method != "parameters"}
    assert routes == documented


async def test_login_returns_to_the_page_asked_for(client):
    response = await client.get("/agent/requests?kind=callback", allow_redirects=False)
    location = URL(response.headers["Location"])
    assert location.path == "/agent/login" and location.query["next"] == "/agent/requests?kind=callback"
    form = parse(await (await client.get(response.headers["Location"])).text()).inputs
    assert form["next"] == "/agent/requests?kind=callback"
    response = await client.post(
        "/agent/login",
        data={"name": "alice", "password": PASSWORD, "csrf_token": form["csrf_token"], "next": form["next"]},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/agent/requests?kind=callback"


def test_web_config_lookup_order(settings):
    from bot.settings import Settings
    from bot.web.config import WebConfig

    env = {"BOT_RASA_TIMEOUT": "9", "BOT_LOGIN_MAX_FAILURES": "7"}
    base = Settings.from_env(env=env, extra={"rasa_timeout": "2.5"})
    config = WebConfig.from_settings(base)
    assert config.rasa_timeout == 2.5 and config.login_max_failures == 7 and config.agent_idle_minutes == 60.0
