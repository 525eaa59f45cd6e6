"""``bot learn``: apply reviewed items, rebuild what depends on them, and prove the change.

1. The review actions not exported yet (bot/review/store.py) are written into a staged
   copy of ``data/documents/`` and of the reviewed story set (bot/review/export.py).
2. What depends on the changed files is rebuilt there: the index (alternate questions),
   the answer reader (alternate questions are among its examples; ``--no-reader`` skips
   its six minutes and leaves the shipped reader), the query adapter (only with
   ``--adapter``: it needs PolicyQA) and the confidence (``bot calibrate``, after any
   change: the out-of-scope examples and the reader's scores are its evidence). The
   thresholds stay the configured ones; when the refitted confidence suggests others,
   the command says so (a refitted reader moves them).
3. Every held-out set (``tests/eval/heldout/``, on which nothing is fitted) is scored
   before and after: hit@1, in-scope answered right, out of scope not answered.
4. When no held-out figure got worse the staged files replace the shipped ones (the
   index's manifest last) and the actions are marked exported. Otherwise nothing is
   replaced, the command says which figure fell and exits 1, unless ``--force``.

The staged copy stays under ``var/learn/`` for inspection.
"""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bot.evaluation import labelled
from bot.knowledge.index import MANIFEST_FILE, artefact_files, build_index
from bot.requests import RequestStore
from bot.retrieval import Retriever
from bot.review.export import STORY_FILE, ExportReport, export
from bot.review.store import ActionRecord, ReviewStore
from bot.settings import Settings

#: The figures compared per held-out set, with their labels.
FIGURES = {
    "hit1": "hit@1",
    "answered_right": "in scope answered right",
    "oos_not_answered": "out of scope not answered",
}
#: A figure counts as worse only below this much (floating-point noise, not a change).
TOLERANCE = 1e-9
LEARNER = "bot learn"


@dataclass
class SetFigures:
    """One held-out set's figures."""

    name: str
    in_scope: int
    out_of_scope: int
    hit1: float
    answered_right: float
    oos_not_answered: float


def score_set(retriever: Retriever, questions: list[dict], out_of_scope: list[str], name: str) -> SetFigures:
    """The figures of one labelled set under ``retriever`` (the shipped answer decision)."""
    hit1 = right = 0
    for q in questions:
        answer = retriever.answer(q["q"])
        top = answer.best.passage.id if answer.best else None
        hit1 += top in q["passages"]
        right += answer.answered and top in q["passages"]
    not_answered = sum(1 for q in out_of_scope if not retriever.answer(q).answered)
    n, m = len(questions), len(out_of_scope)
    return SetFigures(name, n, m, hit1 / n if n else 0.0, right / n if n else 0.0, not_answered / m if m else 1.0)


def held_out_figures(settings: Settings, paths: list[Path] | None = None) -> list[SetFigures]:
    """Every held-out set scored with the files ``settings`` names."""
    retriever = Retriever.from_settings(settings)
    chosen = [labelled.load(p) for p in paths] if paths else labelled.sets(labelled.HELD_OUT)
    return [score_set(retriever, s.questions, s.out_of_scope, s.name) for s in chosen]


def worse(before: list[SetFigures], after: list[SetFigures]) -> list[str]:
    """The figures that fell, as "set: figure 0.912 -> 0.905"."""
    fell = []
    for b, a in zip(before, after, strict=True):
        for key, label in FIGURES.items():
            old, new = getattr(b, key), getattr(a, key)
            if new < old - TOLERANCE:
                fell.append(f"{b.name}: {label} {old:.3f} -> {new:.3f}")
    return fell


def comparison(before: list[SetFigures], after: list[SetFigures]) -> list[str]:
    """A Markdown table of the figures before and after, per held-out set."""
    heads = " | ".join(f"{label} before → after" for label in FIGURES.values())
    lines = [f"| held-out set | questions | {heads} |", "| --- | ---: | " + " | ".join("---:" for _ in FIGURES) + " |"]
    for b, a in zip(before, after, strict=True):
        cells = []
        for key in FIGURES:
            old, new = getattr(b, key), getattr(a, key)
            mark = " ▼" if new < old - TOLERANCE else (" ▲" if new > old + TOLERANCE else "")
            cells.append(f"{old:.3f} → {new:.3f}{mark}")
        lines.append(f"| {b.name} | {b.in_scope} + {b.out_of_scope} | " + " | ".join(cells) + " |")
    return lines


def _changed(staged: Path, shipped: Path) -> list[str]:
    return sorted(
        p.name for p in staged.iterdir()
        if p.is_file() and (not (shipped / p.name).is_file() or not filecmp.cmp(p, shipped / p.name, shallow=False))
    )


def _refit(stage: Settings, report: ExportReport, *, reader: bool, adapter: bool) -> list[str]:
    """Rebuild, in the staged folders, what the exported items change; the steps run."""
    from bot.cli import cmd_adapt, cmd_calibrate, cmd_reader

    steps = []
    build_index(stage, force=True, progress=False)
    if stage.multilingual:
        from bot.language.crosslingual import build_index_vectors

        build_index_vectors(stage, force=True)
    steps.append("index")
    questions_changed = report.written["passage"] > 0
    if adapter and questions_changed:
        if cmd_adapt(argparse.Namespace(policyqa=None), stage) != 0:
            raise RuntimeError("bot adapt failed")
        steps.append("adapter")
    if reader and questions_changed:
        cmd_reader(argparse.Namespace(), stage)
        steps.append("reader")
    if questions_changed or report.written["out_of_scope"]:
        cmd_calibrate(argparse.Namespace(questions=None), stage)
        steps.append("calibration")
    return steps


def threshold_note(stage: Settings) -> str:
    """A warning when the refitted confidence suggests other thresholds than the configured
    ones (they are set in bot/settings.py, so the figures after are with the configured ones)."""
    from bot.retrieval.confidence import CONFIDENCE_FILE

    path = stage.documents_dir / CONFIDENCE_FILE
    fitted = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("fitted", {}) if path.is_file() else {}
    suggested = fitted.get("suggested_thresholds") or {}
    if not suggested:
        return ""
    now = {"clarify": stage.clarify_threshold, "answer": stage.answer_threshold}
    if all(abs(float(suggested.get(k, v)) - v) < 0.005 for k, v in now.items()):
        return ""
    return (f"note: the refitted confidence suggests thresholds clarify >= {suggested.get('clarify')}, answer >= "
            f"{suggested.get('answer')} (configured: {now['clarify']}, {now['answer']}); the figures after are with "
            "the configured ones (bot/settings.py, or BOT_CLARIFY_THRESHOLD and BOT_ANSWER_THRESHOLD for this run).")


def install(stage: Settings, settings: Settings, story_staged: Path, story_file: Path) -> list[str]:
    """Copy the staged files that differ over the shipped ones; the index's manifest last."""
    changed = _changed(stage.documents_dir, settings.documents_dir)
    for name in changed:
        shutil.copy2(stage.documents_dir / name, settings.documents_dir / name)
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    from bot.language.crosslingual import VECTORS_FILE

    multilingual = (VECTORS_FILE,) if (stage.index_dir / VECTORS_FILE).is_file() else ()
    for name in (*artefact_files(settings), *multilingual, MANIFEST_FILE):
        shutil.copy2(stage.index_dir / name, settings.index_dir / name)
    new_stories = story_staged.is_file() and (
        not story_file.is_file() or not filecmp.cmp(story_staged, story_file, shallow=False)
    )
    if new_stories:
        story_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(story_staged, story_file)
        changed.append(story_file.name)
    return changed


def learn(
    settings: Settings,
    *,
    force: bool = False,
    reader: bool = True,
    adapter: bool = False,
    held_out: list[Path] | None = None,
    story_file: Path = STORY_FILE,
    out: Callable[[str], object] = print,
) -> int:
    """Apply the pending review actions (see the module docstring); the exit code."""
    with RequestStore.from_settings(settings) as store:
        store.create_schema()
        review = ReviewStore(store)
        pending: list[ActionRecord] = review.actions(pending=True)
        if not pending:
            out("bot learn: no reviewed items wait to be applied")
            return 0
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        folder = Path(settings.var_dir) / "learn" / stamp
        stage = dataclasses.replace(settings, documents_dir=folder / "documents", index_dir=folder / "index")
        shutil.copytree(settings.documents_dir, stage.documents_dir)
        story_staged = folder / story_file.name
        if story_file.is_file():
            shutil.copy2(story_file, story_staged)
        report = export(pending, stage.documents_dir, story_staged)
        out(f"bot learn: {len(pending)} reviewed item(s) staged in {folder}")
        out("\n".join(report.lines()))
        out("scoring the held-out sets with the shipped files …")
        before = held_out_figures(settings, held_out)
        steps = _refit(stage, report, reader=reader, adapter=adapter)
        out(f"rebuilt: {', '.join(steps)}")
        note = threshold_note(stage) if "calibration" in steps else ""
        if note:
            out(note)
        if report.written["passage"] and not reader:
            out("note: the answer reader was not refitted (--no-reader); run `bot reader` and `bot calibrate` "
                "before shipping, its input digest no longer matches the alternate questions")
        out("scoring the held-out sets with the rebuilt files …")
        after = held_out_figures(stage, held_out)
        out("\n".join(comparison(before, after)))
        fell = worse(before, after)
        if fell and not force:
            out("refused: a held-out figure got worse, so the shipped files were not replaced "
                f"({'; '.join(fell)}). Review the items, or run again with --force to ship anyway.")
            review.audit(LEARNER, "learn.refused", f"{len(pending)} actions", "; ".join(fell))
            return 1
        if fell:
            out(f"forced: shipping although a held-out figure got worse ({'; '.join(fell)})")
        changed = install(stage, settings, story_staged, story_file)
        review.mark_exported(report.action_ids)
        review.audit(LEARNER, "learn.applied", f"{len(pending)} actions",
                     f"rebuilt {', '.join(steps)}; changed {', '.join(changed)}" + ("; forced" if fell else ""))
        out(f"applied: replaced {', '.join(changed) or 'nothing'} and the index in {settings.index_dir}; "
            "restart the servers to load them")
        return 0
