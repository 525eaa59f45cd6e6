"""Fit the cross-lingual confidence (`bot crosslingual`): data/documents/crosslingual.yml.

A logistic model over the two differences of cosines :class:`CrossLingualRetriever`
reads (bot/language/crosslingual.py), learnt like the English confidence from the
labelled sets of ``tests/eval/tuning/`` and ``tests/eval/training/`` (in scope against
out of scope), embedded with the multilingual model. The sets are English: the features
are differences of two cosines with the same question, which weighs what separates an
answerable question from another alike in any language.

The differences still shrink when question and passage are in different languages, so
the thresholds are set on questions in other languages, the only ones this retriever
answers: the clarify threshold is the probability below which
:data:`OUT_OF_SCOPE_ABSTAINED` of the out-of-scope questions of the calibration sets in
other languages than English (``tests/eval/calibration/multilingual-near-topic-dev-*``,
near-topic questions: the hard kind) fall; the English calibration sets stand in when
there are none. The answer threshold is the model's own 0.5, or the clarify threshold
when that is higher. The multilingual sets of ``tests/eval/heldout/`` play no part.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from bot.evaluation import labelled
from bot.language.crosslingual import CrossLingualConfidence, CrossLingualRetriever

#: Share of the calibration sets' out-of-scope questions the clarify threshold keeps
#: abstaining (the target is 0.90; the margin is for new sets).
OUT_OF_SCOPE_ABSTAINED = 0.92


def _features(cross: CrossLingualRetriever, questions: list[str]) -> np.ndarray:
    rows = []
    for q in questions:
        vector = cross.embed(q)
        rows.append(cross.features(cross.scores(vector), vector))
    return np.array(rows).reshape(len(rows), 2)


def threshold_sets() -> list[labelled.LabelledSet]:
    """The calibration sets the thresholds are set on: those in other languages than
    English, or the English ones when there are none."""
    calibration = labelled.sets(labelled.CALIBRATION)
    return [s for s in calibration if s.language != "en"] or [s for s in calibration if s.language == "en"]


def fit(cross: CrossLingualRetriever) -> tuple[CrossLingualConfidence, dict]:
    """The confidence and what it was fitted and thresholded on."""
    from sklearn.linear_model import LogisticRegression

    trained = [s for s in labelled.sets(*labelled.TRAINED_ON) if s.language == "en"]
    inside = [q["q"] for s in trained for q in s.questions]
    outside = [q for s in trained for q in s.out_of_scope]
    x = np.vstack([_features(cross, inside), _features(cross, outside)])
    y = np.array([1] * len(inside) + [0] * len(outside))
    model = LogisticRegression(C=10.0).fit(x, y)
    weights, bias = tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0])
    calibration = threshold_sets()
    held = [q for s in calibration for q in s.out_of_scope]
    scores = np.sort(model.predict_proba(_features(cross, held))[:, 1])
    clarify = float(scores[min(int(OUT_OF_SCOPE_ABSTAINED * len(scores)), len(scores) - 1)])
    confidence = CrossLingualConfidence(weights, bias, max(0.5, clarify), clarify)
    source = {
        "trained_on": [s.where for s in trained],
        "thresholds_on": [s.where for s in calibration],
        "in_scope": len(inside),
        "out_of_scope": len(outside),
    }
    return confidence, source


def write(confidence: CrossLingualConfidence, source: dict, path: Path) -> None:
    header = (
        "# The cross-lingual confidence: written by `bot crosslingual` (bot/training/crosslingual.py).\n"
        "# Do not edit by hand; refit after changing the alternate or out-of-scope questions.\n"
    )
    body = {**confidence.to_dict(), "fitted": source}
    path.write_text(header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True), encoding="utf-8")
