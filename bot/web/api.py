"""The agent JSON API and the health check.

Agent endpoints (``/api/suggest``, ``/api/requests...``) sit behind the agent guard in
:mod:`bot.web.security`: a session cookie for all of them, and the ``X-CSRF-Token``
header for the ones that change something. ``GET /healthz`` is public and answers 200
whenever this process can serve, listing each component as ok or error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from bot.dialogue.validation import MAX_MESSAGE_CHARS
from bot.requests import KINDS, STATUSES, RequestNotFoundError, RequestRecord, RequestStoreError
from bot.web.jsonio import BadRequest, clean_text, json_error, read_json, shorten, string_field
from bot.web.keys import RASA, RETRIEVER_POOL, SERVICES
from bot.web.rasa import RasaUnavailable, transcript
from bot.web.security import AGENT_KEY
from bot.web.views import request_detail, request_summary, suggestions

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 10_000
MAX_LIMIT = 500


async def suggest_for(request: web.Request, message: str) -> dict[str, Any]:
    """Intent (from Rasa, None when it is down) and the best passages, computed concurrently."""
    retriever = request.app[SERVICES].retriever
    loop = asyncio.get_running_loop()
    intent, found = await asyncio.gather(
        request.app[RASA].parse(message),
        loop.run_in_executor(request.app[RETRIEVER_POOL], suggestions, retriever, message),
    )
    return {"intent": intent, "suggestions": found}


def check_message(message: str | None) -> str:
    """A member's message pasted by an agent: cleaned, non-empty and not too long."""
    message = clean_text(message or "")
    if not message:
        raise BadRequest(400, "empty_message", "Paste the member's message first.")
    if len(message) > MAX_MESSAGE_CHARS:
        raise BadRequest(413, "message_too_long", f"The message is longer than {MAX_MESSAGE_CHARS:,} characters.")
    return message


async def api_suggest(request: web.Request) -> web.Response:
    """``POST /api/suggest`` {message}: {intent, suggestions}."""
    data = await read_json(request)
    message = check_message(string_field(data, "message"))
    return web.json_response(await suggest_for(request, message))


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(400, "invalid_query", f"'{name}' must be a whole number.") from None
    if not low <= value <= high:
        raise BadRequest(400, "invalid_query", f"'{name}' must be between {low} and {high}.")
    return value


def list_filters(request: web.Request) -> tuple[str | None, str | None, int, int]:
    """kind, status, limit and offset from the query string (BadRequest 400 when invalid)."""
    kind = request.query.get("kind") or None
    status = request.query.get("status") or None
    if kind is not None and kind not in KINDS:
        raise BadRequest(400, "invalid_query", f"Unknown kind {shorten(kind)}; expected one of {', '.join(KINDS)}.")
    if status is not None and status not in STATUSES:
        raise BadRequest(
            400, "invalid_query", f"Unknown status {shorten(status)}; expected one of {', '.join(STATUSES)}."
        )
    limit = _int_query(request, "limit", 50, 1, MAX_LIMIT)
    offset = _int_query(request, "offset", 0, 0, 10_000_000)
    return kind, status, limit, offset


async def api_requests(request: web.Request) -> web.Response:
    """``GET /api/requests?kind&status&limit&offset``: requests newest first."""
    kind, status, limit, offset = list_filters(request)
    try:
        records = await asyncio.to_thread(request.app[SERVICES].store.list, kind, status, limit, offset)
    except RequestStoreError:
        log.exception("listing requests failed")
        return json_error(503, "database_unavailable", "The request database is not available right now.")
    return web.json_response(
        {"requests": [request_summary(r) for r in records], "limit": limit, "offset": offset, "count": len(records)}
    )


async def load_record(request: web.Request, reference: str) -> RequestRecord:
    """The request with this reference (BadRequest 404 when there is none, 503 when the
    database cannot be read)."""
    try:
        record = await asyncio.to_thread(request.app[SERVICES].store.get, reference)
    except RequestStoreError:
        log.exception("loading a request failed")
        raise BadRequest(503, "database_unavailable", "The request database is not available right now.") from None
    if record is None:
        raise BadRequest(404, "not_found", "There is no request with this reference.")
    return record


async def _record_or_404(request: web.Request) -> RequestRecord:
    return await load_record(request, request.match_info["ref"])


async def api_request(request: web.Request) -> web.Response:
    """``GET /api/requests/{ref}``: one request with its data, notes and history."""
    return web.json_response({"request": request_detail(await _record_or_404(request))})


def patch_fields(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """(status, note) of a PATCH body, validated."""
    unknown = set(data) - {"status", "note"}
    if unknown:
        names = ", ".join(shorten(name, 30) for name in sorted(unknown)[:5])
        raise BadRequest(400, "unknown_field", f"Unknown field(s): {names}; use status and note.")
    status = string_field(data, "status", required=False)
    note = string_field(data, "note", required=False)
    if status is None and note is None:
        raise BadRequest(400, "missing_field", "Give a new 'status', a 'note', or both.")
    if status is not None and status not in STATUSES:
        raise BadRequest(
            400, "invalid_status", f"Unknown status {shorten(status)}; expected one of {', '.join(STATUSES)}."
        )
    if note is not None:
        note = clean_text(note)
        if not note:
            raise BadRequest(400, "empty_note", "The note is empty.")
        if len(note) > MAX_NOTE_CHARS:
            raise BadRequest(413, "note_too_long", f"A note may have at most {MAX_NOTE_CHARS:,} characters.")
    return status, note


async def apply_changes(
    request: web.Request, reference: str, status: str | None, note: str | None
) -> RequestRecord:
    """Change status and/or add a note as the signed-in agent; the updated record.

    A failure to write is "not saved" (503); once written, the record is read back like
    any other (:func:`load_record`), so a failed read does not claim the change was lost.
    """
    store = request.app[SERVICES].store
    author = request[AGENT_KEY].name
    try:
        if status is not None:
            await asyncio.to_thread(store.update_status, reference, status, author)
        if note is not None:
            await asyncio.to_thread(store.add_note, reference, author, note)
    except RequestNotFoundError:
        raise BadRequest(404, "not_found", "There is no request with this reference.") from None
    except RequestStoreError:
        log.exception("updating request failed")
        raise BadRequest(503, "not_saved", "The change could not be saved; please try again.") from None
    return await load_record(request, reference)


async def api_patch_request(request: web.Request) -> web.Response:
    """``PATCH /api/requests/{ref}`` {status?, note?} (agent session and X-CSRF-Token)."""
    data = await read_json(request)
    status, note = patch_fields(data)
    record = await apply_changes(request, request.match_info["ref"], status, note)
    return web.json_response({"request": request_detail(record)})


async def api_transcript(request: web.Request) -> web.Response:
    """``GET /api/requests/{ref}/transcript``: the member's conversation from the Rasa tracker."""
    record = await _record_or_404(request)
    if not record.conversation_id:
        return web.json_response({"reference": record.reference, "conversation_id": None, "messages": []})
    try:
        events = await request.app[RASA].tracker_events(record.conversation_id)
    except RasaUnavailable as exc:
        return json_error(exc.status, "rasa_unavailable", "The conversation cannot be loaded: Rasa is not reachable.")
    return web.json_response(
        {"reference": record.reference, "conversation_id": record.conversation_id, "messages": transcript(events)}
    )


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: 200 while this app can serve; each component ok or error."""
    services = request.app[SERVICES]
    remote, database = await asyncio.gather(
        request.app[RASA].health(), asyncio.to_thread(services.store.ping)
    )
    components = {
        "web": "ok",
        "rasa": "ok" if remote["rasa"] else "error",
        "action_server": "ok" if remote["action_server"] else "error",
        "index": "ok" if services.retriever is not None and len(services.retriever.passages) > 0 else "error",
        "database": "ok" if database else "error",
    }
    overall = "ok" if all(v == "ok" for v in components.values()) else "degraded"
    return web.json_response({"status": overall, **components})


def setup(app: web.Application) -> None:
    """Register the API routes."""
    app.router.add_post("/api/suggest", api_suggest, name="api_suggest")
    app.router.add_get("/api/requests", api_requests, name="api_requests")
    app.router.add_get("/api/requests/{ref}", api_request, name="api_request")
    app.router.add_patch("/api/requests/{ref}", api_patch_request, name="api_patch_request")
    app.router.add_get("/api/requests/{ref}/transcript", api_transcript, name="api_transcript")
    app.router.add_get("/healthz", healthz, name="healthz")
