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
