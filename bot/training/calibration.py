"""Fit the answer confidence (`bot calibrate`): a logistic model over the retrieval
evidence, learnt from the labelled member questions of the sets the answer reader is
trained on too (``tests/eval/tuning/`` and ``tests/eval/training/`` pooled, see
bot/evaluation/labelled.py), with its thresholds set on other sets, those of
``tests/eval/calibration/``, which nothing is trained on.

Why holdout-5 to -8 are trained on rather than used for the thresholds: trained on eight
held-out sets instead of four, the confidence separates holdout-11 and -12's in-scope from
out-of-scope questions better (AUROC 0.983 against 0.979, with the thresholds set on
holdout-9 and -10 alone), and a threshold balanced over 545 questions moves less with the
next set than one balanced over two sets of 60 out-of-scope questions each (0.30 on
holdout-9 and -10, where 0.45 to 0.85 all met both targets on holdout-11 and -12).

Why learnt: the hand-set formula it replaces subtracted the out-of-scope similarity only
once it came within a margin of the best passage's, and so let near-topic questions we
cannot answer ("face id login", "the privacy officer's name") through. A logistic model
over the same four pieces of evidence weighs them from data, and its output reads as a
probability that the question is one our documents answer, which makes the thresholds in
``bot/settings.py`` mean the same thing after a refit.

The evidence (:data:`bot.retrieval.retriever.CONFIDENCE_FEATURES`), for the best passage: its
cosine similarity, its saturated keyword score, the question's coverage, the
question's similarity to the nearest out-of-scope example, and the answer reader's
score (bot/retrieval/reader.py). The reader is trained on these same questions, so for
them the confidence weighs its out-of-fold score (:func:`question_features`).

The regularisation strength is chosen by cross-validation on the same questions.

The answer threshold (:func:`balanced_answer_threshold`) balances the two targets,
out of scope not answered >= 0.90 and in scope answered >= 0.95, over the calibration
sets pooled, scored exactly as the assistant scores a member's new question: by the
shipped reader and confidence, neither of which was trained on them. Why not over the
training questions: their reader scores are the out-of-fold ones, from readers fitted on
four fifths of the data, and those are not the final reader's scores. Balanced over them
the threshold came out at 0.54, where fresh sets showed the final reader's in-scope
scores almost all above 0.9 and one out-of-scope question in eight between the two (0.86
to 0.88 not answered on holdout-6, -8 and -9). Balanced over sets the reader never saw, it
lands where fresh questions put it.

The clarify threshold (:func:`clarify_threshold`) is the highest that still tells at most
2% of the calibration sets' in-scope questions "we don't know": below the answer
threshold a member is better served by options to pick from than by contact details, so
the clarify band keeps what is probably answerable.

The sets of ``tests/eval/heldout/`` play no part in the fit or the thresholds (`make
eval` reports them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import yaml

from bot.evaluation import labelled
from bot.retrieval import Retriever, normalise_query
from bot.retrieval.confidence import CONFIDENCE_FEATURES, ConfidenceModel
from bot.training.reader import UNANSWERABLE_FILE, Example, training_inputs_digest

#: Inverse regularisation strengths tried by cross-validation.
C_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)
FOLDS = 5
#: The clarify threshold keeps at least this share of pooled in-scope questions from abstaining.
IN_SCOPE_NOT_ABSTAINED = 0.98
#: The targets the answer threshold balances (out of scope not answered, in scope answered).
TARGET_OOS_NOT_ANSWERED = 0.90
TARGET_IN_SCOPE_ANSWERED = 0.95


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
    answer_margin: float  # the worse target's room at the answer threshold (calibration sets)
    pooled: tuple[int, int]  # in-scope and out-of-scope questions the thresholds saw


def question_features(retriever: Retriever, question: str) -> np.ndarray:
    """The confidence evidence for ``question``'s best passage. The reader's score is
    the out-of-fold one when the reader was trained on this question (see
    bot/retrieval/reader.py): the confidence must weigh the reader as it does on
    questions it has never seen."""
    query = normalise_query(question)
    hits, evidence = retriever.rank(query, 1)
    features = retriever.features(hits, evidence)
    if query in retriever.reader.out_of_fold:
        features[-1] = retriever.reader.out_of_fold[query]
    return features


def fit(
    retriever: Retriever,
    questions: list[dict],
    out_of_scope: list[str],
    calibration_sets: list[tuple[list[dict], list[str]]],
    seed: int = 0,
) -> Calibration:
    """Fit on in-scope (1) versus out-of-scope (0) questions, picking C by cross-validation;
    set both thresholds on ``calibration_sets`` pooled (see the module docstring)."""
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
    # A question also asked in a training set ("tell me a joke") has only an out-of-fold
    # reader score, not the shipped reader's: left out, so every score here is a fresh one.
    trained = retriever.reader.out_of_fold
    calibration_in = [q["q"] for qs, _ in calibration_sets for q in qs if normalise_query(q["q"]) not in trained]
    calibration_out = [q for _, out in calibration_sets for q in out if normalise_query(q) not in trained]
    if not calibration_in or not calibration_out:
        raise ValueError("the thresholds need calibration questions the reader was not trained on, "
                         "in scope and out of scope")
    pooled_in = np.array([model.probability(question_features(retriever, q)) for q in calibration_in])
    pooled_out = np.array([model.probability(question_features(retriever, q)) for q in calibration_out])
    answer, margin = balanced_answer_threshold(pooled_in, pooled_out, floor=0.0)
    clarify = clarify_threshold(pooled_in, ceiling=answer)
    return Calibration(
        model, best_c, cv_auroc, int(y.sum()), int((y == 0).sum()), clarify, answer, margin,
        (len(pooled_in), len(pooled_out)),
    )


def trained_sets(questions: Path | None = None) -> list[labelled.LabelledSet]:
    """The sets the confidence and the answer reader are trained on: the tuning set, then
    the training sets, oldest first (the order is part of the reader's input digest);
    ``questions`` replaces the tuning set."""
    trained = labelled.sets(*labelled.TRAINED_ON)
    if questions is not None:
        trained = [labelled.load(questions)] + [s for s in trained if s.role != labelled.TUNING]
    return trained


def labelled_sets(questions: Path | None = None) -> list[tuple[list[dict], list[str]]]:
    """:func:`trained_sets`' questions, in-scope and out-of-scope, set by set."""
    return [s.pair for s in trained_sets(questions)]


def english_calibration_sets() -> list[labelled.LabelledSet]:
    """The calibration sets in English: what the thresholds are set on (the sets in
    other languages set the cross-lingual thresholds, bot/training/crosslingual.py)."""
    return [s for s in labelled.sets(labelled.CALIBRATION) if s.language == "en"]


def calibration_sets() -> list[tuple[list[dict], list[str]]]:
    """The English calibration sets, each as loaded."""
    return [s.pair for s in english_calibration_sets()]


def labelled_questions(sets: list[tuple[list[dict], list[str]]]) -> tuple[list[dict], list[str]]:
    """``sets`` pooled: all in-scope, all out-of-scope questions. The confidence is fitted
    on the pool, not questions.yml alone: the answer reader's out-of-fold scores make
    every pooled question a fair example, and the wider fit holds out-of-scope questions
    back better on sets it was not trained on."""
    return [q for qs, _ in sets for q in qs], [q for _, out in sets for q in out]


def unanswerable_questions(documents_dir: Path) -> list[str]:
    """The near-topic questions our documents do not answer (the reader's negatives)."""
    path = documents_dir / UNANSWERABLE_FILE
    return [str(e) for e in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("examples", [])]


def clarify_threshold(in_scope: np.ndarray, ceiling: float) -> float:
    """The highest two-decimal threshold, at most ``ceiling``, that at least
    IN_SCOPE_NOT_ABSTAINED of the in-scope probabilities reach (a band starts *at* its
    threshold)."""
    for t in np.arange(round(ceiling * 100), -1, -1) / 100:
        if np.mean(in_scope >= t) >= IN_SCOPE_NOT_ABSTAINED:
            return round(float(t), 2)
    return 0.0


def balanced_answer_threshold(in_scope: np.ndarray, out_of_scope: np.ndarray, floor: float) -> tuple[float, float]:
    """The two-decimal threshold, at least ``floor``, that leaves the most room on the
    worse of the two targets (the lowest such threshold on a tie), and that room."""
    best: tuple[float, float] | None = None
    for t in np.arange(round(floor * 100), 100) / 100:
        room = min(
            float(np.mean(out_of_scope < t)) - TARGET_OOS_NOT_ANSWERED,
            float(np.mean(in_scope >= t)) - TARGET_IN_SCOPE_ANSWERED,
        )
        if best is None or room > best[1] + 1e-9:
            best = (round(float(t), 2), room)
    assert best is not None
    return best


def write(calibration: Calibration, path: Path, source: str) -> None:
    """Write the model where the retriever reads it, with how it was made."""
    header = (
        "# The answer confidence (bot/retrieval/retriever.py, ConfidenceModel): a logistic model over the\n"
        "# evidence for the best passage. Written by `bot calibrate` (bot/training/calibration.py); refit\n"
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
            "thresholds_set_on": {
                "sets": [s.name for s in english_calibration_sets()],
                "in_scope": calibration.pooled[0],
                "out_of_scope": calibration.pooled[1],
                "worse_target_room": round(calibration.answer_margin, 4),
            },
        },
    }
    path.write_text(header + yaml.safe_dump(body, sort_keys=False), encoding="utf-8")


def reader_examples(
    retriever: Retriever,
    pooled: list[tuple[list[dict], list[str]]],
    unanswerable: list[str],
    folds: int,
    seed: int = 0,
) -> list[Example]:
    """The answer reader's training examples (see bot/retrieval/reader.py).

    ``pooled``: labelled sets (in-scope questions with their passages, out-of-scope
    questions); each of their questions is put in one of ``folds`` folds, for the
    out-of-fold scores the confidence is fitted on. An in-scope question is paired with
    the passage we would cite when that one answers it, else its first labelled passage.
    """
    rng = np.random.default_rng(seed)
    position = {p.id: i for i, p in enumerate(retriever.passages)}
    by_document: dict[str, list[int]] = {}
    for i, p in enumerate(retriever.passages):
        by_document.setdefault(p.doc_id, []).append(i)
    examples: list[Example] = []

    def searched(question: str) -> tuple[str, str, np.ndarray]:
        query = normalise_query(question)
        hits, evidence = retriever.rank(query, 1)
        return query, hits[0].passage.id, evidence.tokens

    for questions, out_of_scope in pooled:
        for q in questions:
            key, top, tokens = searched(q["q"])
            target = top if top in q["passages"] else q["passages"][0]
            examples.append(Example(key, tokens, position[target], 1.0, int(rng.integers(folds))))
        for q in out_of_scope:
            key, top, tokens = searched(q)
            examples.append(Example(key, tokens, position[top], 0.0, int(rng.integers(folds))))
    for q in unanswerable:
        _, top, tokens = searched(q)
        examples.append(Example("", tokens, position[top], 0.0))
    encoder, synonyms = retriever.index.encoder, retriever.synonyms
    for passage_id, questions in retriever.index.questions.items():
        own = position[passage_id]
        others = [i for i in by_document[retriever.passages[own].doc_id] if i != own]
        for q in questions:
            tokens = encoder.encode_with_tokens(synonyms.spell_out(normalise_query(q)))[1]
            examples.append(Example("", tokens, own, 1.0))
            if others:  # the same question against another passage of its document
                examples.append(Example("", tokens, int(rng.choice(others)), 0.0))
    return examples


def reader_inputs_digest(retriever: Retriever, pooled: list[tuple[list[dict], list[str]]],
                         unanswerable: list[str]) -> str:
    """The digest of everything :func:`reader_examples` reads (see training_inputs_digest)."""
    return training_inputs_digest([p.text for p in retriever.passages], pooled, unanswerable,
                                  retriever.index.questions)
