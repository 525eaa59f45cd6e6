"""Request bodies in, JSON errors out: one error shape, clear 4xx answers, clean text.

Everything a client sends is read here, so every entry point refuses the same bad input
the same way: bodies over the limit (413), bytes that are not UTF-8, JSON that does not
parse, is not an object or nests deeper than Python can follow (400). Text fields are
passed through :func:`clean_text`, because control characters and lone surrogates would
otherwise travel on to Rasa, the tracker store and the request database (PostgreSQL
refuses NUL characters, UTF-8 encoders refuse surrogates) and fail there instead.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.dialogue.validation import strip_control_chars
from bot.web.keys import SETTINGS


class BadRequest(Exception):
    """Input we refuse, with the HTTP status and a message for the client."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def json_error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    """``{"error": code, "message": message, ...}`` with ``status``."""
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def _too_large(limit: int) -> BadRequest:
    return BadRequest(413, "too_large", f"The request body is larger than {limit // 1024} KiB.")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; BadRequest 413 / 400 otherwise."""
    limit = request.app[SETTINGS].max_body_bytes  # aiohttp enforces it too (client_max_size)
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise _too_large(limit) from exc
    return parse_json_object(body)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """``body`` as a JSON object, or BadRequest 400 saying what is wrong with it."""
    if not body.strip():
        raise BadRequest(400, "empty_body", "The request body is empty; send a JSON object.")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequest(400, "malformed_json", "The request body is not valid UTF-8 JSON.") from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, huge integers, absurd nesting
        raise BadRequest(400, "malformed_json", "The request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise BadRequest(400, "not_an_object", "The request body must be a JSON object.")
    return data


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """A posted form; BadRequest 400 when it is not UTF-8 (aiohttp would raise from decoding)."""
    try:
        return await request.post()
    except (ValueError, UnicodeError) as exc:
        raise BadRequest(400, "malformed_form", "The form data could not be read: it is not valid UTF-8.") from exc


def string_field(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string field of a JSON body (None when optional and absent)."""
    value = data.get(name)
    if value is None:
        if required:
            raise BadRequest(400, "missing_field", f"The field '{name}' is required.")
        return None
    if not isinstance(value, str):
        raise BadRequest(400, "invalid_field", f"The field '{name}' must be a string.")
    return value


def clean_text(value: str) -> str:
    """``value`` as text people typed: no control characters, NFC, newlines as ``\\n``, trimmed.

    The same rules as the form validators (:func:`bot.dialogue.validation.strip_control_chars`):
    control, bidi-override and lone surrogate characters go, tabs and odd line breaks
    become spaces; emoji, their joiners and every script are kept (members type them).
    """
    return unicodedata.normalize("NFC", strip_control_chars(value, keep_newlines=True)).strip()


def shorten(value: object, limit: int = 40) -> str:
    """A client-supplied value for an error message: repr'd and cut, never echoed whole."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
