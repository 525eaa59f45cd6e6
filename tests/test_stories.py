"""Every story in tests/stories replayed against a live Rasa server and action server.

The stack (real Rasa 3.6 server from .venv-rasa, real action server from .venv, private
ports, throw-away SQLite tracker and request databases) is started once per session.
"""

from __future__ import annotations

import pytest

from bot.evaluation.stories import STORY_DIR, StoryRunner, load_stories

STORIES = load_stories([STORY_DIR])


def test_there_are_enough_stories() -> None:
    assert len(STORIES) >= 40


@pytest.mark.stack
@pytest.mark.parametrize(("file", "story"), STORIES, ids=[s["story"] for _, s in STORIES])
def test_story(live_runner: StoryRunner, file: str, story: dict) -> None:
    result = live_runner.run_story(file, story)
    assert result.passed, "\n".join(result.failures)
