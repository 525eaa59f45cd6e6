"""Shared fixtures: settings pointing at the real documents and a built index."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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
