"""Shared fixtures: settings on the real documents, an index built for the session, the
services the servers build from them, and a PostgreSQL database.

The index is built once per session into a temporary folder, never into the checkout's
index/. While the session has it, ``BOT_INDEX_DIR`` names it, so the processes tests
start (the CLI, the stacks of bot/devtools/stack.py) read the same index; fixtures that
start them depend on ``retriever`` for that reason.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.devtools.stack import ensure_secrets  # noqa: E402
from bot.evaluation.stories import StoryRunner  # noqa: E402
from bot.settings import Settings, env_name  # noqa: E402
from tests.helpers import postgres_admin, postgres_server, started_stack  # noqa: E402

# The back-end secrets (action server, Rasa API, member sessions) for this pytest run: the
# stacks tests start inherit them, and every Settings the tests build reads them.
ensure_secrets()

if TYPE_CHECKING:
    from bot.requests import RequestStore
    from bot.retrieval import Retriever
    from bot.services import Services


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's index folder (filled by the ``retriever`` fixture)."""
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def settings(index_dir: Path) -> Settings:
    """The project's settings (real documents) with the session's index folder."""
    return Settings.from_env(index_dir=index_dir)


@pytest.fixture(scope="session")
def retriever(settings: Settings) -> Iterator[Retriever]:
    """The real retriever over an index of the real documents, built once per pytest run;
    ``BOT_INDEX_DIR`` points at it until the session ends. The checkout's index (``make
    test`` builds it first) is copied in to start from: the builds below check what an
    index was built from (documents, alternate questions, model, settings) and rebuild
    whatever does not match, so the session's index is current either way, and the copy
    saves embedding everything twice."""
    from bot.knowledge.index import build_index
    from bot.retrieval import Retriever

    shipped = Settings.from_env().index_dir
    if shipped.is_dir() and shipped.resolve() != settings.index_dir.resolve():
        for path in shipped.iterdir():
            if path.is_file():
                shutil.copy2(path, settings.index_dir / path.name)
    build_index(settings, progress=False)
    if settings.multilingual:
        from bot.knowledge.index import load_index
        from bot.language.crosslingual import build_vectors

        build_vectors(settings, load_index(settings).passages)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(env_name("index_dir"), str(settings.index_dir))
        yield Retriever.from_settings(settings)


@pytest.fixture
def make_services(retriever: Retriever) -> Iterator[Callable[..., Services]]:
    """A factory of :class:`Services` on the session's retriever: ``make_services(settings,
    **overrides)`` applies the overrides to the settings, opens and migrates the request
    store they name (``database_url``) and closes it after the test."""
    from bot.requests import RequestStore
    from bot.services import Services

    stores: list[RequestStore] = []

    def make(settings: Settings, **overrides: Any) -> Services:
        settings = dataclasses.replace(settings, **overrides)
        store = RequestStore.from_settings(settings)
        stores.append(store)
        store.create_schema()
        return Services.assemble(settings, retriever, store)

    yield make
    for store in stores:
        store.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A uniquely named PostgreSQL database for this test session, dropped afterwards."""
    admin = postgres_admin()
    name = f"bot_requests_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server().sqlalchemy_url(name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def live_runner(settings: Settings, retriever: Retriever) -> Iterator[StoryRunner]:
    """A StoryRunner talking to a freshly started stack (Rasa 5205, actions 5255, SQLite
    tracker and request store in a temporary folder, the session's index); ``.rasa_url``
    reaches Rasa and ``.settings.var_dir`` holds the servers' logs."""
    with tempfile.TemporaryDirectory(prefix="live-") as tmp:
        db = f"sqlite:///{tmp}/requests.db"
        env = {env_name("database_url"): db, env_name("index_dir"): str(settings.index_dir)}
        with started_stack(Path(tmp), env, rasa_port=5205, action_port=5255) as stack:
            live = dataclasses.replace(settings, database_url=db, var_dir=Path(tmp), action_server_url=stack.action_url)
            yield StoryRunner(stack.rasa_url, live)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running in
    the main thread for the rest of the session, which async tests cannot share."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
