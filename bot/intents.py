"""Informational intents and the question or verified passage each stands for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.settings import ROOT

INTENT_FILE = ROOT / "data" / "intent_questions.yml"


@dataclass(frozen=True)
class IntentAnswer:
    """What an informational intent asks, and optionally its verified passage."""

    question: str
    passage: str | None = None
    request_type: str | None = None  # data-rights intents: the form to offer


def load_intent_answers(path: Path = INTENT_FILE) -> dict[str, IntentAnswer]:
    """Read data/intent_questions.yml."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {name: IntentAnswer(**spec) for name, spec in (data.get("intents") or {}).items()}
