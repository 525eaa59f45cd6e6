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
from pathlib import Path

import numpy as np

from bot.evaluation import DEFAULT_QUESTIONS, load_questions
from bot.knowledge.index import build_index
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


def run_retrieval_bench(settings: Settings, queries: int = 300) -> int:
    """Run the benchmark, print a summary and write the report."""
    questions, oos = load_questions(DEFAULT_QUESTIONS)
    pool = [q["q"] for q in questions] + oos
    sample = [pool[i % len(pool)] for i in range(queries)]

    with tempfile.TemporaryDirectory() as tmp:
        fresh = Settings.from_env(documents_dir=settings.documents_dir, index_dir=Path(tmp))
        t = time.perf_counter()
        manifest = build_index(fresh, force=True, progress=False)
        build_s = time.perf_counter() - t

    t = time.perf_counter()
    retriever = Retriever.from_settings(settings)
    load_s = time.perf_counter() - t
    embedder = retriever.index.embedder
    for q in pool[:30]:  # warm-up: lazy initialisation, caches, CPU frequency
        retriever.answer(q)

    rows = {
        "query embedding only": _percentiles(_time(embedder.encode_one, sample)),
        "search (hybrid, top 5)": _percentiles(_time(lambda q: retriever.search(q, k=5), sample)),
        "answer (search + bands + sentences)": _percentiles(_time(retriever.answer, sample)),
    }
    lines = [
        "# Retrieval benchmark",
        "",
        f"`make bench` on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch threads {__import__('torch').get_num_threads()}; {queries} queries from "
        f"tests/eval/questions.yml after 30 warm-up queries. Index: {manifest['passage_count']} passages + "
        f"{manifest['question_count']} alternate questions.",
        "",
        "| step | p50 ms | p95 ms | mean ms |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {name} | {r['p50']:.1f} | {r['p95']:.1f} | {r['mean']:.1f} |" for name, r in rows.items()],
        "",
        f"- index build from scratch (parse, chunk, embed, write): {build_s:.1f} s",
        f"- index load and verification at start-up (model already in memory): {load_s:.2f} s",
        "",
    ]
    report = settings.reports_dir / "bench-retrieval.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines), encoding="utf-8")
    for name, r in rows.items():
        print(f"{name:40} p50 {r['p50']:6.1f} ms   p95 {r['p95']:6.1f} ms")
    print(f"index build {build_s:.1f} s; report: {report}")
    return 0


def _post(url: str, body: dict, timeout: float = 60) -> tuple[float, object]:
    import json
    import urllib.request

    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as response:
        data = json.loads(response.read() or b"null")
    return (time.perf_counter() - t) * 1000, data


def run_stack_bench(settings: Settings, messages: int = 100, conversations: int = 20, turns: int = 10) -> int:
    """End-to-end REST round trip of a policy question through Rasa and the action server.

    One member: ``messages`` sequential questions. Then ``conversations`` concurrent
    members sending ``turns`` questions each. Also times NLU alone (/model/parse) and
    retrieval alone in this process, to show where the time goes. Loopback only; it
    stops by itself. Appends to reports/bench-e2e.md.
    """
    from concurrent.futures import ThreadPoolExecutor

    from bot.stack import Stack

    questions, _ = load_questions(DEFAULT_QUESTIONS)
    pool = [q["q"] for q in questions]
    retriever = Retriever.from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        env = {"BOT_DATABASE_URL": f"sqlite:///{tmp}/requests.db"}
        with Stack(rasa_port=5405, action_port=5455, web_port=None, var_dir=Path(tmp), env=env) as stack:
            hook = f"{stack.rasa_url}/webhooks/rest/webhook"
            for i in range(10):  # warm-up
                _post(hook, {"sender": f"warm-{i}", "message": pool[i]})
            single = [_post(hook, {"sender": f"one-{i}", "message": pool[i % len(pool)]})[0] for i in range(messages)]
            nlu = [_post(f"{stack.rasa_url}/model/parse", {"text": pool[i % len(pool)]})[0] for i in range(messages)]
            retrieval = _time(retriever.answer, [pool[i % len(pool)] for i in range(messages)])

            errors = 0

            def member(n: int) -> list[float]:
                nonlocal errors
                out = []
                for t in range(turns):
                    try:
                        ms, reply = _post(hook, {"sender": f"c{n}", "message": pool[(n * turns + t) % len(pool)]})
                        if not reply:
                            errors += 1
                        out.append(ms)
                    except OSError:
                        errors += 1
                return out

            started = time.perf_counter()
            with ThreadPoolExecutor(conversations) as ex:
                concurrent = [ms for lat in ex.map(member, range(conversations)) for ms in lat]
            wall = time.perf_counter() - started
    s, n, r, c = (_percentiles(x) for x in (single, nlu, retrieval, concurrent))
    rate = len(concurrent) / wall
    lines = [
        "# End-to-end benchmark (REST channel → Rasa 3.6 → action server → retriever)",
        "",
        f"`make bench` on {os.cpu_count()} cores, loopback, SQLite tracker and request store. Policy questions from "
        "tests/eval/questions.yml.",
        "",
        "| measurement | p50 ms | p95 ms |",
        "| --- | ---: | ---: |",
        f"| one member, full round trip ({messages} messages) | {s['p50']:.0f} | {s['p95']:.0f} |",
        f"| NLU alone (Rasa /model/parse) | {n['p50']:.0f} | {n['p95']:.0f} |",
        f"| retrieval alone (Retriever.answer, in process) | {r['p50']:.0f} | {r['p95']:.0f} |",
        f"| {conversations} concurrent conversations × {turns} turns | {c['p50']:.0f} | {c['p95']:.0f} |",
        "",
        f"- throughput with {conversations} concurrent conversations: **{rate:.1f} messages/s**, errors: {errors}",
        f"- share of the single-member p50: NLU {100 * n['p50'] / s['p50']:.0f}%, retrieval "
        f"{100 * r['p50'] / s['p50']:.0f}%, the rest (policies, action call, tracker store, HTTP) "
        f"{100 * max(0.0, s['p50'] - n['p50'] - r['p50']) / s['p50']:.0f}%",
        "",
    ]
    report = settings.reports_dir / "bench-e2e.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines[5:]))
    return 0 if errors == 0 else 1
