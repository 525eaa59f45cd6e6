"""The query adapter: a learnt linear map on a question's embedding before it is matched
against passage text.

all-MiniLM-L6-v2 was trained to put *paraphrases* close together, not a question next
to the paragraph that answers it: "can they see where I am?" lands nearer other
questions than the location-data paragraph of a privacy policy. The adapter
(q' = q + qA, renormalised; a 384 x 384 matrix over the frozen model) moves questions
toward the text that answers them. It is fitted offline on PolicyQA and our alternate
questions (bot/training/adapter.py, `bot adapt`) into ``data/documents/query_adapter.npz``;
`make eval` reports PolicyQA with adapters cross-validated by policy, so no policy is
scored by an adapter that saw it. Alternate-question rows keep the plain question
(question to question is what the model is good at).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Where `bot adapt` writes the adapter, in the documents folder.
ADAPTER_FILE = "query_adapter.npz"


class AdapterError(RuntimeError):
    """The adapter file is missing, corrupt or for another model; says what to run."""


@dataclass(frozen=True)
class QueryAdapter:
    """A fitted adapter and the embedding model it was fitted for."""

    matrix: np.ndarray
    model: str

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Adapt query vectors (rows), keeping them unit length."""
        return adapt(vectors, self.matrix)

    def save(self, path: Path) -> None:
        """Write the matrix (float32) and the model name."""
        with path.open("wb") as fh:
            np.savez_compressed(fh, matrix=self.matrix.astype(np.float32), model=np.array(self.model))

    @classmethod
    def load(cls, path: Path, model: str) -> QueryAdapter:
        """Read an adapter; refuse one fitted for another model (another vector space)."""
        try:
            with np.load(path) as data:
                adapter = cls(matrix=data["matrix"].astype(np.float32), model=str(data["model"]))
        except (OSError, ValueError, KeyError) as exc:
            raise AdapterError(
                f"no usable query adapter at {path} ({exc}): run `bot adapt`, or set BOT_QUERY_ADAPTER=0"
            ) from exc
        if adapter.model != model:
            raise AdapterError(
                f"the query adapter in {path} was fitted for {adapter.model}, not {model}: "
                "run `bot adapt` (it needs ../shared/benchmarks/policyqa), or set BOT_QUERY_ADAPTER=0"
            )
        return adapter


def adapt(vectors: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """q + qA, renormalised (rows); no matrix means the plain vectors."""
    if matrix is None:
        return vectors
    out = vectors + vectors @ matrix
    return (out / np.linalg.norm(out, axis=-1, keepdims=True)).astype(np.float32)
