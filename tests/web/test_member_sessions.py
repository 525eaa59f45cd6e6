"""Member conversations belong to the browser the server gave them to.

The conversation id opens a member's transcript, so the server issues it, signed, in an
HttpOnly cookie; whatever id a request names (``sender``) is never trusted. Ids are kept
out of the logs (a pseudonym stands in), card data typed into the chat never reaches
Rasa, and the calls to Rasa's HTTP API carry its token.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from http.cookies import SimpleCookie

import aiohttp
import pytest
from aiohttp import web

from bot.privacy.cards import CARD_NOTICE
from bot.privacy.signing import issue_id, pseudonym, verified_id
from bot.web import create_app
from bot.web.keys import SERVICES, SETTINGS
from tests.web.helpers import (
    CANNED_EVENTS,
    CONVERSATION_COOKIE,
    NO_LIMITS,
    SENDER,
    SESSION_SECRET,
    conversation_of,
    error_json,
    new_conversation,
    sign_in,
)

TOKEN = "rasa-api-token-for-tests"
CARD = "4111 1111 1111 1111"


def set_cookie(response: aiohttp.ClientResponse) -> SimpleCookie:
    """The cookies a response sets, with their attributes."""
    cookies = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        cookies.load(header)
    return cookies


# --------------------------------------------------------------------------- the cookie


async def test_the_server_issues_the_conversation_id_in_a_signed_httponly_cookie(echo_client, fake_rasa):
    first = await echo_client.post("/api/chat", json={"message": "hello"})
    assert first.status == 200, await first.text()
    morsel = set_cookie(first)[CONVERSATION_COOKIE]
    conversation = morsel.value
    assert verified_id(SESSION_SECRET, "web", conversation) == conversation
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/api"
    assert not morsel["secure"]  # plain http: a Secure cookie would never come back
    assert conversation not in await first.text()  # HttpOnly would be pointless if the body told it

    second = await echo_client.post("/api/chat", json={"message": "and again"})
    assert second.status == 200
    assert CONVERSATION_COOKIE not in set_cookie(second)  # kept, not reissued
    assert fake_rasa.senders == [conversation, conversation]


async def test_the_cookie_is_secure_when_the_member_uses_https(make_client):
    client = await make_client(trusted_proxies="127.0.0.1/32", **NO_LIMITS)
    response = await client.post("/api/chat", json={"message": "hello"}, headers={"X-Forwarded-Proto": "https"})
    assert response.status == 200
    assert set_cookie(response)[CONVERSATION_COOKIE]["secure"]


async def test_a_sender_in_the_request_is_ignored(echo_client, fake_rasa):
    response = await echo_client.post("/api/chat", json={"sender": SENDER, "message": "hello"})
    assert response.status == 200
    assert fake_rasa.senders == [conversation_of(echo_client)] and SENDER not in fake_rasa.senders


async def test_an_id_the_server_did_not_issue_starts_a_new_conversation(echo_client, fake_rasa):
    forged = [
        SENDER,
        issue_id("another secret", "web"),
        issue_id(SESSION_SECRET, "socketio"),
        "x" * 65,
        "0" * 32 + "." + "é" * 32,  # not ASCII: refused, not a 500
    ]
    for value in forged:
        echo_client.session.cookie_jar.clear()
        echo_client.session.cookie_jar.update_cookies({CONVERSATION_COOKIE: value}, echo_client.make_url("/api/"))
        response = await echo_client.post("/api/chat", json={"message": "hello"})
        assert response.status == 200
        issued = set_cookie(response)[CONVERSATION_COOKIE].value
        assert issued != value and verified_id(SESSION_SECRET, "web", issued) == issued
        assert fake_rasa.senders[-1] == issued


async def test_start_over_rotates_the_cookie(echo_client, fake_rasa):
    await echo_client.post("/api/chat", json={"message": "hello"})
    old = conversation_of(echo_client)
    new = await new_conversation(echo_client)
    assert new != old and verified_id(SESSION_SECRET, "web", new) == new
    await echo_client.post("/api/chat", json={"message": "hello again"})
    assert fake_rasa.senders == [old, new]


# --------------------------------------------------------------------------- history


async def test_history_serves_only_the_cookies_own_conversation(rasa_client, fake_rasa):
    await rasa_client.post("/api/chat", json={"message": "how do I claim?"})
    victim = conversation_of(rasa_client)
    own = await rasa_client.get("/api/chat/history")
    assert own.status == 200
    assert [m["role"] for m in (await own.json())["messages"]][:2] == ["user", "bot"]
    assert victim not in await own.text()

    # Someone else, who learnt the id: neither as a parameter nor with no cookie at all.
    rasa_client.session.cookie_jar.clear()
    fake_rasa.calls.clear()
    refused = await rasa_client.get("/api/chat/history", params={"sender": victim})
    await error_json(refused, 403, "not_your_conversation")
    empty = await rasa_client.get("/api/chat/history")
    assert empty.status == 200 and (await empty.json())["messages"] == []
    await rasa_client.post("/api/chat/session")
    refused = await rasa_client.get("/api/chat/history", params={"sender": victim})
    await error_json(refused, 403, "not_your_conversation")
    assert not [path for path, _ in fake_rasa.calls if path.startswith("/conversations/")]


async def test_feedback_is_only_for_answers_of_the_cookies_conversation(echo_client):
    await echo_client.post("/api/chat", json={"message": "how do I claim?"})
    conversation = conversation_of(echo_client)
    store = echo_client.app[SERVICES].store
    answer_id = store.record_answer(conversation, "how do I claim?", "faq#claims-1", 0.8, "answer")
    body = {"sender": "someone-else-entirely-0000", "answer_id": answer_id, "helpful": True}
    response = await echo_client.post("/api/feedback", json=body)
    assert response.status == 200 and store.get_answer(answer_id).helpful is True

    await new_conversation(echo_client)
    response = await echo_client.post("/api/feedback", json={"answer_id": answer_id, "helpful": False})
    await error_json(response, 404, "not_found")
    echo_client.session.cookie_jar.clear()
    body = {"sender": conversation, "answer_id": answer_id, "helpful": False}
    response = await echo_client.post("/api/feedback", json=body)
    await error_json(response, 404, "not_found")
    assert store.get_answer(answer_id).helpful is True


# --------------------------------------------------------------------------- logs


async def test_conversation_ids_are_logged_only_as_pseudonyms(echo_client, fake_rasa, caplog):
    caplog.set_level(logging.DEBUG)
    await echo_client.post("/api/chat", json={"message": "hello"})
    conversation = conversation_of(echo_client)
    fake_rasa.empty_reply = True
    fake_rasa.action_server_up = False
    await error_json(await echo_client.post("/api/chat", json={"message": "are you there?"}), 502)
    assert "the action server is down" in caplog.text
    assert conversation not in caplog.text and conversation.split(".")[0] not in caplog.text
    assert pseudonym(SESSION_SECRET, conversation) in caplog.text


async def test_the_access_log_has_no_query_strings_or_cookies(
    make_web_settings, make_services, fake_rasa_url, monkeypatch, caplog
):
    from bot.web import __main__ as entry

    served = {}
    monkeypatch.setattr(entry, "check_index", lambda settings: None)
    monkeypatch.setattr(entry, "install_log_masking", lambda names: None)
    monkeypatch.setattr(entry.web, "run_app", lambda app, **options: served.update(options))
    monkeypatch.setenv("BOT_SESSION_SECRET", SESSION_SECRET)
    assert entry.main([]) == 0
    access_log_class = served.get("access_log_class", web.AccessLogger)

    settings = make_web_settings(fake_rasa_url, **NO_LIMITS)
    runner = web.AppRunner(create_app(settings, services=make_services(settings)), access_log_class=access_log_class)
    await runner.setup()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock)
        await site.start()
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        caplog.set_level(logging.INFO, logger="aiohttp.access")
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
                async with session.post(f"{base}/api/chat", json={"message": "hello"}) as response:
                    assert response.status == 200
                conversation = next(c.value for c in session.cookie_jar if c.key == CONVERSATION_COOKIE)
                async with session.get(
                    f"{base}/api/chat/history?sender={conversation}", headers={"Referer": f"{base}/?c={conversation}"}
                ) as response:
                    assert response.status == 200
        finally:
            await runner.cleanup()
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("/api/chat/history" in line for line in access), access
    assert not any(conversation in line or conversation.split(".")[0] in line for line in access), access


async def test_without_a_session_secret_the_app_uses_a_random_one_and_says_so(make_web_settings, closed_port, caplog):
    settings = make_web_settings(f"http://127.0.0.1:{closed_port}", session_secret="")
    with caplog.at_level(logging.WARNING, logger="bot.web.app"):
        first, second = create_app(settings), create_app(settings)
    secrets = {first[SETTINGS].session_secret, second[SETTINGS].session_secret}
    assert "" not in secrets and len(secrets) == 2 and all(len(s) >= 32 for s in secrets)
    assert "BOT_SESSION_SECRET" in caplog.text
    assert create_app(dataclasses.replace(settings, session_secret="kept"))[SETTINGS].session_secret == "kept"


# --------------------------------------------------------------------------- card data


@pytest.mark.parametrize(
    "message",
    [
        f"my card is {CARD} exp 12/27 cvv 123",
        "card 4111111111111111 and the security code is 737",
        "Amex 3782 822463 10005, CVC: 1234",
    ],
)
async def test_card_data_never_reaches_rasa_and_the_member_is_told_once(echo_client, fake_rasa, message):
    response = await echo_client.post("/api/chat", json={"message": message})
    assert response.status == 200
    [received] = fake_rasa.received
    assert "[card number removed]" in received
    for secret in ("4111", "1111", "3782", "10005", "123", "737", "1234"):
        assert secret not in received, received
    texts = [m.get("text") for m in (await response.json())["messages"]]
    assert texts[0] == CARD_NOTICE and texts.count(CARD_NOTICE) == 1
    assert texts[1] == f"You said: {received}"


async def test_messages_without_card_data_get_no_notice(echo_client, fake_rasa):
    text = "my policy number is 1234567812345678 and I was born 12/1985"  # fails the Luhn check
    response = await echo_client.post("/api/chat", json={"message": text})
    assert fake_rasa.received == [text]
    assert CARD_NOTICE not in await response.text()


# --------------------------------------------------------------------------- Rasa's API token


async def test_calls_to_rasas_api_carry_its_token_and_the_channel_gets_none(make_client, fake_rasa):
    fake_rasa.token = TOKEN
    fake_rasa.events = CANNED_EVENTS
    client = await make_client(rasa_token=TOKEN, **NO_LIMITS)
    assert (await client.post("/api/chat", json={"message": "hello"})).status == 200
    history = await client.get("/api/chat/history")
    assert history.status == 200 and (await history.json())["messages"]
    csrf = await sign_in(client)
    suggested = await client.post("/api/suggest", json={"message": "how do I claim?"}, headers={"X-CSRF-Token": csrf})
    assert (await suggested.json())["intent"] == fake_rasa.intent
    tokens = {path: query.get("token") for path, query in fake_rasa.calls}
    assert tokens["/webhooks/rest/webhook"] is None
    assert tokens["/model/parse"] == TOKEN
    assert tokens[f"/conversations/{conversation_of(client)}/tracker"] == TOKEN


async def test_a_refused_api_call_logs_neither_the_token_nor_the_conversation(make_client, fake_rasa, caplog):
    caplog.set_level(logging.DEBUG)
    fake_rasa.token = "what Rasa expects"
    client = await make_client(rasa_token=TOKEN, **NO_LIMITS)
    await client.post("/api/chat", json={"message": "hello"})
    await error_json(await client.get("/api/chat/history"), 502, "assistant_unavailable")
    assert "401" in caplog.text
    conversation = conversation_of(client)
    assert TOKEN not in caplog.text
    assert conversation not in caplog.text and conversation.split(".")[0] not in caplog.text
