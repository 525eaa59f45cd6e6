"""Fitting the answer reader (`bot reader`): see bot/retrieval/reader.py for what it is.

What it learns from:
* members' in-scope questions of the labelled sets it is trained on (``tests/eval/tuning/``
  and ``tests/eval/training/``, see bot/evaluation/labelled.py), with the passage that
  answers them (positive), and their out-of-scope questions with the passage we would
  have cited (negative);
* our alternate questions with their own passage (positive) and with another passage of
  the same document (negative), so that it must look at the passage, not the wording;
* ``data/documents/unanswerable.yml``: 600 near-topic questions our documents do not
  answer, each with the passage we would have cited (negative).

Its score is one more piece of evidence for the confidence (bot/training/calibration.py). The
confidence is fitted on the same pooled questions, so `bot reader` also scores each of
them with a reader fitted without it (five folds) and stores those scores: the
confidence must learn how much to trust the reader on questions it has not seen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from bot.retrieval.reader import ATTENTION_SCALE, HIDDEN, MLP_WIDTH, AnswerReader, strip_special

#: Near-topic questions our documents do not answer (negatives for training).
UNANSWERABLE_FILE = "unanswerable.yml"
#: Training: epochs, AdamW learning rate and weight decay, examples per step, folds for
#: the out-of-fold scores. Chosen on holdout-5 to -8 with readers not trained on them:
#: the reader alone separated their in-scope from out-of-scope questions with AUROC
#: 0.98 to 0.996, against 0.90 to 0.99 for the confidence without it.
EPOCHS = 8
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-2
BATCH = 16
FOLDS = 5


def training_inputs_digest(passage_texts: list[str], *labelled: object) -> str:
    """A SHA-256 of what the reader learns from (passage texts, and the parsed question
    files, so that editing a comment does not ask for a refit): a test compares it with
    the shipped reader's, so changed documents or questions fail until `bot reader` runs."""
    import hashlib
    import json

    payload = json.dumps([passage_texts, *labelled], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class Example:
    """A question's token embeddings, the passage (position) and whether it answers."""

    key: str  # the normalised question, for out-of-fold scores ("" when not needed)
    tokens: np.ndarray
    passage: int
    label: float
    fold: int = -1  # -1: always trained on


def _module(dimension: int):  # noqa: ANN202 - torch imported lazily
    """The PyTorch twin of :meth:`AnswerReader.score` (same parameter names)."""
    import torch
    from torch import nn

    class Reader(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(dimension, HIDDEN)
            self.mlp1 = nn.Linear(4 * HIDDEN + 1, MLP_WIDTH)
            self.mlp2 = nn.Linear(MLP_WIDTH, 1)
            self.gate = nn.Linear(HIDDEN, 1)
            self.dropout = nn.Dropout(0.1)
            self.hidden_dropout = nn.Dropout(0.2)

        def forward(self, q, p):  # noqa: ANN001, ANN202
            q, p = strip_special(q), strip_special(p)
            cos = (nn.functional.normalize(q, dim=1) @ nn.functional.normalize(p, dim=1).T).max(1).values[:, None]
            qp = self.dropout(torch.tanh(self.proj(q)))
            pp = torch.tanh(self.proj(p))
            attention = torch.softmax(qp @ pp.T / qp.shape[1] ** 0.5 * ATTENTION_SCALE, dim=1)
            aligned = attention @ pp
            features = torch.cat([qp, aligned, qp * aligned, (qp - aligned).abs(), cos], 1)
            token_scores = self.mlp2(self.hidden_dropout(torch.relu(self.mlp1(features)))).squeeze(1)
            gate = torch.softmax(self.gate(qp).squeeze(1), 0)
            return (gate * token_scores).sum()

    return Reader()


def fit_one(examples: list[Example], passages: list[np.ndarray], seed: int = 0,
            epochs: int = EPOCHS) -> dict[str, np.ndarray]:
    """Train one reader on ``examples`` (class-balanced logistic loss); NumPy weights."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    module = _module(passages[0].shape[1])
    optimiser = torch.optim.AdamW(module.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    passage_tensors = [torch.from_numpy(p.astype(np.float32)) for p in passages]
    data = [(torch.from_numpy(e.tokens.astype(np.float32)), e.passage, e.label) for e in examples]
    positives = sum(1 for *_, y in data if y)
    positive_weight = (len(data) - positives) / max(positives, 1)
    module.train()
    for _ in range(epochs):
        rng.shuffle(data)
        for start in range(0, len(data), BATCH):
            optimiser.zero_grad()
            loss = torch.zeros(())
            for tokens, passage, label in data[start : start + BATCH]:
                logit = module(tokens, passage_tensors[passage])
                weight = positive_weight if label else 1.0
                loss = loss + weight * torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.tensor(label))
            (loss / BATCH).backward()
            optimiser.step()
    return numpy_weights(module)


def numpy_weights(module) -> dict[str, np.ndarray]:  # noqa: ANN001 - a _module(), torch imported lazily
    """The PyTorch twin's parameters under the names :class:`AnswerReader` reads."""
    return {
        name.replace(".weight", "_w").replace(".bias", "_b"): param.detach().numpy().copy()
        for name, param in module.named_parameters()
    }


def fit_reader(examples: list[Example], passages: list[np.ndarray], model: str,
               folds: int = FOLDS, epochs: int = EPOCHS, inputs: str = "") -> AnswerReader:
    """The reader on all examples, with out-of-fold scores for the examples in folds."""
    out_of_fold: dict[str, float] = {}
    for fold in range(folds):
        held = [e for e in examples if e.fold == fold]
        if not held:
            continue
        reader = AnswerReader(fit_one([e for e in examples if e.fold != fold], passages, seed=fold, epochs=epochs),
                              model, {})
        for e in held:
            out_of_fold[e.key] = reader.score(e.tokens, passages[e.passage])
    return AnswerReader(fit_one(examples, passages, seed=folds, epochs=epochs), model, out_of_fold, inputs)
