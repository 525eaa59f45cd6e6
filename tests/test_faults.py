"""Faults, each caused for real: a stopped or frozen action server, a database that refuses
connections or is read-only at the moment a member submits, a missing or corrupt index.

The stack is the real one (Rasa 3.6 from .venv-rasa, the action server and web app from
.venv) on private ports, with the request store in a PostgreSQL database of its own that
the tests take away and give back with server-side commands.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devtools.stack import PYTHON, Stack
from bot.requests import RequestStore, RequestStoreError
from bot.settings import ROOT, Settings
from tests.helpers import postgres_admin, postgres_server, started_stack

pytestmark = pytest.mark.stack

#: The web app gives up on Rasa after this long (BOT_RASA_TIMEOUT) and apologises.
RASA_TIMEOUT = 8


class Database:
    """A PostgreSQL database the tests can take away (no connections) or make read-only."""

    def __init__(self) -> None:
        self.admin = postgres_admin()
        self.name = f"bot_faults_{uuid.uuid4().hex[:10]}"
        self._sql(f'CREATE DATABASE "{self.name}"')
        self.url = postgres_server().sqlalchemy_url(self.name)

    def _sql(self, statement: str) -> None:
        with self.admin.cursor() as cursor:
            cursor.execute(statement)

    def _drop_connections(self) -> None:
        self._sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
        )

    def refuse_connections(self) -> None:
        """The database goes away for the app: open connections are cut, new ones refused."""
        self._sql(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self._drop_connections()

    def read_only(self) -> None:
        """Every new transaction is read-only; open connections are cut so the app reconnects."""
        self._sql(f'ALTER DATABASE "{self.name}" SET default_transaction_read_only = on')
        self._drop_connections()

    def restore(self) -> None:
        """Back to normal."""
        self._sql(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')
        self._sql(f'ALTER DATABASE "{self.name}" RESET default_transaction_read_only')
        self._drop_connections()

    def count(self, kind: str) -> int:
        """Requests of one kind stored (read through our own store, on a fresh connection)."""
        store = RequestStore(self.url)
        try:
            return len(store.list(kind=kind, limit=500))
        finally:
            store.close()

    def drop(self) -> None:
        self.restore()
        self._sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.close()


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    db = Database()
    yield db
    db.drop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, retriever, database: Database) -> Iterator[Stack]:
    """Rasa (5505), action server (5555) and web app (8505), requests in PostgreSQL."""
    tmp = tmp_path_factory.mktemp("faults-stack")
    env = {"BOT_DATABASE_URL": database.url, "BOT_RASA_TIMEOUT": str(RASA_TIMEOUT)}
    with started_stack(tmp, env, rasa_port=5505, action_port=5555, web_port=8505) as running:
        yield running
        for proc in running.processes.values():  # never leave a frozen process behind
            try:
                os.killpg(proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


#: One cookie jar per simulated member: the web chat keeps the conversation in a cookie.
_MEMBERS: dict[str, urllib.request.OpenerDirector] = {}


def _post(url: str, body: dict, timeout: float = 60, member: str = "") -> tuple[int, object, float]:
    """POST JSON as ``member`` (their cookies); (status, decoded body, seconds taken),
    also for 4xx/5xx answers."""
    opener = _MEMBERS.setdefault(
        member, urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    )
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    started = time.monotonic()
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), time.monotonic() - started


def chat(stack: Stack, sender: str, message: str) -> tuple[int, list[dict], float]:
    """A member's message through the web chat: (status, bot messages, seconds)."""
    status, body, took = _post(f"{stack.web_url}/api/chat", {"message": message}, member=sender)
    assert isinstance(body, dict), body
    return status, body.get("messages") or [], took


def say(stack: Stack, sender: str, message: str) -> str:
    """A message straight to Rasa's REST channel; the bot's texts joined."""
    status, body, _ = _post(f"{stack.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": message})
    assert status == 200 and isinstance(body, list), (status, body)
    return "\n".join(m.get("text", "") for m in body)


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def _citations(messages: list[dict]) -> list[dict]:
    return [c for m in messages for c in ((m.get("custom") or {}).get("citations") or [])]


QUESTION = "how do I submit a claim?"


def _assert_apology(status: int, messages: list[dict], expected_status: int) -> None:
    assert status == expected_status, (status, messages)
    text = texts(messages)
    assert "sorry" in text.lower()
    assert "contact us by email, by post, or by phone" in text, "the apology gives our contact channels"
    assert _citations(messages), "the contact details are quoted with their source"


def test_action_server_down_gives_an_apology_then_recovers(stack: Stack) -> None:
    sender = f"faults-down-{uuid.uuid4().hex}"
    status, messages, _ = chat(stack, sender, QUESTION)
    assert status == 200 and _citations(messages)

    stack.kill("actions")
    status, messages, took = chat(stack, sender, QUESTION)
    _assert_apology(status, messages, 502)
    assert took < RASA_TIMEOUT + 5, "the member is not left waiting"

    stack.restart("actions")
    status, messages, _ = chat(stack, sender, QUESTION)
    assert status == 200, messages
    assert _citations(messages), "the same conversation answers again with a cited answer"


def test_frozen_action_server_times_out_with_an_apology_then_recovers(stack: Stack) -> None:
    sender = f"faults-slow-{uuid.uuid4().hex}"
    actions = stack.processes["actions"]
    os.killpg(actions.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        status, messages, took = chat(stack, sender, QUESTION)
    finally:
        os.killpg(actions.pid, signal.SIGCONT)
    _assert_apology(status, messages, 504)
    assert took < RASA_TIMEOUT + 5
    # Rasa finishes the frozen turn once the action server runs again; then the
    # conversation carries on normally.
    deadline = time.monotonic() + 60
    while True:
        status, messages, _ = chat(stack, sender, "what is the phone number for claims?")
        if status == 200 and _citations(messages) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status == 200 and _citations(messages), messages


def _fill_callback_form(stack: Stack, sender: str) -> None:
    assert "name" in say(stack, sender, "can someone call me back?").lower()
    say(stack, sender, "Jane Doe")
    say(stack, sender, "+32 3 123 45 67")
    say(stack, sender, "weekday mornings")
    assert "Shall I submit it?" in say(stack, sender, "a question about my claim")


@pytest.mark.parametrize("fault", ["refuse_connections", "read_only"])
def test_database_fault_at_submission_is_told_and_nothing_claims_saved(
    stack: Stack, database: Database, fault: str
) -> None:
    before = database.count("callback")
    sender = f"faults-db-{fault}-{uuid.uuid4().hex}"
    _fill_callback_form(stack, sender)
    getattr(database, fault)()
    try:
        reply = say(stack, sender, "yes")
    finally:
        database.restore()
    assert "not** be saved" in reply and "Nothing was submitted" in reply
    assert "CB-" not in reply, "no reference for a request that was not stored"
    assert database.count("callback") == before

    # With the database back, the same member can submit and gets a reference.
    _fill_callback_form(stack, sender)
    reply = say(stack, sender, "yes")
    assert "CB-" in reply
    assert database.count("callback") == before + 1


def test_locked_sqlite_database_raises_and_stores_nothing(tmp_path: Path) -> None:
    """The embedded default: another process holds the SQLite file's write lock (the store
    waits its busy timeout, 10 s, then gives up)."""
    url = f"sqlite:///{tmp_path / 'requests.db'}"
    store = RequestStore(url)
    store.create_schema()
    holder = sqlite3.connect(tmp_path / "requests.db", timeout=0.1, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(RequestStoreError):
            store.submit("callback", {"full_name": "Jane Doe", "phone_number": "+3231234567"}, conversation_id="c1")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.list() == []
    store.close()


def _start_action_server(index_dir: Path, port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "BOT_INDEX_DIR": str(index_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [str(PYTHON), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_action_server_refuses_to_start_without_an_index(tmp_path: Path) -> None:
    result = _start_action_server(tmp_path, 5598)
    assert result.returncode != 0
    assert "run `make index`" in result.stderr
    assert "Traceback" not in result.stderr


def test_action_server_refuses_to_start_on_a_corrupt_index(tmp_path: Path, settings: Settings, retriever) -> None:
    index = tmp_path / "index"
    shutil.copytree(settings.index_dir, index)
    faiss_file = index / "dense.faiss"
    data = bytearray(faiss_file.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = os.urandom(64)  # bit rot in the vectors
    faiss_file.write_bytes(bytes(data))
    result = _start_action_server(index, 5599)
    assert result.returncode != 0
    assert "dense.faiss does not match its checksum" in result.stderr
    assert "run `make index`" in result.stderr
