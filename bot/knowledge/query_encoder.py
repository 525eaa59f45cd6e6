"""Embed member questions with ONNX Runtime instead of PyTorch.

A member's question is one short text, embedded on every turn. For that case PyTorch
spends most of its time in per-operator overhead: all-MiniLM-L6-v2 takes about 13 ms
per question on one core, the same graph under ONNX Runtime (with its transformer
fusions) about 5 ms, and the vectors agree to about 1e-7. So `bot index` exports the
model (mean pooling and normalisation included) next to the FAISS index and checks that
it reproduces the PyTorch vectors; the servers then embed questions with it. Passages are
still embedded with PyTorch at build time, where batching hides the overhead.

``BOT_QUERY_ENCODER=torch`` switches back to PyTorch for queries (for a model that does
not export, or to compare).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bot.knowledge.embedder import Embedder

ONNX_FILE = "query_encoder.onnx"
#: Largest difference allowed between the exported graph's vectors and PyTorch's.
EXPORT_TOLERANCE = 1e-4
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: Texts the export is checked on: short and long, with and without punctuation.
_CHECK_TEXTS = (
    "hi",
    "how do i claim back my hospital bill?",
    "I was charged twice for the same physio session last month, what can I do about it and who do I call",
)


class QueryEncoderError(RuntimeError):
    """The exported query encoder cannot be built or does not match the model."""


def export_query_encoder(embedder: Embedder, path: Path) -> float:
    """Write the model (transformer, mean pooling, L2 normalisation) as ONNX to ``path``.

    Returns the largest difference from PyTorch's vectors on a few check texts; raises
    QueryEncoderError when it exceeds EXPORT_TOLERANCE, since queries and passages
    must live in the same vector space.
    """
    import torch

    transformer = embedder.model[0].auto_model.eval()

    class _Pooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN202 - traced
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    sample = embedder.model.tokenizer(["an example question"], return_tensors="pt")
    if "token_type_ids" not in sample:
        raise QueryEncoderError("the model's tokenizer gives no token_type_ids; use BOT_QUERY_ENCODER=torch")
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    tmp = path.with_suffix(path.suffix + ".tmp")
    # The tracer warns about Python control flow in the model (fixed for a traced
    # shape, but the graph keeps dynamic axes) and about advanced indexing with negative
    # indices, which the model does not use: noise for whoever runs `make index`.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Pooled(transformer).eval(),
            tuple(sample[name] for name in _INPUTS),
            str(tmp),
            input_names=list(_INPUTS),
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    encoder = OnnxQueryEncoder(tmp, embedder)
    worst = max(float(np.abs(encoder.encode_one(text) - embedder.encode([text])).max()) for text in _CHECK_TEXTS)
    if worst > EXPORT_TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise QueryEncoderError(
            f"the exported query encoder differs from the model by {worst:.2g}; use BOT_QUERY_ENCODER=torch"
        )
    tmp.replace(path)
    return worst


class OnnxQueryEncoder:
    """One question in, one L2-normalised float32 row out (1 x dimension)."""

    def __init__(self, path: Path, embedder: Embedder, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # Same reasoning as Settings.embedding_threads: the servers share two cores.
        options.intra_op_num_threads = max(threads, 1)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own exception types
            raise QueryEncoderError(f"cannot load {path.name}: {exc}") from exc
        self.tokenizer = embedder.model.tokenizer
        self.max_tokens = int(embedder.model.max_seq_length)

    def encode_one(self, text: str) -> np.ndarray:
        """Embed a single query, truncated to the model's window as PyTorch would."""
        features = self.tokenizer([text], return_tensors="np", truncation=True, max_length=self.max_tokens)
        feeds = {name: np.asarray(features[name], dtype=np.int64) for name in _INPUTS}
        return np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)
