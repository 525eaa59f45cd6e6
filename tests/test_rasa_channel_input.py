"""Bad input on the Rasa REST channel itself (what the web app relays and a direct
integration would send), against the live Rasa server and action server.

The web app cleans and limits messages before they reach Rasa (tests/test_web_hardening.py);
these tests make sure the assistant behind it is polite on its own too: no error, no
traceback, a reply for every message, and markup or SQL-looking text treated as text.
"""

from __future__ import annotations

import uuid

import pytest

from bot.stories import StoryRunner
from bot.validation import MAX_MESSAGE_CHARS

pytestmark = pytest.mark.stack


def _texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def _sender(tag: str) -> str:
    return f"bad-input-{tag}-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("message", ["", "   ", "\n\t \n"], ids=["empty", "spaces", "whitespace"])
def test_empty_messages_get_a_polite_prompt(live_runner: StoryRunner, message: str) -> None:
    text = _texts(live_runner.send(_sender("empty"), message))
    assert "help you with" in text
    assert "Traceback" not in text and "error" not in text.lower()


def test_a_very_long_message_is_answered_with_the_limit(live_runner: StoryRunner) -> None:
    message = ("How do I claim the costs of my hospital stay and my medication? " * 400)[:20_000]
    text = _texts(live_runner.send(_sender("long"), message))
    assert "20,000 characters" in text
    assert f"under {MAX_MESSAGE_CHARS:,} characters" in text


@pytest.mark.parametrize(
    "message",
    [
        "how do I\x00 submit\x07 a claim\x1b[31m?",
        "😀 how do I submit a claim? 🏥",
        "<script>alert(1)</script> how do I submit a claim",
        "<img src=x onerror=alert(1)> how do I submit a claim",
    ],
    ids=["control-characters", "emoji", "script-tag", "img-onerror"],
)
def test_noise_around_a_real_question_still_gets_the_cited_answer(live_runner: StoryRunner, message: str) -> None:
    messages = live_runner.send(_sender("noise"), message)
    citations = [c for m in messages for c in ((m.get("custom") or {}).get("citations") or [])]
    assert citations and citations[0]["section"] == "Claiming expenses", messages
    assert "<script>" not in _texts(messages) and "onerror" not in _texts(messages)


@pytest.mark.parametrize(
    "message",
    ["как подать заявку на возмещение?", "如何提交理赔?", "كيف أقدم مطالبة؟", "'; DROP TABLE requests; --"],
    ids=["cyrillic", "chinese", "arabic", "sql"],
)
def test_other_scripts_and_sql_get_an_honest_reply(live_runner: StoryRunner, message: str) -> None:
    text = _texts(live_runner.send(_sender("script"), message))
    assert text, "every message gets a reply"
    assert "Traceback" not in text


def test_sql_looking_form_values_are_refused_or_stored_as_text(live_runner: StoryRunner) -> None:
    sender = _sender("sql-form")
    live_runner.send(sender, "can someone call me back?")
    refused = _texts(live_runner.send(sender, "Robert'); DROP TABLE requests;--"))
    assert "only letters, spaces, hyphens and apostrophes" in refused  # the name is re-asked
    for value in ("Robert Tables", "+32 3 123 45 67", "weekday mornings"):
        live_runner.send(sender, value)
    topic = "1' OR '1'='1; DROP TABLE requests;--"
    assert "CB-" in _texts(live_runner.send(sender, topic))  # free text is accepted as text
    stored = [r for r in live_runner.store.list(kind="callback", limit=500) if r.conversation_id == sender]
    assert len(stored) == 1 and stored[0].data["topic"] == topic
    # The digits in the topic looked like a phone number; the valid one given before stays.
    assert stored[0].data["phone_number"] == "+3231234567"
