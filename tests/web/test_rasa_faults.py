"""What the web app does when Rasa is slow, busy, silent or only partly up: a bounded
wait (504), an admission gate with a queue (503 when full), the apology with our
contact channels; and one round trip of awkward but valid messages through the real
Rasa server and action server (the live stories' stack, marked ``stack``).
"""

from __future__ import annotations

import pytest

from bot.dialogue.validation import MAX_MESSAGE_CHARS
from bot.evaluation.stories import StoryRunner
from bot.settings import Settings
from bot.web.jsonio import clean_text
from bot.web.rasa import RasaClient, transcript
from tests.web.helpers import NO_LIMITS, VALID_MESSAGES, chat_staggered, error_json, new_conversation

# --------------------------------------------------------------------------- slow and busy


async def test_slow_rasa_is_a_504(make_client, fake_rasa):
    fake_rasa.delay = 2.0
    client = await make_client(rasa_timeout=0.3)
    response = await client.post("/api/chat", json={"message": "hello"})
    assert response.status == 504
    data = await response.json()
    assert data["error"] == "assistant_timeout" and "too long" in data["message"]


def test_rasa_timeout_is_bounded_by_default():
    assert Settings.from_env(env={}).rasa_timeout == 15.0
    assert Settings.from_env(env={"BOT_RASA_TIMEOUT": "30"}).rasa_timeout == 30.0
    assert Settings.from_env(env={"BOT_RASA_TIMEOUT": "8"}).rasa_timeout == 8.0
    assert Settings.from_env(env={"BOT_RASA_TIMEOUT": "8"}, rasa_timeout=2.0).rasa_timeout == 2.0
    assert RasaClient.__init__.__kwdefaults__["timeout"] == 15.0


def test_web_settings_lookup_order():
    env = {"BOT_RASA_TIMEOUT": "9", "BOT_LOGIN_MAX_FAILURES": "7"}
    config = Settings.from_env(env=env, rasa_timeout=2.5)
    assert config.rasa_timeout == 2.5 and config.login_max_failures == 7 and config.agent_idle_minutes == 60.0


@pytest.fixture
def gated_rasa(fake_rasa):
    """The fake Rasa answering "You said <message>" after 0.1 s (tests may change the delay)."""
    fake_rasa.delay = 0.1
    fake_rasa.echo = "You said {message}"
    return fake_rasa


async def test_rasa_gets_at_most_max_in_flight_calls_and_every_member_a_reply(make_client, gated_rasa):
    client = await make_client(rasa_max_in_flight=2)
    messages = [f"question {i}" for i in range(10)]
    results = await chat_staggered(client, messages, gap=0.0)
    assert [status for status, _ in results] == [200] * 10
    assert [data["messages"][0]["text"] for _, data in results] == [f"You said {m}" for m in messages]
    assert gated_rasa.peak == 2 and sorted(gated_rasa.received) == sorted(messages)


async def test_queued_calls_reach_rasa_first_come_first_served(make_client, gated_rasa):
    client = await make_client(rasa_max_in_flight=1)
    messages = [f"question {i}" for i in range(6)]
    results = await chat_staggered(client, messages)
    assert [status for status, _ in results] == [200] * 6
    assert gated_rasa.received == messages and gated_rasa.peak == 1


async def test_a_full_queue_turns_a_message_away_at_once_unsent(make_client, gated_rasa):
    gated_rasa.delay = 0.5
    client = await make_client(rasa_max_in_flight=1, rasa_max_waiting=1)
    results = await chat_staggered(client, ["first", "second", "third"])
    assert [status for status, _ in results] == [200, 200, 503]
    busy = results[2][1]
    assert busy["error"] == "assistant_busy" and "was not sent" in busy["message"]
    assert busy["messages"][0]["custom"]["type"] == "unavailable"
    assert gated_rasa.received == ["first", "second"]  # the third never reached Rasa


# --------------------------------------------------------------------------- Rasa falls silent


async def test_empty_reply_with_the_action_server_down_is_the_apology(make_client, fake_rasa):
    fake_rasa.empty_reply, fake_rasa.action_server_up = True, False
    client = await make_client()
    down = await (await make_client(rasa_url="http://127.0.0.1:9")).post(
        "/api/chat", json={"message": "how do I claim?"}
    )
    response = await client.post("/api/chat", json={"message": "how do I claim?"})
    data = await error_json(response, 502, "assistant_unavailable")
    assert data == await error_json(down, 502, "assistant_unavailable")  # the same apology as Rasa down
    assert (
        "not available right now" in data["message"] and "contact us by email, by post, or by phone" in data["message"]
    )
    [message] = data["messages"]
    assert message["custom"]["type"] == "unavailable" and message["custom"]["citations"]


@pytest.mark.parametrize(
    ("body", "opening", "note"),
    [
        ({"message": "Comment puis-je soumettre une demande de remboursement ?"},
         "Je suis désolé, l'assistant n'est pas disponible en ce moment.",
         "Voici ce que dit notre document (en anglais) :"),
        ({"message": "how do I claim?", "language": "de"},
         "Es tut mir leid, der Assistent ist gerade nicht verfügbar.", "Das steht in unserem Dokument (auf Englisch):"),
    ],
    ids=["written-in-french", "german-chosen"],
)
async def test_the_apology_is_in_the_members_language_with_the_contact_facts_quoted(
    make_client, fake_rasa, body, opening, note
):
    """Our own words are translated; the contact channels stay quoted from the FAQ in
    English, after the note saying so, with the (translated) source label."""
    english = await error_json(
        await (await make_client(rasa_url="http://127.0.0.1:9")).post("/api/chat", json={"message": "hello"}), 502
    )
    data = await error_json(
        await (await make_client(rasa_url="http://127.0.0.1:9")).post("/api/chat", json=body), 502,
        "assistant_unavailable",
    )
    lines, english_lines = data["message"].split("\n"), english["message"].split("\n")
    assert lines[0].startswith(opening) and lines[1] == note, lines
    assert lines[2] == english_lines[1] and "contact us by email, by post, or by phone" in lines[2]  # quoted as is
    assert len(lines) == len(english_lines) + 1 and not lines[-1].startswith("Source:")
    assert data["messages"][-1]["text"] == data["message"]


async def test_empty_reply_with_the_action_server_up_is_still_not_silence(make_client, fake_rasa):
    fake_rasa.empty_reply = True
    client = await make_client()
    data = await error_json(await client.post("/api/chat", json={"message": "hi"}), 502)
    assert data["messages"][0]["custom"]["type"] == "unavailable"
    restart = await client.post("/api/chat", json={"message": "/restart"})
    assert restart.status == 200 and (await restart.json())["messages"] == []  # Rasa rightly says nothing


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


# --------------------------------------------------------------------------- the real Rasa stack


@pytest.fixture(scope="module")
def live_rasa(live_runner: StoryRunner) -> str:
    """The real Rasa server calling the real action server on the session's index (the
    stack the live stories use: nothing here needs one of its own); its URL."""
    return live_runner.rasa_url


@pytest.mark.stack
async def test_awkward_but_valid_messages_get_real_answers_from_rasa(make_client, live_rasa):
    # The stack's servers take their secrets from this process's environment (Stack.start).
    token = Settings.from_env().rasa_token
    client = await make_client(rasa_url=live_rasa, rasa_token=token, **NO_LIMITS, rasa_timeout=60)
    cases = [*VALID_MESSAGES, "How do I\x00 submit a claim?\x07", "x" * MAX_MESSAGE_CHARS]
    for text in cases:
        await new_conversation(client)
        response = await client.post("/api/chat", json={"message": text})
        data = await response.json()
        assert response.status == 200, (text[:40], data)
        assert data["messages"] and any(m.get("text") for m in data["messages"]), text[:40]
        turns = (await (await client.get("/api/chat/history")).json())["messages"]
        said = [t["text"] for t in turns if t["role"] == "user"]
        assert said == [clean_text(text)], (said, text[:40])  # reached Rasa exactly as cleaned
