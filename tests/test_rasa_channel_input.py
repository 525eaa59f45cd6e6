"""Bad input on the Rasa REST channel itself (what the web app relays and a direct
integration would send), against the live Rasa server and action server.

The web app cleans and limits messages before they reach Rasa (tests/web/test_chat_input.py);
these tests make sure the assistant behind it is polite on its own too: no error, no
traceback, a reply for every message, and markup or SQL-looking text treated as text.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from bot.dialogue.validation import MAX_MESSAGE_CHARS
from bot.evaluation.stories import StoryRunner

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
    ("message", "clean"),
    [
        ("how do I\x00 submit\x07 a claim\x1b[31m?", "how do I submit a claim?"),
        ("😀 how do I submit a claim? 🏥", "how do I submit a claim?"),
        ("<script>alert(1)</script> how do I submit a claim", "how do I submit a claim"),
        ("<img src=x onerror=alert(1)> how do I submit a claim", "how do I submit a claim"),
    ],
    ids=["control-characters", "emoji", "script-tag", "img-onerror"],
)
def test_noise_around_a_real_question_still_gets_the_cited_answer(
    live_runner: StoryRunner, message: str, clean: str
) -> None:
    """Control codes, emoji and pasted markup change nothing: the member gets the cited
    answer the question without them gets, from the claims part of the member FAQ."""

    def reply(text: str) -> tuple[str, str | None, str | None]:
        """The reply's type and its first citation's id and section."""
        messages = live_runner.send(_sender("noise"), text)
        custom = next((m["custom"] for m in messages if (m.get("custom") or {}).get("type")), {})
        assert "<script>" not in _texts(messages) and "onerror" not in _texts(messages)
        first = (custom.get("citations") or [{}])[0]
        return custom.get("type", ""), first.get("id"), first.get("section")

    noisy = reply(message)
    assert noisy == reply(clean)
    assert noisy[0] == "answer" and noisy[2] in ("Claiming expenses", "The settlement of your claim")


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
    # Not taken as a name: the validator refuses it, or the NLU reads it as another
    # request and the form says so; either way the name is asked for again.
    assert "full name" in refused and "Traceback" not in refused
    for value in ("Robert Tables", "+32 3 123 45 67", "weekday mornings"):
        live_runner.send(sender, value)
    topic = "1' OR '1'='1; DROP TABLE requests;--"
    confirm = _texts(live_runner.send(sender, topic))  # free text is accepted as text
    assert "Shall I submit it?" in confirm and "+32 *** 4567" in confirm  # the phone read back masked
    assert "CB-" in _texts(live_runner.send(sender, "yes"))
    stored = [r for r in live_runner.store.list(kind="callback", limit=500) if r.conversation_id == sender]
    assert len(stored) == 1 and stored[0].data["topic"] == topic
    assert stored[0].data["full_name"] == "Robert Tables"
    # The digits in the topic looked like a phone number; the valid one given before stays.
    assert stored[0].data["phone_number"] == "+3231234567"


# --------------------------------------------------------------- the channel's own checks
# credentials.yml puts bot/rasa_plugins/channels.py in front of Rasa's REST and socket.io channels.

ROOT = Path(__file__).resolve().parent.parent


def _post_raw(url: str, body: bytes, timeout: float = 60) -> tuple[int, object]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode("utf-8", "replace")


def _rasa_log(runner: StoryRunner) -> str:
    return (runner.settings.var_dir / "rasa.log").read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1]", "JSON object"),
        (b'"how do I claim"', "JSON object"),
        (b'{"sender": 5, "message": "hi"}', "'sender' must be a string"),
        (b'{"sender": "' + b"x" * 200 + b'", "message": "hi"}', "'sender' must be a string"),
        (b'{"sender": "abc", "message": 123}', "'message' must be a string"),
        (b'{"sender": "abc", "message": ["hi"]}', "'message' must be a string"),
        (b'{"sender": "abc", "message": "hi", "metadata": "x"}', "'metadata' must be a JSON object"),
        (b'{"sender": "abc", "message": "caf\xe9 \xff"}', "json"),  # not UTF-8
        (b"{oops", "json"),
    ],
    ids=[
        "list",
        "string",
        "numeric-sender",
        "long-sender",
        "numeric-message",
        "list-message",
        "bad-metadata",
        "invalid-utf8",
        "malformed",
    ],
)
def test_malformed_rest_bodies_get_a_400_with_the_reason(live_runner: StoryRunner, body: bytes, reason: str) -> None:
    before = _rasa_log(live_runner).count("Traceback")
    status, reply = _post_raw(f"{live_runner.rasa_url}/webhooks/rest/webhook", body)
    assert status == 400, reply
    assert reason.lower() in json.dumps(reply).lower()
    assert _rasa_log(live_runner).count("Traceback") == before


def test_a_huge_message_is_answered_at_the_channel_and_rasa_stays_responsive(live_runner: StoryRunner) -> None:
    message = ("please help me with my claim " * 20_000).strip()  # 579,999 characters, under the body limit
    status, reply = _post_raw(
        f"{live_runner.rasa_url}/webhooks/rest/webhook",
        json.dumps({"sender": _sender("huge"), "message": message}).encode(),
        timeout=30,
    )
    assert status == 200
    assert f"{len(message):,} characters" in _texts(reply) and f"under {MAX_MESSAGE_CHARS:,}" in _texts(reply)
    # The pipeline never saw it: the next member is answered as usual.
    assert "Source:" in _texts(live_runner.send(_sender("after-huge"), "how do I submit a claim?"))


def test_a_body_over_the_size_limit_is_refused_with_413(live_runner: StoryRunner) -> None:
    body = json.dumps({"sender": _sender("oversized"), "message": "a" * 2_000_000}).encode()
    status, _ = _post_raw(f"{live_runner.rasa_url}/webhooks/rest/webhook", body, timeout=30)
    assert status == 413


SOCKET_CLIENT = r"""
import asyncio, json, sys
import socketio

async def main(url):
    sio = socketio.AsyncClient()
    replies, session = [], asyncio.get_running_loop().create_future()
    sio.on("bot_uttered", lambda data: replies.append(data))
    sio.on("session_confirm", lambda sid: session.done() or session.set_result(sid))
    await sio.connect(url, transports=["polling"])
    await sio.emit("session_request", {"session_id": None})
    sid = await asyncio.wait_for(session, 20)
    steps = [
        "just a string",                                    # not an object: ignored
        ["a", "list"],                                      # not an object: ignored
        {"session_id": sid, "message": 123},                # not text: asked for text
        {"session_id": sid, "message": "x" * 5000},         # too long: the limit
        {"session_id": sid, "message": "hi", "customData": "{not json"},  # bad metadata dropped
    ]
    for step in steps:
        count = len(replies)
        await sio.emit("user_uttered", step)
        for _ in range(100 if isinstance(step, dict) else 20):  # an ignored event has no reply to wait for
            await asyncio.sleep(0.1)
            if len(replies) > count and isinstance(step, dict):
                break
        print(json.dumps({"sent": str(step)[:40], "replies": [r.get("text", "") for r in replies[count:]]}))
    await sio.disconnect()

asyncio.run(main(sys.argv[1]))
"""


def test_socketio_channel_handles_bad_payloads(live_runner: StoryRunner) -> None:
    before = _rasa_log(live_runner).count("Traceback")
    result = subprocess.run(
        [str(ROOT / ".venv-rasa" / "bin" / "python"), "-c", SOCKET_CLIENT, live_runner.rasa_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    steps = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["replies"] for s in steps[:2]] == [[], []]
    assert steps[2]["replies"] == ["Please send your message as text."]
    assert "5,000 characters" in " ".join(steps[3]["replies"])
    assert any("member-support assistant" in text for text in steps[4]["replies"])
    assert _rasa_log(live_runner).count("Traceback") == before


# --------------------------------------------------------------------------- bot.rasa_plugins.speedups

SPEEDUP_CHECK = r"""
import json
import os
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from bot.rasa_plugins.speedups import install_speedups

stock = RemoteAction._validate_action_result
install_speedups()
fast = RemoteAction._validate_action_result
action = RemoteAction("action_answer_question", None)
cases = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "email", "value": "a@b.c"}], "responses": [{"text": "hi"}]},
    {},
    {"events": "not a list"},
    {"events": [{"name": "email"}]},
    {"events": [{"event": 7}]},
    {"responses": "not a list"},
]
results = []
for case in cases:
    pair = []
    for check in (stock, fast):
        try:
            pair.append(["ok", check(action, case)])
        except ValidationError as error:
            pair.append(["invalid", error.message])
    results.append(pair)
print(json.dumps({"replaced": fast is not stock, "results": results}))
"""


def test_rasa_speedup_checks_action_responses_exactly_like_rasa():
    """The validator built once accepts and rejects what Rasa's own check does, with its message."""
    result = subprocess.run(
        [str(ROOT / ".venv-rasa" / "bin" / "python"), "-c", SPEEDUP_CHECK],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["replaced"]
    for stock, fast in data["results"]:
        assert fast == stock
    verdicts = [stock[0] for stock, _ in data["results"]]
    assert verdicts.count("ok") >= 2 and verdicts.count("invalid") >= 2, verdicts
    assert all("custom-actions" in stock[1] for stock, _ in data["results"] if stock[0] == "invalid")
