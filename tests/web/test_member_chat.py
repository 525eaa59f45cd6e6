"""The member chat, its history and feedback with valid input: relayed to Rasa (the fake
one) as the member wrote it, and answered with our contact channels when Rasa is down.
"""

from __future__ import annotations

import pytest

from tests.web.helpers import SENDER, VALID_MESSAGES, conversation_of, new_conversation

# --------------------------------------------------------------------------- Rasa down


async def test_chat_with_rasa_down_is_a_502_with_contact_channels(client):
    response = await client.post("/api/chat", json={"message": "how do I claim?"})
    assert response.status == 502
    data = await response.json()
    assert data["error"] == "assistant_unavailable"
    assert "sorry" in data["message"].lower() and "contact us by email, by post, or by phone" in data["message"]
    assert "Traceback" not in data["message"]
    [message] = data["messages"]
    assert message["custom"]["type"] == "unavailable"
    assert message["custom"]["citations"][0]["local_url"].startswith("/documents/cigna-health-benefits-member-faq#")


async def test_chat_message_of_exactly_2000_chars_reaches_rasa(client):
    response = await client.post("/api/chat", json={"message": "x" * 2000})
    assert response.status == 502  # validated, then Rasa (down) was asked


async def test_history_with_rasa_down_is_a_502(client):
    await new_conversation(client)
    response = await client.get("/api/chat/history")
    assert response.status == 502
    assert (await response.json())["error"] == "assistant_unavailable"
    other = await client.get("/api/chat/history", params={"sender": "x"})
    assert other.status == 403


# --------------------------------------------------------------------------- Rasa up


async def test_chat_relays_rasa_messages(rasa_client):
    response = await rasa_client.post("/api/chat", json={"message": "how do I claim?"})
    assert response.status == 200
    data = await response.json()
    assert set(data) == {"messages"}  # the conversation id stays in its HttpOnly cookie
    assert data["messages"][0]["text"].startswith("Send us the **claim form**")
    assert data["messages"][1] == {"custom": {"type": "answer", "answer_id": 7, "citations": []}}
    assert data["messages"][2]["buttons"] == [{"title": "Yes", "payload": "/feedback"}]
    assert len(data["messages"]) == 3  # the unknown message is dropped, recipient ids are not passed on


async def test_history_replays_the_tracker(rasa_client):
    await new_conversation(rasa_client)
    response = await rasa_client.get("/api/chat/history")
    assert response.status == 200
    messages = (await response.json())["messages"]
    assert [m["role"] for m in messages] == ["user", "bot", "user", "user", "bot", "user", "bot"]
    assert messages[2]["text"] == "Make a request"  # a payload is shown as its button's title
    assert messages[3]["text"] == "Talk to a person"
    assert messages[4]["custom"] == {"type": "handoff"}


@pytest.mark.parametrize("text", VALID_MESSAGES)
async def test_emoji_other_scripts_markup_and_sql_reach_rasa_unchanged(echo_client, fake_rasa, text):
    response = await echo_client.post("/api/chat", json={"message": text})
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
async def test_control_characters_are_stripped_before_rasa(echo_client, fake_rasa, sent, rasa_gets):
    response = await echo_client.post("/api/chat", json={"message": sent})
    assert response.status == 200
    assert fake_rasa.received == [rasa_gets]


# --------------------------------------------------------------------------- feedback


async def test_feedback_is_recorded_for_the_conversations_own_answer(client, services):
    await new_conversation(client)
    own = conversation_of(client)
    answer_id = services.store.record_answer(own, "how do I claim?", "faq#claims-1", 0.8, "answer")
    response = await client.post("/api/feedback", json={"answer_id": answer_id, "helpful": False})
    assert response.status == 200
    assert (await response.json()) == {"ok": True, "answer_id": answer_id, "helpful": False}
    assert services.store.get_answer(answer_id).helpful is False

    other = services.store.record_answer(SENDER, "how do I claim?", "faq#claims-1", 0.8, "answer")
    response = await client.post("/api/feedback", json={"sender": SENDER, "answer_id": other, "helpful": True})
    assert response.status == 404
    assert services.store.get_answer(other).helpful is None
    response = await client.post("/api/feedback", json={"answer_id": 999999, "helpful": True})
    assert response.status == 404
