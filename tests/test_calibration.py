"""The calibrated answer confidence: the shipped model is the one `bot calibrate` fits
today, it weighs the evidence the right way round, and a missing or stale file says what
to run instead of answering with a made-up confidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.evaluation import labelled
from bot.retrieval import Retriever
from bot.retrieval.confidence import CONFIDENCE_FILE, ConfidenceModel
from bot.training.calibration import (
    Calibration,
    balanced_answer_threshold,
    calibration_sets,
    clarify_threshold,
    english_calibration_sets,
    fit,
    labelled_questions,
    labelled_sets,
    write,
)


@pytest.fixture(scope="module")
def refit(retriever: Retriever) -> Calibration:
    return fit(retriever, *labelled_questions(labelled_sets()), calibration_sets())


def test_shipped_confidence_is_what_calibrate_fits_now(refit: Calibration, retriever: Retriever, settings) -> None:
    """Editing passage_questions.yml, out_of_scope.yml, the documents or the sets of
    tests/eval/tuning/, training/ and calibration/ without rerunning `bot calibrate` (and
    moving the thresholds it suggests) fails here."""
    shipped = retriever.confidence_model
    assert shipped is not None
    fitted = yaml.safe_load((settings.documents_dir / CONFIDENCE_FILE).read_text())["fitted"]
    assert fitted["on"] == " + ".join(s.name for s in labelled.sets(*labelled.TRAINED_ON))
    assert fitted["thresholds_set_on"]["sets"] == [s.name for s in english_calibration_sets()]
    assert np.allclose(shipped.weights, refit.model.weights, rtol=0.01, atol=0.01), (shipped, refit.model)
    assert shipped.intercept == pytest.approx(refit.model.intercept, rel=0.01, abs=0.01)
    assert (settings.clarify_threshold, settings.answer_threshold) == (
        refit.clarify_threshold,
        refit.answer_threshold,
    )


def test_more_evidence_raises_confidence_and_out_of_scope_likeness_lowers_it(refit: Calibration) -> None:
    dense, keyword, coverage, out_of_scope, reader = refit.model.weights
    assert dense > 0 and keyword > 0 and coverage > 0 and out_of_scope < 0 and reader > 0
    model = refit.model
    near_topic = np.array([0.6, 0.4, 1.0, 0.3, 0.0])
    assert model.probability(near_topic) > model.probability(near_topic - [0, 0, 0, -0.4, 0])
    assert model.probability(near_topic) < model.probability(near_topic + [0.2, 0, 0, 0, 0])
    assert model.probability(near_topic) < model.probability(near_topic + [0, 0, 0, 0, 3.0])


def test_member_questions_are_answered_and_near_topic_ones_we_cannot_answer_are_not(retriever: Retriever) -> None:
    """Near-topic questions share words with the FAQ (plan, premium, app) but nothing in
    our documents answers them. (The FAQ says what to add to a claim, not how to send
    one: "how do I send you a claim" is left to the classifier's verified answer.)"""
    for question in ("my login isn't working, what can I do?", "how can I see where my claim is at?"):
        assert retriever.answer(question).band == "answer", question
    for question in ("can I get a refund of my premium if I cancel", "what's the cigna stock ticker"):
        assert retriever.answer(question).band == "abstain", question


def test_clarify_threshold_abstains_on_at_most_2_percent_of_in_scope() -> None:
    """The highest two-decimal threshold that 98% of in-scope probabilities reach (a band
    starts *at* its threshold), never above the answer threshold."""
    probabilities = np.arange(100) / 100  # 0.00, 0.01, ... 0.99
    clarify = clarify_threshold(probabilities, ceiling=0.9)
    assert clarify == 0.02
    assert np.mean(probabilities >= clarify) >= 0.98 > np.mean(probabilities >= clarify + 0.01)
    confident = np.r_[np.full(99, 0.95), 0.1]
    assert clarify_threshold(confident, ceiling=0.8) == 0.8


def test_answer_threshold_balances_the_two_targets() -> None:
    """Out of scope not answered >= 0.90 and in scope answered >= 0.95: the threshold
    that leaves the most room on the worse of the two."""
    in_scope = np.r_[np.full(96, 0.99), np.full(4, 0.70)]
    out_of_scope = np.r_[np.full(85, 0.10), np.full(15, 0.80)]
    # Up to 0.80 only 85% of out-of-scope questions go unanswered; above 0.99 no member is
    # answered; in between both targets hold, the members' side with 0.01 to spare.
    threshold, room = balanced_answer_threshold(in_scope, out_of_scope, floor=0.5)
    assert (threshold, round(room, 4)) == (0.81, 0.01)
    assert balanced_answer_threshold(in_scope, out_of_scope, floor=0.9)[0] == 0.9
    # Members' questions no better than the out-of-scope ones: no threshold meets both.
    _, room = balanced_answer_threshold(np.full(10, 0.5), np.full(10, 0.5), floor=0.1)
    assert room < 0


def test_written_model_loads_back(refit: Calibration, tmp_path: Path) -> None:
    path = tmp_path / CONFIDENCE_FILE
    write(refit, path, source="questions.yml")
    assert ConfidenceModel.load(path) == refit.model
    recorded = yaml.safe_load(path.read_text())["fitted"]
    assert recorded["suggested_thresholds"] == {"clarify": refit.clarify_threshold, "answer": refit.answer_threshold}
    assert recorded["thresholds_set_on"]["sets"] == [s.name for s in english_calibration_sets()]


def test_thresholds_are_never_set_on_questions_the_reader_was_trained_on(retriever: Retriever,
                                                                          refit: Calibration) -> None:
    """Their reader scores are out-of-fold ones, which the shipped reader does not give:
    training questions in a calibration set are left out of the thresholds' pool."""
    questions, out_of_scope = labelled_questions(labelled_sets())
    leaked = fit(retriever, questions, out_of_scope, [(questions[:5], out_of_scope[:5]), *calibration_sets()])
    assert leaked.pooled == refit.pooled
    assert refit.pooled[0] < sum(len(qs) for qs, _ in calibration_sets())
    with pytest.raises(ValueError, match="not trained on"):
        fit(retriever, questions, out_of_scope, [(questions, out_of_scope)])


def test_missing_or_stale_model_says_to_run_calibrate(retriever: Retriever, tmp_path: Path) -> None:
    assert ConfidenceModel.load(tmp_path / "absent.yml") is None
    stale = tmp_path / CONFIDENCE_FILE
    stale.write_text(yaml.safe_dump({"features": ["dense", "coverage"], "weights": [1, 1], "intercept": 0}))
    with pytest.raises(ValueError, match="bot calibrate"):
        ConfidenceModel.load(stale)
    uncalibrated = Retriever(retriever.index, retriever.synonyms, retriever.settings)
    uncalibrated.confidence_model = None
    with pytest.raises(RuntimeError, match="bot calibrate"):
        uncalibrated.answer("how do I make a claim")
