"""Review queries over the answer log, review actions and the audit log.

A :class:`ReviewStore` works on an open :class:`bot.requests.RequestStore` (same
database, same transactions), so the review tables are created, retained and erased with
the rest of the store. Callers get plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update

from bot.requests.models import BANDS, REVIEW_ACTIONS, Answer, AuditEntry, Request, ReviewAction
from bot.requests.store import AnswerRecord, RequestStore, _check_author, _clean_str, _utc

#: Request kinds that hand a conversation to a person.
HANDOFF_KINDS = ("handoff", "callback")
#: Most rows one page lists.
MAX_PAGE = 200
_MAX_DETAIL = 1000


@dataclass(frozen=True)
class AnswerFilters:
    """Which logged answers a review page shows (every field optional)."""

    band: str | None = None
    thumbs_down: bool = False
    low_confidence_below: float | None = None  # answered, but with a confidence below this
    handed_over: bool = False
    since: date | None = None
    until: date | None = None  # inclusive
    document: str | None = None
    unreviewed: bool = False

    def __post_init__(self) -> None:
        if self.band is not None and self.band not in BANDS:
            raise ValueError(f"unknown band {self.band!r}")


@dataclass(frozen=True)
class ReviewRow:
    """A logged answer on a review page: whether a person took over, and what reviewers said."""

    answer: AnswerRecord
    handed_over: bool
    actions: tuple[str, ...]


@dataclass(frozen=True)
class ActionRecord:
    """A stored review action."""

    id: int
    answer_id: int | None
    conversation_id: str | None
    created_at: datetime
    reviewer: str
    action: str
    question_masked: str
    passage_id: str | None
    story: dict | None
    exported_at: datetime | None


@dataclass(frozen=True)
class AuditRecord:
    """One audit log line."""

    at: datetime
    actor: str
    action: str
    target: str
    detail: str


@dataclass(frozen=True)
class LoggedAnswer:
    """The columns the dashboard counts."""

    created_at: datetime
    band: str
    helpful: bool | None
    passage_id: str | None
    conversation_id: str | None
    question_masked: str


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class ReviewStore:
    """Review actions, audit entries and answer-log queries on a request store's database."""

    def __init__(self, store: RequestStore) -> None:
        self.store = store

    # ----------------------------------------------------------------- audit log

    def audit(self, actor: str, action: str, target: str = "", detail: str = "", now: datetime | None = None) -> None:
        """Record who did what to which object, and when."""
        entry = AuditEntry(
            at=_utc(now),
            actor=_check_author(actor),
            action=_clean_str(action, keep_newlines=False)[:32],
            target=_clean_str(target, keep_newlines=False)[:255],
            detail=_clean_str(detail)[:_MAX_DETAIL],
        )
        with self.store._transaction("audit") as session:
            session.add(entry)

    def audit_entries(self, limit: int = 100, actor: str | None = None) -> list[AuditRecord]:
        """The newest audit entries first."""
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(min(limit, 1000))
        if actor is not None:
            query = query.where(AuditEntry.actor == actor)
        with self.store._transaction("audit_entries") as session:
            return [AuditRecord(e.at, e.actor, e.action, e.target, e.detail) for e in session.scalars(query)]

    # ----------------------------------------------------------------- answer log

    @staticmethod
    def _handoff_conversations() -> Any:
        return select(Request.conversation_id).where(
            Request.kind.in_(HANDOFF_KINDS), Request.conversation_id.is_not(None)
        )

    def _conditions(self, filters: AnswerFilters) -> list[Any]:
        conditions: list[Any] = []
        if filters.band:
            conditions.append(Answer.band == filters.band)
        if filters.thumbs_down:
            conditions.append(Answer.helpful.is_(False))
        if filters.low_confidence_below is not None:
            conditions.append((Answer.band == "answer") & (Answer.confidence < filters.low_confidence_below))
        if filters.handed_over:
            conditions.append(Answer.conversation_id.in_(self._handoff_conversations()))
        if filters.since:
            conditions.append(Answer.created_at >= _day_start(filters.since))
        if filters.until:
            conditions.append(Answer.created_at < _day_start(filters.until + timedelta(days=1)))
        if filters.document:
            conditions.append(Answer.passage_id.like(filters.document.replace("%", "").replace("_", "\\_") + "#%",
                                                     escape="\\"))
        if filters.unreviewed:
            conditions.append(~Answer.id.in_(select(ReviewAction.answer_id).where(ReviewAction.answer_id.is_not(None))))
        return conditions

    def answers(self, filters: AnswerFilters, limit: int = 50, offset: int = 0) -> tuple[list[ReviewRow], int]:
        """Logged answers matching ``filters``, newest first, and how many match in all."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        conditions = self._conditions(filters)
        query = (
            select(Answer).where(*conditions).order_by(Answer.created_at.desc(), Answer.id.desc())
            .limit(min(limit, MAX_PAGE)).offset(offset)
        )
        with self.store._transaction("review answers") as session:
            total = session.scalar(select(func.count()).select_from(Answer).where(*conditions)) or 0
            answers = [self.store._answer(a) for a in session.scalars(query)]
            ids = [a.id for a in answers]
            conversations = {a.conversation_id for a in answers if a.conversation_id}
            handed = set(
                session.scalars(
                    self._handoff_conversations().where(Request.conversation_id.in_(conversations))
                ).all()
            ) if conversations else set()
            verdicts: dict[int, list[str]] = {}
            if ids:
                for answer_id, action in session.execute(
                    select(ReviewAction.answer_id, ReviewAction.action)
                    .where(ReviewAction.answer_id.in_(ids)).order_by(ReviewAction.id)
                ):
                    verdicts.setdefault(answer_id, []).append(action)
        rows = [ReviewRow(a, a.conversation_id in handed, tuple(verdicts.get(a.id, ()))) for a in answers]
        return rows, total

    def matching_questions(self, filters: AnswerFilters, limit: int = 2000) -> list[tuple[int, str]]:
        """(answer id, masked question) of the newest ``limit`` matching answers, for grouping."""
        query = (
            select(Answer.id, Answer.question_masked).where(*self._conditions(filters))
            .order_by(Answer.created_at.desc(), Answer.id.desc()).limit(limit)
        )
        with self.store._transaction("review questions") as session:
            return [(row.id, row.question_masked) for row in session.execute(query)]

    def logged(self, since: datetime | None = None) -> list[LoggedAnswer]:
        """The answer log's counted columns since ``since`` (all when None), oldest first."""
        query = select(
            Answer.created_at, Answer.band, Answer.helpful, Answer.passage_id, Answer.conversation_id,
            Answer.question_masked,
        ).order_by(Answer.created_at)
        if since is not None:
            query = query.where(Answer.created_at >= since)
        with self.store._transaction("review log") as session:
            return [LoggedAnswer(*row) for row in session.execute(query)]

    def handed_over(self) -> set[str]:
        """Conversation ids that led to a hand-off or a callback request."""
        with self.store._transaction("handed over") as session:
            return set(session.scalars(self._handoff_conversations()).all())

    def is_handed_over(self, conversation_id: str | None) -> bool:
        """Whether this conversation led to a hand-off or a callback request."""
        if not conversation_id:
            return False
        with self.store._transaction("handed over") as session:
            query = self._handoff_conversations().where(Request.conversation_id == conversation_id).limit(1)
            return session.scalar(query) is not None

    def conversation_answers(self, conversation_id: str) -> list[AnswerRecord]:
        """Every logged answer of a conversation, oldest first (the questions of a test story)."""
        query = select(Answer).where(Answer.conversation_id == conversation_id).order_by(Answer.created_at, Answer.id)
        with self.store._transaction("conversation answers") as session:
            return [self.store._answer(a) for a in session.scalars(query.limit(200))]

    # ----------------------------------------------------------------- review actions

    def add_action(
        self,
        answer: AnswerRecord,
        reviewer: str,
        action: str,
        *,
        passage_id: str | None = None,
        story: dict | None = None,
        now: datetime | None = None,
    ) -> ActionRecord:
        """Store a reviewer's verdict on ``answer`` (with who and when)."""
        if action not in REVIEW_ACTIONS:
            raise ValueError(f"unknown review action {action!r}; expected one of {REVIEW_ACTIONS}")
        if action == "passage" and not passage_id:
            raise ValueError("linking a question to a passage needs the passage")
        row = ReviewAction(
            answer_id=answer.id,
            conversation_id=answer.conversation_id,
            created_at=_utc(now),
            reviewer=_check_author(reviewer),
            action=action,
            question_masked=answer.question_masked,
            passage_id=passage_id[:255] if passage_id else None,
            story=story,
        )
        with self.store._transaction("add review action") as session:
            session.add(row)
            session.flush()
            return self._action(row)

    @staticmethod
    def _action(row: ReviewAction) -> ActionRecord:
        return ActionRecord(
            row.id, row.answer_id, row.conversation_id, row.created_at, row.reviewer, row.action,
            row.question_masked, row.passage_id, dict(row.story) if row.story else None, row.exported_at,
        )

    def actions(self, answer_id: int | None = None, *, pending: bool = False) -> list[ActionRecord]:
        """Review actions oldest first: of one answer, and/or only those not exported yet."""
        query = select(ReviewAction).order_by(ReviewAction.created_at, ReviewAction.id)
        if answer_id is not None:
            query = query.where(ReviewAction.answer_id == answer_id)
        if pending:
            query = query.where(ReviewAction.exported_at.is_(None))
        with self.store._transaction("review actions") as session:
            return [self._action(r) for r in session.scalars(query)]

    def mark_exported(self, ids: Sequence[int], now: datetime | None = None) -> int:
        """Mark actions as written into the data files; returns how many were marked."""
        if not ids:
            return 0
        with self.store._transaction("mark exported") as session:
            result = session.execute(
                update(ReviewAction).where(ReviewAction.id.in_(list(ids))).values(exported_at=_utc(now))
            )
            return result.rowcount
