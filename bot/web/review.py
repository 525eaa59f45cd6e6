"""Conversation review for reviewers: the answer log, the dashboard and the review actions.

A sub-application mounted at ``/agent/review``: the parent app's agent guard already
requires a signed-in agent (and the CSRF token on every POST) for everything under
``/agent/``; this sub-app's own middleware lets only reviewers and admins in and writes
every page view to the audit log. Review actions and exports are audited where they
happen. Questions are shown as logged: masked (bot/privacy/masking.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web

from bot.requests import AnswerRecord
from bot.review import charts
from bot.review.dashboard import per_day, totals, unanswered, usage
from bot.review.grouping import QuestionGrouper
from bot.review.store import AnswerFilters, ReviewRow, ReviewStore
from bot.web.agent import agent_page
from bot.web.html import Markup, fragment, join, render
from bot.web.jsonio import BadRequest, read_form, shorten
from bot.web.keys import AUTH, RETRIEVER_POOL, SERVICES
from bot.web.security import AGENT_KEY
from bot.web.views import human_time

log = logging.getLogger(__name__)

PREFIX = "/agent/review"
#: Questions listed per page.
PAGE_SIZE = 50
#: Questions grouped at most on one page (the newest matching ones).
GROUP_LIMIT = 2000
#: Days the dashboard covers by default.
DASHBOARD_DAYS = 30
#: Answered, but with a confidence below this, counts as a low-confidence answer.
LOW_CONFIDENCE = 0.7
BAND_LABELS = {"answer": "Answered", "clarify": "Clarified", "abstain": "Abstained"}
ACTION_LABELS = {
    "passage": "Linked to a passage",
    "out_of_scope": "Out of scope",
    "right": "Answer was right",
    "story": "Saved as a test story",
}
GROUPER = web.AppKey("review_grouper", QuestionGrouper)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def review_store(request: web.Request) -> ReviewStore:
    """The review queries on the app's request store."""
    return ReviewStore(request.config_dict[SERVICES].store)


def reviewer(request: web.Request) -> str:
    """The signed-in reviewer's account name."""
    return request[AGENT_KEY].name


async def audit(request: web.Request, action: str, target: str = "", detail: str = "") -> None:
    """Write an audit entry for the signed-in account."""
    await asyncio.to_thread(review_store(request).audit, reviewer(request), action, target, detail)


@web.middleware
async def reviewers_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reviewers and admins only (403 for agents); every page view goes to the audit log."""
    session = request.get(AGENT_KEY)
    if session is None or not request.config_dict[AUTH].has_role(session.name, "reviewer"):
        name = session.name if session else "anonymous"
        log.warning("account %s may not open the review pages", name)
        if session is None:
            raise web.HTTPForbidden()
        body = render(
            "error.html",
            title="Reviewers only",
            message="Your account may not review answers. Ask an admin for the reviewer role.",
            href="/agent",
            label="Back to the agent console",
        )
        return agent_page(request, "Reviewers only", body, status=403)
    response = await handler(request)
    if request.method == "GET" and response.status < 400:
        await audit(request, "view", request.path_qs[:255])
    return response


# --------------------------------------------------------------------------- filters


def _date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name) or ""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(400, "invalid_query", f"{name} must be a date like 2026-03-31, not {shorten(raw)}.") from None


def filters_from(request: web.Request) -> AnswerFilters:
    """The list's filters from the query string (BadRequest 400 when a value is invalid)."""
    band = request.query.get("band") or None
    if band is not None and band not in BAND_LABELS:
        raise BadRequest(400, "invalid_query", f"Unknown band {shorten(band)}; expected answer, clarify or abstain.")
    document = request.query.get("doc") or None
    documents = {p.doc_id for p in request.config_dict[SERVICES].retriever.passages}
    if document is not None and document not in documents:
        raise BadRequest(400, "invalid_query", f"Unknown document {shorten(document)}.")
    return AnswerFilters(
        band=band,
        thumbs_down=request.query.get("down") == "1",
        low_confidence_below=LOW_CONFIDENCE if request.query.get("low") == "1" else None,
        handed_over=request.query.get("handoff") == "1",
        since=_date(request, "from"),
        until=_date(request, "to"),
        document=document,
        unreviewed=request.query.get("unreviewed") == "1",
    )


def _offset(request: web.Request) -> int:
    raw = request.query.get("offset") or "0"
    if not raw.isdigit() or int(raw) > 10_000_000:
        raise BadRequest(400, "invalid_query", "offset must be a whole number.")
    return int(raw)


def _checked(request: web.Request, name: str) -> Markup:
    return Markup(" checked") if request.query.get(name) == "1" else Markup("")


def _select(name: str, options: list[tuple[str, str]], selected: str | None, any_label: str) -> Markup:
    items = [fragment('<option value="">$l</option>', l=any_label)]
    for value, label in options:
        sel = Markup(" selected") if value == selected else Markup("")
        items.append(fragment('<option value="$v"$sel>$l</option>', v=value, sel=sel, l=label))
    return fragment('<select id="filter-$n" name="$n">$o</select>', n=name, o=join(items, ""))


def _documents(request: web.Request) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for p in request.config_dict[SERVICES].retriever.passages:
        seen.setdefault(p.doc_id, p.doc_title)
    return list(seen.items())


def _sections(request: web.Request) -> dict[str, tuple[str, str]]:
    return {p.id: (p.doc_title, p.section_title) for p in request.config_dict[SERVICES].retriever.passages}


# --------------------------------------------------------------------------- the list


def _feedback(helpful: bool | None) -> str:
    return {True: "👍", False: "👎"}.get(helpful, "")


def _row(row: ReviewRow, sections: dict[str, tuple[str, str]]) -> Markup:
    a = row.answer
    cited = " › ".join(sections.get(a.passage_id, (a.passage_id, ""))) if a.passage_id else ""
    verdicts = ", ".join(ACTION_LABELS[v] for v in dict.fromkeys(row.actions))
    return fragment(
        '<tr class="band-$band"><td>$when</td><th scope="row"><a href="$prefix/answers/$id">$q</a></th>'
        '<td><span class="band-tag band-$band">$band_label</span></td><td>$pct%</td><td>$cited</td>'
        '<td><span aria-label="$fb_label">$fb</span></td><td>$handoff</td><td>$verdicts</td></tr>',
        band=a.band, when=human_time(a.created_at), prefix=PREFIX, id=a.id, q=a.question_masked,
        band_label=BAND_LABELS[a.band], pct=round(a.confidence * 100), cited=cited,
        fb=_feedback(a.helpful),
        fb_label={True: "thumbs up", False: "thumbs down"}.get(a.helpful, "no feedback"),
        handoff="handed over" if row.handed_over else "", verdicts=verdicts,
    )


def _table(rows: list[ReviewRow], sections: dict[str, tuple[str, str]], caption: str) -> Markup:
    if not rows:
        return Markup('<p class="empty">No logged answers match these filters.</p>')
    return fragment(
        '<div class="table-wrap"><table class="review-table"><caption>$caption</caption><thead><tr>'
        '<th scope="col">Asked</th><th scope="col">Question (masked)</th><th scope="col">Band</th>'
        '<th scope="col">Confidence</th><th scope="col">Cited passage</th><th scope="col">Feedback</th>'
        '<th scope="col">Person</th><th scope="col">Reviewed</th></tr></thead><tbody>$rows</tbody></table></div>',
        caption=caption, rows=join(_row(r, sections) for r in rows),
    )


async def _groups(request: web.Request, filters: AnswerFilters) -> Markup:
    store = review_store(request)
    questions = await asyncio.to_thread(store.matching_questions, filters, GROUP_LIMIT)
    loop = asyncio.get_running_loop()
    groups = await loop.run_in_executor(request.config_dict[RETRIEVER_POOL], request.app[GROUPER].group, questions)
    if not groups:
        return Markup('<p class="empty">No logged answers match these filters.</p>')
    items = []
    for g in groups[:100]:
        wordings = join(
            fragment("<li>$w <span class=\"muted\">× $n</span></li>", w=w, n=n) for w, n in g.wordings.most_common(8)
        )
        items.append(fragment(
            '<li class="group"><details><summary><strong>$label</strong> <span class="count">$n question$s'
            '</span> <a href="$prefix/answers/$first">review the latest</a></summary><ul>$wordings</ul></details></li>',
            label=g.label, n=g.size, s="" if g.size == 1 else "s", prefix=PREFIX, first=max(g.keys),
            wordings=wordings,
        ))
    return fragment(
        '<p class="muted">$n groups of similar questions among the newest $m matching.</p><ol class="groups">$i</ol>',
        n=len(groups), m=len(questions), i=join(items),
    )


async def review_list(request: web.Request) -> web.Response:
    """``GET /agent/review/``: logged answers, filtered, newest first (or grouped)."""
    filters = filters_from(request)
    offset = _offset(request)
    grouped = request.query.get("group") == "1"
    sections = _sections(request)
    if grouped:
        results = await _groups(request, filters)
        pager = Markup("")
    else:
        rows, total = await asyncio.to_thread(review_store(request).answers, filters, PAGE_SIZE, offset)
        shown = f"{offset + 1}-{offset + len(rows)} of {total}" if rows else "0"
        results = _table(rows, sections, f"Logged answers {shown}, newest first")
        query = {k: v for k, v in request.query.items() if k != "offset" and v}
        links = []
        if offset > 0:
            newer = urlencode({**query, "offset": max(0, offset - PAGE_SIZE)})
            links.append(fragment('<a href="?$q">Newer</a>', q=newer))
        if offset + PAGE_SIZE < total:
            links.append(fragment('<a href="?$q">Older</a>', q=urlencode({**query, "offset": offset + PAGE_SIZE})))
        pager = fragment('<nav class="pager" aria-label="Pages">$l</nav>', l=join(links, " ")) if links else Markup("")
    body = render(
        "review_list.html",
        prefix=PREFIX,
        band_select=_select("band", list(BAND_LABELS.items()), filters.band, "Any band"),
        doc_select=_select("doc", _documents(request), filters.document, "Any document"),
        down=_checked(request, "down"),
        low=_checked(request, "low"),
        handoff=_checked(request, "handoff"),
        unreviewed=_checked(request, "unreviewed"),
        group=_checked(request, "group"),
        since=request.query.get("from", "")[:10],
        until=request.query.get("to", "")[:10],
        low_pct=round(LOW_CONFIDENCE * 100),
        results=results,
        pager=pager,
    )
    return agent_page(request, "Review answers", body, section="review")


# --------------------------------------------------------------------------- dashboard


async def dashboard(request: web.Request) -> web.Response:
    """``GET /agent/review/dashboard``: the last 30 days in charts."""
    store = review_store(request)
    last = datetime.now(UTC).date()
    first = last - timedelta(days=DASHBOARD_DAYS - 1)
    logged = await asyncio.to_thread(store.logged, datetime.combine(first, datetime.min.time(), tzinfo=UTC))
    handed = await asyncio.to_thread(store.handed_over)
    days = per_day(logged, handed, first, last)
    labels = [d.day.strftime("%d %b") for d in days]
    volume = charts.stacked_bars(
        "Questions per day, by band",
        labels,
        [
            charts.Series("answered", "answer", [d.answered for d in days]),
            charts.Series("clarified", "clarify", [d.clarified for d in days]),
            charts.Series("abstained", "abstain", [d.abstained for d in days]),
        ],
    )
    rates = charts.lines(
        "Thumbs-down rate and hand-off rate per day",
        labels,
        [
            charts.Series("thumbs down (share of answers)", "down", [d.thumbs_down_rate for d in days]),
            charts.Series("handed to a person (share of conversations)", "handoff", [d.handoff_rate for d in days]),
        ],
    )
    loop = asyncio.get_running_loop()
    groups = await loop.run_in_executor(
        request.config_dict[RETRIEVER_POOL], request.app[GROUPER].group, unanswered(logged)
    )
    topics = charts.horizontal_bars(
        "Most-asked unanswered topics (abstained, similar questions grouped)",
        [(g.label, g.size) for g in groups[:10]],
        css="abstain",
    )
    documents, sections = usage(logged, _sections(request))
    by_document = charts.horizontal_bars("Answers per document", documents[:10])
    by_section = charts.horizontal_bars("Answers per section (top 15)", sections[:15])
    figures = totals(days)
    pending = await asyncio.to_thread(store.actions, None, pending=True)
    body = render(
        "review_dashboard.html",
        prefix=PREFIX,
        days=DASHBOARD_DAYS,
        questions=int(figures["questions"]),
        answered=int(figures["answered"]),
        clarified=int(figures["clarified"]),
        abstained=int(figures["abstained"]),
        down_rate=f"{figures['thumbs_down_rate']:.1%}",
        handoff_rate=f"{figures['handoff_rate']:.1%}",
        pending=len(pending),
        volume=volume,
        rates=rates,
        topics=topics,
        by_document=by_document,
        by_section=by_section,
    )
    return agent_page(request, "Review dashboard", body, section="review")


# --------------------------------------------------------------------------- one answer


async def _answer(request: web.Request) -> AnswerRecord:
    raw = request.match_info["id"]
    answer = None
    if raw.isdigit() and len(raw) < 12:
        answer = await asyncio.to_thread(request.config_dict[SERVICES].store.get_answer, int(raw))
    if answer is None:
        raise web.HTTPNotFound()
    return answer


def _passage_options(request: web.Request, selected: str | None) -> Markup:
    groups: dict[str, list[Markup]] = {}
    titles: dict[str, str] = {}
    for p in request.config_dict[SERVICES].retriever.passages:
        titles.setdefault(p.doc_id, p.doc_title)
        sel = Markup(" selected") if p.id == selected else Markup("")
        groups.setdefault(p.doc_id, []).append(
            fragment('<option value="$v"$sel>$s: $t</option>', v=p.id, sel=sel, s=p.section_title, t=p.text[:80])
        )
    return join(
        fragment('<optgroup label="$l">$o</optgroup>', l=titles[doc], o=join(options, ""))
        for doc, options in groups.items()
    )


FLASH = {
    "passage": "The question is linked to that passage; `bot learn` adds it as an alternate question.",
    "out_of_scope": "The question is marked out of scope; `bot learn` adds it to the out-of-scope examples.",
    "right": "The answer is marked right.",
    "story": "The conversation is saved as a test story; `bot review export` writes it to tests/story_sets/.",
}


async def answer_page(request: web.Request) -> web.Response:
    """``GET /agent/review/answers/{id}``: one logged answer, the candidate passages and the actions."""
    answer = await _answer(request)
    services = request.config_dict[SERVICES]
    store = review_store(request)
    loop = asyncio.get_running_loop()
    candidates = await loop.run_in_executor(
        request.config_dict[RETRIEVER_POOL], services.retriever.candidates, answer.question_masked, 5
    )
    actions = await asyncio.to_thread(store.actions, answer.id)
    handed = await asyncio.to_thread(store.is_handed_over, answer.conversation_id)
    conversation = (
        await asyncio.to_thread(store.conversation_answers, answer.conversation_id) if answer.conversation_id else []
    )
    sections = _sections(request)
    csrf = request[AGENT_KEY].csrf_token
    candidate_items = []
    for i, c in enumerate(candidates):
        if not c.best:
            continue
        p = c.best.passage
        checked = Markup(" checked") if i == 0 else Markup("")
        candidate_items.append(fragment(
            '<li><label><input type="radio" name="passage_id" value="$id"$checked> <strong>$title › $section</strong> '
            '<span class="muted">($pct% · $band)</span></label>'
            '<blockquote class="passage-text">$text</blockquote></li>',
            id=p.id, checked=checked, title=p.doc_title, section=p.section_title,
            pct=round(c.confidence * 100), band=c.band, text=p.text[:600],
        ))
    history = (
        fragment('<ul class="events">$i</ul>', i=join(
            fragment("<li>$w · $who: $what$extra</li>", w=human_time(a.created_at), who=a.reviewer,
                     what=ACTION_LABELS[a.action],
                     extra=f" ({a.passage_id})" if a.passage_id else (" (exported)" if a.exported_at else ""))
            for a in actions
        ))
        if actions
        else Markup('<p class="muted">Not reviewed yet.</p>')
    )
    turns = join(
        fragment('<li$cur>$q <span class="muted">($band, $pct%)</span></li>',
                 cur=Markup(' class="current"') if a.id == answer.id else Markup(""),
                 q=a.question_masked, band=BAND_LABELS[a.band], pct=round(a.confidence * 100))
        for a in conversation
    )
    flash_text = FLASH.get(request.query.get("done", ""))
    cited = " › ".join(sections.get(answer.passage_id, (answer.passage_id, ""))) if answer.passage_id else "none"
    body = render(
        "review_answer.html",
        prefix=PREFIX,
        id=answer.id,
        flash=fragment('<p class="flash" role="status">$f</p>', f=flash_text) if flash_text else Markup(""),
        question=answer.question_masked,
        asked=human_time(answer.created_at),
        band=answer.band,
        band_label=BAND_LABELS[answer.band],
        pct=round(answer.confidence * 100),
        cited=cited,
        feedback={True: "thumbs up", False: "thumbs down"}.get(answer.helpful, "none"),
        handoff="yes" if handed else "no",
        csrf_token=csrf,
        candidates=join(candidate_items) if candidate_items else Markup('<li class="muted">No passages found.</li>'),
        passage_options=_passage_options(request, None),
        history=history,
        conversation=fragment('<ol class="conversation">$t</ol>', t=turns) if conversation else Markup(
            '<p class="muted">No other questions logged in this conversation.</p>'
        ),
    )
    return agent_page(request, f"Answer {answer.id}", body, section="review")


def story_for(answer: AnswerRecord, conversation: list[AnswerRecord], verdict: str | None,
              passage_id: str | None) -> dict:
    """The conversation up to ``answer`` as a story of the story runner (bot/evaluation/stories.py).

    Every earlier question is replayed as it was asked; the reviewed one carries what the
    reviewer says should happen: cite the linked passage, abstain when out of scope, or
    cite the passage it cited when the answer was right (as logged otherwise).
    """
    steps: list[dict] = []
    for turn in conversation:
        if turn.id == answer.id:
            break
        steps.append({"user": turn.question_masked})
    last: dict = {"user": answer.question_masked}
    if verdict == "passage" and passage_id:
        last["cites"] = [{"passage": passage_id}]
    elif verdict == "out_of_scope":
        last["band"] = "abstain"
    elif verdict == "right" and answer.passage_id and answer.band == "answer":
        last["cites"] = [{"passage": answer.passage_id}]
    else:
        last["band"] = answer.band
    steps.append(last)
    return {"story": f"reviewed answer {answer.id}: {answer.question_masked[:80]}", "steps": steps}


async def add_action(request: web.Request) -> web.StreamResponse:
    """``POST /agent/review/answers/{id}/actions`` (form: action, passage_id)."""
    answer = await _answer(request)
    form = await read_form(request)
    action = str(form.get("action") or "")
    if action not in ACTION_LABELS:
        raise BadRequest(400, "invalid_form", "Choose one of the review actions.")
    store = review_store(request)
    passage_id = None
    story = None
    if action == "passage":
        passage_id = str(form.get("passage_other") or form.get("passage_id") or "")
        known = {p.id for p in request.config_dict[SERVICES].retriever.passages}
        if passage_id not in known:
            raise BadRequest(400, "invalid_form", "Choose the passage that answers the question.")
    if action == "story":
        conversation = (
            await asyncio.to_thread(store.conversation_answers, answer.conversation_id)
            if answer.conversation_id else [answer]
        )
        verdicts = [a for a in await asyncio.to_thread(store.actions, answer.id) if a.action != "story"]
        latest = verdicts[-1] if verdicts else None
        story = story_for(
            answer, conversation, latest.action if latest else None, latest.passage_id if latest else None
        )
    await asyncio.to_thread(
        store.add_action, answer, reviewer(request), action, passage_id=passage_id, story=story
    )
    await audit(request, f"review.{action}", f"answer {answer.id}", passage_id or "")
    raise web.HTTPSeeOther(f"{PREFIX}/answers/{answer.id}?done={action}")


async def audit_page(request: web.Request) -> web.Response:
    """``GET /agent/review/audit``: the newest audit entries (admins only)."""
    if not request.config_dict[AUTH].has_role(reviewer(request), "admin"):
        body = render("error.html", title="Admins only", message="Only admins may read the audit log.",
                      href=f"{PREFIX}/", label="Back to the review")
        return agent_page(request, "Admins only", body, section="review", status=403)
    entries = await asyncio.to_thread(review_store(request).audit_entries, 200)
    rows = join(
        fragment("<tr><td>$at</td><td>$actor</td><td>$action</td><td>$target</td><td>$detail</td></tr>",
                 at=human_time(e.at), actor=e.actor, action=e.action, target=e.target, detail=e.detail)
        for e in entries
    )
    body = fragment(
        '<div class="agent-page"><h1>Audit log</h1><div class="table-wrap"><table class="review-table">'
        '<caption>The newest $n entries</caption><thead><tr><th scope="col">When</th><th scope="col">Who</th>'
        '<th scope="col">What</th><th scope="col">On</th><th scope="col">Detail</th></tr></thead>'
        "<tbody>$rows</tbody></table></div></div>",
        n=len(entries), rows=rows,
    )
    return agent_page(request, "Audit log", body, section="review")


async def to_list(request: web.Request) -> web.StreamResponse:
    """``GET /agent/review``: the list lives at ``/agent/review/``."""
    raise web.HTTPFound(f"{PREFIX}/")


def create_review_app(parent: web.Application) -> web.Application:
    """The review sub-application; its grouper embeds with the parent's retriever."""
    review = web.Application(middlewares=[reviewers_only])

    def encode(texts: list[str]):  # noqa: ANN202 - numpy array
        return parent[SERVICES].retriever.index.encoder.encode(texts)

    review[GROUPER] = QuestionGrouper(encode)
    review.router.add_get("/", review_list, name="review_list")
    review.router.add_get("/dashboard", dashboard, name="review_dashboard")
    review.router.add_get("/audit", audit_page, name="review_audit")
    review.router.add_get("/answers/{id}", answer_page, name="review_answer")
    review.router.add_post("/answers/{id}/actions", add_action, name="review_action")
    return review


def setup(app: web.Application) -> None:
    """Mount the review pages at ``/agent/review/``."""
    app.router.add_get(PREFIX, to_list)
    app.add_subapp(PREFIX, create_review_app(app))
