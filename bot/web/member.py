"""The member side: the help page with the chat widget and the chat JSON endpoints.

``POST /api/chat`` relays a member's message to Rasa's REST channel and returns the
bot's messages; ``GET /api/chat/history`` replays a conversation from the Rasa tracker
(so the chat survives a page reload); ``POST /api/feedback`` records thumbs up/down.
When Rasa is down or slow, or falls silent because the action server is down, the
member gets a 502/504 JSON answer with an apology and our contact channels, quoted from
the FAQ with their source. Messages are cleaned (:func:`bot.web.jsonio.clean_text`) and
limited in length before they reach Rasa; each conversation has its own rate limit on
top of the per-client one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiohttp import web

from bot.dialogue.validation import MAX_MESSAGE_CHARS
from bot.requests import RequestStoreError
from bot.web.html import page, render
from bot.web.jsonio import BadRequest, clean_text, json_error, read_json, string_field
from bot.web.keys import RASA, RATE_LIMITS, SERVICES, SETTINGS
from bot.web.rasa import RasaBusy, RasaClient, RasaNoReply, RasaTimeout, RasaUnavailable, transcript
from bot.web.ratelimit import too_many_requests

log = logging.getLogger(__name__)

#: Conversation ids the widget makes (crypto.randomUUID()); long enough not to be guessed.
SENDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{15,63}", re.ASCII)
#: Largest id a database integer column holds (larger ones would fail in the driver).
MAX_ID = 2**63 - 1
#: Messages after which Rasa rightly says nothing (an empty reply is not a fault there).
SILENT_PAYLOADS = ("/restart", "/session_start")


def valid_sender(value: object) -> str:
    """The conversation id of a request, or BadRequest 400.

    ``fullmatch``: a trailing newline must not slip through as it would with ``$``.
    """
    if not isinstance(value, str) or not SENDER.fullmatch(value):
        raise BadRequest(
            400, "invalid_sender", "The field 'sender' must be a conversation id of 16-64 letters, digits, '-' or '_'."
        )
    return value


def contact_citations(request: web.Request) -> tuple[str, list[dict[str, Any]]]:
    """Our contact channels, quoted from the FAQ, as Markdown and as citations."""
    facts = request.app[SERVICES].facts
    quoted = [facts["contact_channels"], facts["phone_location"]]
    sources = list(dict.fromkeys(f.source for f in quoted))
    text = " ".join(f.text for f in quoted) + "\n" + "\n".join(sources)
    return text, [quoted[0].citation()]


def unavailable(request: web.Request, exc: RasaUnavailable) -> web.Response:
    """The apology a member sees when the assistant cannot answer (502, 503 or 504)."""
    log.warning("Rasa unavailable: %s", exc)
    contact, citations = contact_citations(request)
    if isinstance(exc, RasaBusy):
        # Never sent to Rasa: the member only has to send it again.
        error, opening = "assistant_busy", (
            "I'm sorry, many members are chatting with me right now and your message was not sent. "
            "Please send it again in a moment, or contact us directly.\n"
        )
    elif isinstance(exc, RasaTimeout):
        error, opening = "assistant_timeout", (
            "I'm sorry, the assistant is taking too long to answer right now. "
            "Please try again in a few minutes, or contact us directly.\n"
        )
    else:
        error, opening = "assistant_unavailable", (
            "I'm sorry, the assistant is not available right now. "
            "Please try again in a few minutes, or contact us directly.\n"
        )
    apology = opening + contact
    return json_error(
        exc.status,
        error,
        apology,
        messages=[{"text": apology, "custom": {"type": "unavailable", "citations": citations}}],
    )


async def member_page(request: web.Request) -> web.Response:
    """``GET /``: the member help page with the chat widget."""
    body = render("member.html", privacy_url=request.app[SETTINGS].privacy_notice_url, max_chars=MAX_MESSAGE_CHARS)
    return page("Member help", body, scripts=["/static/chat.js"], body_class="member")


def chat_message(raw: str | None) -> str:
    """A member's message as Rasa gets it: cleaned, not empty, not too long (else BadRequest)."""
    message = clean_text(raw or "")
    if not message:
        raise BadRequest(400, "empty_message", "The message is empty. Please type a question.")
    if len(message) > MAX_MESSAGE_CHARS:
        raise BadRequest(
            413,
            "message_too_long",
            f"Your message is {len(message):,} characters long. Please keep it under {MAX_MESSAGE_CHARS:,} characters "
            "and ask one thing at a time.",
            max_chars=MAX_MESSAGE_CHARS,
        )
    return message


async def no_reply(rasa: RasaClient, sender: str) -> RasaNoReply:
    """The fault behind an empty reply, named after a look at the action server's health."""
    if await rasa.action_server_ok():
        return RasaNoReply(f"Rasa sent no reply to a message in conversation {sender[:8]}… (action server is up)")
    return RasaNoReply(f"Rasa sent no reply to a message in conversation {sender[:8]}…: the action server is down")


async def chat(request: web.Request) -> web.Response:
    """``POST /api/chat`` {sender, message}: the bot's reply messages."""
    data = await read_json(request)
    sender = valid_sender(data.get("sender"))
    message = chat_message(string_field(data, "message"))
    wait = request.app[RATE_LIMITS].per_conversation.hit(sender)
    if wait:
        return too_many_requests(wait, chat=True)
    rasa = request.app[RASA]
    try:
        messages = await rasa.send(sender, message)
        if not messages and not message.startswith(SILENT_PAYLOADS):
            raise await no_reply(rasa, sender)
    except RasaUnavailable as exc:
        return unavailable(request, exc)
    return web.json_response({"sender": sender, "messages": messages})


async def history(request: web.Request) -> web.Response:
    """``GET /api/chat/history?sender=``: the conversation so far, from the Rasa tracker."""
    sender = valid_sender(request.query.get("sender"))
    try:
        events = await request.app[RASA].tracker_events(sender)
    except RasaUnavailable as exc:
        return unavailable(request, exc)
    return web.json_response({"sender": sender, "messages": transcript(events)})


async def feedback(request: web.Request) -> web.Response:
    """``POST /api/feedback`` {sender, answer_id, helpful}: thumbs up/down on one answer.

    The answer must belong to the sender's conversation, so nobody can rate (or probe)
    other members' answers by counting ids.
    """
    data = await read_json(request)
    sender = valid_sender(data.get("sender"))
    answer_id = data.get("answer_id")
    if isinstance(answer_id, bool) or not isinstance(answer_id, int) or not 0 < answer_id <= MAX_ID:
        raise BadRequest(400, "invalid_field", "The field 'answer_id' must be a positive integer.")
    helpful = data.get("helpful")
    if not isinstance(helpful, bool):
        raise BadRequest(400, "invalid_field", "The field 'helpful' must be true or false.")
    store = request.app[SERVICES].store
    try:
        answer = await asyncio.to_thread(store.get_answer, answer_id)
        if answer is None or (answer.conversation_id and answer.conversation_id != sender):
            return json_error(404, "not_found", "There is no such answer in this conversation.")
        await asyncio.to_thread(store.record_feedback, helpful=helpful, answer_id=answer_id)
    except RequestStoreError:
        log.exception("could not record feedback")
        return json_error(503, "not_saved", "Sorry, your feedback could not be saved right now.")
    return web.json_response({"ok": True, "answer_id": answer_id, "helpful": helpful})


def setup(app: web.Application) -> None:
    """Register the member routes."""
    app.router.add_get("/", member_page, name="member")
    app.router.add_post("/api/chat", chat, name="chat")
    app.router.add_get("/api/chat/history", history, name="chat_history")
    app.router.add_post("/api/feedback", feedback, name="feedback")
