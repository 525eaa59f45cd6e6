"""JSON in and out: one error shape, and request bodies read with clear 4xx answers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.web.keys import CONFIG


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


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; BadRequest 413 / 400 / 415 otherwise."""
    limit = request.app[CONFIG].max_body_bytes  # aiohttp enforces it too (client_max_size)
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(413, "too_large", f"The request body is larger than {limit // 1024} KiB.")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise BadRequest(413, "too_large", f"The request body is larger than {limit // 1024} KiB.") from exc
    if not body.strip():
        raise BadRequest(400, "empty_body", "The request body is empty; send a JSON object.")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(400, "malformed_json", "The request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise BadRequest(400, "not_an_object", "The request body must be a JSON object.")
    return data


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
