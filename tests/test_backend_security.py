"""The servers behind the web app, probed as an attacker on the same host would.

The action server and Rasa's HTTP API answer only callers with their secret, both
listen on loopback, the socket.io channel cannot be joined or written to with someone
else's session id, payment card data never reaches the tracker, and the tracker file
is private. Each test here failed before these defences existed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from bot.evaluation.stories import StoryRunner
from bot.privacy.cards import CARD_NOTICE
from bot.rasa_plugins.server import api_url
from bot.settings import ROOT, Settings

CARD = "4111 1111 1111 1111"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


def _call(method: str, url: str, body: object = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP port is listening on (IPv4, from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _action_url(runner: StoryRunner) -> str:
    return runner.settings.action_server_url


# The payload Rasa would send to store a callback request with slots nobody validated.
FORGED_CALL = {
    "next_action": "action_submit_callback",
    "sender_id": "forged",
    "version": "3.6.21",
    "domain": {},
    "tracker": {
        "sender_id": "forged",
        "slots": {"full_name": "<script>x</script>", "phone_number": CARD, "topic": "x", "preferred_time": "x"},
        "latest_message": {"text": "", "intent": {}, "entities": []},
        "events": [],
        "active_loop": {},
        "latest_action_name": "action_listen",
    },
}


@pytest.mark.stack
def test_the_action_server_refuses_calls_without_the_secret(live_runner: StoryRunner) -> None:
    url = f"{_action_url(live_runner)}/webhook"
    assert _call("POST", url, FORGED_CALL)[0] == 401
    assert _call("POST", url, FORGED_CALL, {"Authorization": "Bearer wrong"})[0] == 401
    assert _call("GET", f"{_action_url(live_runner)}/actions")[0] == 401
    assert _call("GET", f"{_action_url(live_runner)}/health")[0] == 200
    assert not [r for r in live_runner.store.list(kind="callback") if r.conversation_id == "forged"]
    # Rasa itself gets through: it sends the secret from its endpoints file.
    assert "Source:" in json.dumps(live_runner.send(f"sec-{uuid.uuid4().hex[:8]}", "how do I submit a claim?"))


@pytest.mark.stack
def test_the_servers_listen_on_loopback_only(live_runner: StoryRunner) -> None:
    assert _listening_addresses(_port(_action_url(live_runner))) == {"127.0.0.1"}
    assert _listening_addresses(_port(live_runner.rasa_url)) == {"127.0.0.1"}


@pytest.mark.stack
def test_rasas_http_api_needs_the_token(live_runner: StoryRunner) -> None:
    sender = f"sec-{uuid.uuid4().hex[:8]}"
    live_runner.send(sender, "my email is maria@example.org, how do I claim?")
    base = live_runner.rasa_url
    assert _call("GET", f"{base}/conversations/{sender}/tracker")[0] == 401
    execute = {"name": "action_submit_callback"}
    assert _call("POST", f"{base}/conversations/{sender}/execute", execute)[0] == 401
    events = [{"event": "slot", "name": "phone_number", "value": "+32 3 217 68 68"}]
    assert _call("POST", f"{base}/conversations/{sender}/tracker/events", events)[0] == 401
    assert _call("GET", f"{base}/conversations/{sender}/tracker?token=wrong")[0] == 401
    status, body = _call("GET", api_url(base, f"/conversations/{sender}/tracker", live_runner.settings.rasa_token))
    assert status == 200 and json.loads(body)["sender_id"] == sender
    # The channel members use needs no token.
    assert _call("POST", f"{base}/webhooks/rest/webhook", {"sender": sender, "message": "hi"})[0] == 200


@pytest.mark.stack
def test_card_numbers_never_reach_the_tracker_and_the_member_is_told(live_runner: StoryRunner) -> None:
    sender = f"card-{uuid.uuid4().hex[:8]}"
    replies = live_runner.send(sender, f"my card is {CARD}, expiry 12/27, cvv 123. how do I submit a claim?")
    assert replies[0]["text"] == CARD_NOTICE
    assert sum(CARD_NOTICE == r.get("text") for r in replies) == 1
    tracker = json.dumps(live_runner.tracker(sender))
    assert "4111" not in tracker and "12/27" not in tracker and "cvv 123" not in tracker
    assert "[card number removed]" in tracker
    stored = (live_runner.settings.var_dir / "tracker.db").read_bytes()
    assert b"4111 1111" not in stored
    for log in ("rasa.log", "actions.log"):
        assert "4111 1111" not in (live_runner.settings.var_dir / log).read_text(errors="replace")


@pytest.mark.stack
def test_the_tracker_file_is_private(live_runner: StoryRunner) -> None:
    live_runner.send(f"sec-{uuid.uuid4().hex[:8]}", "hi")
    mode = stat.S_IMODE(os.stat(live_runner.settings.var_dir / "tracker.db").st_mode)
    assert mode == 0o600, oct(mode)


SOCKET_PROBE = r"""
import asyncio, json, sys
import socketio

async def client(url, headers=None):
    sio = socketio.AsyncClient()
    state = {"replies": [], "sessions": []}
    sio.on("bot_uttered", lambda data: state["replies"].append(data.get("text", "")))
    sio.on("session_confirm", lambda sid: state["sessions"].append(sid))
    await sio.connect(url, transports=["polling"], headers=headers or {})
    return sio, state

async def session(sio, state, wanted):
    count = len(state["sessions"])
    await sio.emit("session_request", {"session_id": wanted})
    for _ in range(200):
        if len(state["sessions"]) > count:
            return state["sessions"][-1]
        await asyncio.sleep(0.05)

async def main(url):
    out = {}
    alice, a = await client(url)
    alice_id = await session(alice, a, None)
    out["alice"] = alice_id
    out["alice_again"] = await session(alice, a, alice_id)         # her own id: resumed
    mallory, m = await client(url)
    out["mallory_asked_for_alices"] = await session(mallory, m, alice_id)
    out["mallory_asked_for_her_sender_id"] = await session(mallory, m, alice_id.split(".")[0])
    out["forged"] = await session(mallory, m, "0" * 32)
    await mallory.emit("user_uttered", {"session_id": alice_id, "message": "hi"})
    await alice.emit("user_uttered", {"session_id": alice_id, "message": "how do I submit a claim?"})
    for _ in range(200):
        if a["replies"]:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    out["alice_replies"], out["mallory_replies"] = a["replies"], m["replies"]
    await alice.disconnect(); await mallory.disconnect()
    try:
        evil, _ = await client(url, {"Origin": "http://evil.example"})
        out["evil_origin"] = "connected"
        await evil.disconnect()
    except Exception as exc:
        out["evil_origin"] = type(exc).__name__
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.stack
def test_a_socketio_session_cannot_be_taken_over(live_runner: StoryRunner) -> None:
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", SOCKET_PROBE, live_runner.rasa_url], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["alice_again"] == out["alice"]
    assert out["mallory_asked_for_alices"] not in (out["alice"], None)
    assert out["mallory_asked_for_her_sender_id"] not in (out["alice"], None)
    assert out["forged"] not in ("0" * 32, None)
    assert out["mallory_replies"] == []
    # Alice got her own answer, and nothing that Mallory sent in her name.
    assert any("claim" in text.lower() for text in out["alice_replies"]), out["alice_replies"]
    assert not any("member-support assistant" in text for text in out["alice_replies"]), out["alice_replies"]
    assert out["evil_origin"] != "connected"


def test_the_servers_refuse_to_start_without_their_secrets(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_ACTION_SERVER_TOKEN", "BOT_RASA_TOKEN")}
    env["PYTHONPATH"] = str(ROOT)
    actions = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "bot.action_server", "--actions", "actions", "--port", "5999"],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )
    assert actions.returncode == 2 and "BOT_ACTION_SERVER_TOKEN" in actions.stderr
    rasa = subprocess.run(
        [str(RASA_PYTHON), "-m", "bot.rasa_plugins.server", "run", "--enable-api", "--port", "5998"],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )
    assert rasa.returncode == 2 and "BOT_RASA_TOKEN" in rasa.stderr


def test_the_rasa_api_url_carries_the_token_only_when_set() -> None:
    assert api_url("http://r:5005/", "/status", "") == "http://r:5005/status"
    assert api_url("http://r:5005", "/model/parse", "t0k") == "http://r:5005/model/parse?token=t0k"
    url = api_url("http://r", "/conversations/a/tracker", "t", include_events="ALL")
    assert url == "http://r/conversations/a/tracker?include_events=ALL&token=t"
    assert Settings.from_env({"BOT_RASA_TOKEN": "x"}).rasa_token == "x"
