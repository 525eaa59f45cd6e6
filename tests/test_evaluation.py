"""The evaluation report's pooled figures (bot/evaluation/scoring.py)."""

from __future__ import annotations

import pytest

from bot.evaluation.scoring import RankMetrics, pooled


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
