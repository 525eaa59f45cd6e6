"""The member side: the help page with the chat widget and the chat JSON endpoints.

``POST /api/chat`` relays a member's message to Rasa's REST channel and returns the
bot's messages; ``GET /api/chat/history`` replays the conversation from the Rasa tracker
(so the chat survives a page reload); ``POST /api/feedback`` records thumbs up/down;
``POST /api/chat/session`` starts a new conversation; ``GET /api/chat/texts`` gives the
widget's interface texts (:data:`WIDGET_TEXTS`) in one of the languages we answer in,
from the same gettext catalogues as the bot's own words (:mod:`bot.language.messages`).
A message may name the language the member chose in the widget's switch, and the
browser's language; they go to Rasa as the message's metadata: our actions answer in the
chosen one rather than in the detected one (:func:`bot.language.detect.language_choice`),
and a conversation starts in the chosen or else the browser's one
(:func:`bot.language.detect.start_language`).
When Rasa is down or slow, or falls silent because the action server is down, the
member gets a 502/504 JSON answer with an apology and our contact channels, quoted from
the FAQ with their source; the apology's own words are in the member's language (their
choice, else their message's), the channels stay quoted in English after a note.
Messages are cleaned (:func:`bot.web.jsonio.clean_text`) and limited in length before
they reach Rasa, and payment card data is cut from them
(:mod:`bot.privacy.cards`; the member is told); each conversation has its own rate limit
on top of the per-client one.

Conversations: the conversation id opens the member's transcript, so the browser never
chooses it. The server issues it, signed (:mod:`bot.privacy.signing`, purpose ``"web"``),
in the HttpOnly cookie :data:`CONVERSATION_COOKIE` on the first message, and every
member endpoint works on the cookie's conversation only. A ``sender`` in a request body
(pages from before the cookie sent one) is ignored; one in the history query that is
not the cookie's own conversation is refused (403). The cookie is SameSite=Strict: the
widget only sends it on same-origin fetches, which Strict allows, and no other site can
make a browser send it. Logs name a conversation only by its :func:`pseudonym`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bot.dialogue.validation import MAX_MESSAGE_CHARS
from bot.language.detect import ANSWERED_LANGUAGES, DEFAULT_LANGUAGE, detect_language
from bot.language.messages import localise, translate
from bot.live.service import ENDINGS, JOINED, NOT_SENT, REQUEUED, TOO_FAST
from bot.privacy.cards import CARD_NOTICE, redact_card_data
from bot.privacy.signing import issue_id, pseudonym, verified_id
from bot.requests import RequestStoreError
from bot.web.html import page, render
from bot.web.jsonio import BadRequest, clean_text, json_error, read_json, string_field
from bot.web.keys import RASA, RATE_LIMITS, SERVICES, SETTINGS
from bot.web.live import after_reply, live_history, live_message
from bot.web.rasa import RasaBusy, RasaClient, RasaNoReply, RasaTimeout, RasaUnavailable, transcript
from bot.web.ratelimit import too_many_requests
from bot.web.security import is_https

log = logging.getLogger(__name__)

#: The cookie that holds a member's conversation id, and the paths it is sent to (the
#: member API: pages and static files never need it).
CONVERSATION_COOKIE = "member_conversation"
CONVERSATION_COOKIE_PATH = "/api"
#: What the conversation ids of this cookie are signed for (bot.privacy.signing).
ID_PURPOSE = "web"
#: Largest id a database integer column holds (larger ones would fail in the driver).
MAX_ID = 2**63 - 1
#: Messages after which Rasa rightly says nothing (an empty reply is not a fault there).
SILENT_PAYLOADS = ("/restart", "/session_start")
#: The chat widget's own texts (member.html and chat.js), English as the catalogues'
#: msgids; "%(name)s" is filled in by the widget.
WIDGET_TEXTS = (
    "Member assistant", "Automated assistant", "Talk to a person", "Start over",
    "You are chatting with an automated assistant, not a person.",
    "It answers only from our published documents and shows the source of every answer. "
    "Please do not share medical details here.",
    "Read how we handle your data in our", "privacy notice", "Conversation", "Popular questions",
    "How do I submit a claim?", "I forgot my password", "How can I contact you?", "Make a data-protection request",
    "Leave the chat", "Member services is typing…", "The assistant is typing…", "Type your question", "Send",
    "Press Enter to send, Shift+Enter for a new line.", "Language", "Automatic",
    "You said: ", "Assistant said: ", "Suggested replies", "Source:", " (opens in a new tab)",
    "Was this answer helpful?", "Yes, this helped", "No, this did not help", "Thanks for your feedback.",
    "Sorry, your feedback could not be saved.",
    "Sorry that didn't help. You can rephrase your question, or talk to a person.", "Show the whole passage",
    "You're sending messages faster than I can answer. Please wait a moment and try again.",
    "Your message is too long.", "Please keep it under %(limit)s characters.",
    "Your message is %(length)s characters long.",
    "Sorry, I could not read that message. Please rephrase it and try again.",
    "This page cannot send messages to the assistant. Please reload it and try again.",
    "Sorry, something went wrong. Please try again.", "Please type a question first.",
    "We could not reach the assistant. Please check your connection and try again.",
    "Sorry, a new conversation could not be started. Please try again.",
    # live chat with a person (live-chat.js, and the notices of bot/live/service.py)
    "Waiting for a person from member services.", "You are number %(position)s in the queue.",
    "You are next in the queue.", "Members recently waited less than a minute.",
    "Members recently waited about a minute.", "Members recently waited about %(minutes)s minutes.",
    "You can keep typing.", "You are chatting with %(agent)s from member services.",
    "You are chatting with a person from member services.", "%(agent)s, member services", "Member services",
    " said: ", JOINED, *ENDINGS.values(), REQUEUED, TOO_FAST, NOT_SENT,
)


def _secret(request: web.Request) -> str:
    return request.app[SETTINGS].session_secret


def verified_conversation(secret: str, value: str | None) -> str | None:
    """``value`` if it is a conversation id this server issued, else None.

    Issued ids are ASCII; anything else is refused before the signature check (whose
    constant-time comparison raises TypeError for other text).
    """
    if value is None or not value.isascii():
        return None
    return verified_id(secret, ID_PURPOSE, value)


def conversation_of(request: web.Request) -> str | None:
    """The conversation id in the request's cookie, if this server issued it (else None:
    a missing, altered or foreign cookie is no conversation)."""
    return verified_conversation(_secret(request), request.cookies.get(CONVERSATION_COOKIE))


def new_conversation(request: web.Request) -> str:
    """A fresh conversation id, signed with this app's key."""
    return issue_id(_secret(request), ID_PURPOSE)


def give_conversation(request: web.Request, response: web.StreamResponse, conversation: str) -> None:
    """Put ``conversation`` in the member's cookie: HttpOnly (no script reads it),
    SameSite=Strict, Secure when the member talks HTTPS to us; it lasts the browser session."""
    response.set_cookie(
        CONVERSATION_COOKIE,
        conversation,
        path=CONVERSATION_COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=is_https(request),
    )


def log_name(request: web.Request, conversation: str) -> str:
    """How logs name a conversation: its pseudonym, never the id."""
    return pseudonym(_secret(request), conversation)


def contact_citations(request: web.Request) -> tuple[str, list[dict[str, Any]]]:
    """Our contact channels, quoted from the FAQ, as Markdown and as citations."""
    facts = request.app[SERVICES].facts
    quoted = [facts["contact_channels"], facts["phone_location"]]
    sources = list(dict.fromkeys(f.source for f in quoted))
    text = " ".join(f.text for f in quoted) + "\n" + "\n".join(sources)
    return text, [quoted[0].citation()]


#: The apology's opening (our own words) for each way the assistant could not answer;
#: our contact channels follow it, quoted from the FAQ.
APOLOGIES = {
    # Never sent to Rasa: the member only has to send it again.
    "assistant_busy": "I'm sorry, many members are chatting with me right now and your message was not sent. "
    "Please send it again in a moment, or contact us directly.",
    "assistant_timeout": "I'm sorry, the assistant is taking too long to answer right now. "
    "Please try again in a few minutes, or contact us directly.",
    "assistant_unavailable": "I'm sorry, the assistant is not available right now. "
    "Please try again in a few minutes, or contact us directly.",
}


def unavailable(
    request: web.Request,
    exc: RasaUnavailable,
    before: Sequence[dict[str, Any]] = (),
    language: str = DEFAULT_LANGUAGE,
) -> web.Response:
    """The apology a member sees when the assistant cannot answer (502, 503 or 504),
    after the messages ``before`` it, in ``language``: our own words translated, the
    contact channels quoted in English after the note saying so (:func:`localise`)."""
    log.warning("Rasa unavailable: %s", exc)
    contact, citations = contact_citations(request)
    error = "assistant_busy" if isinstance(exc, RasaBusy) else (
        "assistant_timeout" if isinstance(exc, RasaTimeout) else "assistant_unavailable"
    )
    [said] = localise([{"text": APOLOGIES[error] + "\n" + contact}], language)
    apology = said["text"]
    return json_error(
        exc.status,
        error,
        apology,
        messages=[*before, {"text": apology, "custom": {"type": "unavailable", "citations": citations}}],
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


async def no_reply(rasa: RasaClient, name: str) -> RasaNoReply:
    """The fault behind an empty reply in the conversation logged as ``name``, named
    after a look at the action server's health."""
    if await rasa.action_server_ok():
        return RasaNoReply(f"Rasa sent no reply to a message in conversation {name} (action server is up)")
    return RasaNoReply(f"Rasa sent no reply to a message in conversation {name}: the action server is down")


def chosen_language(data: dict[str, Any], field: str = "language") -> str | None:
    """The language in the body's optional ``field`` (one of :data:`ANSWERED_LANGUAGES`;
    else BadRequest), None when it is absent. ``language`` is the member's choice in the
    widget's switch (None: they left it to detection); ``start_language`` the browser's
    language, which the conversation starts in (:func:`bot.language.detect.start_language`)."""
    language = string_field(data, field, required=False)
    if not language:
        return None
    if language not in ANSWERED_LANGUAGES:
        raise BadRequest(400, "invalid_field", f"The field '{field}' must be one of {', '.join(ANSWERED_LANGUAGES)}.")
    return language


async def widget_texts(request: web.Request) -> web.Response:
    """``GET /api/chat/texts?language=fr``: the widget's texts in that language (English
    sentence -> translation; a text with no translation is left out and stays English).
    A language we do not answer in gets English (an empty table)."""
    language = request.query.get("language", DEFAULT_LANGUAGE)
    if language not in ANSWERED_LANGUAGES:
        language = DEFAULT_LANGUAGE
    texts = {} if language == DEFAULT_LANGUAGE else {t: translate(t, language) for t in WIDGET_TEXTS}
    response = web.json_response({"language": language, "texts": {k: v for k, v in texts.items() if v}})
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


async def relay(
    request: web.Request,
    conversation: str,
    message: str,
    before: list[dict[str, Any]],
    language: str | None = None,
    start: str | None = None,
) -> web.Response:
    """Send ``message`` in ``conversation`` (in the member's chosen ``language``, if they
    chose one; ``start``: the browser's language, which a new conversation starts in);
    the bot's replies after ``before`` (or the apology)."""
    wait = request.app[RATE_LIMITS].per_conversation.hit(conversation)
    if wait:
        return too_many_requests(wait, chat=True)
    rasa = request.app[RASA]
    metadata = {k: v for k, v in (("language", language), ("start_language", start)) if v}
    try:
        messages = await rasa.send(conversation, message, metadata or None)
        if not messages and not message.startswith(SILENT_PAYLOADS):
            raise await no_reply(rasa, log_name(request, conversation))
    except RasaUnavailable as exc:
        # In the member's choice, else in the language of the message they sent.
        return unavailable(request, exc, before, language or await asyncio.to_thread(detect_language, message, start))
    live = await after_reply(request, conversation, messages)
    return web.json_response({"messages": [*before, *messages], **({"live": live} if live else {})})


async def chat(request: web.Request) -> web.Response:
    """``POST /api/chat`` {message, language?, start_language?}: the bot's reply messages,
    in the cookie's conversation (``language``: the member's choice in the widget;
    ``start_language``: the browser's language; see :func:`chosen_language`).

    The first message (or one with a cookie this server did not issue) starts a new
    conversation and sets the cookie. A ``sender`` field is ignored. Card data is cut
    from the message before Rasa gets it, and the reply then begins with CARD_NOTICE.
    """
    data = await read_json(request)
    message, card_removed = redact_card_data(chat_message(string_field(data, "message")))
    language, start = chosen_language(data), chosen_language(data, "start_language")
    conversation = conversation_of(request)
    issued = conversation is None
    if conversation is None:
        conversation = new_conversation(request)
    else:
        routed = await live_message(request, conversation, message)  # with a person: not to the assistant
        if routed is not None:
            return routed
    response = await relay(request, conversation, message, [{"text": CARD_NOTICE}] if card_removed else [], language,
                           start)
    if issued:
        give_conversation(request, response, conversation)
    return response


async def new_session(request: web.Request) -> web.Response:
    """``POST /api/chat/session``: start a new conversation (the widget's "Start over").

    The cookie gets a fresh id; the old conversation can no longer be read from here.
    """
    response = web.json_response({"ok": True})
    give_conversation(request, response, new_conversation(request))
    return response


async def history(request: web.Request) -> web.Response:
    """``GET /api/chat/history``: the cookie's conversation so far, from the Rasa tracker.

    No cookie: no conversation yet, so no messages (and Rasa is not asked, which would
    create an empty conversation). A ``sender`` parameter naming any other conversation
    than the cookie's is refused.
    """
    conversation = conversation_of(request)
    asked = request.query.get("sender")
    if asked is not None and asked != conversation:
        return json_error(403, "not_your_conversation", "Only the browser that holds a conversation can read it.")
    if conversation is None:
        return web.json_response({"messages": []})
    try:
        events = await request.app[RASA].tracker_events(conversation)
    except RasaUnavailable as exc:
        return unavailable(request, exc)
    return web.json_response({"messages": await live_history(request, conversation, transcript(events))})


async def feedback(request: web.Request) -> web.Response:
    """``POST /api/feedback`` {answer_id, helpful}: thumbs up/down on one answer.

    The answer must belong to the cookie's conversation, so nobody can rate (or probe)
    other members' answers by counting ids. A ``sender`` field is ignored.
    """
    data = await read_json(request)
    conversation = conversation_of(request)
    answer_id = data.get("answer_id")
    if isinstance(answer_id, bool) or not isinstance(answer_id, int) or not 0 < answer_id <= MAX_ID:
        raise BadRequest(400, "invalid_field", "The field 'answer_id' must be a positive integer.")
    helpful = data.get("helpful")
    if not isinstance(helpful, bool):
        raise BadRequest(400, "invalid_field", "The field 'helpful' must be true or false.")
    store = request.app[SERVICES].store
    try:
        answer = await asyncio.to_thread(store.get_answer, answer_id)
        elsewhere = answer is not None and answer.conversation_id and answer.conversation_id != conversation
        if conversation is None or answer is None or elsewhere:
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
    app.router.add_post("/api/chat/session", new_session, name="chat_session")
    app.router.add_get("/api/chat/history", history, name="chat_history")
    app.router.add_get("/api/chat/texts", widget_texts, name="chat_texts")
    app.router.add_post("/api/feedback", feedback, name="feedback")
