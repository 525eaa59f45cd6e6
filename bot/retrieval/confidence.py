"""The answer confidence and the band it puts a question in.

The confidence is a probability that the question is one our documents answer: a
logistic model (:class:`ConfidenceModel`, fitted offline by `bot calibrate`,
bot/training/calibration.py) over the evidence for the best passage
(:data:`CONFIDENCE_FEATURES`). :func:`decide_band` turns it into one of three bands, the
one decision the chat, `bot ask` and the agents' suggestions all use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import yaml

if TYPE_CHECKING:
    from bot.retrieval.retriever import Hit
    from bot.settings import Settings

Band = Literal["answer", "clarify", "abstain"]

#: Saturation constant of the BM25 score (shared with the hybrid ranking).
KEYWORD_SATURATION = 15.0
#: The evidence the confidence weighs, in the order of ConfidenceModel.weights.
CONFIDENCE_FEATURES = ("dense", "keyword", "coverage", "out_of_scope", "reader")
#: Where the fitted confidence model lives, in the documents folder.
CONFIDENCE_FILE = "confidence.yml"


def confidence_features(top: Hit, coverage: float, oos: float, reader: float) -> np.ndarray:
    """The evidence for ``top`` (see CONFIDENCE_FEATURES). With no out-of-scope examples
    the similarity is -1; it is floored at 0 so that their absence earns no bonus."""
    keyword = top.keyword / (top.keyword + KEYWORD_SATURATION)
    return np.array([top.dense, keyword, coverage, max(0.0, oos), reader], dtype=np.float64)


@dataclass(frozen=True)
class ConfidenceModel:
    """A logistic model over :func:`confidence_features` (fitted by bot/training/calibration.py)."""

    weights: tuple[float, ...]
    intercept: float

    def probability(self, features: np.ndarray) -> float:
        """The probability that the question is one our documents answer."""
        z = float(np.dot(self.weights, features)) + self.intercept
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0))))

    @classmethod
    def load(cls, path: Path) -> ConfidenceModel | None:
        """The model in ``path``, or None if there is none yet (run `bot calibrate`)."""
        if not path.is_file():
            return None
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if tuple(data.get("features") or ()) != CONFIDENCE_FEATURES:
            raise ValueError(f"{path} weighs {data.get('features')}, expected {list(CONFIDENCE_FEATURES)}: "
                             "run `bot calibrate`")
        return cls(weights=tuple(float(w) for w in data["weights"]), intercept=float(data["intercept"]))




def decide_band(
    confidence: float,
    settings: Settings,
    *,
    has_hits: bool,
    one_word: bool = False,
    known_word: bool = False,
    fact_missing: bool = False,
    fact_elsewhere: bool = False,
) -> Band:
    """Answer, clarify or abstain.

    * ``answer`` at or above ``settings.answer_threshold``; ``clarify`` (offer the top
      options) down to ``settings.clarify_threshold``; ``abstain`` below it.
    * One word ("privacy", "login") does not say what the member wants to know, however
      well it matches, and the answer reader finds no question in it: a word our
      documents use (``known_word``) gets the options whatever the confidence, one they
      never use ("weather") follows the confidence but is never answered outright.
    * An answer whose passage lacks the kind of fact asked for (a price, count, date:
      bot/retrieval/answer_types.py, ``fact_missing``) is not given: the options are
      offered if another of them states it (``fact_elsewhere``), else we abstain.
    """
    if not has_hits or (confidence < settings.clarify_threshold and not known_word):
        return "abstain"
    if confidence < settings.answer_threshold or one_word:
        return "clarify"
    if fact_missing:
        return "clarify" if fact_elsewhere else "abstain"
    return "answer"
