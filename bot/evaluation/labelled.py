"""The labelled question sets: our member-question sets in ``tests/eval/``, by role, and
the path of PolicyQA's dev set. Offline code only (evaluation, training, benchmarks): the
running assistant never reads them.

A member-question set is a YAML file of in-scope ``questions`` (each ``q`` with the
``passages`` that answer it) and ``out_of_scope`` questions. Its role is the folder it is
in, so that every path says what the set may be used for:

* ``tuning/``: the alternate questions (data/documents/passage_questions.yml) were tuned
  on it, and the answer reader and the confidence are trained on it;
* ``training/``: the answer reader and the confidence are trained on it (`bot reader`,
  `bot calibrate`), so its figures are in-sample;
* ``calibration/``: the answer and clarify thresholds are set on it (`bot calibrate`),
  scored by the shipped reader and confidence, which are never trained on it; its band
  figures decided where the bands start, so they are no estimate either;
* ``heldout/``: nothing is fitted on it. Pooled, these sets are the honest estimate for
  new questions (the report's "held out, pooled" row).

A new set goes in ``heldout/`` and is held out by being there; it moves (``git mv``, and
a line in its header saying so) only when something is fitted on it. Each set's header
says who wrote it and how. A set of questions in another language than English says so
in a top-level ``language`` (ISO 639-1): `bot eval` reports those per language, apart
from the English sets and their pooled row.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.settings import ROOT

EVAL_DIR = ROOT / "tests" / "eval"
#: PolicyQA's dev set (MIT licence), outside this repository: a benchmark of privacy-policy
#: questions nobody on the team wrote, and the query adapter's training data.
POLICYQA_DEV = ROOT.parent / "shared" / "benchmarks" / "policyqa" / "dev.json"

#: Each role (its folder under EVAL_DIR), in the order sets are loaded, with what the
#: report says about a set in it.
ROLES = {
    "tuning": "tuned on; reader and confidence trained on it: in-sample",
    "training": "reader and confidence trained on it: in-sample",
    "calibration": "thresholds set on it, not trained on",
    "heldout": "held out: nothing fitted on it",
}
TUNING, TRAINING, CALIBRATION, HELD_OUT = ROLES
#: The roles the answer reader and the confidence are trained on, pooled in this order
#: (their fitted files record a digest of the questions in this order).
TRAINED_ON = (TUNING, TRAINING)
#: The set the alternate questions were tuned on; the latency benchmarks ask its questions.
DEFAULT_QUESTIONS = EVAL_DIR / TUNING / "questions.yml"


@dataclass
class LabelledSet:
    """One labelled file: its name (``holdout-9.yml``), role (its folder under EVAL_DIR,
    None for a file elsewhere), path and questions."""

    name: str
    role: str | None
    path: Path
    questions: list[dict]
    out_of_scope: list[str]
    language: str = "en"

    @property
    def pair(self) -> tuple[list[dict], list[str]]:
        """In-scope and out-of-scope questions, as the fitting code takes them."""
        return self.questions, self.out_of_scope

    @property
    def where(self) -> str:
        """The path under EVAL_DIR (``calibration/holdout-9.yml``), or as given."""
        try:
            return self.path.resolve().relative_to(EVAL_DIR.resolve()).as_posix()
        except ValueError:
            return str(self.path)

    @property
    def role_label(self) -> str:
        """What the set is used for, as the report says it."""
        return ROLES[self.role] if self.role else f"not under {shown(EVAL_DIR)}/<role>/: role unknown"


def shown(path: Path) -> str:
    """``path`` relative to the repository (``tests/eval/...``, ``../shared/...``), or
    absolute when it is further away."""
    relative = os.path.relpath(Path(path).resolve(), ROOT)
    return str(Path(path).resolve()) if relative.startswith(os.path.join(os.pardir, os.pardir)) else relative


def load_questions(path: Path) -> tuple[list[dict], list[str]]:
    """In-scope questions (``q``, ``passages``) and out-of-scope questions."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return list(data.get("questions") or []), [str(q) for q in data.get("out_of_scope") or []]


def role_of(path: Path) -> str | None:
    """The role of the file at ``path``: its folder's, when that is a role folder of EVAL_DIR."""
    folder = Path(path).resolve().parent
    return folder.name if folder.parent == EVAL_DIR.resolve() and folder.name in ROLES else None


def language_of(path: Path) -> str:
    """The language the set's questions are written in (``language``; English when absent)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return str(data.get("language") or "en")


def load(path: Path) -> LabelledSet:
    """The set at ``path``, its role read from its folder."""
    path = Path(path)
    return LabelledSet(path.name, role_of(path), path, *load_questions(path), language=language_of(path))


def _order(path: Path) -> tuple[list[int], str]:
    """Oldest first: holdout.yml, holdout-2.yml, ..., holdout-10.yml."""
    return [int(n) for n in re.findall(r"\d+", path.stem)], path.name


def set_paths(*roles: str) -> list[Path]:
    """The files of ``roles`` (default all), role by role in ROLES order, oldest first."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; the roles are {list(ROLES)}")
    chosen = [role for role in ROLES if role in (roles or ROLES)]
    return [p for role in chosen for p in sorted((EVAL_DIR / role).glob("*.yml"), key=_order)]


def sets(*roles: str) -> list[LabelledSet]:
    """The labelled sets of ``roles`` (default all), loaded, in :func:`set_paths` order."""
    return [load(p) for p in set_paths(*roles)]
