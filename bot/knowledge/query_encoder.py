"""Embed member questions with ONNX Runtime instead of PyTorch.

A member's question is one short text, embedded on every turn. For that case PyTorch
spends most of its time in per-operator overhead: all-MiniLM-L6-v2 takes about 13 ms
per question on one core, the same graph under ONNX Runtime (with its transformer
fusions) about 5 ms, and the vectors agree to about 1e-7. So `bot index` exports the
model (mean pooling and normalisation included) and its tokenizer next to the FAISS
index and checks that they reproduce the PyTorch vectors. The servers then embed with
ONNX Runtime and the `tokenizers` library alone: they never import PyTorch or
sentence-transformers, which saves about 200 MB per process and seconds of start-up.
Passages are still embedded with PyTorch at build time, where batching hides the
overhead.

``BOT_QUERY_ENCODER=torch`` switches back to PyTorch (for a model that does not export,
or to compare).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bot.knowledge.embedder import Embedder

ONNX_FILE = "query_encoder.onnx"
TOKENIZER_FILE = "query_tokenizer.json"
#: Largest difference allowed between the exported graph's vectors and PyTorch's.
EXPORT_TOLERANCE = 1e-4
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: Texts the export is checked on: short and long, with and without punctuation.
_CHECK_TEXTS = (
    "hi",
    "how do i claim back my hospital bill?",
    "I was charged twice for the same physio session last month, what can I do about it and who do I call",
    "a question far longer than the model's window of word pieces " * 40,  # truncation
)


class QueryEncoderError(RuntimeError):
    """The exported query encoder cannot be built or does not match the model."""


def export_query_encoder(embedder: Embedder, path: Path, tokenizer_path: Path) -> float:
    """Write the model (transformer, mean pooling, L2 normalisation) as ONNX to ``path``
    and its tokenizer to ``tokenizer_path``.

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
            # The token rows too: the answer reader (bot/retrieval/reader.py) reads them.
            return torch.nn.functional.normalize(pooled, dim=1), hidden

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
            output_names=["embedding", "tokens"],
            dynamic_axes={**axes, "embedding": {0: "batch"}, "tokens": {0: "batch", 1: "tokens"}},
            opset_version=17,
            dynamo=False,
        )
    backend = getattr(embedder.model.tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise QueryEncoderError("the model has no fast tokenizer to export; use BOT_QUERY_ENCODER=torch")
    backend.save(str(tokenizer_path))
    encoder = OnnxQueryEncoder(tmp, tokenizer_path, int(embedder.model.max_seq_length))
    single = max(float(np.abs(encoder.encode_one(t) - embedder.encode([t])).max()) for t in _CHECK_TEXTS)
    batched = float(np.abs(encoder.encode(list(_CHECK_TEXTS)) - embedder.encode(list(_CHECK_TEXTS))).max())
    worst = max(single, batched)
    if worst > EXPORT_TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise QueryEncoderError(
            f"the exported query encoder differs from the model by {worst:.2g}; use BOT_QUERY_ENCODER=torch"
        )
    tmp.replace(path)
    return worst


class OnnxQueryEncoder:
    """Texts in, L2-normalised float32 rows out, without PyTorch."""

    def __init__(self, path: Path, tokenizer_path: Path, max_tokens: int, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        # Same reasoning as Settings.embedding_threads: the servers share two cores.
        options.intra_op_num_threads = max(threads, 1)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # ONNX Runtime and tokenizers raise their own exception types
            raise QueryEncoderError(f"cannot load {path.name} or {tokenizer_path.name}: {exc}") from exc
        # The saved tokenizer carries the library's defaults (here: cut at 128, pad to
        # 128); sentence-transformers cuts at the model's window and pads to the longest.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed many texts, a batch at a time (rows in the order given)."""
        rows = [np.zeros((0, self.dimension), dtype=np.float32)]
        for start in range(0, len(texts), batch_size):
            encodings = self.tokenizer.encode_batch(texts[start : start + batch_size])
            feeds = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            rows.append(np.asarray(self.session.run(None, feeds)[0], dtype=np.float32))
        return np.concatenate(rows)

    def encode_one(self, text: str) -> np.ndarray:
        """Embed a single query (1 x dimension)."""
        return self.encode([text])

    def encode_with_tokens(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Embed a single query (1 x dimension) and return its token rows (tokens x
        dimension, [CLS] and [SEP] included) from the same forward pass."""
        e = self.tokenizer.encode(text)
        feeds = {
            "input_ids": np.array([e.ids], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids], dtype=np.int64),
        }
        vector, tokens = self.session.run(None, feeds)
        return np.asarray(vector, dtype=np.float32), np.asarray(tokens[0], dtype=np.float32)
