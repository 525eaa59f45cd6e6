"""Informational intents: the question or verified passage each stands for, and the words
members have used for it (its NLU examples)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.retrieval.keywords import terms
from bot.settings import ROOT

INTENT_FILE = ROOT / "data" / "intent_questions.yml"
NLU_DIR = ROOT / "data" / "nlu"

# Rasa entity markup in an example: [text](entity) or [text]{"entity": ...}.
_ENTITY = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


@dataclass(frozen=True)
class IntentAnswer:
    """What an informational intent asks, optionally its verified passage, and the content
    terms of its question and NLU examples."""

    question: str
    passage: str | None = None
    request_type: str | None = None  # data-rights intents: the form to offer
    offer: str | None = None  # the intent of a request to offer after the answer (its form)
    self_service: bool = False  # the passage says how members do it themselves
    vocabulary: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def request_intent(self) -> str | None:
        """The intent whose form an explicit request under this intent starts, if any."""
        if self.self_service:
            return None
        return "start_data_rights_request" if self.request_type else self.offer

    def asks_nothing_else(self, message: str, passage_text: str = "") -> bool:
        """True when every content word of ``message`` is one members have used for this
        intent, or one its passage uses. The intent classifier says what the topic is, not
        that our documents answer what was asked: "does my plan cover IVF treatment" is
        claim_reimbursement to it, but "IVF" is the point of the question and no
        reimbursement passage answers it."""
        return _content(message) <= self.vocabulary | _content(passage_text)


def _content(text: str) -> frozenset[str]:
    """Content terms with possessives dropped ("doctor's" is "doctor")."""
    return frozenset(t.split("'")[0] for t in terms(text))


def intent_examples(nlu_dir: Path = NLU_DIR) -> dict[str, list[str]]:
    """Training examples per intent from the Rasa NLU files, entity markup removed."""
    examples: dict[str, list[str]] = defaultdict(list)
    for path in sorted(nlu_dir.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            if "intent" not in block:
                continue
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    examples[block["intent"]].append(_ENTITY.sub(r"\1", line[2:]))
    return dict(examples)


def load_intent_answers(path: Path = INTENT_FILE, nlu_dir: Path = NLU_DIR) -> dict[str, IntentAnswer]:
    """Read data/intent_questions.yml, with each intent's vocabulary from data/nlu/."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples = intent_examples(nlu_dir)
    answers = {}
    for name, spec in (data.get("intents") or {}).items():
        vocabulary = frozenset().union(*(_content(text) for text in [spec["question"], *examples.get(name, [])]))
        answers[name] = IntentAnswer(**spec, vocabulary=vocabulary)
    return answers
