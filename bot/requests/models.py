"""ORM tables of the request store (SQLAlchemy 2.x, portable between SQLite and PostgreSQL).

Only :mod:`bot.requests.store` uses these classes; everything outside the package gets
plain dataclasses, so no caller ever holds a session-bound object or triggers a lazy
load after the session is gone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

KINDS = ("data_rights", "guarantee_of_payment", "callback", "handoff")
STATUSES = ("new", "in_progress", "done")
BANDS = ("answer", "clarify", "abstain")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (UTC).

    SQLite has no time zone type and would hand back naive datetimes; converting to UTC
    on the way in and tagging UTC on the way out gives both back ends the same API and
    keeps comparisons in SQL correct (all stored values share one zone). Naive input is
    taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL allows indexing form fields later; plain JSON text elsewhere.
JSONData = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base holding the store's metadata (create_schema creates all of it)."""


class Request(Base):
    """One request a member submitted through a form (data rights, guarantee, callback, handoff)."""

    __tablename__ = "requests"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="ck_requests_kind"),
        CheckConstraint(_in("status", STATUSES), name="ck_requests_status"),
        Index("ix_requests_kind_status_created", "kind", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="new")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    # When the request was last set to done; retention counts from here, not from creation.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    conversation_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    data: Mapped[dict] = mapped_column(JSONData, nullable=False)
    summary: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # Keyed hashes of the member's identifiers, so erasure finds every request without
    # scanning JSON: member_key from the member id (or the email when there is none),
    # email_key from the email, so either identifier finds the request.
    member_key: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    email_key: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)

    notes: Mapped[list[RequestNote]] = relationship(
        back_populates="request", cascade="all, delete-orphan", passive_deletes=True, order_by="RequestNote.id"
    )
    events: Mapped[list[RequestEvent]] = relationship(
        back_populates="request", cascade="all, delete-orphan", passive_deletes=True, order_by="RequestEvent.id"
    )


class RequestNote(Base):
    """An agent's note on a request; deleted with the request."""

    __tablename__ = "request_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    author: Mapped[str] = mapped_column(String(100), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)

    request: Mapped[Request] = relationship(back_populates="notes")


class RequestEvent(Base):
    """A status change (who, from, to, when): the audit trail regulators ask for."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    author: Mapped[str] = mapped_column(String(100), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16), nullable=False)

    request: Mapped[Request] = relationship(back_populates="events")


class Answer(Base):
    """One answer the bot gave, with the masked question, for quality analytics and feedback."""

    __tablename__ = "answers"
    __table_args__ = (CheckConstraint(_in("band", BANDS), name="ck_answers_band"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    question_masked: Mapped[str] = mapped_column(Text, nullable=False)
    passage_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    confidence: Mapped[float] = mapped_column(Float, nullable=False)
    band: Mapped[str] = mapped_column(String(16), nullable=False)
    helpful: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


#: What a reviewer can say about a logged answer (bot/review): the passage that answers
#: it, that our documents do not answer it, that the answer was right, or that its
#: conversation becomes a test story.
REVIEW_ACTIONS = ("passage", "out_of_scope", "right", "story")


class ReviewAction(Base):
    """A reviewer's verdict on a logged answer, with who and when; exported into the data
    files the index and calibration read (``bot review export``), then marked exported.

    The masked question and the conversation id are copied from the answer: the export
    needs the wording after retention has deleted the answer, and erasure finds the
    action by its conversation.
    """

    __tablename__ = "review_actions"
    __table_args__ = (
        CheckConstraint(_in("action", REVIEW_ACTIONS), name="ck_review_actions_action"),
        Index("ix_review_actions_answer", "answer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    conversation_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    reviewer: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    question_masked: Mapped[str] = mapped_column(Text, nullable=False)
    passage_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    story: Mapped[dict | None] = mapped_column(JSONData, nullable=True)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEntry(Base):
    """Who viewed, changed or exported what, and when (review pages, account changes, exports).

    ``target`` names the object (an answer id, an account name, a file), never a member's data.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    target: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
