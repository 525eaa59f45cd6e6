"""Hardening of the web app (bot/web): bad input, rate limits, CORS, headers, Rasa falling silent.

Most tests drive the app with aiohttp's test client against a small real aiohttp server
standing in for Rasa's REST channel and the action server's health check (it records what
reached "Rasa" and can answer with an empty list, as Rasa 3.6 does when the action server
is down). One test sends the awkward-but-valid messages (emoji, other scripts, markup,
SQL-looking text) through to the real Rasa server and action server (ports 5605/5655).
Property-based tests (hypothesis) cover the input parsing helpers.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.dialogue.facts import FactBook
from bot.dialogue.validation import MAX_MESSAGE_CHARS
from bot.requests import RequestStore
from bot.services import Services
from bot.settings import Settings
from bot.web import create_app
from bot.web.api import check_message, patch_fields
from bot.web.auth import make_entry
from bot.web.config import WebConfig
from bot.web.cors import CorsPolicy, normalise_origin, parse_origins, same_host
from bot.web.html import markdown_lite
from bot.web.jsonio import BadRequest, clean_text, parse_json_object, shorten, string_field
from bot.web.keys import RATE_LIMITS, SERVICES
from bot.web.member import MAX_ID, chat_message, valid_sender
from bot.web.rasa import RasaClient
from bot.web.ratelimit import RateLimiter, client_ip, parse_networks

AGENT = "alice"
PASSWORD = "correct horse battery staple"
SENDER = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER_SENDER = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
INJECTION = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
SQL = "'; DROP TABLE requests; -- 1' OR '1'='1"
LONG = "x" * 20_000
NO_LIMITS = {"rate_limit_per_minute": 0, "chat_rate_limit_per_minute": 0}
ALLOWED_ORIGIN = "https://www.example.org"
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


# --------------------------------------------------------------------------- fixtures


class FakeRasa:
    """A real aiohttp server standing in for Rasa (REST channel, tracker, parse) and the action server."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.empty_reply = False
        self.action_server_up = True

    def app(self) -> web.Application:
        async def webhook(request: web.Request) -> web.Response:
            body = await request.json()
            self.received.append(body["message"])
            if self.empty_reply:
                return web.json_response([])
            return web.json_response([{"recipient_id": body["sender"], "text": f"You said: {body['message']}"}])

        async def tracker(request: web.Request) -> web.Response:
            return web.json_response({"sender_id": request.match_info["sender"], "events": []})

        async def parse_text(request: web.Request) -> web.Response:
            return web.json_response({"intent": {"name": "claim_submit", "confidence": 0.9}})

        async def hello(request: web.Request) -> web.Response:
            return web.Response(text="Hello from Rasa: 3.6.21")

        async def health(request: web.Request) -> web.Response:
            return web.json_response({"status": "ok"}, status=200 if self.action_server_up else 503)

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        app.router.add_get("/conversations/{sender}/tracker", tracker)
        app.router.add_post("/model/parse", parse_text)
        app.router.add_get("/", hello)
        app.router.add_get("/health", health)
        return app


MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture(scope="module")
def agent_entry() -> str:
    return make_entry(AGENT, PASSWORD)


@pytest.fixture
def fake_rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
async def make_client(
    aiohttp_client, aiohttp_server, settings, tmp_path, agent_entry, retriever, fake_rasa
) -> AsyncIterator[MakeClient]:
    """A factory of test clients: the app with its own SQLite store, ``extra`` config on top."""
    server = await aiohttp_server(fake_rasa.app())
    url = str(server.make_url("")).rstrip("/")
    stores: list[RequestStore] = []

    async def make(rasa_url: str = url, routes: tuple[web.RouteDef, ...] = (), **extra: Any) -> TestClient:
        web_settings = dataclasses.replace(
            settings,
            database_url=f"sqlite:///{tmp_path}/requests-{len(stores)}.db",
            rasa_url=rasa_url,
            action_server_url=rasa_url,
            var_dir=tmp_path / "var",
            extra={"agent_accounts": agent_entry, **extra},
        )
        store = RequestStore.from_settings(web_settings)
        store.create_schema()
        stores.append(store)
        services = Services(settings=web_settings, retriever=retriever, store=store, facts=FactBook(retriever.passages))
        app = create_app(web_settings, services=services)
        app.router.add_routes(routes)
        return await aiohttp_client(app)

    yield make
    for store in stores:
        store.close()


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient:
    """The app with rate limits off, so each bad-input case is judged on its own."""
    return await make_client(**NO_LIMITS)


@pytest.fixture(autouse=True)
def no_unhandled_errors(caplog) -> Iterator[None]:
    """No input may reach the catch-all error handler (it logs a traceback)."""
    yield
    crashes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("unhandled error")]
    assert not crashes, crashes


async def login(client: TestClient) -> str:
    """Sign in as the test agent; the session's CSRF token."""
    html = await (await client.get("/agent/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = await client.post(
        "/agent/login",
        data={"name": AGENT, "password": PASSWORD, "csrf_token": token, "next": "/agent"},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    page = await (await client.get("/agent")).text()
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text


async def error_json(response, status: int, code: str | None = None) -> dict[str, Any]:
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
    return {"data": body, "headers": {"Content-Type": "application/json"}}


# --------------------------------------------------------------------------- /api/chat bad input


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"sender": SENDER, "message": ""}, 400, "empty_message"),
        ({"sender": SENDER, "message": "   \n\t  "}, 400, "empty_message"),
        ({"sender": SENDER, "message": "\x00\x07\x1b\x7f\u0085"}, 400, "empty_message"),
        ({"sender": SENDER, "message": "\udfff\ud800"}, 400, "empty_message"),  # lone surrogates only
        ({"sender": SENDER, "message": ["how", "do", "I", "claim"]}, 400, "invalid_field"),
        ({"sender": SENDER, "message": {"text": "hi"}}, 400, "invalid_field"),
        ({"sender": SENDER + "\n", "message": "hi"}, 400, "invalid_sender"),
        ({"sender": "' OR 1=1 --aaaaaaaaaaaaaaa", "message": "hi"}, 400, "invalid_sender"),
        ({"sender": "😀" * 20, "message": "hi"}, 400, "invalid_sender"),
        ({"sender": None, "message": "hi"}, 400, "invalid_sender"),
    ],
)
async def test_chat_refuses_bad_fields_politely(client, fake_rasa, body, status, code):
    data = await error_json(await client.post("/api/chat", json=body), status, code)
    assert not fake_rasa.received  # nothing reached Rasa
    assert data["message"][0].isupper() and data["message"].endswith(".")


@pytest.mark.parametrize("text", [LONG, "😀" * 20_000, "Как?" * 5_000, "<b>" * 6_667])
async def test_chat_refuses_a_20000_character_message_stating_the_limit(client, fake_rasa, text):
    body = json.dumps({"sender": SENDER, "message": text}, ensure_ascii=False).encode("utf-8")  # 80 KB of emoji
    data = await error_json(await client.post("/api/chat", **raw_json(body)), 413)
    assert data["error"] == "message_too_long" and data["max_chars"] == MAX_MESSAGE_CHARS
    assert "Please keep it under 2,000 characters" in data["message"]
    assert f"{len(text):,}" in data["message"]
    assert not fake_rasa.received


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "malformed_json"),
        (b'{"sender": "' + SENDER.encode() + b'", "message": "caf\xe9 \xff\xfe"}', "malformed_json"),  # not UTF-8
        (b'\xef\xbb\xbf{"sender": "x"}', "malformed_json"),  # a byte-order mark is not JSON
        (b"[]", "not_an_object"),
        (b'"how do I claim?"', "not_an_object"),
        (b"42", "not_an_object"),
        (b"null", "not_an_object"),
        (b"true", "not_an_object"),
        (b"   ", "empty_body"),
        (
            b'{"sender": "' + SENDER.encode() + b'", "message": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
            "malformed_json",
        ),
        (b'{"message": ' + b"9" * 10_000 + b"}", "malformed_json"),  # an integer Python will not convert
    ],
)
async def test_chat_refuses_malformed_bodies(client, fake_rasa, raw, code):
    await error_json(await client.post("/api/chat", **raw_json(raw)), 400, code)
    assert not fake_rasa.received


async def test_chat_refuses_an_oversized_body(client):
    body = json.dumps({"sender": SENDER, "message": "x" * 300_000}).encode()
    data = await error_json(await client.post("/api/chat", **raw_json(body)), 413, "too_large")
    assert "128 KiB" in data["message"]


@pytest.mark.parametrize("text", VALID_MESSAGES)
async def test_emoji_other_scripts_markup_and_sql_reach_rasa_unchanged(client, fake_rasa, text):
    response = await client.post("/api/chat", json={"sender": SENDER, "message": text})
    assert response.status == 200
    assert response.content_type == "application/json"  # never rendered as HTML by the browser
    assert fake_rasa.received == [text]
    data = await response.json()
    assert data["messages"] == [{"text": f"You said: {text}"}]  # text for the widget's safe renderer


@pytest.mark.parametrize(
    ("sent", "rasa_gets"),
    [
        ("How do I\x00 claim?\x07", "How do I claim?"),
        ("line one\r\nline two\rthree", "line one\nline two\nthree"),
        ("\x1b[31mred\x1b[0m alert", "[31mred[0m alert"),
        ("\ud83d how to claim", "how to claim"),  # a lone surrogate (valid JSON, not valid text)
        ("cafe\u0301", "café"),  # composed (NFC)
        ("\u202eevil\u200b zero\u200dwidth\tjoiner", "evil zero\u200dwidth joiner"),  # bidi override goes, ZWJ stays
    ],
)
async def test_control_characters_are_stripped_before_rasa(client, fake_rasa, sent, rasa_gets):
    response = await client.post("/api/chat", json={"sender": SENDER, "message": sent})
    assert response.status == 200
    assert fake_rasa.received == [rasa_gets]


async def test_history_refuses_bad_senders(client):
    for sender in ("", "x", SENDER + "\n", "%00" * 20, "../../" + SENDER, "' OR 1=1 --aaaaaaaaaaaaaaaa"):
        await error_json(await client.get("/api/chat/history", params={"sender": sender}), 400, "invalid_sender")
    await error_json(await client.get("/api/chat/history?sender=%FF%FE" + "a" * 20), 400, "invalid_sender")


# --------------------------------------------------------------------------- /api/feedback bad input


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"sender": SENDER, "answer_id": MAX_ID + 1, "helpful": True}, "invalid_field"),
        ({"sender": SENDER, "answer_id": 10**30, "helpful": True}, "invalid_field"),
        ({"sender": SENDER, "answer_id": 1.5, "helpful": True}, "invalid_field"),
        ({"sender": SENDER, "answer_id": 0, "helpful": True}, "invalid_field"),
        ({"sender": SENDER, "answer_id": "1; DROP TABLE answers", "helpful": True}, "invalid_field"),
        ({"sender": SENDER, "answer_id": 1, "helpful": None}, "invalid_field"),
        ({"sender": SENDER, "answer_id": 1, "helpful": "<script>"}, "invalid_field"),
        ({"sender": SQL, "answer_id": 1, "helpful": True}, "invalid_sender"),
    ],
)
async def test_feedback_refuses_bad_fields(client, body, code):
    await error_json(await client.post("/api/feedback", json=body), 400, code)


@pytest.mark.parametrize(
    ("raw", "code"), [(b"{oops", "malformed_json"), (b"[1]", "not_an_object"), (b"\xff", "malformed_json")]
)
async def test_feedback_refuses_malformed_bodies(client, raw, code):
    await error_json(await client.post("/api/feedback", **raw_json(raw)), 400, code)


# --------------------------------------------------------------------------- agent API bad input


@pytest.fixture
async def agent(client) -> tuple[TestClient, str, str]:
    """(client, CSRF token, reference of a stored request) for a signed-in agent."""
    csrf = await login(client)
    record = client.app[SERVICES].store.submit(
        "callback", {"full_name": "Jane Doe", "phone": "+44 20 7946 0000", "topic": "claims"}, conversation_id=SENDER
    )
    return client, csrf, record.reference


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": ""}, 400, "empty_message"),
        ({"message": " \n\t "}, 400, "empty_message"),
        ({"message": "\x00\x01\x02"}, 400, "empty_message"),
        ({"message": LONG}, 413, "message_too_long"),
        ({"message": 12}, 400, "invalid_field"),
        ({}, 400, "missing_field"),
    ],
)
async def test_suggest_refuses_bad_messages(agent, body, status, code):
    client, csrf, _ = agent
    await error_json(await client.post("/api/suggest", json=body, headers={"X-CSRF-Token": csrf}), status, code)


@pytest.mark.parametrize(("raw", "code"), [(b"{", "malformed_json"), (b'["hi"]', "not_an_object")])
async def test_suggest_refuses_malformed_bodies(agent, raw, code):
    client, csrf, _ = agent
    response = await client.post(
        "/api/suggest", data=raw, headers={"Content-Type": "application/json", "X-CSRF-Token": csrf}
    )
    await error_json(response, 400, code)


@pytest.mark.parametrize("text", VALID_MESSAGES)
async def test_suggest_handles_emoji_other_scripts_markup_and_sql(agent, text):
    client, csrf, _ = agent
    response = await client.post("/api/suggest", json={"message": text}, headers={"X-CSRF-Token": csrf})
    assert response.status == 200
    data = await response.json()
    assert data["intent"] == {"name": "claim_submit", "confidence": 0.9}
    assert isinstance(data["suggestions"], list)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"note": ""}, 400, "empty_note"),
        ({"note": "   "}, 400, "empty_note"),
        ({"note": "\x00\x1f"}, 400, "empty_note"),
        ({"note": LONG}, 413, "note_too_long"),
        ({"status": "<script>alert(1)</script>"}, 400, "invalid_status"),
        ({"status": LONG}, 400, "invalid_status"),
        ({"status": SQL}, 400, "invalid_status"),
        ({"status": ["done"]}, 400, "invalid_field"),
        ({"<img src=x>": 1}, 400, "unknown_field"),
        ({}, 400, "missing_field"),
    ],
)
async def test_patch_refuses_bad_fields(agent, body, status, code):
    client, csrf, reference = agent
    response = await client.patch(f"/api/requests/{reference}", json=body, headers={"X-CSRF-Token": csrf})
    data = await error_json(response, status, code)
    assert len(data["message"]) < 300  # what the client sent is never echoed whole


@pytest.mark.parametrize(
    ("raw", "code"), [(b"{,}", "malformed_json"), (b"[]", "not_an_object"), (b"\xc3\x28", "malformed_json")]
)
async def test_patch_refuses_malformed_bodies(agent, raw, code):
    client, csrf, reference = agent
    response = await client.patch(
        f"/api/requests/{reference}", data=raw, headers={"Content-Type": "application/json", "X-CSRF-Token": csrf}
    )
    await error_json(response, 400, code)


async def test_patch_of_an_unknown_or_sql_reference_is_404(agent):
    client, csrf, _ = agent
    for ref in ("DR-0000-0000", "' OR 1=1 --", "%FF%FE", "😀"):
        response = await client.patch(f"/api/requests/{ref}", json={"note": "x"}, headers={"X-CSRF-Token": csrf})
        await error_json(response, 404, "not_found")


async def test_notes_keep_markup_sql_and_scripts_as_plain_text(agent):
    client, csrf, reference = agent
    for note in (INJECTION, SQL, "Rückruf 📞 — 電話してください", "tab\there\x00NUL gone"):
        response = await client.patch(f"/api/requests/{reference}", json={"note": note}, headers={"X-CSRF-Token": csrf})
        assert response.status == 200, await response.text()
    notes = [n["text"] for n in (await response.json())["request"]["notes"]]
    assert notes == [INJECTION, SQL, "Rückruf 📞 — 電話してください", "tab hereNUL gone"]
    html = await (await client.get(f"/agent/requests/{reference}")).text()
    assert INJECTION not in html and "<script>window" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&#x27;; DROP TABLE requests; --" in html


# --------------------------------------------------------------------------- agent forms bad input


async def _login_form(client: TestClient) -> str:
    html = await (await client.get("/agent/login")).text()
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("", ""),
        ("   ", "   "),
        (LONG, LONG),
        ('"><script>alert(1)</script>', "x"),
        (SQL, "' OR '1'='1"),
        ("alice\x00\x07", PASSWORD + "\x00"),
        ("алиса😀", "пароль"),
    ],
)
async def test_login_form_refuses_bad_input_without_crashing(client, name, password):
    token = await _login_form(client)
    response = await client.post(
        "/agent/login", data={"name": name, "password": password, "csrf_token": token}, allow_redirects=False
    )
    html = await response.text()
    assert response.status == 401, html
    no_traceback(html)
    assert "<script>alert(1)" not in html  # the name is echoed into the form, escaped
    assert "Content-Security-Policy" in response.headers


async def test_login_form_with_invalid_utf8_or_oversized_body(client):
    await _login_form(client)
    response = await client.post(
        "/agent/login",
        data=b"name=\xff\xfe&password=x&csrf_token=y",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    html = await response.text()
    assert response.status == 400 and "not valid UTF-8" in html
    no_traceback(html)
    response = await client.post(
        "/agent/login",
        data=b"name=" + b"a" * 300_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 413
    no_traceback(await response.text())


async def test_agent_note_and_status_forms_refuse_bad_input(agent):
    client, csrf, reference = agent
    form = f"/agent/requests/{reference}"
    cases = [
        (f"{form}/notes", {"note": ""}, 400, "The note is empty."),
        (f"{form}/notes", {"note": " \x00 "}, 400, "The note is empty."),
        (f"{form}/notes", {"note": LONG}, 413, "at most 10,000 characters"),
        (f"{form}/status", {"status": "<b>gone</b>"}, 400, "Unknown status"),
        (f"{form}/status", {"status": ""}, 400, "Unknown status"),
    ]
    for path, data, status, says in cases:
        response = await client.post(path, data={**data, "csrf_token": csrf}, allow_redirects=False)
        html = await response.text()
        assert response.status == status, (path, data, html)
        assert says in html and "<b>gone</b>" not in html
        no_traceback(html)
    response = await client.post(
        f"{form}/notes",
        data=b"note=\xff&csrf_token=" + csrf.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 400 and "not valid UTF-8" in await response.text()


async def test_agent_forms_store_markup_inert(agent):
    client, csrf, reference = agent
    response = await client.post(
        f"/agent/requests/{reference}/notes", data={"note": INJECTION, "csrf_token": csrf}, allow_redirects=False
    )
    assert response.status == 303
    html = await (await client.get(f"/agent/requests/{reference}")).text()
    assert "<script>window" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;" in html
    response = await client.post("/agent/suggest", data={"message": INJECTION, "csrf_token": csrf})
    html = await response.text()
    assert response.status == 200 and "<script>window" not in html and "&lt;script&gt;" in html
    response = await client.post("/agent/suggest", data={"message": LONG, "csrf_token": csrf})
    assert response.status == 413 and "2,000 characters" in await response.text()


# --------------------------------------------------------------------------- Rasa falls silent


async def test_empty_reply_with_the_action_server_down_is_the_apology(make_client, fake_rasa):
    fake_rasa.empty_reply, fake_rasa.action_server_up = True, False
    client = await make_client()
    down = await (await make_client(rasa_url="http://127.0.0.1:9")).post(
        "/api/chat", json={"sender": SENDER, "message": "how do I claim?"}
    )
    response = await client.post("/api/chat", json={"sender": SENDER, "message": "how do I claim?"})
    data = await error_json(response, 502, "assistant_unavailable")
    assert data == await error_json(down, 502, "assistant_unavailable")  # the same apology as Rasa down
    assert (
        "not available right now" in data["message"] and "contact us by email, by post, or by phone" in data["message"]
    )
    [message] = data["messages"]
    assert message["custom"]["type"] == "unavailable" and message["custom"]["citations"]


async def test_empty_reply_with_the_action_server_up_is_still_not_silence(make_client, fake_rasa):
    fake_rasa.empty_reply = True
    client = await make_client()
    data = await error_json(await client.post("/api/chat", json={"sender": SENDER, "message": "hi"}), 502)
    assert data["messages"][0]["custom"]["type"] == "unavailable"
    restart = await client.post("/api/chat", json={"sender": SENDER, "message": "/restart"})
    assert restart.status == 200 and (await restart.json())["messages"] == []  # Rasa rightly says nothing


def test_rasa_timeout_is_bounded_by_default(settings):
    plain = dataclasses.replace(settings, extra={})
    assert WebConfig.from_settings(plain, env={}).rasa_timeout == 15.0
    assert WebConfig.from_settings(plain, env={"BOT_RASA_TIMEOUT": "30"}).rasa_timeout == 30.0
    assert WebConfig.from_settings(Settings.from_env(env={"BOT_RASA_TIMEOUT": "8"}), env={}).rasa_timeout == 8.0
    assert WebConfig.from_settings(dataclasses.replace(settings, extra={"rasa_timeout": "2"})).rasa_timeout == 2.0
    assert RasaClient.__init__.__kwdefaults__["timeout"] == 15.0


# --------------------------------------------------------------------------- rate limits


async def test_too_many_chat_messages_from_one_client_get_a_polite_429(make_client, fake_rasa):
    client = await make_client(rate_limit_per_minute=6, rate_limit_burst=3, chat_rate_limit_per_minute=0)
    senders = [SENDER, OTHER_SENDER, "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"]
    for sender in senders:
        assert (await client.post("/api/chat", json={"sender": sender, "message": "hi"})).status == 200
    response = await client.post("/api/chat", json={"sender": "cccccccc-bbbb-cccc-dddd-eeeeeeeeeeee", "message": "hi"})
    data = await error_json(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 10 and data["retry_after"] == int(
        response.headers["Retry-After"]
    )
    [message] = data["messages"]  # the widget shows it as the assistant's reply
    assert message["text"].startswith("You're sending messages faster than I can answer. Please wait")
    assert message["custom"]["type"] == "rate_limited"
    assert len(fake_rasa.received) == 3
    for header in ("Content-Security-Policy", "X-Content-Type-Options"):
        assert header in response.headers


async def test_api_endpoints_share_the_client_bucket_and_answer_json(make_client):
    client = await make_client(rate_limit_per_minute=60, rate_limit_burst=2)
    assert (await client.get("/api/chat/history", params={"sender": SENDER})).status == 200
    assert (await client.get("/api/requests")).status == 401  # counted even before authentication
    for method, path in (
        ("GET", "/api/requests"),
        ("POST", "/api/suggest"),
        ("POST", "/api/feedback"),
        ("GET", "/api/chat/history?sender=" + SENDER),
        ("PATCH", "/api/requests/DR-0000-0000"),
    ):
        response = await client.request(method, path, json={})
        data = await error_json(response, 429, "rate_limited")
        assert "Try again in" in data["message"] and "messages" not in data
        assert int(response.headers["Retry-After"]) >= 1
    for path in ("/", "/documents", "/healthz", "/static/chat.js", "/agent/login"):  # pages are not limited
        assert (await client.get(path)).status == 200, path


async def test_one_conversation_has_its_own_limit(make_client):
    client = await make_client(
        rate_limit_per_minute=600, rate_limit_burst=100, chat_rate_limit_per_minute=10, chat_rate_limit_burst=2
    )
    for _ in range(2):
        assert (await client.post("/api/chat", json={"sender": SENDER, "message": "hi"})).status == 200
    response = await client.post("/api/chat", json={"sender": SENDER, "message": "hi"})
    assert response.status == 429 and int(response.headers["Retry-After"]) == 6  # one token per 6 s
    assert (await client.post("/api/chat", json={"sender": OTHER_SENDER, "message": "hi"})).status == 200


async def test_zero_switches_the_limits_off(make_client):
    client = await make_client(rate_limit_per_minute=0, rate_limit_burst=1, chat_rate_limit_burst=0)
    for _ in range(40):
        assert (await client.post("/api/chat", json={"sender": SENDER, "message": "hi"})).status == 200
    assert len(client.app[RATE_LIMITS].per_client) == 0


async def test_forwarded_for_is_believed_only_from_trusted_proxies(make_client):
    direct = await make_client(rate_limit_per_minute=1, rate_limit_burst=1)
    for i, expected in ((1, 200), (2, 429)):  # spoofed headers do not give a fresh allowance
        response = await direct.get(
            "/api/chat/history", params={"sender": SENDER}, headers={"X-Forwarded-For": f"203.0.113.{i}"}
        )
        assert response.status == expected
    proxied = await make_client(
        rate_limit_per_minute=1, rate_limit_burst=1, trusted_proxies="127.0.0.1, ::1, 10.0.0.0/8"
    )
    statuses = []
    for forwarded in ("203.0.113.1", "203.0.113.2", "198.51.100.7, 203.0.113.1", "203.0.113.3, 10.1.2.3"):
        response = await proxied.get(
            "/api/chat/history", params={"sender": SENDER}, headers={"X-Forwarded-For": forwarded}
        )
        statuses.append(response.status)
    # Two members behind the proxy each have their own bucket; a client-written left-most
    # address does not hide 203.0.113.1; a second trusted proxy hop is looked through.
    assert statuses == [200, 200, 429, 200]


def test_token_bucket_refills_and_tells_how_long_to_wait():
    now = [0.0]
    limiter = RateLimiter(per_minute=30, burst=3, clock=lambda: now[0])
    assert [limiter.hit("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.hit("a") == pytest.approx(2.0)  # 30 a minute: one every 2 s
    now[0] = 1.0
    assert limiter.hit("a") == pytest.approx(1.0)
    now[0] = 2.0
    assert limiter.hit("a") == 0.0
    assert limiter.hit("b") == 0.0  # another client is not affected
    assert not RateLimiter(per_minute=0, burst=5).enabled and RateLimiter(per_minute=0, burst=5).hit("x") == 0.0


def test_bucket_memory_is_bounded_and_idle_clients_are_forgotten():
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=5, max_keys=100, clock=lambda: now[0])
    for i in range(10_000):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
        assert len(limiter) <= 100
    now[0] = 1_000.0  # every bucket has refilled: no information left to keep
    limiter.hit("fresh")
    assert len(limiter) == 1


def test_client_address_rules():
    proxies = parse_networks("10.0.0.0/8, 127.0.0.1, fd00::/8")
    assert client_ip("192.0.2.5", "6.6.6.6", proxies) == "192.0.2.5"  # not from a proxy: header ignored
    assert client_ip("10.0.0.2", "6.6.6.6, 192.0.2.9", proxies) == "192.0.2.9"
    assert client_ip("10.0.0.2", "192.0.2.9, 10.0.0.3", proxies) == "192.0.2.9"
    assert client_ip("10.0.0.2", "garbage, 192.0.2.9", proxies) == "192.0.2.9"
    assert client_ip("10.0.0.2", "192.0.2.9, garbage", proxies) == "10.0.0.2"
    assert client_ip("10.0.0.2", "", proxies) == "10.0.0.2"
    assert client_ip("2001:db8:1:2:3:4:5:6", None, proxies) == "2001:db8:1:2::/64"
    assert client_ip("::ffff:192.0.2.1", None, ()) == "192.0.2.1"
    assert client_ip(None, "192.0.2.1", proxies) == "-"
    with pytest.raises(ValueError, match="trusted_proxies"):
        parse_networks("10.0.0.0/8, nginx")


# --------------------------------------------------------------------------- CORS


async def test_preflight_is_answered_only_for_configured_origins(make_client):
    client = await make_client(cors_origins=f"{ALLOWED_ORIGIN}, https://help.example.org:8443")
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    response = await client.options("/api/chat", headers={"Origin": ALLOWED_ORIGIN, **ask})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Origin" in response.headers["Vary"]
    assert "Content-Security-Policy" in response.headers
    ok = await client.options("/api/feedback", headers={"Origin": "https://help.example.org:8443", **ask})
    assert ok.status == 204
    for origin, path in (
        (EVIL_ORIGIN, "/api/chat"),
        ("null", "/api/chat"),
        ("https://www.example.org.evil.example.net", "/api/chat"),
        ("http://www.example.org", "/api/chat"),  # another scheme is another origin
        (ALLOWED_ORIGIN, "/api/suggest"),  # agent endpoints: never
        (ALLOWED_ORIGIN, "/api/requests/DR-0000-0000"),
    ):
        response = await client.options(path, headers={"Origin": origin, **ask})
        assert response.status == 403, (origin, path)
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_responses_carry_the_origin_only_for_configured_origins(make_client):
    client = await make_client(cors_origins=ALLOWED_ORIGIN, **NO_LIMITS)
    response = await client.post(
        "/api/chat", json={"sender": SENDER, "message": "hi"}, headers={"Origin": ALLOWED_ORIGIN}
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    assert response.headers["Vary"] == "Origin"
    bad = await client.post("/api/chat", json={"sender": SENDER, "message": ""}, headers={"Origin": ALLOWED_ORIGIN})
    assert bad.status == 400 and bad.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN  # errors readable too
    read = await client.get("/api/chat/history", params={"sender": SENDER}, headers={"Origin": EVIL_ORIGIN})
    assert read.status == 200 and "Access-Control-Allow-Origin" not in read.headers  # the browser hides it
    assert read.headers["Vary"] == "Origin"
    same = await client.post(
        "/api/chat", json={"sender": SENDER, "message": "hi"}, headers={"Origin": str(client.make_url("")).rstrip("/")}
    )
    assert same.status == 200 and "Access-Control-Allow-Origin" not in same.headers


async def test_cross_site_posts_are_refused(make_client, fake_rasa):
    client = await make_client(cors_origins=ALLOWED_ORIGIN, **NO_LIMITS)
    for path, body in (
        ("/api/chat", {"sender": SENDER, "message": "hi"}),
        ("/api/feedback", {"sender": SENDER, "answer_id": 1, "helpful": True}),
    ):
        data = await error_json(await client.post(path, json=body, headers={"Origin": EVIL_ORIGIN}), 403)
        assert data["error"] == "origin_not_allowed"
    # A form on another site posting to the chat (text/plain needs no preflight).
    response = await client.post(
        "/api/chat",
        data='{"sender": "' + SENDER + '", "message": "hi"}',
        headers={"Origin": "null", "Content-Type": "text/plain"},
    )
    assert response.status == 403
    # Without Origin but marked cross-site by the browser.
    response = await client.post(
        "/api/chat", json={"sender": SENDER, "message": "hi"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status == 403
    assert not fake_rasa.received
    # Agent forms never accept another site, even a configured one.
    token = await _login_form(client)
    response = await client.post(
        "/agent/login",
        data={"name": AGENT, "password": PASSWORD, "csrf_token": token},
        headers={"Origin": ALLOWED_ORIGIN},
        allow_redirects=False,
    )
    html = await response.text()
    assert response.status == 403 and "did not come from this site" in html and "Set-Cookie" not in response.headers


async def test_agent_api_refuses_configured_origins_even_with_a_session(make_client):
    client = await make_client(cors_origins=ALLOWED_ORIGIN, **NO_LIMITS)
    csrf = await login(client)
    response = await client.post(
        "/api/suggest", json={"message": "hi"}, headers={"X-CSRF-Token": csrf, "Origin": ALLOWED_ORIGIN}
    )
    await error_json(response, 403, "origin_not_allowed")
    response = await client.get("/api/requests", headers={"Origin": ALLOWED_ORIGIN})
    assert response.status == 200 and "Access-Control-Allow-Origin" not in response.headers


async def test_rate_limited_answers_are_readable_by_an_allowed_origin(make_client):
    client = await make_client(cors_origins=ALLOWED_ORIGIN, rate_limit_per_minute=1, rate_limit_burst=1)
    headers = {"Origin": ALLOWED_ORIGIN}
    await client.post("/api/chat", json={"sender": SENDER, "message": "hi"}, headers=headers)
    response = await client.post("/api/chat", json={"sender": SENDER, "message": "hi"}, headers=headers)
    assert response.status == 429 and response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_cors_configuration_is_checked(settings):
    assert parse_origins(" https://WWW.Example.org/ ,http://localhost:8080 ") == {
        "https://www.example.org",
        "http://localhost:8080",
    }
    assert normalise_origin("https://example.org:443") == "https://example.org"
    for bad in ("*", "example.org", "https://example.org/path", "ftp://example.org", "https://user@example.org"):
        with pytest.raises(ValueError, match="cors_origins"):
            parse_origins(bad)
    with pytest.raises(ValueError, match="cors_origins"):
        create_app(dataclasses.replace(settings, extra={"cors_origins": "*"}))
    with pytest.raises(ValueError, match="trusted_proxies"):
        create_app(dataclasses.replace(settings, extra={"trusted_proxies": "proxy.local"}))
    assert same_host("http://127.0.0.1:8080", "127.0.0.1:8080") and same_host(
        "https://Help.Example.org", "help.example.org"
    )
    assert not same_host("https://help.example.org.evil.net", "help.example.org") and not same_host("null", "x")
    assert not CorsPolicy(frozenset({ALLOWED_ORIGIN})).allows(ALLOWED_ORIGIN, "/api/requests")


# --------------------------------------------------------------------------- security headers everywhere


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("a bug")


async def test_every_page_and_error_page_carries_the_security_headers(make_client, caplog):
    client = await make_client(rate_limit_per_minute=1, rate_limit_burst=3, routes=(web.get("/boom", _boom),))
    csrf_form = await _login_form(client)
    checks: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", "/", {}, 200),
        ("GET", "/documents", {}, 200),
        ("GET", "/documents/cigna-health-benefits-member-faq", {}, 200),
        ("GET", "/documents/nope", {}, 404),
        ("GET", "/nope", {}, 404),
        ("GET", "/static/chat.js", {}, 200),
        ("GET", "/static/nope.js", {}, 404),
        ("GET", "/healthz", {}, 200),
        ("GET", "/agent", {"allow_redirects": False}, 302),
        ("POST", "/agent/login", {"data": {"name": "x", "password": "y", "csrf_token": csrf_form}}, 401),
        ("GET", "/agent/login", {}, 200),
        ("POST", "/agent/login", {"data": {"name": "x", "password": "y"}}, 403),
        (
            "POST",
            "/agent/login",
            {"data": b"n=\xff", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            400,
        ),
        (
            "POST",
            "/agent/login",
            {"data": b"n=" + b"a" * 200_000, "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            413,
        ),
        ("POST", "/agent/login", {"data": {"name": "x"}, "headers": {"Origin": EVIL_ORIGIN}}, 403),
        ("GET", "/api/chat", {}, 405),
        ("GET", "/api/nope", {}, 404),
        ("POST", "/api/chat", {"data": b"{", "headers": {"Content-Type": "application/json"}}, 400),
        ("GET", "/api/requests", {}, 401),
        ("GET", "/api/requests", {}, 429),
        ("OPTIONS", "/api/chat", {"headers": {"Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "POST"}}, 403),
        ("GET", "/boom", {}, 500),
    ]
    for method, path, kwargs, status in checks:
        response = await client.request(method, path, **kwargs)
        text = await response.text()
        assert response.status == status, (method, path, response.status, text[:200])
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert response.headers["Referrer-Policy"] == "same-origin", path
        no_traceback(text)
        if response.content_type == "text/html":
            assert "<script>" not in text  # no inline script on any page
    # The crash is logged with its traceback (as exc_info, or as masked exc_text once
    # the process-wide log masking has rendered it).
    crashes = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert [r.getMessage() for r in crashes] == ["unhandled error on GET /boom"]
    assert "RuntimeError" in (crashes[0].exc_text or logging.Formatter().formatException(crashes[0].exc_info))
    caplog.clear()  # that crash was the point


# --------------------------------------------------------------------------- property-based tests


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@hsettings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_body_is_an_object_or_a_clean_400(body: bytes):
    try:
        data = parse_json_object(body)
    except BadRequest as exc:
        assert exc.status == 400 and exc.code in {"empty_body", "malformed_json", "not_an_object"}
    else:
        assert isinstance(data, dict)


@hsettings(max_examples=120, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_json_objects_round_trip(value: dict[str, Any]):
    assert parse_json_object(json.dumps(value).encode("utf-8")) == value


@hsettings(max_examples=200, deadline=None)
@given(json_values)
def test_json_that_is_not_an_object_is_refused(value: Any):
    if isinstance(value, dict):
        return
    with pytest.raises(BadRequest) as refused:
        parse_json_object(json.dumps(value).encode("utf-8"))
    assert refused.value.code == "not_an_object"


@hsettings(max_examples=400, deadline=None)
@given(st.text())
def test_clean_text_leaves_only_text_people_type(text: str):
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned  # idempotent
    cleaned.encode("utf-8")  # no lone surrogates left
    assert cleaned == cleaned.strip()
    assert not any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in cleaned)
    assert "\r" not in cleaned


@hsettings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp")), min_size=1))
def test_clean_text_keeps_every_letter_emoji_and_script(text: str):
    assert clean_text(text) == unicodedata.normalize("NFC", text).strip()


@hsettings(max_examples=300, deadline=None)
@given(st.text())
def test_valid_sender_accepts_exactly_conversation_ids(value: str):
    expected = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{15,63}", value, re.ASCII) is not None
    try:
        assert valid_sender(value) == value and expected
    except BadRequest as exc:
        assert not expected and exc.status == 400


@hsettings(max_examples=100, deadline=None)
@given(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{15,63}", fullmatch=True).filter(str.isascii),
    st.sampled_from(["\n", " ", "\x00", "é"]),
)
def test_valid_sender_refuses_ids_with_anything_appended(sender: str, suffix: str):
    assert valid_sender(sender) == sender
    with pytest.raises(BadRequest):
        valid_sender(sender + suffix)


@hsettings(max_examples=120, deadline=None)
@given(st.one_of(st.text(), st.text(min_size=1990, max_size=2100)))
def test_chat_and_agent_messages_are_checked_the_same_way(text: str):
    for check in (chat_message, check_message):
        try:
            message = check(text)
        except BadRequest as exc:
            assert (exc.status, exc.code) in {(400, "empty_message"), (413, "message_too_long")}
            assert exc.status == 400 or "2,000 characters" in exc.message
        else:
            assert 1 <= len(message) <= MAX_MESSAGE_CHARS and message == clean_text(text)
            message.encode("utf-8")


@hsettings(max_examples=120, deadline=None)
@given(st.dictionaries(st.text(max_size=8) | st.sampled_from(["status", "note"]), json_values, max_size=3))
def test_patch_bodies_are_accepted_or_refused_with_a_4xx(data: dict[str, Any]):
    try:
        status, note = patch_fields(data)
    except BadRequest as exc:
        assert 400 <= exc.status < 500 and len(exc.message) < 300
    else:
        assert status in (None, "new", "in_progress", "done")
        assert note is None or (note and note == clean_text(note))


@hsettings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b"]), json_values, max_size=2), st.booleans())
def test_string_field_returns_a_string_or_refuses(data: dict[str, Any], required: bool):
    try:
        value = string_field(data, "a", required=required)
    except BadRequest as exc:
        assert exc.status == 400
    else:
        assert isinstance(value, str) or (value is None and not required)


@hsettings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.lists(st.text()), st.integers()))
def test_shorten_never_echoes_much(value: Any):
    assert len(shorten(value)) <= 40


@hsettings(max_examples=300, deadline=None)
@given(st.text())
def test_markdown_lite_output_has_no_markup_but_ours(text: str):
    html = markdown_lite(text)
    ours = re.sub(r'<strong>|</strong>|<a href="(?:https?://|/)[^"<>]*" rel="noopener noreferrer">|</a>', "", html)
    assert "<" not in ours and ">" not in ours


@hsettings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_origin_parsing_never_crashes_and_is_stable(value: str):
    origin = normalise_origin(value)
    if origin is not None:
        assert normalise_origin(origin) == origin
        assert parse_origins(value) == {origin}


addresses = st.one_of(st.ip_addresses().map(str), st.text(max_size=20), st.just("::ffff:10.0.0.1"), st.just("[::1]"))


@hsettings(max_examples=300, deadline=None)
@given(addresses | st.none(), st.lists(addresses, max_size=4).map(", ".join) | st.none())
def test_client_address_never_crashes_and_ignores_headers_from_untrusted_peers(peer: str | None, forwarded: str | None):
    trusted = parse_networks("10.0.0.0/8, ::1")
    key = client_ip(peer, forwarded, trusted)
    assert isinstance(key, str) and key
    assert client_ip(peer, forwarded, ()) == client_ip(peer, None, ())
    if peer is not None:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return
        if not any(address in net for net in trusted if net.version == address.version):
            mapped = getattr(address, "ipv4_mapped", None)
            if mapped is None or not any(mapped in net for net in trusted if net.version == 4):
                assert key == client_ip(peer, None, trusted)


@hsettings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=600),
    st.integers(min_value=1, max_value=50),
    st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=200),
)
def test_a_client_never_gets_more_than_burst_plus_refill(per_minute: int, burst: int, gaps: list[float]):
    now = [0.0]
    limiter = RateLimiter(per_minute, burst, max_keys=10, clock=lambda: now[0])
    allowed = 0
    for gap in gaps:
        now[0] += gap
        wait = limiter.hit("client")
        assert wait >= 0
        allowed += wait == 0
    assert allowed <= burst + per_minute / 60 * now[0] + 1e-6


# --------------------------------------------------------------------------- the real Rasa stack


@pytest.fixture(scope="module")
def live_rasa(tmp_path_factory, retriever) -> Iterator[str]:
    """The real Rasa server (5605) calling the real action server (5655); its URL."""
    from bot.devtools.stack import MODEL, Stack, StackError

    if not MODEL.is_file():
        pytest.fail(f"no trained model at {MODEL}: run `make train` (make test does)")
    tmp = tmp_path_factory.mktemp("hardening-stack")
    stack = Stack(
        rasa_port=5605,
        action_port=5655,
        web_port=None,
        var_dir=tmp,
        env={"BOT_DATABASE_URL": f"sqlite:///{tmp}/requests.db"},
    )
    try:
        stack.start()
    except StackError as exc:
        pytest.fail(f"the stack did not start: {exc}")
    yield stack.rasa_url
    stack.stop()


@pytest.mark.stack
async def test_awkward_but_valid_messages_get_real_answers_from_rasa(make_client, live_rasa):
    client = await make_client(rasa_url=live_rasa, **NO_LIMITS, rasa_timeout=60)
    cases = [*VALID_MESSAGES, "How do I\x00 submit a claim?\x07", "x" * MAX_MESSAGE_CHARS]
    for i, text in enumerate(cases):
        sender = f"hardening-{i:04d}-{'a' * 12}"
        response = await client.post("/api/chat", json={"sender": sender, "message": text})
        data = await response.json()
        assert response.status == 200, (text[:40], data)
        assert data["messages"] and any(m.get("text") for m in data["messages"]), text[:40]
        turns = (await (await client.get("/api/chat/history", params={"sender": sender})).json())["messages"]
        said = [t["text"] for t in turns if t["role"] == "user"]
        assert said == [clean_text(text)], (said, text[:40])  # reached Rasa exactly as cleaned
