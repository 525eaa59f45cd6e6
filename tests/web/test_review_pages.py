"""The review pages (bot/web/review.py) through aiohttp's test client: roles, filters,
grouping, the dashboard, review actions and the audit log, on a real SQLite store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient

from bot.review.store import ReviewStore
from bot.web.auth import make_entry
from bot.web.keys import SERVICES
from tests.web.conftest import MakeClient
from tests.web.helpers import AGENT, MARKUP, PASSWORD, SENDER, login, parse

REVIEWER = "rita"
ADMIN = "adam"
OTHER = "cccccccc-dddd-eeee-ffff-000000000000"
CLAIM_PASSAGE = "cigna-health-benefits-member-faq#general-information-2"


@pytest.fixture(scope="module")
def accounts() -> str:
    """alice (agent, an entry without a role), rita (reviewer) and adam (admin)."""
    return ",".join([
        make_entry(AGENT, PASSWORD),
        make_entry(REVIEWER, PASSWORD, role="reviewer"),
        make_entry(ADMIN, PASSWORD, role="admin"),
    ])


@pytest.fixture
async def review_client(make_client: MakeClient, accounts: str) -> TestClient:
    """The app with three accounts and a small answer log: two abstentions asked alike,
    an answer with a thumbs down in a conversation handed to a person, and markup."""
    client = await make_client(agent_accounts=accounts, rate_limit_per_minute=0, chat_rate_limit_per_minute=0)
    store = client.app[SERVICES].store
    now = datetime.now(UTC)
    store.record_answer(OTHER, "is acupuncture covered by my plan", None, 0.12, "abstain", now=now - timedelta(hours=3))
    store.record_answer(OTHER, "Is acupuncture covered by my plan?", None, 0.1, "abstain", now=now - timedelta(hours=2))
    store.record_answer(OTHER, "does my plan cover acupuncture treatment", None, 0.2, "abstain",
                        now=now - timedelta(hours=1))
    answered = store.record_answer(SENDER, "how can I contact you, my email is jane@example.com", CLAIM_PASSAGE,
                                   0.62, "answer", now=now - timedelta(days=2))
    store.record_feedback(helpful=False, answer_id=answered)
    store.record_answer(SENDER, MARKUP, None, 0.45, "clarify", now=now - timedelta(days=1))
    store.submit("handoff", {"topic": "claims", "email": "jane@example.com"}, conversation_id=SENDER)
    return client


async def sign_in_as(client: TestClient, name: str) -> str:
    response = await login(client, name=name)
    assert response.status == 303, await response.text()
    return parse(await (await client.get("/agent")).text()).meta["csrf-token"]


async def test_an_agent_may_not_review_and_sees_no_review_link(review_client: TestClient) -> None:
    await sign_in_as(review_client, AGENT)
    console = await (await review_client.get("/agent")).text()
    assert "/agent/review/" not in console
    for path in ("/agent/review/", "/agent/review/dashboard", "/agent/review/answers/1"):
        response = await review_client.get(path)
        assert response.status == 403, path
        assert "Reviewers only" in await response.text()


async def test_anonymous_visitors_are_sent_to_the_login_page(review_client: TestClient) -> None:
    response = await review_client.get("/agent/review/dashboard", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/agent/login?next=/agent/review/dashboard")
    response = await review_client.post("/agent/review/answers/1/actions", data={"action": "right"},
                                        allow_redirects=False)
    assert response.status == 302


async def test_the_list_shows_masked_questions_and_filters_them(review_client: TestClient) -> None:
    await sign_in_as(review_client, REVIEWER)
    console = await (await review_client.get("/agent")).text()
    assert 'href="/agent/review/"' in console
    page = await (await review_client.get("/agent/review")).text()
    assert "Logged answers 1-5 of 5" in page
    assert "jane@example.com" not in page and "how can I contact you" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    abstained = await (await review_client.get("/agent/review/?band=abstain")).text()
    assert "of 3" in abstained and "contact you" not in abstained
    down = await (await review_client.get("/agent/review/?down=1")).text()
    assert "of 1" in down and "contact you" in down and "handed over" in down
    handed = await (await review_client.get("/agent/review/?handoff=1")).text()
    assert "of 2" in handed
    low = await (await review_client.get("/agent/review/?low=1")).text()
    assert "of 1" in low
    today = datetime.now(UTC).date()
    recent = await (await review_client.get(f"/agent/review/?from={today - timedelta(days=1)}")).text()
    assert "contact you" not in recent
    by_doc = await (await review_client.get("/agent/review/?doc=cigna-health-benefits-member-faq")).text()
    assert "of 1" in by_doc


async def test_bad_filters_get_a_clear_400(review_client: TestClient) -> None:
    await sign_in_as(review_client, REVIEWER)
    for query in ("band=maybe", "from=yesterday", "doc=../../etc", "offset=-1"):
        response = await review_client.get(f"/agent/review/?{query}")
        assert response.status == 400, query
        assert "Traceback" not in await response.text()
    assert (await review_client.get("/agent/review/answers/99999")).status == 404
    assert (await review_client.get("/agent/review/answers/abc")).status == 404


async def test_similar_questions_are_grouped_with_the_index_encoder(review_client: TestClient) -> None:
    await sign_in_as(review_client, REVIEWER)
    page = await (await review_client.get("/agent/review/?band=abstain&group=1")).text()
    groups = re.findall(r'<li class="group">.*?</li>\s*</ul>', page, re.S)
    assert len(groups) == 1, page
    assert "3 questions" in groups[0]


async def test_the_dashboard_draws_its_charts_as_inline_svg(review_client: TestClient) -> None:
    await sign_in_as(review_client, REVIEWER)
    response = await review_client.get("/agent/review/dashboard")
    assert response.status == 200
    page = await response.text()
    assert page.count("<svg viewBox") == 5
    assert "&lt;rect" not in page and "&lt;line" not in page  # drawn, not shown as text
    assert page.count('<rect class="series-abstain"') >= 2 and '<polyline class="line series-down"' in page
    assert "Most-asked unanswered topics" in page and "is acupuncture covered by my plan" in page
    assert re.search(r"<dt>Questions</dt><dd>5</dd>", page)
    assert "<script" not in page.split("<main", 1)[1]
    assert "Answers per document" in page and "Cigna Health Benefits Member Help" in page


async def test_review_actions_are_stored_with_who_and_when_and_audited(review_client: TestClient) -> None:
    csrf = await sign_in_as(review_client, REVIEWER)
    store = review_client.app[SERVICES].store
    abstained = store.list_answers(OTHER)[0]
    page = await (await review_client.get(f"/agent/review/answers/{abstained.id}")).text()
    assert 'name="passage_id"' in page and "Not reviewed yet" in page
    response = await review_client.post(
        f"/agent/review/answers/{abstained.id}/actions",
        data={"csrf_token": csrf, "action": "passage", "passage_id": CLAIM_PASSAGE},
        allow_redirects=False,
    )
    assert response.status == 303
    no_csrf = await review_client.post(f"/agent/review/answers/{abstained.id}/actions", data={"action": "right"})
    assert no_csrf.status == 403
    bad = await review_client.post(
        f"/agent/review/answers/{abstained.id}/actions",
        data={"csrf_token": csrf, "action": "passage", "passage_id": "no-such#passage"},
    )
    assert bad.status == 400
    response = await review_client.post(
        f"/agent/review/answers/{abstained.id}/actions", data={"csrf_token": csrf, "action": "story"},
        allow_redirects=False,
    )
    assert response.status == 303
    actions = ReviewStore(store).actions(abstained.id)
    assert [(a.action, a.reviewer) for a in actions] == [("passage", REVIEWER), ("story", REVIEWER)]
    assert actions[0].passage_id == CLAIM_PASSAGE
    story = actions[1].story
    assert [s["user"] for s in story["steps"]] == [
        "is acupuncture covered by my plan",
        "Is acupuncture covered by my plan?",
        "does my plan cover acupuncture treatment",
    ]
    assert story["steps"][-1]["cites"] == [{"passage": CLAIM_PASSAGE}]
    audit = ReviewStore(store).audit_entries()
    assert ("review.passage", f"answer {abstained.id}") in [(e.action, e.target) for e in audit]
    assert any(e.action == "view" and e.target == f"/agent/review/answers/{abstained.id}" for e in audit)
    assert all(e.actor == REVIEWER for e in audit)
    reviewed = await (await review_client.get("/agent/review/?unreviewed=1")).text()
    assert "of 4" in reviewed


async def test_only_admins_read_the_audit_log(review_client: TestClient) -> None:
    await sign_in_as(review_client, REVIEWER)
    assert (await review_client.get("/agent/review/audit")).status == 403
    await review_client.post("/agent/logout", data={"csrf_token": parse(
        await (await review_client.get("/agent")).text()).meta["csrf-token"]})
    await sign_in_as(review_client, ADMIN)
    await review_client.get("/agent/review/dashboard")
    page = await (await review_client.get("/agent/review/audit")).text()
    assert "/agent/review/dashboard" in page and ADMIN in page
