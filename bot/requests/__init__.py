"""Storage of members' requests (data rights, guarantees of payment, callbacks, handoffs).

Import from here: ``from bot.requests import RequestStore, RequestStoreError``.
"""

from bot.requests.models import BANDS, KINDS, STATUSES
from bot.requests.store import (
    DEFAULT_DUE,
    PREFIXES,
    AnswerRecord,
    EventRecord,
    NoteRecord,
    RequestNotFoundError,
    RequestRecord,
    RequestStore,
    RequestStoreError,
    generate_reference,
    normalise_reference,
)

__all__ = [
    "BANDS",
    "DEFAULT_DUE",
    "KINDS",
    "PREFIXES",
    "STATUSES",
    "AnswerRecord",
    "EventRecord",
    "NoteRecord",
    "RequestNotFoundError",
    "RequestRecord",
    "RequestStore",
    "RequestStoreError",
    "generate_reference",
    "normalise_reference",
]
