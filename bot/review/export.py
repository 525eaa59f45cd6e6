"""Reviewed items into the data files the index and the calibration read (``bot review export``).

* "the right passage is X": the question becomes one of X's alternate questions
  (``data/documents/passage_questions.yml``, read by ``bot index`` and ``bot reader``);
* "out of scope": the question joins ``data/documents/out_of_scope.yml`` (read by the
  retriever's out-of-scope evidence, so by ``bot calibrate``);
* "save as a test story": the story joins ``tests/story_sets/reviewed.yml``, a labelled
  conversation set the story runner measures;
* "answer was right" confirms what the assistant does: nothing to write.

The two data files are edited as text, one line added where it belongs, so their
comments and layout stay as people wrote them; each file is checked by loading it back.
A question already there (case and spacing aside) is not added twice.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.knowledge.index import QUESTIONS_FILE
from bot.review.store import ActionRecord
from bot.settings import ROOT

OUT_OF_SCOPE_FILE = "out_of_scope.yml"
STORY_FILE = ROOT / "tests" / "story_sets" / "reviewed.yml"
STORY_HEADER = (
    "# Conversations reviewers saved from the answer log (bot/web/review.py), exported by\n"
    "# `bot review export`: each ends with the question reviewed and what should happen to it.\n"
    "# Measured by the story runner (reports/stories.md), not required to pass.\n"
)


class ExportError(ValueError):
    """A data file could not be changed as expected; nothing of that file was written."""


@dataclass
class ExportReport:
    """What an export wrote, per kind of action, and which actions it covered."""

    written: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # already in the file
    action_ids: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        names = {"passage": "alternate questions", "out_of_scope": "out-of-scope examples",
                 "story": "test stories", "right": "answers confirmed right"}
        return [
            f"  {label:<24} {self.written[kind]} written, {self.skipped[kind]} already there"
            for kind, label in names.items()
        ]


def _key(text: str) -> str:
    return " ".join(text.lower().split()).rstrip("?!. ")


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is one)."""
    return json.dumps(" ".join(text.split()), ensure_ascii=False)


def add_alternate_questions(path: Path, additions: Sequence[tuple[str, str]]) -> tuple[int, int]:
    """Add (passage id, question) pairs to passage_questions.yml under their passage;
    returns (written, already there)."""
    text = path.read_text(encoding="utf-8")
    existing = {k: {_key(q) for q in v or []} for k, v in (yaml.safe_load(text) or {}).get("passages", {}).items()}
    lines = text.splitlines()
    written = skipped = 0
    for passage_id, question in additions:
        if _key(question) in existing.get(passage_id, set()) or not _key(question):
            skipped += 1
            continue
        item = f"    - {_quoted(question)}"
        head = next((i for i, line in enumerate(lines) if line.rstrip() == f"  {passage_id}:"), None)
        if head is None:
            lines += [f"  {passage_id}:", item]
        else:
            end = head + 1
            while end < len(lines) and lines[end].startswith("    - "):
                end += 1
            lines.insert(end, item)
        existing.setdefault(passage_id, set()).add(_key(question))
        written += 1
    new_text = "\n".join(lines) + "\n"
    loaded = (yaml.safe_load(new_text) or {}).get("passages", {})
    if any(_key(q) not in {_key(x) for x in loaded.get(p) or []} for p, q in additions):
        raise ExportError(f"{path} did not read back with the added questions; it was left unchanged")
    path.write_text(new_text, encoding="utf-8")
    return written, skipped


def add_out_of_scope(path: Path, questions: Sequence[str]) -> tuple[int, int]:
    """Append questions to out_of_scope.yml's examples; returns (written, already there)."""
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if list(data) != ["examples"]:
        raise ExportError(f"{path} should hold only an 'examples' list")
    known = {_key(str(q)) for q in data["examples"] or []}
    added = []
    for question in questions:
        if _key(question) in known or not _key(question):
            continue
        known.add(_key(question))
        added.append(f"  - {_quoted(question)}")
    if added:
        new_text = text.rstrip("\n") + "\n" + "\n".join(added) + "\n"
        if len((yaml.safe_load(new_text) or {}).get("examples") or []) != len(data["examples"] or []) + len(added):
            raise ExportError(f"{path} did not read back with the added examples; it was left unchanged")
        path.write_text(new_text, encoding="utf-8")
    return len(added), len(questions) - len(added)


def add_stories(path: Path, stories: Sequence[dict]) -> tuple[int, int]:
    """Append stories to the reviewed story set; returns (written, already there)."""
    existing = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stories", []) if path.is_file() else []
    names = {s.get("story") for s in existing}
    fresh = [s for s in stories if s.get("story") not in names]
    if fresh:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = yaml.safe_dump({"stories": [*existing, *fresh]}, sort_keys=False, allow_unicode=True, width=1000)
        path.write_text(STORY_HEADER + body, encoding="utf-8")
    return len(fresh), len(stories) - len(fresh)


def export(actions: Sequence[ActionRecord], documents_dir: Path, story_file: Path = STORY_FILE) -> ExportReport:
    """Write ``actions`` into the data files under ``documents_dir`` and ``story_file``.

    For one answer only its latest verdict among passage / out of scope counts: a reviewer
    who changes their mind must not leave the question in both files.
    """
    report = ExportReport()
    latest: dict[object, ActionRecord] = {}
    for action in actions:
        if action.action in ("passage", "out_of_scope"):
            latest[action.answer_id if action.answer_id is not None else f"action {action.id}"] = action
    chosen = list(latest.values())
    passages = [(a.passage_id, a.question_masked) for a in chosen if a.action == "passage" and a.passage_id]
    if passages:
        report.written["passage"], report.skipped["passage"] = add_alternate_questions(
            documents_dir / QUESTIONS_FILE, passages
        )
    out_of_scope = [a.question_masked for a in chosen if a.action == "out_of_scope"]
    if out_of_scope:
        report.written["out_of_scope"], report.skipped["out_of_scope"] = add_out_of_scope(
            documents_dir / OUT_OF_SCOPE_FILE, out_of_scope
        )
    stories = [a.story for a in actions if a.action == "story" and a.story]
    if stories:
        report.written["story"], report.skipped["story"] = add_stories(story_file, stories)
    report.written["right"] = sum(1 for a in actions if a.action == "right")
    report.action_ids = [a.id for a in actions]
    return report
