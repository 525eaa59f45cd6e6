"""The request store: members' form submissions, agents' notes and the bot's answer log.

Design points, each because a member or a regulator depends on it:

* ``submit`` writes the request and its first audit event in one transaction and
  returns only after the commit; any failure raises :class:`RequestStoreError` so the
  bot can tell the member the request was *not* saved instead of giving them a
  reference that does not exist.
* References (``DR-7K3F-9QXZ``) are random Crockford base32, read out over the phone
  without ambiguity, unguessable (no enumeration of other members' requests) and
  retried on the rare unique-constraint collision.
* Every request carries keyed hashes of the member's email and member id, so an
  erasure request (GDPR art. 17) finds all of that member's requests with an index
  lookup instead of a scan through JSON, and the hash does not itself reveal the
  identifier.
* The answer log keeps only the *masked* question (:func:`bot.privacy.masking.mask_text`).
* Callers get plain dataclasses, never ORM objects bound to a closed session.

Works on SQLite (the default file under ``var/``) and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, delete, event, func, or_, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.pool import StaticPool

from bot.dialogue.validation import MAX_MESSAGE_CHARS, normalise_member_id, strip_control_chars
from bot.privacy.masking import mask_email, mask_member_id, mask_name, mask_phone, mask_text
from bot.requests.models import (
    BANDS,
    KINDS,
    STATUSES,
    Answer,
    AuditEntry,
    Base,
    Request,
    RequestEvent,
    RequestNote,
    ReviewAction,
)

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

#: Reference prefix per request kind (read out to members, so short and distinct).
PREFIXES: dict[str, str] = {"data_rights": "DR", "guarantee_of_payment": "GOP", "callback": "CB", "handoff": "HO"}
#: Crockford's base32: no I, L, O or U, so a reference survives being read aloud or retyped.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: How long each kind of request may take before agents see it as overdue: our own
#: service targets, told to members only as targets, never as a legal deadline.
DEFAULT_DUE: dict[str, timedelta] = {
    "data_rights": timedelta(days=30),
    "guarantee_of_payment": timedelta(hours=48),
    "callback": timedelta(days=2),
    "handoff": timedelta(days=2),
}
#: Form fields holding the identifiers that member_key/email_key are computed from.
EMAIL_FIELDS = ("email",)
MEMBER_ID_FIELDS = ("member_id",)
#: Form fields that make a useful (masked) one-line summary, in order of preference.
TOPIC_FIELDS = ("right", "request_type", "procedure", "treatment", "hospital", "topic", "reason", "question", "details")
LABELS = {
    "data_rights": "Data rights",
    "guarantee_of_payment": "Guarantee of payment",
    "callback": "Callback",
    "handoff": "Handoff",
}

_REFERENCE_ATTEMPTS = 8
_MAX_LIST = 500
_MAX_NOTE_CHARS = 10_000
_DELETE_CHUNK = 500


class RequestStoreError(Exception):
    """The store could not do what was asked; nothing was written.

    The message never contains form data (SQL parameters are hidden), so it can be
    logged; the database error is chained as ``__cause__``.
    """


class RequestNotFoundError(RequestStoreError, LookupError):
    """No request has the given reference."""


@dataclass(frozen=True)
class NoteRecord:
    """An agent's note on a request."""

    created_at: datetime
    author: str
    text: str


@dataclass(frozen=True)
class EventRecord:
    """A status change; ``from_status`` is None for the creation event."""

    at: datetime
    author: str
    from_status: str | None
    to_status: str


@dataclass
class RequestRecord:
    """A request as callers see it: plain data, safe to use after the session is closed."""

    reference: str
    kind: str
    status: str
    created_at: datetime
    due_at: datetime
    conversation_id: str | None
    data: dict[str, Any]
    summary: str
    notes: list[NoteRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    closed_at: datetime | None = None

    def days_left(self, now: datetime | None = None) -> int:
        """Whole days until the due date: 0 means due within 24 hours, negative means overdue.

        A method rather than a property because the agent console and tests pass ``now``.
        """
        remaining = self.due_at - _utc(now)
        return math.floor(remaining.total_seconds() / 86400)

    def is_overdue(self, now: datetime | None = None) -> bool:
        """True when the request is still open after its due time."""
        return self.status != "done" and _utc(now) > self.due_at


@dataclass(frozen=True)
class AnswerRecord:
    """One logged answer (masked question, cited passage, confidence band, feedback)."""

    id: int
    conversation_id: str | None
    created_at: datetime
    question_masked: str
    passage_id: str | None
    confidence: float
    band: str
    helpful: bool | None
    feedback_at: datetime | None


# --------------------------------------------------------------------------- helpers


def _utc(moment: datetime | None) -> datetime:
    """``moment`` as an aware UTC datetime (now when None; naive values are taken as UTC)."""
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def generate_reference(kind: str) -> str:
    """A random reference like ``DR-7K3F-9QXZ``: 40 bits from the OS random source."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{PREFIXES[kind]}-{code[:4]}-{code[4:]}"


def normalise_reference(reference: str) -> str:
    """Canonical form of a reference a person typed: upper case, dashes, O->0 and I/L->1.

    Members read references from emails and type them back; Crockford's decoding rules
    make the common slips harmless.
    """
    compact = "".join(reference.split()).upper().replace("-", "")
    for prefix in sorted(PREFIXES.values(), key=len, reverse=True):
        code = compact.removeprefix(prefix)
        if code != compact and len(code) == 8:
            code = code.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))
            return f"{prefix}-{code[:4]}-{code[4:]}"
    return reference.strip().upper()


def _clean_str(value: str, keep_newlines: bool = True) -> str:
    """Drop NUL/control characters and lone surrogates, which PostgreSQL or UTF-8 would reject."""
    value = strip_control_chars(value, keep_newlines=keep_newlines)
    return value.encode("utf-8", "replace").decode("utf-8")


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe deep copy of form data; raise TypeError/ValueError for anything else.

    Dates and Decimals (what our validators return) become ISO strings and exact decimal
    strings; NaN/infinity and arbitrary objects are refused rather than stored lossily.
    """
    if depth > 20:
        raise ValueError("form data is nested too deeply")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("form data contains NaN or infinity")
        return value
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("form data contains a non-finite Decimal")
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value), depth + 1)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"form data keys must be strings, not {type(key).__name__}")
            out[_clean_str(key)] = _jsonable(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(item, depth + 1) for item in value]
    raise TypeError(f"form data value of type {type(value).__name__} is not JSON-serialisable")


def _first_str(data: Mapping[str, Any], names: Sequence[str]) -> str | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def summarise(kind: str, data: Mapping[str, Any]) -> str:
    """A one-line, masked description for lists in the agent console, e.g.

    ``Guarantee of payment · J. S*** · member ***456 · knee surgery``. Masked because
    lists are shown on shared screens; the full data is one click away for an agent.
    """
    parts = [LABELS[kind]]
    if name := _first_str(data, ("full_name", "name")):
        parts.append(mask_name(name))
    if member_id := _first_str(data, MEMBER_ID_FIELDS):
        parts.append(f"member {mask_member_id(member_id)}")
    if email := _first_str(data, EMAIL_FIELDS):
        parts.append(mask_email(email))
    elif phone := _first_str(data, ("phone",)):
        parts.append(mask_phone(phone))
    if topic := _first_str(data, TOPIC_FIELDS):
        topic = " ".join(mask_text(topic).split())
        parts.append(topic if len(topic) <= 60 else topic[:59] + "…")
    return " · ".join(parts)[:255]


def _check_conversation_id(conversation_id: str | None) -> str | None:
    """Refuse ids longer than the column on every back end (SQLite would silently accept them)."""
    if conversation_id is not None and (not isinstance(conversation_id, str) or len(conversation_id) > 128):
        raise ValueError("conversation_id must be a string of at most 128 characters")
    return conversation_id


def _check_author(author: str) -> str:
    if not isinstance(author, str) or not author.strip():
        raise ValueError("author must be a non-empty string")
    return _clean_str(" ".join(author.split()))[:100]


# --------------------------------------------------------------------------- the store


class RequestStore:
    """Requests, notes, status events and the answer log in one SQL database.

    ``due_days`` maps a kind to how long it may take (defaults: :data:`DEFAULT_DUE`).
    ``member_key_secret`` keys the HMAC of member identifiers; without it a plain
    SHA-256 is used. Keep the secret stable: changing it makes old requests
    unfindable by erase_member. ``reference_factory`` exists for tests that need to
    force a collision.
    """

    def __init__(
        self,
        url: str,
        due_days: Mapping[str, timedelta] | None = None,
        *,
        member_key_secret: str | bytes | None = None,
        reference_factory: Callable[[str], str] = generate_reference,
        echo: bool = False,
    ) -> None:
        self.url = url
        self.due = {**DEFAULT_DUE, **(due_days or {})}
        unknown = set(self.due) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown request kinds in due_days: {sorted(unknown)}")
        if isinstance(member_key_secret, str):
            member_key_secret = member_key_secret.encode()
        self._secret = member_key_secret or None
        self._new_reference = reference_factory
        self.engine = self._create_engine(url, echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> RequestStore:
        """The store configured from :class:`bot.settings.Settings` (URL and due times)."""
        from bot.settings import Settings

        settings = settings or Settings.from_env()
        due = {
            "data_rights": timedelta(days=settings.data_rights_due_days),
            "guarantee_of_payment": timedelta(hours=settings.guarantee_due_hours),
            "callback": timedelta(days=settings.callback_due_days),
            "handoff": timedelta(days=settings.handoff_due_days),
        }
        kwargs.setdefault("member_key_secret", getattr(settings, "member_key_secret", None))
        return cls(settings.request_db_url, due, **kwargs)

    @staticmethod
    def _create_engine(url: str, echo: bool) -> Engine:
        """An engine with SQLite made safe for several processes (WAL, busy timeout, FKs).

        SQL parameters are hidden in error messages because they contain form data.
        """
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        is_sqlite = parsed.get_backend_name() == "sqlite"
        database = parsed.database or ""
        in_memory = is_sqlite and database in ("", ":memory:")
        if is_sqlite and not in_memory and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        if in_memory:
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        if not is_sqlite:
            kwargs["pool_pre_ping"] = True
            if parsed.get_driver_name() == "psycopg2":
                kwargs["connect_args"] = {"connect_timeout": 10}  # a health check must not hang
        try:
            engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise RequestStoreError(f"cannot open request store ({type(exc).__name__})") from exc
        if is_sqlite:

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA foreign_keys=ON")  # needed for ON DELETE CASCADE
                cursor.execute("PRAGMA busy_timeout=10000")  # wait for the other process's write
                cursor.execute("PRAGMA secure_delete=ON")  # erased requests are zeroed, not left in free pages
                if not in_memory:
                    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
                cursor.close()

        return engine

    # ----------------------------------------------------------------- plumbing

    @contextmanager
    def _transaction(self, operation: str) -> Iterator[Session]:
        """One session and transaction; commit on success, rollback and RequestStoreError on DB errors."""
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise RequestStoreError(f"{operation} failed ({type(getattr(exc, 'orig', None) or exc).__name__})") from exc

    def create_schema(self) -> None:
        """Create missing tables and indexes; safe to call on every start."""
        try:
            Base.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise RequestStoreError(f"create_schema failed ({type(exc).__name__})") from exc

    def close(self) -> None:
        """Close all pooled connections (the store can not be used afterwards)."""
        self.engine.dispose()

    def __enter__(self) -> RequestStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> bool:
        """True when the database answers a trivial query; for health checks, never raises."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError as exc:
            log.warning("request store ping failed: %s", type(exc).__name__)
            return False

    def _hash(self, namespace: str, value: str) -> str:
        message = f"{namespace}:{value}".encode()
        if self._secret:
            return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
        return hashlib.sha256(message).hexdigest()

    def _email_key(self, email: str) -> str:
        return self._hash("email", " ".join(email.split()).lower())

    def _member_id_key(self, member_id: str) -> str:
        return self._hash("member_id", normalise_member_id(member_id))

    def _keys_for(self, data: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(member_key, email_key) of a request's form data."""
        email = _first_str(data, EMAIL_FIELDS)
        member_id = _first_str(data, MEMBER_ID_FIELDS)
        email_key = self._email_key(email) if email else None
        member_key = self._member_id_key(member_id) if member_id else email_key
        return member_key, email_key

    @staticmethod
    def _record(req: Request) -> RequestRecord:
        return RequestRecord(
            reference=req.reference,
            kind=req.kind,
            status=req.status,
            created_at=req.created_at,
            due_at=req.due_at,
            conversation_id=req.conversation_id,
            data=dict(req.data or {}),
            summary=req.summary,
            notes=[NoteRecord(n.created_at, n.author, n.text) for n in req.notes],
            events=[EventRecord(e.at, e.author, e.from_status, e.to_status) for e in req.events],
            closed_at=req.closed_at,
        )

    @staticmethod
    def _answer(answer: Answer) -> AnswerRecord:
        return AnswerRecord(
            id=answer.id,
            conversation_id=answer.conversation_id,
            created_at=answer.created_at,
            question_masked=answer.question_masked,
            passage_id=answer.passage_id,
            confidence=answer.confidence,
            band=answer.band,
            helpful=answer.helpful,
            feedback_at=answer.feedback_at,
        )

    def _load(self, session: Session, reference: str, for_update: bool = False) -> Request:
        query = (
            select(Request)
            .where(Request.reference == normalise_reference(reference))
            .options(selectinload(Request.notes), selectinload(Request.events))
        )
        if for_update:
            query = query.with_for_update()
        req = session.scalars(query).one_or_none()
        if req is None:
            raise RequestNotFoundError(f"no request with reference {reference!r}")
        return req

    # ----------------------------------------------------------------- requests

    def submit(
        self,
        kind: str,
        data: dict[str, Any],
        conversation_id: str | None = None,
        now: datetime | None = None,
    ) -> RequestRecord:
        """Store a member's request and return it with its new reference, after the commit.

        The request row and its creation event are written in one transaction: either
        both exist or neither. Raises RequestStoreError on any storage problem
        (including form data that is not JSON-serialisable) and ValueError/TypeError for
        a wrong ``kind`` or a non-dict ``data``, which are programming errors.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown request kind {kind!r}; expected one of {KINDS}")
        if not isinstance(data, Mapping):
            raise TypeError("data must be a dict of form fields")
        _check_conversation_id(conversation_id)
        try:
            clean = _jsonable(data)
        except (TypeError, ValueError, RecursionError) as exc:
            raise RequestStoreError(f"submit failed: {exc}") from exc
        created = _utc(now)
        member_key, email_key = self._keys_for(clean)
        summary = summarise(kind, clean)
        for _ in range(_REFERENCE_ATTEMPTS):
            reference = self._new_reference(kind)
            try:
                with self._transaction("submit") as session:
                    req = Request(
                        reference=reference,
                        kind=kind,
                        status="new",
                        created_at=created,
                        due_at=created + self.due[kind],
                        conversation_id=conversation_id,
                        data=clean,
                        summary=summary,
                        member_key=member_key,
                        email_key=email_key,
                    )
                    req.events.append(RequestEvent(at=created, author="member", from_status=None, to_status="new"))
                    session.add(req)
                    session.flush()
                    record = self._record(req)
                return record
            except RequestStoreError as exc:
                if isinstance(exc.__cause__, IntegrityError) and self._reference_taken(reference):
                    log.info("reference collision on %s; retrying", reference)
                    continue
                raise
        raise RequestStoreError(f"submit failed: no unique reference after {_REFERENCE_ATTEMPTS} attempts")

    def _reference_taken(self, reference: str) -> bool:
        with self._transaction("reference check") as session:
            return session.scalar(select(Request.id).where(Request.reference == reference)) is not None

    def get(self, reference: str) -> RequestRecord | None:
        """The request with this reference (typed forms like ``dr 7k3f 9qxz`` work), or None."""
        try:
            with self._transaction("get") as session:
                return self._record(self._load(session, reference))
        except RequestNotFoundError:
            return None

    def list(
        self, kind: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[RequestRecord]:
        """Requests newest first, optionally of one kind and/or status; ``limit`` is capped at 500."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown request kind {kind!r}")
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        query = select(Request).options(selectinload(Request.notes), selectinload(Request.events))
        if kind is not None:
            query = query.where(Request.kind == kind)
        if status is not None:
            query = query.where(Request.status == status)
        query = query.order_by(Request.created_at.desc(), Request.id.desc()).limit(min(limit, _MAX_LIST)).offset(offset)
        with self._transaction("list") as session:
            return [self._record(req) for req in session.scalars(query)]

    def update_status(self, reference: str, status: str, author: str, now: datetime | None = None) -> RequestRecord:
        """Move a request to ``status`` and record who did it; a no-op (no event) if unchanged.

        The row is locked (PostgreSQL) so two agents changing it at once both get a
        correct ``from`` in the audit trail. Raises RequestNotFoundError for an unknown
        reference and ValueError for an unknown status.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {STATUSES}")
        author = _check_author(author)
        at = _utc(now)
        with self._transaction("update_status") as session:
            req = self._load(session, reference, for_update=True)
            if req.status != status:
                req.events.append(RequestEvent(at=at, author=author, from_status=req.status, to_status=status))
                req.status = status
                req.closed_at = at if status == "done" else None
                session.flush()
            record = self._record(req)
        return record

    def add_note(self, reference: str, author: str, text: str, now: datetime | None = None) -> NoteRecord:
        """Attach an agent's note to a request (deleted with it on retention or erasure)."""
        author = _check_author(author)
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a note needs some text")
        body = _clean_str(text.strip())[:_MAX_NOTE_CHARS]
        note = RequestNote(created_at=_utc(now), author=author, text=body)
        with self._transaction("add_note") as session:
            req = self._load(session, reference)
            req.notes.append(note)
        return NoteRecord(note.created_at, note.author, note.text)

    # ----------------------------------------------------------------- answers

    def record_answer(
        self,
        conversation_id: str | None,
        question: str,
        passage_id: str | None,
        confidence: float,
        band: str,
        now: datetime | None = None,
    ) -> int:
        """Log an answer the bot gave and return its id (for the feedback buttons).

        The question is masked before it is stored: the answer log is kept for quality
        analytics, which needs the wording but not the member's email or member id.
        """
        if band not in BANDS:
            raise ValueError(f"unknown band {band!r}; expected one of {BANDS}")
        _check_conversation_id(conversation_id)
        confidence = float(confidence)
        if not math.isfinite(confidence):
            raise ValueError("confidence must be a finite number")
        masked = mask_text(_clean_str(question if isinstance(question, str) else str(question)))
        answer = Answer(
            conversation_id=conversation_id,
            created_at=_utc(now),
            question_masked=masked[:MAX_MESSAGE_CHARS],
            passage_id=passage_id[:255] if passage_id else None,
            confidence=confidence,
            band=band,
        )
        with self._transaction("record_answer") as session:
            session.add(answer)
            session.flush()
            answer_id = answer.id
        return answer_id

    def record_feedback(
        self,
        *,
        helpful: bool,
        answer_id: int | None = None,
        conversation_id: str | None = None,
        now: datetime | None = None,
    ) -> int | None:
        """Store thumbs up/down on an answer: by id, or on the latest answer of a conversation.

        Returns the id of the answer updated, or None when there is no such answer (the
        member still gets a thank-you; feedback is never worth an error message).
        Giving feedback again overwrites the earlier one.
        """
        if (answer_id is None) == (conversation_id is None):
            raise ValueError("give exactly one of answer_id or conversation_id")
        with self._transaction("record_feedback") as session:
            if answer_id is not None:
                answer = session.get(Answer, answer_id)
            else:
                answer = session.scalars(
                    select(Answer)
                    .where(Answer.conversation_id == conversation_id)
                    .order_by(Answer.created_at.desc(), Answer.id.desc())
                    .limit(1)
                ).first()
            if answer is None:
                return None
            answer.helpful = bool(helpful)
            answer.feedback_at = _utc(now)
            return answer.id

    def get_answer(self, answer_id: int) -> AnswerRecord | None:
        """One logged answer, or None."""
        with self._transaction("get_answer") as session:
            answer = session.get(Answer, answer_id)
            return self._answer(answer) if answer is not None else None

    def list_answers(self, conversation_id: str | None = None, limit: int = 50) -> list[AnswerRecord]:
        """Logged answers newest first, optionally of one conversation (analytics, tests)."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        query = select(Answer).order_by(Answer.created_at.desc(), Answer.id.desc()).limit(min(limit, _MAX_LIST))
        if conversation_id is not None:
            query = query.where(Answer.conversation_id == conversation_id)
        with self._transaction("list_answers") as session:
            return [self._answer(a) for a in session.scalars(query)]

    # ----------------------------------------------------------------- retention and erasure

    @staticmethod
    def _remove(session: Session, model: type[Base], condition: Any, dry_run: bool) -> int:
        """Delete the rows of ``model`` matching ``condition`` and count them; only count on a dry run."""
        if dry_run:
            return session.scalar(select(func.count()).select_from(model).where(condition)) or 0
        return session.execute(delete(model).where(condition)).rowcount

    @classmethod
    def _delete_requests(cls, session: Session, ids: Sequence[int], dry_run: bool = False) -> dict[str, int]:
        """Delete requests with their notes and events explicitly (not relying on cascade) and count them."""
        counts = {"requests": 0, "notes": 0, "events": 0}
        for start in range(0, len(ids), _DELETE_CHUNK):
            chunk = list(ids[start : start + _DELETE_CHUNK])
            counts["notes"] += cls._remove(session, RequestNote, RequestNote.request_id.in_(chunk), dry_run)
            counts["events"] += cls._remove(session, RequestEvent, RequestEvent.request_id.in_(chunk), dry_run)
            counts["requests"] += cls._remove(session, Request, Request.id.in_(chunk), dry_run)
        return counts

    def _delete_in_conversations(
        self, session: Session, model: type[Answer | ReviewAction], conversation_ids: Sequence[str], dry_run: bool
    ) -> int:
        """Delete (or count) the rows of ``model`` logged in these conversations, in chunks."""
        removed = 0
        for start in range(0, len(conversation_ids), _DELETE_CHUNK):
            chunk = list(conversation_ids[start : start + _DELETE_CHUNK])
            removed += self._remove(session, model, model.conversation_id.in_(chunk), dry_run)
        return removed

    def _delete_answers(self, session: Session, conversation_ids: Sequence[str], dry_run: bool) -> int:
        return self._delete_in_conversations(session, Answer, conversation_ids, dry_run)

    def _delete_review_actions(self, session: Session, conversation_ids: Sequence[str], dry_run: bool) -> int:
        return self._delete_in_conversations(session, ReviewAction, conversation_ids, dry_run)

    def delete_older_than(self, days: int, now: datetime | None = None, *, dry_run: bool = False) -> dict[str, int]:
        """Retention: delete done requests closed more than ``days`` ago, and answers, review
        actions and audit entries recorded before then.

        Open requests are never deleted, however old: they are still being worked on.
        Returns counts per table; with ``dry_run`` counts what would go and deletes nothing.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        cutoff = _utc(now) - timedelta(days=days)
        closed_before = or_(
            Request.closed_at < cutoff,
            (Request.closed_at.is_(None)) & (Request.created_at < cutoff),
        )
        with self._transaction("delete_older_than") as session:
            ids = session.scalars(select(Request.id).where(Request.status == "done", closed_before)).all()
            counts = self._delete_requests(session, ids, dry_run)
            counts["answers"] = self._remove(session, Answer, Answer.created_at < cutoff, dry_run)
            counts["review_actions"] = self._remove(session, ReviewAction, ReviewAction.created_at < cutoff, dry_run)
            counts["audit_entries"] = self._remove(session, AuditEntry, AuditEntry.at < cutoff, dry_run)
        return counts

    def _erasure_keys(self, email: str | None, member_id: str | None) -> list[str]:
        keys = []
        if email and email.strip():
            keys.append(self._email_key(email))
        if member_id and member_id.strip():
            keys.append(self._member_id_key(member_id))
        if not keys:
            raise ValueError("give an email or a member id")
        return keys

    def member_conversations(self, email: str | None = None, member_id: str | None = None) -> list[str]:
        """Conversation ids of a member's requests, found like :meth:`erase_member` finds them.

        Erasure needs them before the requests go: they are the link to the member's
        conversations in Rasa's tracker store, which only the request rows keep.
        """
        keys = self._erasure_keys(email, member_id)
        with self._transaction("member_conversations") as session:
            rows = session.scalars(
                select(Request.conversation_id)
                .where(or_(Request.member_key.in_(keys), Request.email_key.in_(keys)))
                .where(Request.conversation_id.is_not(None))
                .distinct()
            ).all()
        return sorted(rows)

    def open_request_conversations(self) -> set[str]:
        """Conversation ids of requests not done yet: retention keeps those conversations."""
        with self._transaction("open_request_conversations") as session:
            rows = session.scalars(
                select(Request.conversation_id)
                .where(Request.status != "done", Request.conversation_id.is_not(None))
                .distinct()
            ).all()
        return set(rows)

    def delete_answers(self, conversation_ids: Sequence[str], *, dry_run: bool = False) -> int:
        """Delete the answers (and their feedback) logged in these conversations; returns how many."""
        with self._transaction("delete_answers") as session:
            return self._delete_answers(session, sorted(set(conversation_ids)), dry_run)

    def delete_review_actions(self, conversation_ids: Sequence[str], *, dry_run: bool = False) -> int:
        """Delete the review actions (with their copies of questions) on these conversations."""
        with self._transaction("delete_review_actions") as session:
            return self._delete_review_actions(session, sorted(set(conversation_ids)), dry_run)

    def erase_member(
        self, email: str | None = None, member_id: str | None = None, *, dry_run: bool = False
    ) -> dict[str, int]:
        """Erase every request of a member (GDPR art. 17) found by email and/or member id.

        Notes, events and the answers logged in those requests' conversations go with
        them, and so do the review actions on those answers. Requests that carried neither
        identifier (e.g. a callback with only a phone number) cannot be found this way. Returns counts per table; with
        ``dry_run`` counts what would go and deletes nothing.
        """
        keys = self._erasure_keys(email, member_id)
        with self._transaction("erase_member") as session:
            rows = session.execute(
                select(Request.id, Request.conversation_id).where(
                    or_(Request.member_key.in_(keys), Request.email_key.in_(keys))
                )
            ).all()
            counts = self._delete_requests(session, [row.id for row in rows], dry_run)
            conversations = sorted({row.conversation_id for row in rows if row.conversation_id})
            counts["answers"] = self._delete_answers(session, conversations, dry_run)
            counts["review_actions"] = self._delete_review_actions(session, conversations, dry_run)
        return counts
