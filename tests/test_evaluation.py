"""The labelled sets by role (bot/evaluation/labelled.py) and the evaluation report
(bot/evaluation/scoring.py): its pooled figures, each set's role."""

from __future__ import annotations

import pytest

from bot.evaluation import labelled
from bot.evaluation.scoring import MODES, RankMetrics, pooled, write_report
from bot.settings import Settings
from bot.training.calibration import trained_sets


def _result(n: int, hit1: float, in_scope: dict[str, int], out_of_scope: dict[str, int]) -> dict:
    return {"modes": {"hybrid": RankMetrics(n, hit1, 1.0, hit1)},
            "bands": {"in_scope": in_scope, "out_of_scope": out_of_scope}}


def test_pooled_sets_weigh_each_question_once() -> None:
    """A set of 20 questions counts a quarter as much as one of 80, not half."""
    big = _result(80, 0.9, {"answer": 78, "clarify": 1, "abstain": 1}, {"answer": 6, "clarify": 0, "abstain": 54})
    small = _result(20, 0.5, {"answer": 10, "clarify": 5, "abstain": 5}, {"answer": 0, "clarify": 2, "abstain": 18})
    both = pooled([big, small])
    assert both["modes"]["hybrid"].n == 100
    assert both["modes"]["hybrid"].hit1 == pytest.approx(0.82)
    assert both["bands"]["in_scope_answer_band"] == pytest.approx(88 / 100)
    assert both["bands"]["in_scope_not_abstained"] == pytest.approx(94 / 100)
    assert both["bands"]["abstention_recall"] == pytest.approx(72 / 80)
    assert both["bands"]["oos_not_answered"] == pytest.approx(74 / 80)


def test_every_labelled_file_has_exactly_one_role() -> None:
    """A set's role is its folder under tests/eval/: a file anywhere else (tests/eval/ itself,
    a folder that is not a role, a subfolder of one) would be scored and fitted on by no one."""
    files = sorted(labelled.EVAL_DIR.rglob("*.yml"))
    assert files
    for path in files:
        parts = path.relative_to(labelled.EVAL_DIR).parts
        assert len(parts) == 2 and parts[0] in labelled.ROLES, f"{path}: not in tests/eval/<role>/"
        assert labelled.role_of(path) == parts[0]
    assert sorted(labelled.set_paths()) == files
    assert len(labelled.set_paths()) == len(set(labelled.set_paths()))


def test_training_calibration_and_held_out_roles_are_disjoint() -> None:
    """Fitted files record sets by name (confidence.yml), so a name is in one role only; the
    thresholds are never set on, nor the estimate made from, a set the models train on."""
    by_role = {role: {s.name for s in labelled.sets(role)} for role in labelled.ROLES}
    assert all(by_role.values()), by_role
    names = [name for role in labelled.ROLES for name in by_role[role]]
    assert len(names) == len(set(names)), names
    assert set(labelled.TRAINED_ON) == {labelled.TUNING, labelled.TRAINING}
    trained = {s.name for s in trained_sets()}
    assert trained == by_role[labelled.TUNING] | by_role[labelled.TRAINING]
    assert not trained & (by_role[labelled.CALIBRATION] | by_role[labelled.HELD_OUT])
    assert not by_role[labelled.CALIBRATION] & by_role[labelled.HELD_OUT]


def test_sets_load_role_by_role_oldest_first_and_a_new_set_is_held_out(tmp_path, monkeypatch) -> None:
    """The order is part of the answer reader's input digest: tuning, then training from
    holdout.yml up; a file dropped into heldout/ is held out without naming it anywhere."""
    monkeypatch.setattr(labelled, "EVAL_DIR", tmp_path)
    body = "questions:\n- q: how do I claim\n  passages: [faq#1]\nout_of_scope:\n- tell me a joke\n"
    for rel in ("heldout/holdout-10.yml", "heldout/holdout-9.yml", "training/holdout-2.yml",
                "training/holdout.yml", "training/holdout-11.yml", "tuning/questions.yml", "heldout/new.yml"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text(body)
    loaded = labelled.sets()
    assert [s.where for s in loaded] == [
        "tuning/questions.yml", "training/holdout.yml", "training/holdout-2.yml", "training/holdout-11.yml",
        "heldout/new.yml", "heldout/holdout-9.yml", "heldout/holdout-10.yml",
    ]
    assert [s.role for s in loaded] == ["tuning"] + ["training"] * 3 + ["heldout"] * 3
    assert loaded[0].pair == ([{"q": "how do I claim", "passages": ["faq#1"]}], ["tell me a joke"])
    assert labelled.load(tmp_path / "heldout" / "new.yml").role == labelled.HELD_OUT
    (tmp_path / "elsewhere.yml").write_text(body)
    assert labelled.load(tmp_path / "elsewhere.yml").role is None
    with pytest.raises(ValueError, match="unknown roles"):
        labelled.sets("holdout")


def _set_result(hit1: float) -> dict:
    metrics = RankMetrics(80, hit1, 1.0, hit1)
    return {
        "modes": dict.fromkeys(MODES, metrics),
        "per_document": {"faq": metrics},
        "failures": [],
        "separation_auroc": {"hybrid": 0.9},
        "bands": {
            "in_scope": {"answer": 78, "clarify": 1, "abstain": 1},
            "out_of_scope": {"answer": 6, "clarify": 0, "abstain": 54},
            "answered_correctly": 75, "abstention_precision": 0.98, "abstention_recall": 0.9,
            "in_scope_not_abstained": 79 / 80, "in_scope_answer_band": 78 / 80, "oos_not_answered": 0.9,
            "oos_wrongly_answered": [], "in_scope_abstained": [],
        },
    }


def test_the_report_shows_each_sets_role_and_pools_only_the_held_out_sets(tmp_path) -> None:
    results = [(labelled.LabelledSet(path.name, labelled.role_of(path), path, [], []), _set_result(0.5 + i / 100))
               for i, path in enumerate(labelled.set_paths())]
    report = write_report(results, None, Settings.from_env(reports_dir=tmp_path), 1.0).read_text()
    for s, _ in results:
        assert f"| {s.where} | {labelled.ROLES[s.role]} |" in report
        assert f"## Member questions: tests/eval/{s.where} ({labelled.ROLES[s.role]})" in report
    held_out = ", ".join(s.name for s in labelled.sets(labelled.HELD_OUT))
    assert f"| **held out, pooled** ({held_out}) | held out" in report
    assert (tmp_path / "eval.png").is_file()
