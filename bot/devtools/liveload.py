"""A load run of live hand-offs: simulated members talking to simulated agents through a
running web app (``bot bench --live``).

Agents sign in to the console, open the live WebSocket and make themselves available;
each takes conversations from the queue up to an equal share (all of them racing for the
same queue, as people do: the losers of an accept simply try the next one). Members ask
for a person through the real chat (Rasa and the action server decide that an agent is
free and pause the conversation), open their WebSocket, and once an agent has joined send
their messages one at a time, a second or so apart (not in step with each other); the
agent answers each one at once.

Delivery latency is measured in this one process, on one clock: from a member sending a
message to its agent receiving it, and from the agent sending the answer to the member
receiving it. Also measured: how long from asking for a person until someone joined.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class LiveLoadResult:
    """What one live load run measured (milliseconds)."""

    members: int
    agents: int
    messages: int
    member_to_agent_ms: list[float] = field(default_factory=list)
    agent_to_member_ms: list[float] = field(default_factory=list)
    joined_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def fail(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def delivery_ms(self) -> list[float]:
        return [*self.member_to_agent_ms, *self.agent_to_member_ms]

    @staticmethod
    def percentile(samples: list[float], p: float) -> float:
        return float(np.percentile(samples, p)) if samples else float("nan")


def _ws_url(base: str, path: str) -> str:
    return re.sub(r"^http", "ws", base.rstrip("/")) + path


async def _sign_in(session: aiohttp.ClientSession, base: str, name: str, password: str) -> None:
    async with session.get(f"{base}/agent/login") as response:
        token = TOKEN_FIELD.search(await response.text())
    if token is None:
        raise RuntimeError("no sign-in form")
    form = {"name": name, "password": password, "csrf_token": token.group(1), "next": "/agent/live"}
    async with session.post(f"{base}/agent/login", data=form, allow_redirects=False) as response:
        if response.status != 303:
            raise RuntimeError(f"agent {name} could not sign in (HTTP {response.status})")


class _Clock:
    """Send and receive times of tagged messages, shared by members and agents."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}

    def expect(self, tag: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[tag] = future
        return future

    def arrived(self, tag: str) -> None:
        future = self.waiters.pop(tag, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())


async def _agent(
    base: str, name: str, password: str, share: int, clock: _Clock, result: LiveLoadResult, done: asyncio.Event
) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # the host is an IP address
    headers = {"Origin": base.rstrip("/")}
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        await _sign_in(session, base, name, password)
        async with session.ws_connect(_ws_url(base, "/agent/live/ws"), headers=headers) as ws:
            await ws.send_json({"type": "presence", "status": "available"})
            mine: set[int] = set()
            tried: set[int] = set()
            receiving = asyncio.ensure_future(ws.receive())
            stopping = asyncio.ensure_future(done.wait())
            while True:
                finished, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping in finished:
                    receiving.cancel()
                    break
                raw = receiving.result()
                if raw.type != aiohttp.WSMsgType.TEXT:
                    break
                receiving = asyncio.ensure_future(ws.receive())
                data = raw.json()
                kind = data.get("type")
                if kind == "queue" and len(mine) < share:
                    for item in data.get("items", []):
                        if item["id"] not in tried:
                            tried.add(item["id"])
                            await ws.send_json({"type": "accept", "id": item["id"]})
                            break
                elif kind == "conversation" and data.get("mine"):
                    mine.add(data["id"])
                elif kind == "message" and data["message"]["role"] == "member":
                    text = data["message"]["text"]
                    tag = text.split()[-1]
                    clock.arrived(f"in:{tag}")
                    clock.sent[f"out:{tag}"] = time.perf_counter()
                    await ws.send_json({"type": "message", "id": data["id"], "text": f"answer to {tag}"})
                elif kind == "error" and "already taken" not in data.get("message", ""):
                    result.fail(f"agent: {data.get('message')}")
            await ws.send_json({"type": "presence", "status": "away"})


async def _member(
    base: str, number: int, messages: int, pause: float, clock: _Clock, result: LiveLoadResult, timeout: float
) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    headers = {"Origin": base.rstrip("/")}
    async with aiohttp.ClientSession(cookie_jar=jar, headers=headers) as session:
        asked = time.perf_counter()
        async with session.post(f"{base}/api/chat", json={"message": "/human_handoff"}) as response:
            body = await response.json(content_type=None)
        if not isinstance(body, dict) or not body.get("live"):
            result.fail("not put through to a person")
            return
        async with session.ws_connect(_ws_url(base, "/api/live/ws")) as ws:
            joined = asyncio.get_running_loop().create_future()

            async def read() -> None:
                async for raw in ws:
                    if raw.type != aiohttp.WSMsgType.TEXT:
                        break
                    data = raw.json()
                    live = data.get("live") if data.get("type") == "state" else None
                    if live and live.get("status") == "active" and not joined.done():
                        joined.set_result(time.perf_counter())
                    elif data.get("type") == "message" and data.get("role") == "agent":
                        clock.arrived(f"back:{data['text'].split()[-1]}")

            reader = asyncio.create_task(read())
            try:
                result.joined_ms.append((await asyncio.wait_for(joined, timeout) - asked) * 1000)
                await asyncio.sleep(random.uniform(0, pause))  # people do not type in step
                for n in range(messages):
                    tag = f"{number:02d}{n:02d}"  # digits: a word would set off the retriever's spelling repair
                    inbound, outbound = clock.expect(f"in:{tag}"), clock.expect(f"back:{tag}")
                    sent = time.perf_counter()
                    await ws.send_json({"type": "message", "text": f"question ref {tag}"})
                    arrived = await asyncio.wait_for(inbound, timeout)
                    result.member_to_agent_ms.append((arrived - sent) * 1000)
                    back = await asyncio.wait_for(outbound, timeout)
                    result.agent_to_member_ms.append((back - clock.sent[f"out:{tag}"]) * 1000)
                    await asyncio.sleep(random.uniform(0.5 * pause, 1.5 * pause))
                await ws.send_json({"type": "leave"})
            except TimeoutError:
                result.fail("timeout")
            finally:
                reader.cancel()


async def _run(
    base: str, agents: dict[str, str], members: int, messages: int, pause: float, timeout: float
) -> LiveLoadResult:
    result = LiveLoadResult(members=members, agents=len(agents), messages=messages)
    clock, done = _Clock(), asyncio.Event()
    share = -(-members // len(agents))
    agent_tasks = [
        asyncio.create_task(_agent(base, name, password, share, clock, result, done))
        for name, password in agents.items()
    ]
    await asyncio.sleep(1.0)  # the agents are signed in and available
    started = time.monotonic()
    await asyncio.gather(*(_member(base, n, messages, pause, clock, result, timeout) for n in range(members)))
    result.seconds = time.monotonic() - started
    done.set()
    outcomes: list[Any] = await asyncio.gather(*agent_tasks, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            result.fail(f"agent: {type(outcome).__name__}")
    return result


def run_live_load(
    base_url: str,
    agents: dict[str, str],
    *,
    members: int = 20,
    messages: int = 10,
    pause: float = 1.0,
    timeout: float = 60.0,
) -> LiveLoadResult:
    """``members`` live conversations with ``agents`` (name: password) on the web app at
    ``base_url``; each member sends ``messages`` messages ``pause`` seconds apart."""
    return asyncio.run(_run(base_url.rstrip("/"), agents, members, messages, pause, timeout))
