"""Bad input on the member API (/api/chat, its history and /api/feedback): refused with a
polite JSON error before anything reaches Rasa. The conversation comes from the server's
cookie, so a ``sender`` in a request, however odd, is no input at all.
"""

from __future__ import annotations

import json

import pytest

from bot.dialogue.validation import MAX_MESSAGE_CHARS
from bot.web.member import MAX_ID
from tests.web.helpers import LONG, SENDER, SQL, conversation_of, error_json, raw_json

# --------------------------------------------------------------------------- /api/chat


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "missing_field"),
        ({"sender": SENDER}, 400, "missing_field"),
        ({"message": 42}, 400, "invalid_field"),
        ({"message": "   "}, 400, "empty_message"),
        ({"message": "x" * 2001}, 413, "message_too_long"),
    ],
)
async def test_chat_input_validation(client, body, status, code):
    response = await client.post("/api/chat", json=body)
    assert response.status == status
    data = await response.json()
    assert data["error"] == code and data["message"]


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
    body = b'{"message": "' + b"x" * 200_000 + b'"}'
    response = await client.post("/api/chat", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert (await response.json())["error"] == "too_large"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": ""}, 400, "empty_message"),
        ({"message": "   \n\t  "}, 400, "empty_message"),
        ({"message": "\x00\x07\x1b\x7f\u0085"}, 400, "empty_message"),
        ({"message": "\udfff\ud800"}, 400, "empty_message"),  # lone surrogates only
        ({"message": ["how", "do", "I", "claim"]}, 400, "invalid_field"),
        ({"message": {"text": "hi"}}, 400, "invalid_field"),
    ],
)
async def test_chat_refuses_bad_fields_politely(echo_client, fake_rasa, body, status, code):
    data = await error_json(await echo_client.post("/api/chat", json=body), status, code)
    assert not fake_rasa.received  # nothing reached Rasa
    assert data["message"][0].isupper() and data["message"].endswith(".")
    assert conversation_of(echo_client) is None  # refused before a conversation was started


@pytest.mark.parametrize(
    "sender", [SENDER + "\n", "' OR 1=1 --aaaaaaaaaaaaaaa", "😀" * 20, None, 42, ["x"], "../../etc/passwd", SQL]
)
async def test_a_sender_of_any_shape_is_ignored(echo_client, fake_rasa, sender):
    response = await echo_client.post("/api/chat", json={"sender": sender, "message": "hi"})
    assert response.status == 200
    assert fake_rasa.senders == [conversation_of(echo_client)]


@pytest.mark.parametrize("text", [LONG, "😀" * 20_000, "Как?" * 5_000, "<b>" * 6_667])
async def test_chat_refuses_a_20000_character_message_stating_the_limit(echo_client, fake_rasa, text):
    body = json.dumps({"message": text}, ensure_ascii=False).encode("utf-8")  # 80 KB of emoji
    data = await error_json(await echo_client.post("/api/chat", **raw_json(body)), 413)
    assert data["error"] == "message_too_long" and data["max_chars"] == MAX_MESSAGE_CHARS
    assert "Please keep it under 2,000 characters" in data["message"]
    assert f"{len(text):,}" in data["message"]
    assert not fake_rasa.received


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "malformed_json"),
        (b'{"message": "caf\xe9 \xff\xfe"}', "malformed_json"),  # not UTF-8
        (b'\xef\xbb\xbf{"message": "x"}', "malformed_json"),  # a byte-order mark is not JSON
        (b"[]", "not_an_object"),
        (b'"how do I claim?"', "not_an_object"),
        (b"42", "not_an_object"),
        (b"null", "not_an_object"),
        (b"true", "not_an_object"),
        (b"   ", "empty_body"),
        (
            b'{"message": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
            "malformed_json",
        ),
        (b'{"message": ' + b"9" * 10_000 + b"}", "malformed_json"),  # an integer Python will not convert
    ],
)
async def test_chat_refuses_malformed_bodies(echo_client, fake_rasa, raw, code):
    await error_json(await echo_client.post("/api/chat", **raw_json(raw)), 400, code)
    assert not fake_rasa.received


async def test_chat_refuses_an_oversized_body(echo_client):
    body = json.dumps({"message": "x" * 300_000}).encode()
    data = await error_json(await echo_client.post("/api/chat", **raw_json(body)), 413, "too_large")
    assert "128 KiB" in data["message"]


async def test_history_refuses_any_sender_but_the_cookies_own(echo_client, fake_rasa):
    await echo_client.post("/api/chat", json={"message": "hi"})
    for sender in ("", "x", SENDER, conversation_of(echo_client) + "\n", "%00" * 20, "../../" + SENDER, SQL):
        response = await echo_client.get("/api/chat/history", params={"sender": sender})
        await error_json(response, 403, "not_your_conversation")
    response = await echo_client.get("/api/chat/history?sender=%FF%FE" + "a" * 20)
    await error_json(response, 403, "not_your_conversation")
    assert not [path for path, _ in fake_rasa.calls if path.startswith("/conversations/")]


# --------------------------------------------------------------------------- /api/feedback


@pytest.mark.parametrize(
    "body",
    [
        {"answer_id": "1", "helpful": True},
        {"answer_id": True, "helpful": True},
        {"answer_id": 1, "helpful": "yes"},
        {"sender": SENDER, "answer_id": -3, "helpful": True},
        {"answer_id": 1},
    ],
)
async def test_feedback_validation(client, body):
    response = await client.post("/api/feedback", json=body)
    assert response.status == 400


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"answer_id": MAX_ID + 1, "helpful": True}, "invalid_field"),
        ({"answer_id": 10**30, "helpful": True}, "invalid_field"),
        ({"answer_id": 1.5, "helpful": True}, "invalid_field"),
        ({"answer_id": 0, "helpful": True}, "invalid_field"),
        ({"answer_id": "1; DROP TABLE answers", "helpful": True}, "invalid_field"),
        ({"answer_id": 1, "helpful": None}, "invalid_field"),
        ({"sender": SQL, "answer_id": 1, "helpful": "<script>"}, "invalid_field"),
    ],
)
async def test_feedback_refuses_bad_fields(echo_client, body, code):
    await error_json(await echo_client.post("/api/feedback", json=body), 400, code)


@pytest.mark.parametrize(
    ("raw", "code"), [(b"{oops", "malformed_json"), (b"[1]", "not_an_object"), (b"\xff", "malformed_json")]
)
async def test_feedback_refuses_malformed_bodies(echo_client, raw, code):
    await error_json(await echo_client.post("/api/feedback", **raw_json(raw)), 400, code)
