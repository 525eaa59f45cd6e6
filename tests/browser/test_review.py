"""The review pages in a real browser, and the whole review loop.

The web app (``python -m bot.web``) runs on copies of the documents and of the session's
index in tmp, a SQLite request store filled with a generated answer log
(bot/devtools/review_data.py) and one question the assistant abstains on, and three
accounts. Rasa is not needed (its URL is a closed port): the review pages read the
answer log. The loop: a reviewer links the abstained question to its passage in the
browser; `bot learn` (a real subprocess on the same copies) rebuilds and reports the
held-out figures; the same question is then answered from that passage. Screenshots go to
reports/ (screenshot-review-dashboard.png, screenshot-review-answer.png).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

from bot.devtools.review_data import generate
from bot.devtools.stack import PYTHON
from bot.evaluation import labelled
from bot.requests import RequestStore
from bot.retrieval import Retriever
from bot.review.store import ReviewStore
from bot.settings import ROOT, Settings
from bot.web.auth import make_entry
from tests.browser.chromium import CHROMIUM
from tests.helpers import port

REPORTS = ROOT / "reports"
PASSWORD = "review browser password"
REVIEWER, AGENT = "rita.reviewer", "alice.agent"
#: Questions the shipped assistant abstains on, each with the passage that answers it; the
#: loop takes the first one still abstained on.
ABSTAINED = [
    ("how can i see the personal data cigna international health services has on me",
     "cigna-ihs-data-protection-notice#your-individual-rights-1"),
    ("from what date is the CIHS data protection notice valid",
     "cigna-ihs-data-protection-notice#notice-availability-and-duration-1"),
    ("who approves releasing a recording of my call to isos",
     "international-sos-privacy-and-cookies#security-of-premises-and-other-physical-4"),
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def copies(tmp_path_factory, settings, retriever) -> Settings:
    """Settings on copies of the documents and the session's index, which `bot learn` may replace."""
    tmp = tmp_path_factory.mktemp("review-loop")
    shutil.copytree(settings.documents_dir, tmp / "documents")
    shutil.copytree(settings.index_dir, tmp / "index")
    return Settings.from_env(
        documents_dir=tmp / "documents", index_dir=tmp / "index", var_dir=tmp / "var",
        database_url=f"sqlite:///{tmp}/requests.db",
    )


@pytest.fixture(scope="module")
def abstained(copies: Settings) -> tuple[str, str]:
    """(question, passage): the first of ABSTAINED the assistant abstains on."""
    retriever = Retriever.from_settings(copies)
    for question, passage in ABSTAINED:
        if retriever.answer(question).band == "abstain":
            return question, passage
    pytest.fail("the assistant answers every question of ABSTAINED now: add one it abstains on")


@pytest.fixture(scope="module")
def question_id(copies: Settings, abstained: tuple[str, str]) -> int:
    """The generated log, and the abstained question (the newest answer); its id."""
    with RequestStore.from_settings(copies) as store:
        store.create_schema()
        generate(store, copies, 2000, days=21, seed=7)
        return store.record_answer("loop-conversation", abstained[0], None, 0.04, "abstain")


@pytest.fixture(scope="module")
def web(copies: Settings, question_id: int) -> Iterator[str]:
    """The web app on the copies; its base URL."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        web_port = port(8345)
        env = {
            **os.environ,
            "BOT_DOCUMENTS_DIR": str(copies.documents_dir),
            "BOT_INDEX_DIR": str(copies.index_dir),
            "BOT_VAR_DIR": str(copies.var_dir),
            "BOT_DATABASE_URL": copies.database_url,
            "BOT_AGENT_ACCOUNTS": ",".join([make_entry(REVIEWER, PASSWORD, role="reviewer"),
                                            make_entry(AGENT, PASSWORD)]),
            "BOT_RASA_URL": f"http://127.0.0.1:{closed.getsockname()[1]}",
            "BOT_ACTION_SERVER_URL": f"http://127.0.0.1:{closed.getsockname()[1]}",
        }
        log = (copies.var_dir.parent / "web.log").open("w")
        process = subprocess.Popen([str(PYTHON), "-m", "bot.web", "--port", str(web_port)], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{web_port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(f"{base}/agent/login", timeout=2)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"the web app did not start: {(copies.var_dir.parent / 'web.log').read_text()}")
                    time.sleep(0.5)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=15)
            log.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.errors = []
    opened.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: opened.errors.append(str(e)))
    yield opened
    context.close()


def sign_in(page, base: str, name: str, target: str = "/agent/review/") -> None:
    page.goto(f"{base}{target}")
    assert "/agent/login" in page.url
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click("form.stack-form button[type=submit]")
    page.wait_for_load_state()


def test_an_agent_is_refused_the_review_pages(page, web) -> None:
    sign_in(page, web, AGENT)
    assert page.locator("h1").inner_text() == "Reviewers only"
    assert page.locator("nav a", has_text="Review").count() == 0


def test_the_dashboard_draws_its_charts_under_the_strict_csp(page, web) -> None:
    sign_in(page, web, REVIEWER, "/agent/review/dashboard")
    assert page.locator("h1").inner_text() == "Review dashboard"
    charts = page.locator("figure.chart svg.chart-svg")
    assert charts.count() == 5
    bars = page.locator("svg.chart-svg rect.series-answer")
    assert bars.count() > 10 and bars.first.bounding_box()["height"] > 0
    topics = page.locator("figure.chart", has_text="Most-asked unanswered topics")
    assert topics.locator("svg.chart-svg rect").count() >= 3
    assert not page.errors, page.errors
    REPORTS.mkdir(exist_ok=True)
    page.screenshot(path=str(REPORTS / "screenshot-review-dashboard.png"), full_page=True)


def test_filters_and_grouping(page, web) -> None:
    sign_in(page, web, REVIEWER)
    page.select_option("#filter-band", "abstain")
    page.check("input[name=group]")
    page.click("form.review-filters button[type=submit]")
    page.wait_for_selector("ol.groups")
    groups = page.locator("ol.groups > li.group")
    assert groups.count() >= 3
    first = groups.first.locator(".count").inner_text()
    assert int(first.split()[0]) > 1  # reworded questions share a group
    page.goto(f"{web}/agent/review/?down=1&handoff=1")
    rows = page.locator("table.review-table tbody tr")
    assert rows.count() > 0
    assert all("handed over" in text for text in rows.all_inner_texts())
    assert not page.errors, page.errors


def test_the_whole_loop_from_an_abstained_question_to_its_answer(page, web, copies, abstained, question_id) -> None:
    question, passage = abstained

    sign_in(page, web, REVIEWER)
    page.select_option("#filter-band", "abstain")
    page.check("input[name=unreviewed]")
    page.click("form.review-filters button[type=submit]")
    page.click(f"table.review-table a[href='/agent/review/answers/{question_id}']")
    assert page.locator("#reviewed-question").inner_text() == question
    page.select_option("#passage-other", passage)
    page.screenshot(path=str(REPORTS / "screenshot-review-answer.png"), full_page=True)
    page.click("#link-passage button[type=submit]")
    page.wait_for_selector(".flash")
    assert "linked to that passage" in page.locator(".flash").inner_text()
    assert "Linked to a passage" in page.locator("ul.events").inner_text()
    assert not page.errors, page.errors

    with RequestStore.from_settings(copies) as store:
        [action] = ReviewStore(store).actions(question_id)
    assert (action.action, action.reviewer, action.passage_id) == ("passage", REVIEWER, passage)

    env = {
        **os.environ,
        "BOT_DOCUMENTS_DIR": str(copies.documents_dir),
        "BOT_INDEX_DIR": str(copies.index_dir),
        "BOT_VAR_DIR": str(copies.var_dir),
        "BOT_DATABASE_URL": copies.database_url,
    }
    stories = copies.var_dir.parent / "reviewed.yml"
    run = subprocess.run(
        [str(PYTHON), "-m", "bot.cli", "learn", "--no-reader", "--stories", str(stories)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for held_out in labelled.sets(labelled.HELD_OUT):
        assert f"| {held_out.name} |" in run.stdout  # before -> after, per held-out set
    assert "applied:" in run.stdout

    after = Retriever.from_settings(copies).answer(question)
    assert after.band == "answer" and after.best.passage.id == passage
    with RequestStore.from_settings(copies) as store:
        review = ReviewStore(store)
        assert review.actions(pending=True) == []
        assert any(e.action == "learn.applied" for e in review.audit_entries())
