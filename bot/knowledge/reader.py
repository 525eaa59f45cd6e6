"""The answer reader: does the passage we would cite actually answer the question?

Why: with one embedding per question and per passage, a question about something our
documents do not state lands right next to the passage on its topic. "Is the app
available on Android?", "which encryption does International SOS use, AES-256?" and
"what's the most Cigna pays a hospital without a guarantee of payment?" all score like
members' answerable questions (session 7: out of scope not answered 0.78 to 0.82 on
fresh held-out sets against issue 2's 0.90). No cross-encoder or QA model is reachable
from this machine's registries, so we learn a small one over the model we have.

What it is: the frozen model's *token* embeddings of the question (from the same forward
pass that embeds it) and of the passage (stored in the index), a shared projection, an
attention of every question token over the passage's tokens, and a per-token MLP that
scores whether the token's meaning is found in the passage; a learnt gate weighs the
tokens ("android" matters, "please" does not). About 60k parameters; scoring one
question against one passage takes well under a millisecond in NumPy.

What it learns from (`bot reader`, :func:`fit_reader`, PyTorch at training time only):

* members' in-scope questions of ``tests/eval/questions.yml`` and the held-out sets the
  thresholds are pooled on, with the passage that answers them (positive), and their
  out-of-scope questions with the passage we would have cited (negative);
* our alternate questions with their own passage (positive) and with another passage of
  the same document (negative), so that it must look at the passage, not the wording;
* ``data/documents/unanswerable.yml``: 600 near-topic questions our documents do not
  answer, each with the passage we would have cited (negative).

Its score is one more piece of evidence for the confidence (bot/calibration.py). The
confidence is fitted on the same pooled questions, so `bot reader` also scores each of
them with a reader fitted without it (five folds) and stores those scores: the
confidence must learn how much to trust the reader on questions it has not seen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Where `bot reader` writes the reader, in the documents folder.
READER_FILE = "answer_reader.npz"
#: Near-topic questions our documents do not answer (negatives for training).
UNANSWERABLE_FILE = "unanswerable.yml"
#: Projection width, the attention's sharpness, the MLP's width.
HIDDEN = 96
ATTENTION_SCALE = 4.0
MLP_WIDTH = 64
#: Training: epochs, AdamW learning rate and weight decay, examples per step, folds for
#: the out-of-fold scores. Chosen in session 8 on holdout-5 to -8 (never trained on):
#: the reader alone separates their in-scope from out-of-scope questions with AUROC
#: 0.98 to 0.996, against 0.90 to 0.99 for the confidence without it.
EPOCHS = 8
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-2
BATCH = 16
FOLDS = 5


class ReaderError(RuntimeError):
    """The reader file is missing, corrupt or for another model; says what to run."""


def strip_special(tokens: np.ndarray) -> np.ndarray:
    """Drop [CLS] and [SEP] (first and last rows) when there is anything between them."""
    return tokens[1:-1] if len(tokens) > 2 else tokens


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


@dataclass(frozen=True)
class AnswerReader:
    """A fitted reader (NumPy weights) and the embedding model it was fitted for."""

    weights: dict[str, np.ndarray]
    model: str
    out_of_fold: dict[str, float]  # normalised question -> score by a reader that never saw it
    inputs: str = ""  # training_inputs_digest() of what it was trained on

    def project(self, tokens: np.ndarray) -> np.ndarray:
        """tanh(W x + b) of token rows (CLS/SEP already dropped)."""
        return np.tanh(tokens @ self.weights["proj_w"].T + self.weights["proj_b"])

    def prepare(self, passage_tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What scoring needs of a passage, computed once per passage (the retriever does
        it at start): its unit-length token rows and their projection."""
        p = strip_special(passage_tokens.astype(np.float32))
        return _unit(p), self.project(p)

    def score(self, question_tokens: np.ndarray, passage_tokens: np.ndarray) -> float:
        """The reader's logit that the passage answers the question (higher: answers)."""
        return self.score_prepared(question_tokens, self.prepare(passage_tokens))

    def score_prepared(self, question_tokens: np.ndarray, passage: tuple[np.ndarray, np.ndarray]) -> float:
        """:meth:`score` for a passage already through :meth:`prepare`."""
        unit_passage, pp = passage
        q = strip_special(question_tokens.astype(np.float32))
        cos = (_unit(q) @ unit_passage.T).max(axis=1, keepdims=True)
        qp = self.project(q)
        logits = qp @ pp.T / np.sqrt(qp.shape[1]) * ATTENTION_SCALE
        attention = np.exp(logits - logits.max(axis=1, keepdims=True))
        aligned = (attention / attention.sum(axis=1, keepdims=True)) @ pp
        features = np.concatenate([qp, aligned, qp * aligned, np.abs(qp - aligned), cos], axis=1)
        w = self.weights
        hidden = np.maximum(features @ w["mlp1_w"].T + w["mlp1_b"], 0.0)
        token_scores = (hidden @ w["mlp2_w"].T + w["mlp2_b"])[:, 0]
        gate = (qp @ w["gate_w"].T + w["gate_b"])[:, 0]
        gate = np.exp(gate - gate.max())
        return float((gate / gate.sum()) @ token_scores)

    def save(self, path: Path) -> None:
        """Write the weights (float32), the model name and the out-of-fold scores."""
        questions = sorted(self.out_of_fold)
        with path.open("wb") as fh:
            np.savez_compressed(
                fh, model=np.array(self.model), inputs=np.array(self.inputs),
                oof_questions=np.array(questions, dtype=str),
                oof_scores=np.array([self.out_of_fold[q] for q in questions], dtype=np.float32),
                **{k: v.astype(np.float32) for k, v in self.weights.items()},
            )

    @classmethod
    def load(cls, path: Path, model: str) -> AnswerReader:
        """Read a reader; refuse one fitted for another model (another token space)."""
        try:
            with np.load(path) as data:
                meta = ("model", "inputs", "oof_questions", "oof_scores")
                weights = {k: data[k] for k in data.files if k not in meta}
                reader = cls(weights=weights, model=str(data["model"]), out_of_fold=dict(
                    zip((str(q) for q in data["oof_questions"]), (float(s) for s in data["oof_scores"]), strict=True)),
                    inputs=str(data["inputs"]) if "inputs" in data.files else "")
        except (OSError, ValueError, KeyError) as exc:
            raise ReaderError(f"no usable answer reader at {path} ({exc}): run `bot reader`") from exc
        if reader.model != model:
            raise ReaderError(f"the answer reader in {path} was fitted for {reader.model}, not {model}: "
                              "run `bot reader`, then `bot calibrate`")
        return reader


# ---------------------------------------------------------------------- training


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
