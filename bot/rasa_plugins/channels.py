"""Rasa's REST and socket.io channels with our input checks in front.

This module runs inside the Rasa server (``.venv-rasa``, Python 3.10): credentials.yml
names these classes, and Rasa imports them with the repository root on PYTHONPATH (as
it does bot.privacy.logmask). It may import only Rasa, Sanic, the standard library and our
standard-library-only modules (``bot.settings``, ``bot.dialogue.validation``,
``bot.privacy.cards``, ``bot.privacy.signing``).

Why: the stock channels hand anything to the agent. A JSON body that is not an object,
or a message that is not a string, ends in a 500 with a traceback in the log; a
message of a few megabytes runs through the NLU pipeline (character n-grams) for
minutes while every other conversation waits. Here the body shape is checked first
(400 with a reason); a message over MAX_MESSAGE_CHARS gets the same reply the action
server gives (the limit stated) and an empty one a prompt, without reaching the pipeline
(which would otherwise guess an intent for an empty text). The size of a
request body as a whole is capped by Sanic (SANIC_REQUEST_MAX_SIZE, set by bot/devtools/stack.py).

Payment card numbers, their expiry and security codes are cut from every message here,
before the tracker, the NLU or any log sees them (bot/privacy/cards.py), and the member
is asked not to share them.

Being the module Rasa loads first, it also installs bot.rasa_plugins.speedups (Rasa-only too).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint
from sanic.exceptions import SanicException
from sanic.request import Request

from bot.dialogue.validation import MAX_MESSAGE_CHARS, too_long_reply
from bot.privacy.cards import CARD_NOTICE, redact_card_data
from bot.privacy.signing import issue_id, verified_id
from bot.rasa_plugins.speedups import install_speedups
from bot.settings import Settings

logger = logging.getLogger(__name__)
install_speedups()

#: Longest conversation id accepted (ours are 16-64 characters; Rasa's own are UUIDs).
MAX_SENDER_CHARS = 128

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class BadChannelInput(SanicException):
    """A 400 whose message says what was wrong with the request (no traceback logged)."""

    status_code = 400
    quiet = True


#: The reply to a message with no text in it (the NLU pipeline would guess an intent).
EMPTY_REPLY = (
    "Your message was empty. What can I help you with? You can ask about claims, logging in, "
    "guarantees of payment, contacting us or your personal data."
)


def guard(on_new_message: OnNewMessage) -> OnNewMessage:
    """Answer empty and over-long messages at the channel; pass every other message on,
    without payment card data."""

    async def guarded(message: UserMessage) -> Any:
        text = message.text
        if text is None or (isinstance(text, str) and not text.strip()):
            await message.output_channel.send_text_message(message.sender_id, EMPTY_REPLY)
            return None
        if isinstance(text, str) and len(text) > MAX_MESSAGE_CHARS:
            logger.info("message of %d characters answered at the channel (limit %d)", len(text), MAX_MESSAGE_CHARS)
            await message.output_channel.send_text_message(message.sender_id, too_long_reply(len(text)))
            return None
        if isinstance(text, str):
            message.text, removed = redact_card_data(text)
            if removed:
                await message.output_channel.send_text_message(message.sender_id, CARD_NOTICE)
        return await on_new_message(message)

    return guarded


def _body(request: Request) -> dict[str, Any]:
    body = request.json  # Sanic itself answers invalid JSON with a 400 ("Failed when parsing body as json")
    if not isinstance(body, dict):
        raise BadChannelInput("The request body must be a JSON object with 'sender' and 'message'.")
    return body


class GuardedRestInput(RestInput):
    """Rasa's REST channel (same URL, /webhooks/rest/webhook) with the checks above."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    async def _extract_sender(self, req: Request) -> str | None:
        sender = _body(req).get("sender")
        if sender is not None and (not isinstance(sender, str) or not 0 < len(sender) <= MAX_SENDER_CHARS):
            raise BadChannelInput(f"'sender' must be a string of 1 to {MAX_SENDER_CHARS} characters.")
        return sender

    def _extract_message(self, req: Request) -> str | None:
        message = _body(req).get("message")
        if message is not None and not isinstance(message, str):
            raise BadChannelInput("'message' must be a string.")
        return message

    def _extract_input_channel(self, req: Request) -> str:
        channel = _body(req).get("input_channel")
        return channel if isinstance(channel, str) and channel else self.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = _body(request).get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadChannelInput("'metadata' must be a JSON object.")
        return metadata

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        return super().blueprint(guard(on_new_message))


class PlainSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output without the custom payloads only our own web chat reads.

    Rasa 3.6 emits a custom payload as keyword arguments of ``emit`` (a TypeError with
    ours, which has a "type" key), losing the rest of the turn: the answer's buttons and
    the saving of the turn. Socket.io widgets such as rasa-webchat cannot render our
    payload anyway; everything they need (the answer and its source link) is in the text.
    """

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        return None


class GuardedSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel with the checks above.

    A socket.io event carries whatever the client emitted; the stock handler assumes a
    dict and raises inside python-socketio otherwise. Such events are dropped with a
    log line (there is no HTTP status to return), and a message that is not a string
    gets a reply asking for text. The session handler is replaced too: the stock one
    never joins the client to its session's room with the python-socketio Rasa 3.6
    installs, so no reply ever reached a socket.io client.

    Sessions belong to the client they were issued to: a session token is one this
    server signed (bot/privacy/signing.py), a ``session_request`` with any other token,
    or with one another connected client holds, gets a new session, and a message is
    taken only for the session its socket holds, so no client can read or write another
    member's conversation by sending its id. Browsers may
    connect only from the origins in ``BOT_CORS_ORIGINS`` (the web app's own setting).
    """

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def get_output_channel(self) -> PlainSocketIOOutput | None:
        return PlainSocketIOOutput(self.sio, self.bot_message_evt) if self.sio is not None else None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        guarded = guard(on_new_message)
        webhook = super().blueprint(guarded)
        sio = self.sio
        namespace = self.namespace or "/"
        settings = Settings.from_env()
        origins = [o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip()]
        # None: python-engineio admits only the server's own origin (no page is served
        # from Rasa); clients that send no Origin (not browsers) are not affected.
        sio.eio.cors_allowed_origins = origins or None
        # A client holds a session token (bot/privacy/signing.py): "<conversation>.<signature>".
        # Only the conversation part is the sender id Rasa stores and logs, so an id seen
        # in a transcript or log cannot be used to join; the token itself is a credential
        # only its client has.
        token_of: dict[str, str] = {}  # socket id -> the token it holds
        holder_of: dict[str, str] = {}  # conversation -> the socket holding it now

        def _conversation(token: str) -> str:
            return token.split(".", 1)[0]

        async def _leave(sid: str) -> None:
            token = token_of.pop(sid, None)
            if token and holder_of.get(_conversation(token)) == sid:
                holder_of.pop(_conversation(token))
                left = sio.leave_room(sid, _conversation(token), namespace=namespace)
                if inspect.isawaitable(left):
                    await left

        async def disconnect(sid: str) -> None:
            await _leave(sid)

        async def handle_message(sid: str, data: Any = None) -> None:
            if not isinstance(data, dict) or not isinstance(data.get("session_id", ""), (str, type(None))):
                logger.warning("socket.io %s event ignored: its payload is not an object", self.user_message_evt)
                return
            metadata = data.get(self.metadata_key)
            if isinstance(metadata, str):  # the stock handler json.loads a string
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = None
            data = {**data, self.metadata_key: metadata if isinstance(metadata, dict) else {}}
            if self.session_persistence:
                token = token_of.get(sid)
                if token is None or data.get("session_id") != token:
                    logger.warning("socket.io message ignored: not for the session its socket holds")
                    return
                data["session_id"] = _conversation(token)
            sender = data["session_id"] if self.session_persistence else sid
            text = data.get("message")
            if text is None:  # a widget opened without an initial payload: nothing was said
                return
            if not isinstance(text, str):
                await sio.emit(self.bot_message_evt, {"text": "Please send your message as text."}, room=sender)
                return
            output = PlainSocketIOOutput(sio, self.bot_message_evt)
            metadata = data[self.metadata_key]
            await guarded(UserMessage(text, output, sender, input_channel=self.name(), metadata=metadata))

        async def session_request(sid: str, data: Any = None) -> None:
            # Rasa 3.6 calls sio.enter_room without awaiting it, which python-socketio 5.x
            # made a coroutine: the client never joins its session's room, and with
            # session_persistence every bot reply (sent to that room) is lost.
            data = data if isinstance(data, dict) else {}
            token = verified_id(settings.session_secret, "socketio", data.get("session_id"))
            if token is None or holder_of.get(_conversation(token), sid) != sid:
                # Not one of ours, or held by another client right now: a new session.
                token = issue_id(settings.session_secret, "socketio")
            if token_of.get(sid) != token:
                await _leave(sid)
            token_of[sid] = token
            holder_of[_conversation(token)] = sid
            if self.session_persistence:
                joined = sio.enter_room(sid, _conversation(token), namespace=namespace)
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", token, room=sid, namespace=namespace)

        sio.on(self.user_message_evt, handle_message, namespace=self.namespace)
        sio.on("session_request", session_request, namespace=self.namespace)
        sio.on("disconnect", disconnect, namespace=self.namespace)
        return webhook
