"""The review pages under a generated answer log of 10,000 answers -> reports/bench-review.md.

The web app runs in this process on the real retriever and a fresh SQLite request store
filled by bot/devtools/review_data.py; a signed-in reviewer loads each page
:data:`RUNS` times after one untimed warm-up load (the grouped pages embed each distinct
wording once, then read it from the grouper's cache). Figures are wall-clock times of
the whole HTTP round trip as the browser would wait for the HTML.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import statistics
import tempfile
import time
from pathlib import Path

from bot.settings import Settings

ANSWERS = 10_000
RUNS = 20
#: The target the review page must meet with ANSWERS logged answers.
TARGET_SECONDS = 1.0
PAGES = (
    ("answer log, newest first", "/agent/review/"),
    ("abstained, not reviewed yet", "/agent/review/?band=abstain&unreviewed=1"),
    ("thumbs down, handed to a person", "/agent/review/?down=1&handoff=1"),
    ("one document, a date range", "/agent/review/?doc=cigna-health-benefits-member-faq&from=2000-01-01"),
    ("abstained, similar questions grouped", "/agent/review/?band=abstain&group=1"),
    ("dashboard (30 days, five charts)", "/agent/review/dashboard"),
)
REVIEWER = "bench.reviewer"
PASSWORD = "bench reviewer password"


async def _measure(settings: Settings, folder: Path) -> tuple[list[tuple[str, str, float, float, float]], float]:
    from aiohttp import ClientSession, CookieJar
    from aiohttp.test_utils import TestServer

    from bot.devtools.review_data import generate
    from bot.requests import RequestStore
    from bot.retrieval import Retriever
    from bot.services import Services
    from bot.web import create_app
    from bot.web.auth import make_entry

    web_settings = dataclasses.replace(
        settings,
        database_url=f"sqlite:///{folder}/review-bench.db",
        var_dir=folder / "var",
        agent_accounts=make_entry(REVIEWER, PASSWORD, role="reviewer"),
        session_secret="review-bench",
        rate_limit_per_minute=0,
    )
    store = RequestStore.from_settings(web_settings)
    store.create_schema()
    started = time.perf_counter()
    generate(store, web_settings, ANSWERS)
    generated = time.perf_counter() - started
    services = Services.assemble(web_settings, Retriever.from_settings(web_settings), store)
    server = TestServer(create_app(web_settings, services=services))
    await server.start_server()
    results = []
    try:
        # unsafe: the jar keeps cookies of an IP-address host (the test server's 127.0.0.1)
        async with ClientSession(base_url=str(server.make_url("/")), cookie_jar=CookieJar(unsafe=True)) as client:
            form = await (await client.get("/agent/login")).text()
            token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            await client.post("/agent/login", data={"name": REVIEWER, "password": PASSWORD, "csrf_token": token,
                                                    "next": "/agent/review/"})
            for label, path in PAGES:
                first = time.perf_counter()
                response = await client.get(path, allow_redirects=False)
                html = await response.text()
                if response.status != 200 or "Signed in as" not in html:
                    raise RuntimeError(f"{path} answered {response.status}, not the review page")
                first = time.perf_counter() - first
                times = []
                for _ in range(RUNS):
                    t = time.perf_counter()
                    await (await client.get(path, allow_redirects=False)).read()
                    times.append(time.perf_counter() - t)
                times.sort()
                results.append((label, path, first, statistics.median(times), times[int(0.95 * (len(times) - 1))]))
    finally:
        await server.close()
        store.close()
    return results, generated


def run_review_bench(settings: Settings) -> int:
    """Measure and write reports/bench-review.md; 1 when a page misses the target."""
    with tempfile.TemporaryDirectory(prefix="review-bench-") as tmp:
        results, generated = asyncio.run(_measure(settings, Path(tmp)))
    slow = [label for label, _, _, median, _ in results if median >= TARGET_SECONDS]
    lines = [
        "# Review pages with 10,000 logged answers",
        "",
        f"`bot bench` (bot/devtools/review_bench.py): {ANSWERS:,} generated answers "
        f"(bot/devtools/review_data.py, written in {generated:.1f} s) in a SQLite request store; the web app in "
        f"process on the real retriever; a signed-in reviewer loads each page once untimed, then {RUNS} times. "
        f"Target: under {TARGET_SECONDS:.0f} s.",
        "",
        "| page | first load (s) | median (s) | p95 (s) |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {label} (`{path}`) | {first:.3f} | {median:.3f} | {p95:.3f} |"
              for label, path, first, median, p95 in results]
    cold = [label for label, _, first, _, _ in results if first >= TARGET_SECONDS]
    lines += [
        "",
        "Every page meets the target (median)." if not slow else f"Over the target: {', '.join(slow)}.",
        f"First load over the target (nothing cached yet): {', '.join(cold)}." if cold else "",
        "",
    ]
    target = settings.reports_dir / "bench-review.md"
    target.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(f"-> {target}")
    return 1 if slow else 0
