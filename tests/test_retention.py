"""Retention and erasure (`bot retention purge|erase`) proven on databases a real stack wrote.

A real Rasa server and action server (private ports, throw-away SQLite databases) hold
four conversations: Alice submits a data-rights request after asking a question and
giving feedback; Alice starts another request and abandons it after typing her email
and member id; Bob submits a request; an anonymous member asks a question. Each test
works on a copy of those databases (SQLite, or copied into PostgreSQL for both the
request store and the tracker store), runs the command and then queries every table
to show that the data is gone and that nobody else's is.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, String, cast, create_engine, func, insert, select, text, update
from sqlalchemy.engine import Engine

from bot.cli import main
from bot.devtools.stack import MODEL
from bot.privacy.retention import EVENTS, RetentionReport, TrackerDatabase, erase, purge
from bot.requests import RequestStore
from bot.requests.models import Answer, Base, Request
from bot.settings import Settings
from tests.helpers import started_stack

SECRET = "retention-test-secret"
ALICE = {"name": "Alice Martin", "email": "alice.martin@example.com", "member_id": "AM204817", "born": "02/05/1979"}
BOB = {"name": "Robert Lee", "email": "bob.lee@example.net", "member_id": "BL583920", "born": "23/11/1968"}
ALICE_CLEAR = [ALICE["email"], ALICE["member_id"], "1979-05-02"]
ALICE_CONVERSATIONS = ["alice-request", "alice-abandoned"]
OTHER_CONVERSATIONS = ["bob-request", "anonymous"]
NOW = datetime.now(UTC)


# --------------------------------------------------------------------------- the recorded databases


def _send(rasa_url: str, sender: str, message: str) -> list[dict]:
    request = urllib.request.Request(
        f"{rasa_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def _form(member: dict[str, str]) -> list[str]:
    return [
        '/start_data_rights_request{"request_type":"deletion"}',
        member["name"],
        member["email"],
        member["member_id"].lower(),
        member["born"],
        "please delete everything you hold about me",
        "yes",
    ]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, retriever) -> Path:  # retriever: the test index
    """A folder with tracker.db (written by Rasa) and requests.db (written by the action server)."""
    if not MODEL.is_file():
        pytest.fail(f"no trained model at {MODEL}: run `make train`")
    var = tmp_path_factory.mktemp("retention-live")
    env = {"BOT_DATABASE_URL": f"sqlite:///{var / 'requests.db'}", "BOT_MEMBER_KEY_SECRET": SECRET}
    conversations = {
        "alice-request": ["how do I submit a claim?", '/feedback{"feedback_value":"up"}', *_form(ALICE)],
        "alice-abandoned": _form(ALICE)[:3] + ["am-204 817", "cancel"],
        "bob-request": [*_form(BOB), "where can i check the status of my claim"],
        "anonymous": ["how long do you take to answer my emails?"],
    }
    replies: dict[str, str] = {}
    with started_stack(var, env, rasa_port=5706, action_port=5756) as stack:
        for sender, messages in conversations.items():
            replies[sender] = " ".join(
                m.get("text") or "" for message in messages for m in _send(stack.rasa_url, sender, message)
            )
    assert "DR-" in replies["alice-request"] and "DR-" in replies["bob-request"]
    assert "DR-" not in replies["alice-abandoned"]
    return var


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy through SQLite's backup API, so pages still in the write-ahead log come along."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()
    src.close()


def _copy_to_postgres(sqlite_url: str, postgres_url: str, tables: list) -> None:
    """Copy rows table by table with the given Table objects, then move the id sequences on."""
    source, target = create_engine(sqlite_url), create_engine(postgres_url)
    with source.connect() as src, target.begin() as dst:
        for table in tables:
            rows = [dict(row._mapping) for row in src.execute(select(table))]
            if rows:
                dst.execute(insert(table), rows)
            dst.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), COALESCE(MAX(id), 1)) "
                    f"FROM {table.name}"
                )
            )
    source.dispose()
    target.dispose()


@dataclass
class Databases:
    """URLs of one test's copy of the recorded databases, and settings pointing at them."""

    requests_url: str
    tracker_url: str
    files: list[Path]

    @property
    def settings(self) -> Settings:
        return Settings.from_env(
            database_url=self.requests_url, tracker_store_url=self.tracker_url, member_key_secret=SECRET
        )

    def env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point the CLI (which reads BOT_* variables) at these databases."""
        monkeypatch.setenv("BOT_DATABASE_URL", self.requests_url)
        monkeypatch.setenv("BOT_TRACKER_STORE_URL", self.tracker_url)
        monkeypatch.setenv("BOT_MEMBER_KEY_SECRET", SECRET)
        monkeypatch.delenv("BOT_RETENTION_DAYS", raising=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def dbs(request: pytest.FixtureRequest, recorded: Path, tmp_path: Path) -> Iterator[Databases]:
    """A fresh copy of the recorded databases on each back end."""
    _copy_sqlite(recorded / "tracker.db", tmp_path / "tracker.db")
    _copy_sqlite(recorded / "requests.db", tmp_path / "requests.db")
    sqlite_requests, sqlite_tracker = f"sqlite:///{tmp_path / 'requests.db'}", f"sqlite:///{tmp_path / 'tracker.db'}"
    if request.param == "sqlite":
        yield Databases(sqlite_requests, sqlite_tracker, [tmp_path / "tracker.db", tmp_path / "requests.db"])
        return
    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    rasa_schema = MetaData()
    rasa_schema.reflect(create_engine(sqlite_tracker), only=["events"])  # Rasa's own table definition
    Base.metadata.drop_all(engine)
    rasa_schema.drop_all(engine)
    rasa_schema.create_all(engine)
    engine.dispose()
    with RequestStore(url) as store:
        store.create_schema()
    _copy_to_postgres(sqlite_requests, url, list(Base.metadata.sorted_tables))
    _copy_to_postgres(sqlite_tracker, url, [rasa_schema.tables["events"]])
    yield Databases(url, url, [])


# --------------------------------------------------------------------------- helpers


def _engine(url: str) -> Engine:
    return create_engine(url)


def _events(url: str, sender: str) -> int:
    engine = _engine(url)
    with engine.connect() as connection:
        n = connection.execute(select(func.count()).select_from(EVENTS).where(EVENTS.c.sender_id == sender)).scalar()
    engine.dispose()
    return n or 0


def _count(url: str, table: str, where: str = "1=1", **params: object) -> int:
    engine = _engine(url)
    with engine.connect() as connection:
        n = connection.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {where}"), params).scalar_one()
    engine.dispose()
    return n


def _tables_containing(url: str, needle: str) -> list[str]:
    """Every table.column of a database whose text contains ``needle`` (case-insensitive)."""
    engine = _engine(url)
    meta = MetaData()
    meta.reflect(engine)
    hits = []
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            for column in table.columns:
                n = connection.execute(
                    select(func.count())
                    .select_from(table)
                    .where(func.lower(cast(column, String)).contains(needle.lower(), autoescape=True))
                ).scalar()
                if n:
                    hits.append(f"{table.name}.{column.name}")
    engine.dispose()
    return hits


def _printed(out: str) -> dict[str, int]:
    """The counts of a printed report, by label."""
    rows = [line.rsplit(None, 1) for line in out.strip().splitlines()[1:]]
    return {label.strip(): int(count) for label, count in rows}


def _snapshot(dbs: Databases) -> dict[str, int]:
    counts = {f"events:{s}": _events(dbs.tracker_url, s) for s in ALICE_CONVERSATIONS + OTHER_CONVERSATIONS}
    for table in ("requests", "request_notes", "request_events", "answers"):
        counts[table] = _count(dbs.requests_url, table)
    return counts


def _store(dbs: Databases) -> RequestStore:
    return RequestStore(dbs.requests_url, member_key_secret=SECRET)


def _reference(dbs: Databases, conversation: str) -> str:
    with _store(dbs) as store:
        return next(r.reference for r in store.list() if r.conversation_id == conversation)


# --------------------------------------------------------------------------- the recorded data


@pytest.mark.stack
def test_recorded_databases_hold_what_the_tests_need(dbs: Databases) -> None:
    """Guards the other tests: both members' values really are in both databases before erasure."""
    for sender in ALICE_CONVERSATIONS + OTHER_CONVERSATIONS:
        assert _events(dbs.tracker_url, sender) > 0, sender
    assert "events.data" in _tables_containing(dbs.tracker_url, ALICE["email"])
    assert "events.data" in _tables_containing(dbs.tracker_url, BOB["member_id"])
    assert "requests.data" in _tables_containing(dbs.requests_url, ALICE["member_id"])
    assert _count(dbs.requests_url, "requests") == 2
    assert _count(dbs.requests_url, "answers", "conversation_id = :c", c="alice-request") >= 1
    assert _count(dbs.requests_url, "answers", "conversation_id = :c AND helpful IS NOT NULL", c="alice-request") == 1
    assert _count(dbs.requests_url, "answers", "conversation_id = :c", c="anonymous") == 1


# --------------------------------------------------------------------------- erasure


@pytest.mark.stack
def test_erase_removes_everything_about_the_member_and_nothing_else(
    dbs: Databases, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with _store(dbs) as store:
        store.add_note(_reference(dbs, "alice-request"), "agent", "identity checked")
        store.add_note(_reference(dbs, "bob-request"), "agent", "identity checked")
    before = _snapshot(dbs)
    dbs.env(monkeypatch)

    code = main(["retention", "erase", "--member-id", "am-204 817", "--email", "ALICE.Martin@example.com"])

    out = capsys.readouterr().out
    assert code == 0
    assert not [value for value in ALICE_CLEAR + ["am-204 817", "ALICE.Martin"] if value.lower() in out.lower()]
    assert "retention erase: deleted" in out
    # The tracker: both of Alice's conversations are gone, the others are untouched.
    for sender in ALICE_CONVERSATIONS:
        assert _events(dbs.tracker_url, sender) == 0, sender
    for sender in OTHER_CONVERSATIONS:
        assert _events(dbs.tracker_url, sender) == before[f"events:{sender}"], sender
    # The request store: Alice's request with its note, history and answers is gone; Bob's stays.
    assert _count(dbs.requests_url, "requests") == before["requests"] - 1
    assert _count(dbs.requests_url, "requests", "conversation_id = :c", c="bob-request") == 1
    assert _count(dbs.requests_url, "request_notes") == before["request_notes"] - 1 == 1
    assert _count(dbs.requests_url, "answers", "conversation_id IN ('alice-request', 'alice-abandoned')") == 0
    for sender in OTHER_CONVERSATIONS:
        assert _count(dbs.requests_url, "answers", "conversation_id = :c", c=sender) >= 1
    # No column of any table holds any of Alice's values any more; Bob's are still there.
    for value in ALICE_CLEAR:
        assert _tables_containing(dbs.tracker_url, value) == [], value
        assert _tables_containing(dbs.requests_url, value) == [], value
    assert _tables_containing(dbs.tracker_url, BOB["email"]) and _tables_containing(dbs.requests_url, BOB["email"])
    # Counts printed: 2 conversations (1 by request, 1 by identifier), 1 request, 1 note.
    assert _printed(out) == {
        "conversations": 2,
        "linked by the member's requests": 1,
        "found by the member's identifiers": 1,
        "conversation events": before["events:alice-request"] + before["events:alice-abandoned"],
        "requests": 1,
        "request notes": 1,
        "request status events": 1,
        "recorded answers (with feedback)": before["answers"] - _count(dbs.requests_url, "answers"),
        "review actions on answers": 0,
        "live chat messages": 0,  # none recorded here; tests/web/test_live_sockets.py has some
    }


@pytest.mark.stack
def test_erased_values_are_gone_from_the_sqlite_files_too(dbs: Databases) -> None:
    if not dbs.files:
        pytest.skip("file contents only apply to SQLite")
    erase(dbs.settings, member_id=ALICE["member_id"], email=ALICE["email"])
    for path in dbs.files:
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # with -wal/-journal files
        for value in ALICE_CLEAR:
            assert value.encode() not in raw, (path.name, value)
        assert BOB["email"].encode() in raw  # the check does see values that are there


@pytest.mark.stack
def test_erase_by_email_only_finds_the_same_conversations(dbs: Databases) -> None:
    report = erase(dbs.settings, email=ALICE["email"])
    assert report.counts["conversations"] == 2 and report.counts["requests"] == 1
    assert all(_events(dbs.tracker_url, s) == 0 for s in ALICE_CONVERSATIONS)
    assert all(_events(dbs.tracker_url, s) > 0 for s in OTHER_CONVERSATIONS)


@pytest.mark.stack
def test_erase_dry_run_counts_and_changes_nothing(dbs: Databases) -> None:
    before = _snapshot(dbs)
    dry = erase(dbs.settings, member_id=ALICE["member_id"], email=ALICE["email"], dry_run=True)
    assert _snapshot(dbs) == before
    assert "would delete" in dry.lines()[0]
    real = erase(dbs.settings, member_id=ALICE["member_id"], email=ALICE["email"])
    assert dry.counts == real.counts and real.counts["conversations"] == 2
    again = erase(dbs.settings, member_id=ALICE["member_id"], email=ALICE["email"])
    assert set(again.counts.values()) == {0}  # idempotent: nothing left to find


# --------------------------------------------------------------------------- retention


def _backdate(dbs: Databases, days: int) -> None:
    """Make Alice's submitted and the anonymous conversation old, Bob's too (his request stays open),
    and all but the last event of Alice's abandoned conversation (so it is still active)."""
    old = NOW - timedelta(days=days)
    seconds = days * 86400
    tracker = _engine(dbs.tracker_url)
    with tracker.begin() as connection:
        connection.execute(
            update(EVENTS)
            .where(EVENTS.c.sender_id.in_(["alice-request", "anonymous", "bob-request"]))
            .values(timestamp=EVENTS.c.timestamp - seconds)
        )
        last = connection.execute(
            select(func.max(EVENTS.c.id)).where(EVENTS.c.sender_id == "alice-abandoned")
        ).scalar_one()
        connection.execute(
            update(EVENTS)
            .where(EVENTS.c.sender_id == "alice-abandoned", EVENTS.c.id != last)
            .values(timestamp=EVENTS.c.timestamp - seconds)
        )
    tracker.dispose()
    with _store(dbs) as store:
        store.update_status(_reference(dbs, "alice-request"), "done", "agent", now=old)
        with store.engine.begin() as connection:
            connection.execute(
                update(Answer).where(Answer.conversation_id.in_(["alice-request", "anonymous"])).values(created_at=old)
            )
            connection.execute(update(Request).where(Request.conversation_id == "alice-request").values(created_at=old))


@pytest.mark.stack
def test_purge_deletes_old_conversations_and_closed_requests_only(
    dbs: Databases, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _backdate(dbs, 400)
    before = _snapshot(dbs)
    dbs.env(monkeypatch)

    assert main(["retention", "purge", "--dry-run"]) == 0  # default period: 365 days
    dry_out = capsys.readouterr().out
    assert _snapshot(dbs) == before
    assert main(["retention", "purge"]) == 0
    out = capsys.readouterr().out

    assert dry_out.replace(" (dry run, nothing deleted): would delete", ": deleted") == out
    # Old conversations are gone; Bob's is old but his request is open; Alice's abandoned one is active.
    assert _events(dbs.tracker_url, "alice-request") == 0
    assert _events(dbs.tracker_url, "anonymous") == 0
    assert _events(dbs.tracker_url, "bob-request") == before["events:bob-request"]
    assert _events(dbs.tracker_url, "alice-abandoned") == before["events:alice-abandoned"]
    # Alice's request was closed 400 days ago: gone with its history; Bob's open request stays.
    assert _count(dbs.requests_url, "requests") == 1
    assert _count(dbs.requests_url, "requests", "conversation_id = :c", c="bob-request") == 1
    assert _count(dbs.requests_url, "request_events") == 1  # Bob's creation event
    assert _count(dbs.requests_url, "answers", "conversation_id IN ('alice-request', 'anonymous')") == 0
    assert _count(dbs.requests_url, "answers", "conversation_id = :c", c="bob-request") >= 1
    printed = _printed(out)
    assert printed["conversations"] == 2 and printed["conversations kept (open request)"] == 1
    assert printed["requests"] == 1 and printed["request status events"] == 2
    assert printed["conversation events"] == before["events:alice-request"] + before["events:anonymous"]

    # A shorter period now catches nothing more except what is older than it.
    assert purge(dbs.settings, 500).counts["conversations"] == 0


@pytest.mark.stack
def test_purge_keeps_everything_recent(dbs: Databases) -> None:
    before = _snapshot(dbs)
    report = purge(dbs.settings, 30)
    assert report.counts["conversations"] == 0 and report.counts["requests"] == 0
    assert _snapshot(dbs) == before


# --------------------------------------------------------------------------- without a live stack


def _tracker_with(tmp_path: Path, rows: list[tuple[str, str, dict]]) -> str:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    engine = create_engine(url)
    EVENTS.metadata.create_all(engine)
    with engine.begin() as connection:
        for sender, kind, data in rows:
            connection.execute(
                insert(EVENTS).values(
                    sender_id=sender, type_name=kind, timestamp=NOW.timestamp(), data=json.dumps(data)
                )
            )
    engine.dispose()
    return url


def test_identifiers_match_whole_values_only(tmp_path: Path) -> None:
    url = _tracker_with(
        tmp_path,
        [
            ("slot", "slot", {"event": "slot", "name": "member_id", "value": "AM204817"}),
            ("typed", "user", {"event": "user", "text": "my id is am204817."}),
            ("email-upper", "user", {"event": "user", "text": "ALICE.MARTIN@EXAMPLE.COM please"}),
            ("longer-id", "user", {"event": "user", "text": "AM2048170"}),
            ("inside-id", "user", {"event": "user", "text": "ref XAM204817"}),
            ("longer-email", "user", {"event": "user", "text": "alice.martin@example.com.au"}),
            ("prefixed-email", "user", {"event": "user", "text": "malice.martin@example.com"}),
            ("bot-echo", "bot", {"event": "bot", "text": "AM204817"}),  # not member input
            ("number", "user", {"event": "user", "text": "call 204817"}),
        ],
    )
    with TrackerDatabase(url) as tracker:
        assert tracker.conversations_mentioning(email="Alice.Martin@example.com", member_id="am 204817") == [
            "email-upper",
            "slot",
            "typed",
        ]
        assert tracker.conversations_mentioning(member_id="AM204817") == ["slot", "typed"]


def test_missing_tracker_file_is_an_empty_store_and_is_not_created(tmp_path: Path) -> None:
    settings = Settings.from_env(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'requests.db'}")
    report = purge(settings, 0)
    assert report.counts["conversations"] == 0
    assert not (tmp_path / "tracker.db").exists()
    assert erase(settings, email="nobody@example.com").counts["conversations"] == 0


def test_tracker_store_url_setting() -> None:
    assert Settings.from_env({}, var_dir=Path("/srv/bot")).tracker_db_url == "sqlite:////srv/bot/tracker.db"
    pg = "postgresql+psycopg2://rasa@db/tracker"
    assert Settings.from_env({"BOT_TRACKER_STORE_URL": pg}).tracker_db_url == pg
    assert Settings.from_env({"BOT_RETENTION_DAYS": "90"}).retention_days == 90
    assert Settings.from_env({}).retention_days == 365


def test_report_lines_are_counts_only() -> None:
    report = RetentionReport("erase", dry_run=False, counts={"conversations": 2, "requests": 1})
    lines = report.lines()
    assert lines[0] == "retention erase: deleted"
    assert _printed("\n".join(lines)) == {"conversations": 2, "requests": 1}


@pytest.mark.parametrize(
    "argv",
    [["retention", "erase"], ["retention", "erase", "--email", "  "], ["retention", "purge", "--days", "-1"]],
)
def test_cli_refuses_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err
