"""Every story in tests/stories replayed against a live Rasa server and action server.

The stack (real Rasa 3.6 server from .venv-rasa, real action server from .venv, private
ports, throw-away SQLite tracker and request databases) is started once per session.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.stack import MODEL, Stack
from bot.stories import STORY_DIR, StoryRunner, load_stories

STORIES = load_stories([STORY_DIR])


@pytest.fixture(scope="session")
def live_runner(retriever):
    """A StoryRunner talking to a freshly started stack."""
    if not MODEL.is_file():
        pytest.fail(f"no trained model at {MODEL}: run `make train` (make test does)")
    with tempfile.TemporaryDirectory(prefix="live-") as tmp:
        db = f"sqlite:///{tmp}/requests.db"
        stack = Stack(rasa_port=5205, action_port=5255, web_port=None, var_dir=Path(tmp), env={"BOT_DATABASE_URL": db})
        with stack:
            yield StoryRunner(stack.rasa_url, Settings.from_env(database_url=db))


def test_there_are_enough_stories() -> None:
    assert len(STORIES) >= 40


@pytest.mark.stack
@pytest.mark.parametrize(("file", "story"), STORIES, ids=[s["story"] for _, s in STORIES])
def test_story(live_runner: StoryRunner, file: str, story: dict) -> None:
    result = live_runner.run_story(file, story)
    assert result.passed, "\n".join(result.failures)
