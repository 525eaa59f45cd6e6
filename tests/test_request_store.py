"""The request store against real databases: a SQLite file and a fresh PostgreSQL database.

No mocks: every failure mode is produced for real (a dropped table, an unreachable
server, data the JSON column cannot hold), because the promise we make to members
("your request is saved, here is your reference") rests on the database's behaviour.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.requests import (
    DEFAULT_DUE,
    KINDS,
    PREFIXES,
    RequestNotFoundError,
    RequestStore,
    RequestStoreError,
    normalise_reference,
)
from bot.requests.models import Base
from bot.settings import Settings

NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
REFERENCE = re.compile(r"^(DR|GOP|CB|HO)-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")

ALICE = {"full_name": "Alice Martin", "email": "Alice.Martin@Example.com", "member_id": "AB123456"}
BOB = {"full_name": "Bob Peeters", "email": "bob@example.org", "member_id": "CD987654"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of each back end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'requests.db'}"
    url = request.getfixturevalue("postgres_url")
    cleaner = RequestStore(url)
    Base.metadata.drop_all(cleaner.engine)
    cleaner.close()
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[RequestStore]:
    s = RequestStore(db_url)
    s.create_schema()
    yield s
    s.close()


def count(store: RequestStore, table: str) -> int:
    """Rows in a table, read with plain SQL so the check does not depend on the ORM."""
    with store.engine.connect() as connection:
        return connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


# --------------------------------------------------------------------------- schema and basics


def test_sqlite_creates_parent_folder_and_schema_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "var" / "requests.db"
    with RequestStore(f"sqlite:///{path}") as s:
        s.create_schema()
        s.create_schema()
        assert path.exists()
        assert s.ping()


def test_schema_is_idempotent_with_data(store: RequestStore) -> None:
    record = store.submit("callback", {"full_name": "Ann Lee", "phone": "+3232176868"}, now=NOW)
    store.create_schema()
    assert store.get(record.reference) is not None


def test_submit_returns_committed_record(store: RequestStore, db_url: str) -> None:
    data = {**ALICE, "procedure": "Knee surgery", "admission_date": date(2025, 4, 2), "estimated_cost": Decimal("2500")}
    record = store.submit("guarantee_of_payment", data, conversation_id="conv-1", now=NOW)

    assert REFERENCE.match(record.reference) and record.reference.startswith("GOP-")
    assert record.kind == "guarantee_of_payment" and record.status == "new"
    assert record.created_at == NOW and record.created_at.tzinfo is not None
    assert record.due_at == NOW + timedelta(hours=48)
    assert record.conversation_id == "conv-1"
    assert record.data["admission_date"] == "2025-04-02" and record.data["estimated_cost"] == "2500"
    assert [(e.from_status, e.to_status, e.author) for e in record.events] == [(None, "new", "member")]

    # A second, independent store (another process in production) sees the same committed row.
    with RequestStore(db_url) as other:
        fetched = other.get(record.reference)
    assert fetched == record


def test_summary_is_one_masked_line(store: RequestStore) -> None:
    record = store.submit("data_rights", {**ALICE, "right": "access\nto my data"}, now=NOW)
    assert record.summary.startswith("Data rights")
    assert "\n" not in record.summary
    assert "A. M***" in record.summary and "***456" in record.summary
    for secret in ("Alice", "Martin", "AB123456", "Alice.Martin@Example.com"):
        assert secret not in record.summary


def test_timestamps_are_utc_aware_whatever_the_input_zone(store: RequestStore) -> None:
    brussels = timezone(timedelta(hours=1))
    local = datetime(2025, 3, 10, 10, 30, tzinfo=brussels)
    record = store.submit("handoff", {"email": "x@example.com"}, now=local)
    fetched = store.get(record.reference)
    assert fetched is not None
    assert fetched.created_at == NOW and fetched.created_at.utcoffset() == timedelta(0)
    assert fetched.due_at == NOW + timedelta(days=2)


def test_ping_and_unreachable_database_raise_request_store_error() -> None:
    dead = RequestStore("postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    try:
        assert dead.ping() is False
        with pytest.raises(RequestStoreError):
            dead.submit("callback", {"phone": "+3232176868"})
        with pytest.raises(RequestStoreError):
            dead.list()
    finally:
        dead.close()


def test_ping(store: RequestStore) -> None:
    assert store.ping() is True


# --------------------------------------------------------------------------- references


def test_references_are_unique_and_well_formed_over_many_submissions(store: RequestStore) -> None:
    references = [store.submit(KINDS[i % len(KINDS)], {"n": i}, now=NOW).reference for i in range(400)]
    assert len(set(references)) == 400
    for i, reference in enumerate(references):
        assert REFERENCE.match(reference)
        assert reference.startswith(PREFIXES[KINDS[i % len(KINDS)]] + "-")
    assert count(store, "requests") == 400


def test_concurrent_submissions_all_stored(store: RequestStore) -> None:
    references: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for i in range(15):
                ref = store.submit("callback", {"phone": f"+3232176{i:03d}"}).reference
                with lock:
                    references.append(ref)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(references)) == 90 == count(store, "requests")


def test_reference_collision_is_retried(db_url: str) -> None:
    sequence = iter(["DR-0000-0001", "DR-0000-0001", "DR-0000-0002"])
    with RequestStore(db_url, reference_factory=lambda kind: next(sequence)) as s:
        s.create_schema()
        first = s.submit("data_rights", ALICE, now=NOW)
        second = s.submit("data_rights", BOB, now=NOW)
        assert (first.reference, second.reference) == ("DR-0000-0001", "DR-0000-0002")
        assert count(s, "requests") == 2 and count(s, "request_events") == 2


def test_reference_collision_gives_up_with_error(db_url: str) -> None:
    with RequestStore(db_url, reference_factory=lambda kind: "CB-0000-0000") as s:
        s.create_schema()
        s.submit("callback", {"phone": "+3232176868"}, now=NOW)
        with pytest.raises(RequestStoreError, match="unique reference"):
            s.submit("callback", {"phone": "+3232176869"}, now=NOW)
        assert count(s, "requests") == 1


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("dr-7k3f-9qxz", "DR-7K3F-9QXZ"),
        (" DR 7K3F 9QXZ ", "DR-7K3F-9QXZ"),
        ("DR7K3F9QXZ", "DR-7K3F-9QXZ"),
        ("HO-O1IL-ABCD", "HO-0111-ABCD"),
        ("GOP-7K3F-9QXZ", "GOP-7K3F-9QXZ"),
    ],
)
def test_normalise_reference(typed: str, canonical: str) -> None:
    assert normalise_reference(typed) == canonical


def test_get_accepts_typed_reference(store: RequestStore) -> None:
    record = store.submit("callback", {"phone": "+3232176868"}, now=NOW)
    assert store.get(record.reference.lower().replace("-", " ")) == record
    assert store.get("CB-ZZZZ-ZZZZ") is None


# --------------------------------------------------------------------------- due dates


@pytest.mark.parametrize(
    ("kind", "delta"),
    [
        ("data_rights", timedelta(days=30)),
        ("guarantee_of_payment", timedelta(hours=48)),
        ("callback", timedelta(days=2)),
        ("handoff", timedelta(days=2)),
    ],
)
def test_default_due_dates_per_kind(store: RequestStore, kind: str, delta: timedelta) -> None:
    record = store.submit(kind, {"n": 1}, now=NOW)
    assert record.due_at - record.created_at == delta == DEFAULT_DUE[kind]
    assert record.days_left(NOW) == delta.days
    assert not record.is_overdue(NOW)
    assert record.is_overdue(NOW + delta + timedelta(seconds=1))
    assert record.days_left(NOW + delta + timedelta(hours=1)) == -1


def test_due_dates_from_constructor_and_settings(db_url: str) -> None:
    with RequestStore(db_url, {"callback": timedelta(hours=4)}) as s:
        s.create_schema()
        assert s.submit("callback", {}, now=NOW).due_at == NOW + timedelta(hours=4)
        assert s.submit("handoff", {}, now=NOW).due_at == NOW + timedelta(days=2)
    settings = Settings(database_url=db_url, guarantee_due_hours=24, data_rights_due_days=15)
    with RequestStore.from_settings(settings) as s:
        assert s.submit("guarantee_of_payment", {}, now=NOW).due_at == NOW + timedelta(hours=24)
        assert s.submit("data_rights", {}, now=NOW).due_at == NOW + timedelta(days=15)
    with pytest.raises(ValueError):
        RequestStore(db_url, {"claims": timedelta(days=1)})


# --------------------------------------------------------------------------- no partial writes


@pytest.mark.parametrize(
    "bad",
    [
        {"email": "a@example.com", "blob": object()},
        {"email": "a@example.com", "score": float("nan")},
        {"email": "a@example.com", "tags": {1, 2}},
        {"email": "a@example.com", 3: "non-string key"},
    ],
)
def test_non_serialisable_data_raises_and_stores_nothing(store: RequestStore, bad: dict) -> None:
    store.submit("handoff", {"email": "ok@example.com"}, now=NOW)
    with pytest.raises(RequestStoreError):
        store.submit("handoff", bad, now=NOW)
    assert count(store, "requests") == 1 and count(store, "request_events") == 1


def test_failure_after_first_insert_rolls_back_everything(store: RequestStore) -> None:
    store.submit("data_rights", ALICE, now=NOW)
    with store.engine.begin() as connection:
        connection.execute(text("DROP TABLE request_events"))
    # The request row is inserted first; the creation event then fails: nothing may remain.
    with pytest.raises(RequestStoreError) as raised:
        store.submit("data_rights", BOB, now=NOW)
    assert count(store, "requests") == 1
    # The error (and the chained database error) may be logged: no form data in them.
    for message in (str(raised.value), str(raised.value.__cause__)):
        assert BOB["email"] not in message and BOB["member_id"] not in message

    store.create_schema()  # idempotent: recreates just the missing table
    record = store.submit("data_rights", BOB, now=NOW)
    assert count(store, "requests") == 2 and store.get(record.reference) is not None


def test_missing_requests_table_raises(store: RequestStore) -> None:
    with store.engine.begin() as connection:
        connection.execute(text("DROP TABLE request_notes"))
        connection.execute(text("DROP TABLE request_events"))
        connection.execute(text("DROP TABLE requests"))
    with pytest.raises(RequestStoreError):
        store.submit("callback", {"phone": "+3232176868"}, now=NOW)
    with pytest.raises(RequestStoreError):
        store.get("CB-0000-0000")


def test_programming_errors_are_not_disguised(store: RequestStore) -> None:
    with pytest.raises(ValueError):
        store.submit("claim", {}, now=NOW)
    with pytest.raises(TypeError):
        store.submit("callback", ["not", "a", "dict"], now=NOW)  # type: ignore[arg-type]
    assert count(store, "requests") == 0


def test_control_characters_are_stored_safely(store: RequestStore) -> None:
    record = store.submit("handoff", {"question": "why\x00 is\u202e this", "email": "a@example.com"}, now=NOW)
    assert store.get(record.reference).data["question"] == "why is this"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- status, notes, list


def test_status_updates_record_events(store: RequestStore) -> None:
    ref = store.submit("guarantee_of_payment", ALICE, now=NOW).reference
    later = NOW + timedelta(hours=3)

    record = store.update_status(ref, "in_progress", "agent.anna", now=later)
    assert record.status == "in_progress" and record.closed_at is None
    record = store.update_status(ref, "in_progress", "agent.anna", now=later)  # unchanged: no event
    assert len(record.events) == 2
    record = store.update_status(ref, "done", "agent.ben", now=later + timedelta(hours=1))
    assert record.closed_at == later + timedelta(hours=1)
    record = store.update_status(ref, "in_progress", "agent.ben", now=later + timedelta(hours=2))
    assert record.closed_at is None

    events = store.get(ref).events  # type: ignore[union-attr]
    assert [(e.from_status, e.to_status, e.author) for e in events] == [
        (None, "new", "member"),
        ("new", "in_progress", "agent.anna"),
        ("in_progress", "done", "agent.ben"),
        ("done", "in_progress", "agent.ben"),
    ]
    assert events[1].at == later

    with pytest.raises(ValueError):
        store.update_status(ref, "closed", "agent.ben")
    with pytest.raises(ValueError):
        store.update_status(ref, "done", "  ")
    with pytest.raises(RequestNotFoundError):
        store.update_status("GOP-0000-0000", "done", "agent.ben")
    assert count(store, "request_events") == 4


def test_notes(store: RequestStore) -> None:
    ref = store.submit("callback", {"phone": "+3232176868"}, now=NOW).reference
    first = store.add_note(ref, "agent.anna", "Called, no answer.", now=NOW + timedelta(minutes=5))
    store.add_note(ref, "agent.ben", "  Reached the member.  ", now=NOW + timedelta(minutes=50))
    assert first.author == "agent.anna" and first.created_at == NOW + timedelta(minutes=5)
    notes = store.get(ref).notes  # type: ignore[union-attr]
    assert [(n.author, n.text) for n in notes] == [
        ("agent.anna", "Called, no answer."),
        ("agent.ben", "Reached the member."),
    ]
    with pytest.raises(ValueError):
        store.add_note(ref, "agent.anna", "   ")
    with pytest.raises(RequestNotFoundError):
        store.add_note("CB-0000-0000", "agent.anna", "text")


def test_list_filters_and_order(store: RequestStore) -> None:
    refs = {}
    for i, kind in enumerate(["data_rights", "callback", "callback", "handoff", "data_rights"]):
        refs[i] = store.submit(kind, {"n": i}, now=NOW + timedelta(minutes=i)).reference
    store.update_status(refs[1], "done", "agent")
    store.update_status(refs[4], "in_progress", "agent")

    assert [r.reference for r in store.list()] == [refs[i] for i in (4, 3, 2, 1, 0)]
    assert [r.reference for r in store.list(kind="callback")] == [refs[2], refs[1]]
    assert [r.reference for r in store.list(status="new")] == [refs[3], refs[2], refs[0]]
    assert [r.reference for r in store.list(kind="callback", status="done")] == [refs[1]]
    assert [r.reference for r in store.list(limit=2, offset=1)] == [refs[3], refs[2]]
    assert store.list(kind="guarantee_of_payment") == []
    with pytest.raises(ValueError):
        store.list(kind="claims")
    with pytest.raises(ValueError):
        store.list(status="closed")
    with pytest.raises(ValueError):
        store.list(limit=-1)


# --------------------------------------------------------------------------- answers and feedback


def test_record_answer_stores_masked_question(store: RequestStore) -> None:
    question = "I'm john.smith@example.com, member AB123456, call +32 3 217 68 68: is my MRI covered?"
    answer_id = store.record_answer("conv-1", question, "doc-12#3", 0.71, "answer", now=NOW)
    stored = store.get_answer(answer_id)
    assert stored is not None
    for secret in ("john.smith@example.com", "AB123456", "217 68 68", "3232176868"):
        assert secret not in stored.question_masked
    assert "is my MRI covered?" in stored.question_masked
    assert (stored.passage_id, stored.confidence, stored.band, stored.helpful) == ("doc-12#3", 0.71, "answer", None)
    with store.engine.connect() as connection:
        raw = connection.execute(text("SELECT question_masked FROM answers")).scalar_one()
    assert "john.smith" not in raw

    assert store.record_answer(None, "hello", None, 0.1, "abstain") > answer_id
    with pytest.raises(ValueError):
        store.record_answer("conv-1", "q", None, 0.5, "maybe")
    with pytest.raises(ValueError):
        store.record_answer("conv-1", "q", None, float("nan"), "answer")


def test_feedback_by_id_and_by_conversation(store: RequestStore) -> None:
    a1 = store.record_answer("conv-1", "first", "p1", 0.8, "answer", now=NOW)
    a2 = store.record_answer("conv-1", "second", "p2", 0.5, "clarify", now=NOW + timedelta(minutes=1))
    a3 = store.record_answer("conv-2", "other", None, 0.2, "abstain", now=NOW)

    assert store.record_feedback(answer_id=a1, helpful=False, now=NOW) == a1
    assert store.record_feedback(conversation_id="conv-1", helpful=True, now=NOW) == a2
    assert store.get_answer(a1).helpful is False  # type: ignore[union-attr]
    second = store.get_answer(a2)
    assert second is not None and second.helpful is True and second.feedback_at == NOW
    assert store.get_answer(a3).helpful is None  # type: ignore[union-attr]

    assert store.record_feedback(conversation_id="conv-unknown", helpful=True) is None
    assert store.record_feedback(answer_id=999_999, helpful=True) is None
    with pytest.raises(ValueError):
        store.record_feedback(helpful=True)
    with pytest.raises(ValueError):
        store.record_feedback(answer_id=a1, conversation_id="conv-1", helpful=True)


# --------------------------------------------------------------------------- retention and erasure


def test_delete_older_than_removes_only_closed_old_requests_and_old_answers(store: RequestStore) -> None:
    old = NOW - timedelta(days=200)
    closed_long_ago = store.submit("callback", ALICE, now=old).reference
    store.add_note(closed_long_ago, "agent", "done", now=old)
    store.update_status(closed_long_ago, "done", "agent", now=old + timedelta(days=1))
    closed_recently = store.submit("callback", BOB, now=old).reference
    store.update_status(closed_recently, "done", "agent", now=NOW - timedelta(days=5))
    open_old = store.submit("data_rights", BOB, now=old).reference
    old_answer = store.record_answer("c", "old", None, 0.3, "abstain", now=old)
    new_answer = store.record_answer("c", "new", None, 0.3, "abstain", now=NOW - timedelta(days=1))

    counts = store.delete_older_than(90, now=NOW)

    assert counts == {
        "requests": 1, "notes": 1, "events": 2, "answers": 1, "review_actions": 0, "audit_entries": 0
    }
    assert store.get(closed_long_ago) is None
    assert store.get(closed_recently) is not None and store.get(open_old) is not None
    assert store.get_answer(old_answer) is None and store.get_answer(new_answer) is not None
    assert count(store, "request_notes") == 0
    assert count(store, "request_events") == 2 + 1  # closed_recently (2) + open_old (1)
    assert store.delete_older_than(90, now=NOW) == {
        "requests": 0, "notes": 0, "events": 0, "answers": 0, "review_actions": 0, "audit_entries": 0
    }
    with pytest.raises(ValueError):
        store.delete_older_than(-1)


def test_erase_member_removes_everything_of_that_member_and_nothing_else(store: RequestStore) -> None:
    alice_1 = store.submit("data_rights", ALICE, conversation_id="conv-alice", now=NOW).reference
    alice_2 = store.submit(
        "handoff", {"email": "  alice.martin@EXAMPLE.com "}, conversation_id="conv-alice-2"
    ).reference
    alice_3 = store.submit("guarantee_of_payment", {"member_id": "ab-123 456"}, now=NOW).reference
    bob = store.submit("data_rights", BOB, conversation_id="conv-bob", now=NOW).reference
    anonymous = store.submit("callback", {"phone": "+3232176868"}, conversation_id="conv-anon").reference
    store.add_note(alice_1, "agent", "note on alice")
    store.add_note(bob, "agent", "note on bob")
    store.update_status(alice_3, "in_progress", "agent")
    store.record_answer("conv-alice", "q1", None, 0.9, "answer")
    store.record_answer("conv-alice-2", "q2", None, 0.9, "answer")
    bob_answer = store.record_answer("conv-bob", "q3", None, 0.9, "answer")

    counts = store.erase_member(email="ALICE.MARTIN@example.com")
    assert counts == {"requests": 2, "notes": 1, "events": 2, "answers": 2, "review_actions": 0}
    assert store.get(alice_1) is None and store.get(alice_2) is None
    assert store.get(alice_3) is not None  # carried only the member id

    assert store.erase_member(member_id="AB123456") == {
        "requests": 1, "notes": 0, "events": 2, "answers": 0, "review_actions": 0
    }
    assert store.get(alice_3) is None

    assert {r.reference for r in store.list()} == {bob, anonymous}
    assert len(store.get(bob).notes) == 1  # type: ignore[union-attr]
    assert store.get_answer(bob_answer) is not None
    assert store.erase_member(email="nobody@example.com", member_id="ZZ000000") == {
        "requests": 0,
        "notes": 0,
        "events": 0,
        "answers": 0,
        "review_actions": 0,
    }
    with pytest.raises(ValueError):
        store.erase_member()


def test_member_key_is_a_hash_not_the_identifier(store: RequestStore, db_url: str) -> None:
    store.submit("data_rights", ALICE, now=NOW)
    with store.engine.connect() as connection:
        member_key, email_key = connection.execute(text("SELECT member_key, email_key FROM requests")).one()
    assert re.fullmatch(r"[0-9a-f]{64}", member_key) and re.fullmatch(r"[0-9a-f]{64}", email_key)
    assert member_key != email_key
    assert "AB123456" not in member_key and "alice" not in email_key.lower()

    # With a secret the key is an HMAC: different from the unkeyed hash, still erasable.
    with RequestStore(db_url, member_key_secret="s3cret") as keyed:
        ref = keyed.submit("data_rights", BOB, now=NOW).reference
        with keyed.engine.connect() as connection:
            keyed_member_key = connection.execute(
                text("SELECT member_key FROM requests WHERE reference = :r"), {"r": ref}
            ).scalar_one()
        assert keyed_member_key != store._member_id_key(BOB["member_id"])
        assert keyed.erase_member(member_id=BOB["member_id"])["requests"] == 1
