"""The answer reader: does the passage we would cite actually answer the question?

Why: with one embedding per question and per passage, a question about something our
documents do not state lands right next to the passage on its topic. "Is the app
available on Android?", "which encryption does International SOS use, AES-256?" and
"what's the most Cigna pays a hospital without a guarantee of payment?" all score like
members' answerable questions (without the reader, out of scope not answered was 0.78
to 0.82 on fresh held-out sets, against a target of 0.90). No cross-encoder or QA model is reachable
from this machine's registries, so we learn a small one over the model we have.

What it is: the frozen model's *token* embeddings of the question (from the same forward
pass that embeds it) and of the passage (stored in the index), a shared projection, an
attention of every question token over the passage's tokens, and a per-token MLP that
scores whether the token's meaning is found in the passage; a learnt gate weighs the
tokens ("android" matters, "please" does not). About 60k parameters; scoring one
question against one passage takes well under a millisecond in NumPy.

It is fitted offline (bot/training/reader.py, `bot reader`, PyTorch at training time
only) into ``data/documents/answer_reader.npz``. Its score is one more piece of evidence
for the confidence (bot/retrieval/confidence.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Where `bot reader` writes the reader, in the documents folder.
READER_FILE = "answer_reader.npz"
#: Projection width, the attention's sharpness, the MLP's width.
HIDDEN = 96
ATTENTION_SCALE = 4.0
MLP_WIDTH = 64

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
