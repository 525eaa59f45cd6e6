"""Conversation ids the server issues, signed so that nobody can pick someone else's.

A member's conversation id opens their transcript (history) and their bot replies
(socket.io rooms). So the id is never chosen by the client: the server issues
``<random>.<signature>``, an HMAC-SHA256 of the random part keyed by
``BOT_SESSION_SECRET`` and bound to a purpose (``"web"`` for the chat cookie,
``"socketio"`` for the socket.io channel), and accepts back only ids it signed. Ids are
logged only as :func:`pseudonym`.

Standard library only: the Rasa server imports this module.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: Hex characters of the random part and of the signature.
ID_CHARS = 32
SIGNATURE_CHARS = 32


def _signature(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
    return digest[:SIGNATURE_CHARS]


def issue_id(secret: str, purpose: str) -> str:
    """A new random conversation id with its signature."""
    value = secrets.token_hex(ID_CHARS // 2)
    return f"{value}.{_signature(secret, purpose, value)}"


def verified_id(secret: str, purpose: str, token: object) -> str | None:
    """``token`` if this server issued it for ``purpose``, else None."""
    if not secret or not isinstance(token, str) or not token.isascii() or token.count(".") != 1:
        return None
    value, signature = token.split(".")
    if len(value) != ID_CHARS or len(signature) != SIGNATURE_CHARS:
        return None
    return token if hmac.compare_digest(signature, _signature(secret, purpose, value)) else None


def pseudonym(secret: str, conversation_id: str) -> str:
    """A short stable stand-in for a conversation id in logs: lines of one conversation
    can be followed without the id (which opens its transcript) ever being written."""
    # Letters only, so that the log masking (which hides long digit runs) keeps it whole.
    digest = hmac.new(secret.encode(), f"log:{conversation_id}".encode(), hashlib.sha256).digest()
    return "c-" + "".join(chr(ord("a") + byte % 26) for byte in digest[:12])
