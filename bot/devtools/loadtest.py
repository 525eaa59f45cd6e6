"""A bounded load test: simulated members chatting with a running stack, on loopback.

Each simulated member holds one conversation at a time and sends its turns one after
the other (it waits for each reply, as a person does, with no think time so the stack
is kept busy), then starts a new conversation. A run lasts a fixed time and stops by
itself. Every reply is checked: an HTTP error, a timeout or an empty reply is an error.

Peak memory is sampled from /proc for every process of the stack (with its children,
e.g. Sanic workers), because the question an operator asks is "how big a machine".
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
import numpy as np

#: One simulated conversation: a greeting, two questions, thanks. The questions are
#: drawn in turn from the pool the caller gives (member-style policy questions).
CONVERSATION_SHAPE = ("hi", None, None, "thanks, that helps")
#: Every turn a policy question (an action call and a retrieval on each message): the
#: hardest mix, used for the end-to-end REST figure of `make bench`.
QUESTIONS_ONLY_SHAPE = (None, None, None, None)


@dataclass
class LoadResult:
    """What one load run measured."""

    target: str
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        """Messages answered (errors not included)."""
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        """Answered messages per second over the run."""
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def error_rate(self) -> float:
        """Errors among all messages sent."""
        sent = self.messages + self.errors
        return self.errors / sent if sent else 0.0

    def percentile(self, p: float) -> float:
        """Latency percentile in ms (NaN without samples)."""
        return float(np.percentile(self.latencies_ms, p)) if self.latencies_ms else float("nan")


class MemorySampler:
    """Peak resident memory of named process trees, sampled in a background thread."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25) -> None:
        self.pids = pids
        self.interval = interval
        self.peak_mb: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree(pid: int) -> list[int]:
        out, todo = [], [pid]
        while todo:
            current = todo.pop()
            out.append(current)
            try:
                for task in os.listdir(f"/proc/{current}/task"):
                    with open(f"/proc/{current}/task/{task}/children") as fh:
                        todo.extend(int(c) for c in fh.read().split())
            except OSError:
                continue
        return out

    @staticmethod
    def _rss_mb(pid: int) -> float:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def sample(self) -> None:
        """One reading: the summed RSS of each tree; keeps the peak."""
        for name, pid in self.pids.items():
            total = sum(self._rss_mb(p) for p in self._tree(pid))
            self.peak_mb[name] = max(self.peak_mb[name], total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


async def _member(
    connector: aiohttp.BaseConnector,
    url: str,
    web: bool,
    member: int,
    questions: itertools.cycle,
    deadline: float,
    result: LoadResult,
    timeout: float,
    shape: Sequence[str | None],
) -> None:
    # The web chat keeps a member's conversation in a cookie (one jar per member; unsafe:
    # the host is an IP address); a new conversation asks the server for a fresh one.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=connector, connector_owner=False, cookie_jar=jar) as session:
        conversation = 0
        while time.monotonic() < deadline:
            conversation += 1
            sender = f"load{os.getpid()}x{member}x{conversation}x{int(time.time() * 1000) % 10**8}"
            if web:
                try:
                    async with session.post(url + "/session", timeout=aiohttp.ClientTimeout(total=timeout)):
                        pass
                except (aiohttp.ClientError, TimeoutError):
                    pass  # the first message then starts the conversation
            for turn in shape:
                if time.monotonic() >= deadline:
                    return
                text = turn or next(questions)
                body = {"sender": sender, "message": text}
                started = time.perf_counter()
                kind = ""
                try:
                    async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                        data = await response.json(content_type=None)
                        if response.status != 200:
                            kind = f"HTTP {response.status}"
                        else:
                            messages = data.get("messages") if web and isinstance(data, dict) else data
                            if not messages:
                                kind = "empty reply"
                except TimeoutError:
                    kind = "timeout"
                except (aiohttp.ClientError, ValueError) as exc:
                    kind = type(exc).__name__
                if kind:
                    result.errors += 1
                    result.error_kinds[kind] = result.error_kinds.get(kind, 0) + 1
                else:
                    result.latencies_ms.append((time.perf_counter() - started) * 1000)


async def _run(
    base_url: str,
    web: bool,
    concurrency: int,
    seconds: float,
    questions: Sequence[str],
    timeout: float,
    shape: Sequence[str | None],
) -> LoadResult:
    url = base_url.rstrip("/") + ("/api/chat" if web else "/webhooks/rest/webhook")
    result = LoadResult(target=url, concurrency=concurrency, seconds=seconds)
    connector = aiohttp.TCPConnector(limit=concurrency + 4)
    async with connector:
        started = time.monotonic()
        deadline = started + seconds
        pools = [
            itertools.cycle(questions[i % len(questions) :] + questions[: i % len(questions)])
            for i in range(concurrency)
        ]
        await asyncio.gather(
            *(_member(connector, url, web, i, pools[i], deadline, result, timeout, shape) for i in range(concurrency))
        )
        result.seconds = time.monotonic() - started  # the last replies may end after the deadline
    return result


def run_load(
    base_url: str,
    *,
    web: bool,
    concurrency: int,
    seconds: float,
    questions: Sequence[str],
    timeout: float = 30.0,
    shape: Sequence[str | None] = CONVERSATION_SHAPE,
) -> LoadResult:
    """Run ``concurrency`` simulated members for ``seconds`` against the REST channel of
    Rasa (``web=False``, ``base_url`` = Rasa or a proxy in front of it) or the web chat
    API (``web=True``). ``shape`` is one conversation's turns (None: the next question)."""
    return asyncio.run(_run(base_url, web, concurrency, seconds, list(questions), timeout, shape))
