"""Shared fixtures: settings pointing at the real documents and a built index."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.devtools.stack import MODEL, Stack  # noqa: E402
from bot.evaluation.stories import StoryRunner  # noqa: E402
from bot.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The project's settings (real documents, the index in index/)."""
    return Settings.from_env()


@pytest.fixture(scope="session")
def retriever(settings: Settings):
    """The real retriever over the real index (built if it is missing or stale)."""
    from bot.knowledge.index import build_index
    from bot.retrieval import Retriever

    build_index(settings, progress=False)
    return Retriever.from_settings(settings)


def _admin_connection():  # -> psycopg2 connection (imported lazily)
    import psycopg2

    last: Exception | None = None
    for dbname in ("postgres", "test"):
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=dbname, connect_timeout=3)
            conn.autocommit = True
            return conn
        except psycopg2.OperationalError as exc:
            last = exc
    pytest.skip(f"PostgreSQL server at 127.0.0.1:5432 is unreachable: {last}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A uniquely named PostgreSQL database for this test session, dropped afterwards."""
    admin = _admin_connection()
    name = f"bot_requests_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()




@pytest.fixture(scope="session")
def live_runner(retriever):
    """A StoryRunner talking to a freshly started stack (Rasa 5205, actions 5255, SQLite
    tracker and request store in a temporary folder); ``.rasa_url`` reaches Rasa and
    ``.settings.var_dir`` holds the servers' logs."""
    if not MODEL.is_file():
        pytest.fail(f"no trained model at {MODEL}: run `make train` (make test does)")
    with tempfile.TemporaryDirectory(prefix="live-") as tmp:
        db = f"sqlite:///{tmp}/requests.db"
        stack = Stack(rasa_port=5205, action_port=5255, web_port=None, var_dir=Path(tmp), env={"BOT_DATABASE_URL": db})
        with stack:
            yield StoryRunner(stack.rasa_url, Settings.from_env(database_url=db, var_dir=Path(tmp)))



def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running in
    the main thread for the rest of the session, which async tests cannot share."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
