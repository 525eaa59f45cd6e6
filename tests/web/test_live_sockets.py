"""Live hand-off through the web app's WebSockets, on real PostgreSQL (the live record and
LISTEN/NOTIFY between processes) and SQLite (the embedded set-up), in front of the fake
Rasa, which records the pause/resume events the app adds to a tracker with the token.

The assistant's side of the hand-off (the action that pauses the conversation when an
agent is available) runs for real in tests/browser/test_live.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.live.store import LiveStore
from bot.web.keys import AUTH, SERVICES
from tests.web.helpers import AGENT, EVIL_ORIGIN, NO_LIMITS, FakeRasa, sign_in

HANDOFF = [
    {"text": "I'm putting you through to a person from our member services team."},
    {"custom": {"type": "live_handoff"}},
]
TOKEN = "live-tests-rasa-token"


async def next_of(ws: Any, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next message of ``kind`` on a socket (others are skipped)."""
    while True:
        data = await asyncio.wait_for(ws.receive_json(), timeout)
        if data.get("type") == kind:
            return data


async def until(ws: Any, done: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Everything a socket sends up to and including the first message ``done`` accepts."""
    seen = []
    while not seen or not done(seen[-1]):
        seen.append(await asyncio.wait_for(ws.receive_json(), timeout))
    return seen


async def agent_console(client: TestClient) -> Any:
    """An agent signed in on ``client``, connected and available: the socket."""
    await sign_in(client)
    ws = await client.ws_connect("/agent/live/ws")
    assert (await next_of(ws, "hello"))["presence"] in ("away", "available")
    await ws.send_json({"type": "presence", "status": "available"})
    assert (await next_of(ws, "presence"))["presence"] == "available"
    return ws


async def waiting_id(agent: Any) -> int:
    """The id of the first conversation in the queue, once the agent's console shows one."""
    queue = await next_of(agent, "queue")
    while not queue["items"]:
        queue = await next_of(agent, "queue")
    return queue["items"][0]["id"]


async def hand_off(client: TestClient, fake_rasa: FakeRasa) -> dict[str, Any]:
    """The member asks for a person and the assistant puts them through: the live state."""
    fake_rasa.answer = HANDOFF
    response = await client.post("/api/chat", json={"message": "/human_handoff"})
    assert response.status == 200, await response.text()
    body = await response.json()
    fake_rasa.answer = None
    return body["live"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def live_client(request, make_client, fake_rasa: FakeRasa) -> TestClient:
    """The app on SQLite or on the session's PostgreSQL database, Rasa's API behind a token."""
    fake_rasa.token = TOKEN
    overrides: dict[str, Any] = {**NO_LIMITS, "rasa_token": TOKEN}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    client = await make_client(**overrides)
    store: LiveStore = client.app[SERVICES].live
    with store.engine.begin() as connection:  # the PostgreSQL database is the session's: start empty
        for table in ("live_messages", "live_conversations", "live_agents"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
    return client


async def test_hand_off_accept_messages_both_ways_and_hand_back(live_client: TestClient, fake_rasa: FakeRasa):
    agent = await agent_console(live_client)
    live = await hand_off(live_client, fake_rasa)
    assert live == {"status": "waiting", "position": 1, "wait_seconds": None, "agent": None}  # no history yet
    queue = await next_of(agent, "queue")
    while not queue["items"]:
        queue = await next_of(agent, "queue")
    [item] = queue["items"]
    assert set(item) == {"id", "position", "waiting_seconds", "since"}  # no member data in the queue

    member = await live_client.ws_connect("/api/live/ws")
    assert (await next_of(member, "state"))["live"]["status"] == "waiting"
    await agent.send_json({"type": "accept", "id": item["id"]})
    view = await next_of(agent, "conversation")
    assert view["mine"] and view["status"] == "active"
    seen = await until(member, lambda d: d["type"] == "message")
    state = [d["live"] for d in seen if d["type"] == "state"][-1]
    assert state["status"] == "active" and state["agent"] == "Alice"
    assert seen[-1]["role"] == "system" and seen[-1]["text"] == "Alice from member services has joined the chat."

    # Member -> agent, masked, with suggestions; card numbers never reach the record.
    await member.send_json({"type": "message", "text": "My card 4111 1111 1111 1111, member id 12345678: claim?"})
    message = await next_of(agent, "message")
    while message["message"]["role"] != "member":
        message = await next_of(agent, "message")
    text = message["message"]["text"]
    assert "4111" not in text and "12345678" not in text and "claim?" in text
    suggestions = (await next_of(agent, "suggestions"))["items"]
    assert suggestions and [s["score"] for s in suggestions] == sorted((s["score"] for s in suggestions), reverse=True)
    assert {"band", "score", "title", "section", "url", "text", "insert"} <= set(suggestions[0])
    assert all(s["band"] in ("answer", "clarify", "abstain") for s in suggestions)

    # Agent -> member, cleaned like member input; typing both ways.
    await agent.send_json({"type": "typing", "id": item["id"]})
    await next_of(member, "typing")
    await agent.send_json({"type": "message", "id": item["id"], "text": "Hello\u202e\x00 there <b>!</b>"})
    said = await next_of(member, "message")
    while said["role"] != "agent":
        said = await next_of(member, "message")
    assert said["text"] == "Hello there <b>!</b>" and said["author"] == "Alice"

    # A chat message posted while live goes to the agent, never to the paused assistant.
    received = len(fake_rasa.received)
    response = await live_client.post("/api/chat", json={"message": "are you still there?"})
    assert (await response.json())["live"]["status"] == "active"
    assert len(fake_rasa.received) == received
    posted = await next_of(agent, "message")
    while posted["message"]["role"] != "member":
        posted = await next_of(agent, "message")
    assert posted["message"]["text"] == "are you still there?"

    # History (a reload) has the live exchange in order.
    history = (await (await live_client.get("/api/chat/history")).json())["messages"]
    live_turns = [(m["role"], m["text"]) for m in history if m["role"] in ("agent", "system") or "still" in m["text"]]
    assert [role for role, _ in live_turns] == ["system", "agent", "user"]

    # Hand back: Rasa is resumed through its API with the token; the member is told.
    await agent.send_json({"type": "end", "id": item["id"], "reason": "handed_back"})
    ended = await next_of(member, "state")
    assert ended["live"] is None or ended["live"]["status"] == "ended"
    for _ in range(50):
        if fake_rasa.appended:
            break
        await asyncio.sleep(0.05)
    [(_, events)] = fake_rasa.appended
    assert events[0] == {"event": "resume"}
    assert any(path.endswith("/tracker/events") and query.get("token") == TOKEN for path, query in fake_rasa.calls)
    response = await live_client.post("/api/chat", json={"message": "hello again"})
    assert "live" not in await response.json()
    assert fake_rasa.received[-1] == "hello again"

    # Asking again, the member is told how long the member accepted before waited.
    again = await hand_off(live_client, fake_rasa)
    assert again["status"] == "waiting" and isinstance(again["wait_seconds"], int), again
    await member.close()
    await agent.close()


async def test_members_are_told_the_median_wait_of_recent_accepts(live_client: TestClient, fake_rasa: FakeRasa):
    store: LiveStore = live_client.app[SERVICES].live
    now = time.time()
    # Waits of 60, 180 and 300 s in the last hour, and one of an hour five hours ago (too old to count).
    for joined, accepted in (
        (now - 1000, now - 940),
        (now - 900, now - 720),
        (now - 600, now - 300),
        (now - 21600, now - 18000),
    ):
        store.clock = lambda at=joined: at
        earlier, _ = store.enqueue(f"earlier-{joined}")
        store.clock = lambda at=accepted: at
        assert store.accept(earlier.id, "alice")
        assert store.end(earlier.id, "closed")
    store.clock = time.time
    live = await hand_off(live_client, fake_rasa)
    assert live == {"status": "waiting", "position": 1, "wait_seconds": 180, "agent": None}
    state = await (await live_client.get("/api/live/state")).json()
    assert state["live"]["wait_seconds"] == 180


async def test_two_agents_accepting_at_once_exactly_one_wins(live_client: TestClient, fake_rasa: FakeRasa):
    await hand_off(live_client, fake_rasa)
    store: LiveStore = live_client.app[SERVICES].live
    [waiting] = store.queue()
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def accept(name: str) -> None:
        barrier.wait()
        results.append(store.accept(waiting.id, name))

    threads = [threading.Thread(target=accept, args=(f"agent{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    assert store.get(waiting.id).agent in {f"agent{n}" for n in range(8)}


async def test_sockets_refuse_other_sites_and_strangers(live_client: TestClient, fake_rasa: FakeRasa):
    response = await live_client.get("/api/live/ws")  # no conversation cookie
    assert response.status == 403
    anonymous = await live_client.get("/agent/live/ws", allow_redirects=False)
    assert anonymous.status in (302, 401)
    await hand_off(live_client, fake_rasa)
    with pytest.raises(Exception) as refused:
        await live_client.ws_connect("/api/live/ws", headers={"Origin": EVIL_ORIGIN})
    assert "403" in str(refused.value)
    member = await live_client.ws_connect("/api/live/ws")
    await next_of(member, "state")
    await member.send_str("not json")
    assert (await next_of(member, "error"))["message"]
    await member.send_json({"type": "message", "text": "x" * 5000})
    assert "characters" in (await next_of(member, "error"))["message"]
    await member.close()


async def test_agent_and_member_on_two_web_processes_talk_through_postgresql(
    make_client, fake_rasa: FakeRasa, postgres_url: str
):
    settings = {**NO_LIMITS, "database_url": postgres_url}
    first, second = await make_client(**settings), await make_client(**settings)
    with first.app[SERVICES].live.engine.begin() as connection:
        for table in ("live_messages", "live_conversations", "live_agents"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
    agent = await agent_console(second)
    await hand_off(first, fake_rasa)
    member = await first.ws_connect("/api/live/ws")
    await agent.send_json({"type": "accept", "id": await waiting_id(agent)})
    joined = await next_of(member, "message")
    assert joined["text"] == "Alice from member services has joined the chat."
    await member.send_json({"type": "message", "text": "hello from process one"})
    message = await next_of(agent, "message")
    while message["message"]["role"] != "member":
        message = await next_of(agent, "message")
    assert message["message"]["text"] == "hello from process one"
    await member.close()
    await agent.close()
    assert AGENT == "alice"


async def test_an_agent_signed_in_on_one_web_process_is_signed_in_on_every_one(make_client, postgres_url: str):
    first, second = await make_client(database_url=postgres_url), await make_client(database_url=postgres_url)
    await sign_in(first)
    token = next(c.value for c in first.session.cookie_jar if c.key == "agent_session")
    second.session.cookie_jar.update_cookies({"agent_session": token})
    page = await second.get("/agent/live", allow_redirects=False)
    assert page.status == 200 and "Live chats" in await page.text()
    first.app[AUTH].sessions.delete(token)  # signing out ends it everywhere
    assert (await second.get("/agent/live", allow_redirects=False)).status == 302


async def test_the_live_chat_survives_a_web_process_restart(make_client, fake_rasa: FakeRasa, tmp_path):
    settings = {**NO_LIMITS, "database_url": f"sqlite:///{tmp_path}/restart.db"}
    before = await make_client(**settings)
    await hand_off(before, fake_rasa)
    member = await before.ws_connect("/api/live/ws")
    await next_of(member, "state")
    await member.send_json({"type": "message", "text": "hello before the restart"})
    await asyncio.sleep(0.3)
    cookies = {c.key: c.value for c in before.session.cookie_jar}
    await member.close()
    await before.close()  # the web process is gone

    after = await make_client(**settings)
    after.session.cookie_jar.update_cookies(cookies)
    state = await (await after.get("/api/live/state")).json()
    assert state["live"] == {"status": "waiting", "position": 1, "wait_seconds": None, "agent": None}
    agent = await agent_console(after)
    [waiting] = after.app[SERVICES].live.queue()
    await agent.send_json({"type": "open", "id": waiting.id})
    view = await next_of(agent, "conversation")
    assert "hello before the restart" in [t["text"] for t in view["transcript"]]
    await agent.close()


async def test_agents_and_members_are_rate_limited_and_after_closing_the_assistant_answers(
    make_client, fake_rasa: FakeRasa
):
    client = await make_client(**NO_LIMITS, live_rate_limit_per_minute=2, live_rate_limit_burst=2)
    agent = await agent_console(client)
    await hand_off(client, fake_rasa)
    member = await client.ws_connect("/api/live/ws")
    live_id = await waiting_id(agent)
    await agent.send_json({"type": "accept", "id": live_id})
    await next_of(agent, "conversation")
    for n in range(3):
        await agent.send_json({"type": "message", "id": live_id, "text": f"agent says {n}"})
    assert "very fast" in (await next_of(agent, "error"))["message"]
    for n in range(3):
        await member.send_json({"type": "message", "text": f"member says {n}"})
    assert "very fast" in (await next_of(member, "error"))["message"]

    await agent.send_json({"type": "end", "id": live_id, "reason": "closed"})
    closed = await next_of(member, "message")
    while "closed the chat" not in closed["text"]:
        closed = await next_of(member, "message")
    assert closed["role"] == "system"
    response = await client.post("/api/chat", json={"message": "anyone there?"})
    assert "live" not in await response.json() and fake_rasa.received[-1] == "anyone there?"  # the assistant again
    await member.close()
    await agent.close()


async def test_retention_deletes_a_conversations_live_chat_with_it(live_client: TestClient, fake_rasa: FakeRasa):
    from bot.privacy.retention import _live

    await hand_off(live_client, fake_rasa)
    member = await live_client.ws_connect("/api/live/ws")
    await next_of(member, "state")
    await member.send_json({"type": "message", "text": "please call me"})
    await asyncio.sleep(0.3)
    await member.close()
    store = live_client.app[SERVICES].store
    [waiting] = live_client.app[SERVICES].live.queue()
    assert _live(store).delete_conversations([waiting.conversation_id], dry_run=True) == 1
    assert _live(store).delete_conversations(["someone-else"]) == 0
    assert _live(store).delete_conversations([waiting.conversation_id]) == 1
    assert live_client.app[SERVICES].live.messages(waiting.conversation_id) == []
    assert live_client.app[SERVICES].live.queue() == []
