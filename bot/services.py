"""The long-lived objects a server process needs, created once at start-up.

The action server and the web app both need the retriever (model + index, hundreds of
MB and seconds to load), the request store (a connection pool) and the fact book. They
are built here once, eagerly, so a missing or stale index stops the process at start-up
with a message saying what to run, instead of failing on the first member's question.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

from bot.dialogue.facts import FactBook
from bot.knowledge.index import IndexMismatchError, stale_reasons
from bot.language.detect import detector
from bot.live import LiveStore
from bot.requests import RequestStore
from bot.retrieval import Retriever
from bot.settings import Settings


@dataclass
class Services:
    """Retriever, request store, facts and the live hand-off record for one process."""

    settings: Settings
    retriever: Retriever
    store: RequestStore
    facts: FactBook
    live: LiveStore

    @classmethod
    def create(cls, settings: Settings) -> Services:
        """Load the index (raises IndexMismatchError), open and migrate the store, and
        the language identifier (its model takes about half a second to load: at start-up,
        not in the first member's reply)."""
        retriever = Retriever.from_settings(settings)
        detector()
        store = RequestStore.from_settings(settings)
        store.create_schema()
        services = cls.assemble(settings, retriever, store)
        services.live.create_schema()
        return services

    @classmethod
    def assemble(cls, settings: Settings, retriever: Retriever, store: RequestStore) -> Services:
        """Services around a loaded retriever and an open store (the fact book is read from
        the retriever's passages, the live record shares the store's database); the caller
        keeps closing the store."""
        return cls(
            settings=settings,
            retriever=retriever,
            store=store,
            facts=FactBook(retriever.passages),
            live=LiveStore(store.engine),
        )


def check_index(settings: Settings | None = None) -> None:
    """Raise IndexMismatchError (saying to run `make index`) unless the index is usable.

    Cheap (reads the manifest and hashes the documents): servers call it first thing.
    """
    settings = settings or Settings.from_env()
    reasons = stale_reasons(settings)
    if reasons:
        raise IndexMismatchError(
            f"the index in {settings.index_dir} cannot be used ({'; '.join(reasons)}): run `make index`"
        )


_LOADING = threading.Lock()


@lru_cache(maxsize=1)
def _services() -> Services:
    return Services.create(Settings.from_env())


def get_services() -> Services:
    """The process-wide services, built once from the environment's settings.

    Locked, because the action server starts loading them in a background thread and
    a first request must wait for that load rather than start a second one.
    """
    with _LOADING:
        return _services()
