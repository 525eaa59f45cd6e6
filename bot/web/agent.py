"""The agent console pages: login/logout, suggested answers, the request inbox and detail.

Every page except the login form is behind the agent guard (:mod:`bot.web.security`);
every form carries the session's CSRF token. All values are HTML-escaped by the
templates (:mod:`bot.web.html`); personal data appears only on these guarded pages.
What members typed (their messages, form answers) is shown as plain text, never as
Markdown: a link a member writes must not turn into one an agent might follow. Only the
bot's own messages get bold text and links, and those only to our documents.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.dialogue.validation import MAX_MESSAGE_CHARS
from bot.requests import KINDS, STATUSES
from bot.web.api import apply_changes, check_message, list_filters, patch_fields, suggest_for
from bot.web.auth import csrf_matches, verify_password
from bot.web.html import Markup, esc, fragment, join, markdown_lite, page, render
from bot.web.jsonio import BadRequest, clean_text, read_form
from bot.web.keys import AUTH, DOCUMENTS, RASA, SERVICES
from bot.web.rasa import RasaUnavailable, transcript
from bot.web.security import (
    AGENT_KEY,
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    client_address,
    current_agent,
    safe_next,
    set_cookie,
)
from bot.web.views import KIND_LABELS, STATUS_LABELS, copy_text, due_text, human_time

log = logging.getLogger(__name__)

CURRENT = Markup(' aria-current="page"')
NOT_CURRENT = Markup("")


def agent_page(request: web.Request, title: str, body: Markup, *, section: str = "", status: int = 200) -> web.Response:
    """A page in the agent layout (header with navigation and logout)."""
    session = request[AGENT_KEY]
    review_nav = Markup("")
    if request.config_dict[AUTH].has_role(session.name, "reviewer"):
        current = CURRENT if section == "review" else NOT_CURRENT
        review_nav = fragment('<li><a href="/agent/review/"$current>Review</a></li>', current=current)
    header = render(
        "agent_header.html",
        name=session.name,
        csrf_token=session.csrf_token,
        console_current=CURRENT if section == "console" else NOT_CURRENT,
        inbox_current=CURRENT if section == "inbox" else NOT_CURRENT,
        live_current=CURRENT if section == "live" else NOT_CURRENT,
        review_nav=review_nav,
    )
    return page(
        f"{title} · Agent console",
        body,
        status=status,
        header=header,
        scripts=["/static/agent.js"],
        csrf_token=session.csrf_token,
        body_class="agent",
    )


# --------------------------------------------------------------------------- login / logout


def _login_page(request: web.Request, *, error: str = "", name: str = "", next_url: str = "/agent", status: int = 200):
    token = secrets.token_urlsafe(32)
    message = fragment('<p class="form-error" role="alert">$m</p>', m=error) if error else Markup("")
    response = page(
        "Agent sign in",
        render("login.html", csrf_token=token, next=next_url, name=name, error=message),
        status=status,
        body_class="login",
    )
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, "/agent/login")
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    """``GET /agent/login``."""
    next_url = safe_next(request.query.get("next"))
    if current_agent(request) is not None:
        raise web.HTTPFound(next_url)
    return _login_page(request, next_url=next_url)


async def login(request: web.Request) -> web.StreamResponse:
    """``POST /agent/login``: check the password (throttled), start a session."""
    form = await read_form(request)
    name = clean_text(str(form.get("name") or ""))[:64]
    password = str(form.get("password") or "")
    next_url = safe_next(str(form.get("next") or ""))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = form.get(CSRF_FIELD)
    if not expected or not csrf_matches(expected, given):
        return _login_page(
            request, error="The sign-in form expired. Please try again.", name=name, next_url=next_url, status=403
        )
    auth = request.app[AUTH]
    client = client_address(request)
    address = f"ip:{client}"
    wait = auth.retry_after(name, address)
    if wait:
        response = _login_page(
            request,
            error=f"Too many failed sign-in attempts. Please wait {max(1, round(wait / 60))} minute(s) and try again.",
            name=name,
            next_url=next_url,
            status=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    loop = asyncio.get_running_loop()
    ok = bool(name) and await loop.run_in_executor(None, verify_password, auth.accounts, name, password)
    if not ok:
        auth.failed(name, address)
        log.warning("failed agent login for %r from %s", name, client)
        if not auth.accounts:
            log.warning("no agent accounts are configured (BOT_AGENT_ACCOUNTS or var/agents.txt)")
        return _login_page(
            request, error="The account name or password is wrong.", name=name, next_url=next_url, status=401
        )
    auth.succeeded(name, address)
    auth.sessions.delete(request.cookies.get(SESSION_COOKIE))  # never reuse a session across logins
    token, _ = auth.sessions.create(name)
    log.info("agent %s signed in", name)
    response = web.HTTPSeeOther(next_url)
    set_cookie(response, request, SESSION_COOKIE, token, "/")
    clear_cookie(response, request, LOGIN_CSRF_COOKIE, "/agent/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """``POST /agent/logout`` (CSRF-checked by the guard): end the session."""
    request.app[AUTH].sessions.delete(request.cookies.get(SESSION_COOKIE))
    response = web.HTTPSeeOther("/agent/login")
    clear_cookie(response, request, SESSION_COOKIE, "/")
    raise response


# --------------------------------------------------------------------------- suggested answers


def suggestion_results(result: dict[str, Any] | None) -> Markup:
    """Server-rendered suggestions (the same markup agent.js builds from /api/suggest)."""
    if result is None:
        return Markup("")
    intent = result.get("intent")
    if intent:
        intent_html = fragment(
            '<p class="intent">Member\'s intent: <strong>$name</strong> '
            '<span class="muted">($pct% confident)</span></p>',
            name=intent["name"],
            pct=round(intent["confidence"] * 100),
        )
    else:
        intent_html = Markup('<p class="intent muted">Intent unavailable: the Rasa server did not answer.</p>')
    items = []
    for i, s in enumerate(result["suggestions"], start=1):
        items.append(
            fragment(
                '<li class="suggestion band-$band">'
                '<div class="suggestion-head"><span class="confidence">$pct% confidence · $band</span> '
                '<a href="$href" target="_blank" rel="noopener">$title › $section</a></div>'
                '<blockquote class="passage-text" id="suggestion-$i">$text</blockquote>'
                '<div class="suggestion-actions"><button type="button" class="button secondary copy" '
                'data-copy-text="$copy" aria-describedby="suggestion-$i">Copy answer</button></div></li>',
                band=s["band"],
                pct=round(s["confidence"] * 100),
                href=s["local_url"],
                title=s["title"],
                section=s["section"],
                i=i,
                text=s["text"],
                copy=copy_text(s),
            )
        )
    if not items:
        return join([intent_html, Markup('<p class="muted">No passages found.</p>')])
    return join([intent_html, fragment('<ol class="suggestions">$items</ol>', items=join(items))])


def _console(request: web.Request, *, message: str = "", result=None, error: str = "", status: int = 200):
    session = request[AGENT_KEY]
    results = suggestion_results(result)
    if error:
        results = fragment('<p class="form-error" role="alert">$e</p>', e=error)
    body = render(
        "console.html", csrf_token=session.csrf_token, max_chars=MAX_MESSAGE_CHARS, message=message, results=results
    )
    return agent_page(request, "Suggested answers", body, section="console", status=status)


async def console(request: web.Request) -> web.Response:
    """``GET /agent``: the suggestion form."""
    return _console(request)


async def console_suggest(request: web.Request) -> web.Response:
    """``POST /agent/suggest``: the suggestion form without JavaScript."""
    form = await read_form(request)
    raw = str(form.get("message") or "")
    try:
        message = check_message(raw)
    except BadRequest as exc:
        return _console(request, message=raw[:MAX_MESSAGE_CHARS], error=exc.message, status=exc.status)
    return _console(request, message=message, result=await suggest_for(request, message))


# --------------------------------------------------------------------------- inbox


def _options(values: tuple[str, ...], labels: dict[str, str], selected: str | None, any_label: str | None) -> Markup:
    options = [fragment('<option value="">$l</option>', l=any_label)] if any_label else []
    for value in values:
        sel = Markup(" selected") if value == selected else Markup("")
        options.append(fragment('<option value="$v"$sel>$l</option>', v=value, sel=sel, l=labels.get(value, value)))
    return join(options)


def _due_cell(record, now: datetime) -> Markup:
    if record.is_overdue(now):
        css = "overdue"
    elif record.status != "done" and record.days_left(now) < 3:
        css = "due-soon"
    else:
        css = ""
    return fragment(
        '<span class="due $css">$text</span><br><span class="muted">$when</span>',
        css=css,
        text=due_text(record, now),
        when=human_time(record.due_at),
    )


async def inbox(request: web.Request) -> web.Response:
    """``GET /agent/requests``: every request, filterable by kind and status."""
    kind, status, limit, offset = list_filters(request)
    records = await asyncio.to_thread(request.app[SERVICES].store.list, kind, status, limit, offset)
    now = datetime.now(UTC)
    rows = [
        fragment(
            '<tr class="row-$kind row-$status"><th scope="row"><a href="/agent/requests/$ref">$ref</a></th>'
            "<td>$kind_label</td><td><span class=\"status status-$status\">$status_label</span></td>"
            "<td>$summary</td><td>$created</td><td>$due</td></tr>",
            kind=r.kind,
            status=r.status,
            ref=r.reference,
            kind_label=KIND_LABELS.get(r.kind, r.kind),
            status_label=STATUS_LABELS.get(r.status, r.status),
            summary=r.summary,
            created=human_time(r.created_at),
            due=_due_cell(r, now),
        )
        for r in records
    ]
    if rows:
        table = fragment(
            '<div class="table-wrap"><table class="inbox"><caption>$caption</caption><thead><tr>'
            '<th scope="col">Reference</th><th scope="col">Type</th><th scope="col">Status</th>'
            '<th scope="col">Summary</th><th scope="col">Received</th><th scope="col">Deadline</th>'
            "</tr></thead><tbody>$rows</tbody></table></div>",
            caption=f"{len(rows)} request{'s' if len(rows) != 1 else ''}, newest first",
            rows=join(rows),
        )
    else:
        table = Markup('<p class="empty">No requests match these filters.</p>')
    links = []
    base = {k: v for k, v in (("kind", kind), ("status", status)) if v}
    if offset > 0:
        links.append(fragment('<a href="?$q">Newer</a>', q=urlencode({**base, "offset": max(0, offset - limit)})))
    if len(records) == limit:
        links.append(fragment('<a href="?$q">Older</a>', q=urlencode({**base, "offset": offset + limit})))
    pager = fragment('<nav class="pager" aria-label="Pages">$l</nav>', l=join(links, " ")) if links else Markup("")
    body = render(
        "inbox.html",
        kind_options=_options(KINDS, KIND_LABELS, kind, "All types"),
        status_options=_options(STATUSES, STATUS_LABELS, status, "All statuses"),
        table=table,
        pager=pager,
    )
    return agent_page(request, "Request inbox", body, section="inbox")


# --------------------------------------------------------------------------- request detail


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=1)


def _turn_text(turn: dict[str, Any], document_urls: frozenset[str]) -> Markup:
    """A member's turn as plain text; a bot turn with its bold text and links to our documents."""
    text = turn.get("text") or ""
    if turn["role"] == "user":
        return esc(text)
    return markdown_lite(text, document_urls)


def _transcript_html(turns: list[dict[str, Any]] | None, problem: str, document_urls: frozenset[str]) -> Markup:
    if turns is None:
        return fragment('<p class="muted">$p</p>', p=problem)
    if not turns:
        return Markup('<p class="muted">No messages in this conversation.</p>')
    items = []
    for turn in turns:
        when = ""
        if isinstance(turn.get("timestamp"), int | float):
            when = human_time(datetime.fromtimestamp(turn["timestamp"], UTC))
        buttons = turn.get("buttons") or []
        extra = (
            fragment('<p class="muted">Buttons: $b</p>', b=", ".join(b["title"] for b in buttons))
            if buttons
            else Markup("")
        )
        items.append(
            fragment(
                '<li class="turn $role"><span class="who">$who</span> <span class="muted">$when</span>'
                '<div class="turn-text">$text</div>$extra</li>',
                role=turn["role"],
                who="Member" if turn["role"] == "user" else "Assistant",
                when=when,
                text=_turn_text(turn, document_urls),
                extra=extra,
            )
        )
    return fragment('<ol class="transcript">$i</ol>', i=join(items))


def document_urls(request: web.Request) -> frozenset[str]:
    """The https addresses of our source documents: the only outside pages bot text may link to."""
    library = request.app.get(DOCUMENTS)
    if library is None:
        return frozenset()
    return frozenset(d.url.split("#", 1)[0] for d in library.documents.values() if d.url.startswith("https://"))


FLASH = {"status": "The status was changed.", "note": "Your note was added."}


async def request_page(request: web.Request) -> web.Response:
    """``GET /agent/requests/{ref}``: data, status, notes, history and the transcript."""
    ref = request.match_info["ref"]
    record = await asyncio.to_thread(request.app[SERVICES].store.get, ref)
    if record is None:
        body = render(
            "error.html",
            title="Request not found",
            message="There is no request with this reference.",
            href="/agent/requests",
            label="Back to the inbox",
        )
        return agent_page(request, "Request not found", body, section="inbox", status=404)
    turns, problem = None, ""
    if record.conversation_id:
        try:
            turns = transcript(await request.app[RASA].tracker_events(record.conversation_id))
        except RasaUnavailable:
            problem = "The transcript cannot be loaded right now: the Rasa server is not reachable."
    else:
        problem = "This request has no conversation."
    now = datetime.now(UTC)
    row = '<tr><th scope="row">$k</th><td>$v</td></tr>'
    data_rows = [fragment(row, k=_label(k), v=_value(v)) for k, v in record.data.items()]
    data = (
        fragment('<table class="data"><tbody>$r</tbody></table>', r=join(data_rows))
        if data_rows
        else Markup('<p class="muted">No details.</p>')
    )
    notes = (
        fragment(
            '<ul class="notes">$n</ul>',
            n=join(
                fragment(
                    '<li><div class="note-text">$t</div><span class="muted">$a · $w</span></li>',
                    t=n.text,
                    a=n.author,
                    w=human_time(n.created_at),
                )
                for n in record.notes
            ),
        )
        if record.notes
        else Markup('<p class="muted">No notes yet.</p>')
    )
    events = fragment(
        '<ul class="events">$e</ul>',
        e=join(
            fragment(
                "<li>$w · $a: $change</li>",
                w=human_time(e.at),
                a=e.author,
                change=(
                    f"{STATUS_LABELS.get(e.from_status, e.from_status)} → {STATUS_LABELS.get(e.to_status, e.to_status)}"
                    if e.from_status
                    else f"received ({STATUS_LABELS.get(e.to_status, e.to_status)})"
                ),
            )
            for e in record.events
        ),
    )
    flash_text = FLASH.get(request.query.get("done", ""))
    flash = fragment('<p class="flash" role="status">$f</p>', f=flash_text) if flash_text else Markup("")
    body = render(
        "request.html",
        flash=flash,
        kind_label=KIND_LABELS.get(record.kind, record.kind),
        reference=record.reference,
        status=record.status,
        status_label=STATUS_LABELS.get(record.status, record.status),
        created=human_time(record.created_at),
        due=join([esc(due_text(record, now)), esc(f" (by {human_time(record.due_at)})")], ""),
        summary=record.summary,
        conversation=record.conversation_id or "none",
        data=data,
        csrf_token=request[AGENT_KEY].csrf_token,
        status_options=_options(STATUSES, STATUS_LABELS, record.status, None),
        notes=notes,
        events=events,
        transcript=_transcript_html(turns, problem, document_urls(request)),
    )
    return agent_page(request, f"{record.reference}", body, section="inbox")


async def _form_change(request: web.Request, field: str) -> web.StreamResponse:
    form = await read_form(request)
    value = form.get(field)
    status, note = patch_fields({field: value if isinstance(value, str) else ""})
    record = await apply_changes(request, request.match_info["ref"], status, note)
    raise web.HTTPSeeOther(f"/agent/requests/{record.reference}?done={field}")


async def change_status(request: web.Request) -> web.StreamResponse:
    """``POST /agent/requests/{ref}/status`` (form)."""
    return await _form_change(request, "status")


async def add_note(request: web.Request) -> web.StreamResponse:
    """``POST /agent/requests/{ref}/notes`` (form)."""
    return await _form_change(request, "note")


def setup(app: web.Application) -> None:
    """Register the agent pages."""
    app.router.add_get("/agent/login", login_form, name="login_form")
    app.router.add_post("/agent/login", login, name="login")
    app.router.add_post("/agent/logout", logout, name="logout")
    app.router.add_get("/agent", console, name="console")
    app.router.add_post("/agent/suggest", console_suggest, name="console_suggest")
    app.router.add_get("/agent/requests", inbox, name="inbox")
    app.router.add_get("/agent/requests/{ref}", request_page, name="request_page")
    app.router.add_post("/agent/requests/{ref}/status", change_status, name="change_status")
    app.router.add_post("/agent/requests/{ref}/notes", add_note, name="add_note")

