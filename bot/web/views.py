"""Plain-data views of requests and suggestions, shared by the JSON API and the pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.requests import KINDS, RequestRecord
from bot.requests.store import LABELS
from bot.retrieval import Retriever

STATUS_LABELS = {"new": "New", "in_progress": "In progress", "done": "Done"}
KIND_LABELS = {kind: LABELS.get(kind, kind.replace("_", " ").capitalize()) for kind in KINDS}


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC (naive datetimes from SQLite are UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def human_time(moment: datetime | None) -> str:
    """``12 Mar 2025, 14:03 UTC``."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def due_text(record: RequestRecord, now: datetime | None = None) -> str:
    """How much time is left, in words: "29 days left", "due today", "overdue by 3 days"."""
    if record.status == "done":
        return "closed"
    days = record.days_left(now)
    if record.is_overdue(now):
        late = max(1, -days)
        return f"overdue by {late} day{'s' if late != 1 else ''}"
    if days <= 0:
        return "due within 24 hours"
    return f"{days} day{'s' if days != 1 else ''} left"


def request_summary(record: RequestRecord, now: datetime | None = None) -> dict[str, Any]:
    """What a list shows: no form data beyond the masked summary."""
    return {
        "reference": record.reference,
        "kind": record.kind,
        "kind_label": KIND_LABELS.get(record.kind, record.kind),
        "status": record.status,
        "created_at": iso(record.created_at),
        "due_at": iso(record.due_at),
        "days_left": record.days_left(now),
        "overdue": record.is_overdue(now),
        "due_text": due_text(record, now),
        "summary": record.summary,
        "closed_at": iso(record.closed_at),
        "note_count": len(record.notes),
    }


def request_detail(record: RequestRecord, now: datetime | None = None) -> dict[str, Any]:
    """Everything about one request, for an agent."""
    return {
        **request_summary(record, now),
        "conversation_id": record.conversation_id,
        "data": record.data,
        "notes": [{"created_at": iso(n.created_at), "author": n.author, "text": n.text} for n in record.notes],
        "events": [
            {"at": iso(e.at), "author": e.author, "from_status": e.from_status, "to_status": e.to_status}
            for e in record.events
        ],
    }


def suggestions(retriever: Retriever, message: str, k: int = 5) -> list[dict[str, Any]]:
    """The ``k`` best passages for an agent, most confident first: each with the
    confidence and band it would have as the bot's answer (Retriever.candidates, the
    same decision the chat acts on)."""
    return [
        {
            **answer.best.citation(),
            "passage_id": answer.best.passage.id,
            "confidence": round(float(answer.confidence), 4),
            "band": answer.band,
        }
        for answer in retriever.candidates(message, k)
        if answer.best
    ]


def copy_text(suggestion: dict[str, Any]) -> str:
    """What the copy button puts on the clipboard: the passage and where it comes from."""
    url = suggestion["url"] if str(suggestion["url"]).startswith(("https://", "http://")) else suggestion["local_url"]
    return f"{suggestion['text']}\n\nSource: {suggestion['title']} › {suggestion['section']} ({url})"
