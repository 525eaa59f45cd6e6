"""Fit the answer confidence (`bot calibrate`): a logistic model over the retrieval
evidence, learnt from the labelled member questions of ``tests/eval/questions.yml``.

Why learnt: the hand-set formula it replaces subtracted the out-of-scope similarity only
once it came within a margin of the best passage's, and so let near-topic questions we
cannot answer ("face id login", "the privacy officer's name") through. A logistic model
over the same four pieces of evidence weighs them from data, and its output reads as a
probability that the question is one our documents answer, which makes the thresholds in
``bot/settings.py`` mean the same thing after a refit.

The evidence (:data:`bot.retrieval.CONFIDENCE_FEATURES`), for the best passage: its
cosine similarity, its saturated keyword score, the question's coverage, and the
question's similarity to the nearest out-of-scope example.

The regularisation strength is chosen by cross-validation on the same questions, and the
suggested operating points follow a rule fixed beforehand (:func:`suggest_thresholds`).
``tests/eval/holdout.yml`` plays no part here: it is the check (`make eval`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import yaml

from bot.retrieval import CONFIDENCE_FEATURES, ConfidenceModel, Retriever, confidence_features, normalise_query

#: Inverse regularisation strengths tried by cross-validation.
C_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)
FOLDS = 5
#: The rule for the suggested thresholds: the lowest clarify threshold that abstains on at
#: least this share of the out-of-scope questions, and the lowest answer threshold that
#: keeps at least this share of them from being answered outright.
OOS_ABSTAIN_SHARE = 0.95
OOS_NOT_ANSWERED_SHARE = 0.975


@dataclass
class Calibration:
    """A fitted model with what was measured while fitting it."""

    model: ConfidenceModel
    c: float
    cv_auroc: dict[float, float]
    in_scope: int
    out_of_scope: int
    clarify_threshold: float
    answer_threshold: float


def question_features(retriever: Retriever, question: str) -> np.ndarray:
    """The confidence evidence for ``question``'s best passage."""
    hits, coverage, oos = retriever._search(normalise_query(question), 1, "hybrid")
    return confidence_features(hits[0], coverage, oos)


def fit(retriever: Retriever, questions: list[dict], out_of_scope: list[str], seed: int = 0) -> Calibration:
    """Fit on in-scope (1) versus out-of-scope (0) questions; pick C by cross-validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.array([question_features(retriever, q["q"]) for q in questions] +
                 [question_features(retriever, q) for q in out_of_scope])
    y = np.array([1] * len(questions) + [0] * len(out_of_scope))
    cv_auroc = {}
    for c in C_GRID:
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
        scores = cross_val_predict(LogisticRegression(C=c, max_iter=10_000), x, y, cv=folds, method="decision_function")
        cv_auroc[c] = float(roc_auc_score(y, scores))
    best_c = max(C_GRID, key=lambda c: (round(cv_auroc[c], 4), -c))
    lr = LogisticRegression(C=best_c, max_iter=10_000).fit(x, y)
    # Rounded as written to confidence.yml, so the suggested thresholds fit the shipped model.
    model = ConfidenceModel(weights=tuple(round(float(w), 4) for w in lr.coef_[0]),
                            intercept=round(float(lr.intercept_[0]), 4))
    probabilities = np.array([model.probability(row) for row in x])
    clarify, answer = suggest_thresholds(probabilities[y == 0])
    return Calibration(model, best_c, cv_auroc, int(y.sum()), int((y == 0).sum()), clarify, answer)


def suggest_thresholds(out_of_scope: np.ndarray) -> tuple[float, float]:
    """Clarify and answer thresholds by the rule above, rounded up to two decimals."""
    ordered = np.sort(out_of_scope)

    def above_share(share: float) -> float:
        k = int(np.ceil(share * len(ordered)))  # this many must fall below the threshold
        return float(np.ceil(ordered[k - 1] * 100 + 1e-9) / 100)

    return above_share(OOS_ABSTAIN_SHARE), above_share(OOS_NOT_ANSWERED_SHARE)


def write(calibration: Calibration, path: Path, source: str) -> None:
    """Write the model where the retriever reads it, with how it was made."""
    header = (
        "# The answer confidence (bot/retrieval.py, ConfidenceModel): a logistic model over the\n"
        "# evidence for the best passage. Written by `bot calibrate` (bot/calibration.py); refit\n"
        "# it after changing the documents, passage_questions.yml or out_of_scope.yml.\n"
    )
    body = {
        "features": list(CONFIDENCE_FEATURES),
        "weights": list(calibration.model.weights),
        "intercept": calibration.model.intercept,
        "fitted": {
            "on": source,
            "date": date.today().isoformat(),
            "in_scope": calibration.in_scope,
            "out_of_scope": calibration.out_of_scope,
            "C": calibration.c,
            "cross_validated_auroc": {c: round(a, 4) for c, a in calibration.cv_auroc.items()},
            "suggested_thresholds": {
                "clarify": calibration.clarify_threshold,
                "answer": calibration.answer_threshold,
            },
        },
    }
    path.write_text(header + yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
