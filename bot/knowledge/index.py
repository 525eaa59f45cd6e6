"""Build and load the passage index in ``index/``.

Three files: the passage store (``passages.jsonl``), the FAISS inner-product index over
normalised embeddings (``dense.faiss``) and a manifest that records what they were built
from. Loading checks the manifest against the current documents and model, because a
stale index answers from text that is no longer in the documents (or mixes vector
spaces) without any visible error.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np
import yaml

from bot.knowledge.chunker import Passage, chunk_documents
from bot.knowledge.documents import load_documents, metadata_sha256
from bot.knowledge.embedder import get_embedder
from bot.knowledge.query_encoder import (
    ONNX_FILE,
    TOKENIZER_FILE,
    OnnxQueryEncoder,
    QueryEncoderError,
    export_query_encoder,
)
from bot.settings import Settings

PASSAGES_FILE = "passages.jsonl"
FAISS_FILE = "dense.faiss"
OWNERS_FILE = "owners.npy"
#: Every passage's token embeddings (float16, concatenated, with offsets): the answer
#: reader (bot/retrieval/reader.py) reads the passage we would cite.
PASSAGE_TOKENS_FILE = "passage_tokens.npz"
MANIFEST_FILE = "manifest.json"
#: The built files; the manifest records a SHA-256 of each.
ARTEFACT_FILES = (PASSAGES_FILE, FAISS_FILE, OWNERS_FILE, PASSAGE_TOKENS_FILE)
#: Built as well when the servers embed questions with ONNX Runtime (the default), so
#: that a model which does not export can still be indexed with BOT_QUERY_ENCODER=torch.
QUERY_ENCODER_FILES = (ONNX_FILE, TOKENIZER_FILE)


def artefact_files(settings: Settings) -> tuple[str, ...]:
    """The files an index for these settings consists of."""
    return ARTEFACT_FILES + (QUERY_ENCODER_FILES if settings.query_encoder == "onnx" else ())


#: Member-style questions indexed next to each passage (data/documents/).
QUESTIONS_FILE = "passage_questions.yml"
#: Bump when parsing, chunking or the built files change, so old indexes are rebuilt
#: (4: passage token embeddings and the query encoder's token output).
CHUNKER_VERSION = 4


def load_passage_questions(documents_dir: Path) -> dict[str, list[str]]:
    """The "alternate questions" of each passage (empty when the file is absent)."""
    path = documents_dir / QUESTIONS_FILE
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): [str(q) for q in (v or [])] for k, v in (data.get("passages") or {}).items()}


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


class IndexMismatchError(RuntimeError):
    """The index is missing, incomplete or stale; the message says to run `make index`."""


def expected_manifest(settings: Settings) -> dict:
    """What the manifest of an up-to-date index must say about its inputs."""
    docs = load_documents(settings.documents_dir)
    return {
        "model": settings.embedding_model,
        "chunker_version": CHUNKER_VERSION,
        "max_passage_tokens": settings.max_passage_tokens,
        "sources": {d.file: d.sha256 for d in docs},
        "metadata_sha256": metadata_sha256(settings.documents_dir),
        "questions_sha256": _file_sha256(settings.documents_dir / QUESTIONS_FILE),
    }


def _read_manifest(index_dir: Path) -> dict | None:
    path = index_dir / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def stale_reasons(settings: Settings) -> list[str]:
    """Why the index in ``settings.index_dir`` cannot be used (empty list: it can)."""
    manifest = _read_manifest(settings.index_dir)
    if manifest is None:
        return [f"no readable {MANIFEST_FILE} in {settings.index_dir}"]
    reasons = []
    checksums = manifest.get("files") or {}
    for name in artefact_files(settings):
        path = settings.index_dir / name
        if not path.is_file():
            reasons.append(f"{name} is missing")
        elif checksums.get(name) != _file_sha256(path):
            # A truncated copy or a half-finished sync would otherwise load as garbage
            # (or crash the server process on its first question).
            reasons.append(f"{name} does not match its checksum in {MANIFEST_FILE} (corrupt or replaced)")
    expected = expected_manifest(settings)
    for key, value in expected.items():
        if manifest.get(key) != value:
            if key == "sources":
                changed = sorted(set(value.items()).symmetric_difference(set((manifest.get(key) or {}).items())))
                names = sorted({name for name, _ in changed})
                reasons.append(f"source documents changed: {', '.join(names)}")
            else:
                reasons.append(f"{key} is {manifest.get(key)!r}, expected {value!r}")
    return reasons


def build_index(settings: Settings, force: bool = False, progress: bool = True) -> dict:
    """Build the index unless an up-to-date one exists; returns the manifest.

    The files are written under temporary names and renamed at the end, so a crash
    half-way never leaves a mix of old and new files that a server would load.
    """
    if not force and not stale_reasons(settings):
        manifest = _read_manifest(settings.index_dir) or {}
        manifest["skipped"] = True
        return manifest
    started = time.perf_counter()
    docs = load_documents(settings.documents_dir)
    passages = chunk_documents(docs, settings.max_passage_tokens)
    questions = load_passage_questions(settings.documents_dir)
    known = {p.id for p in passages}
    unknown = sorted(set(questions) - known)
    if unknown:
        raise IndexMismatchError(f"{QUESTIONS_FILE} names passages that do not exist: {', '.join(unknown[:5])}")
    # Row i of the FAISS index belongs to passage owners[i]: first every passage's own
    # text, then its alternate questions; a passage scores the best of its rows.
    texts = [p.embedding_text() for p in passages]
    owners = list(range(len(passages)))
    for i, p in enumerate(passages):
        for q in questions.get(p.id, []):
            texts.append(q)
            owners.append(i)
    embedder = get_embedder(settings.embedding_model, settings.embedding_threads)
    vectors = embedder.encode(texts, progress=progress)
    index = faiss.IndexFlatIP(embedder.dimension)
    index.add(vectors)

    out = settings.index_dir
    out.mkdir(parents=True, exist_ok=True)
    names = artefact_files(settings)
    tmp = {name: out / f"{name}.new" for name in (*names, MANIFEST_FILE)}
    with tmp[OWNERS_FILE].open("wb") as fh:
        np.save(fh, np.asarray(owners, dtype=np.int32))
    with tmp[PASSAGES_FILE].open("w", encoding="utf-8") as fh:
        for p in passages:
            fh.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
    faiss.write_index(index, str(tmp[FAISS_FILE]))
    save_passage_tokens(embedder.token_embeddings([p.text for p in passages]), tmp[PASSAGE_TOKENS_FILE])
    export = {}
    if ONNX_FILE in names:
        difference = export_query_encoder(embedder, tmp[ONNX_FILE], tmp[TOKENIZER_FILE])
        export = {"query_encoder_max_difference": difference, "max_seq_length": int(embedder.model.max_seq_length)}
    manifest = {
        **expected_manifest(settings),
        "dimension": embedder.dimension,
        "passage_count": len(passages),
        "question_count": len(texts) - len(passages),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 2),
        "files": {name: _file_sha256(tmp[name]) for name in names},
        **export,
    }
    tmp[MANIFEST_FILE].write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    # The manifest goes last: until it is renamed, the old manifest no longer matches
    # the new files only for the instant between renames.
    for name in (*names, MANIFEST_FILE):
        tmp[name].replace(out / name)
    return manifest


class Encoder(Protocol):
    """Embeds texts into the index's vector space (L2-normalised float32 rows)."""

    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_one(self, text: str) -> np.ndarray: ...

    def encode_with_tokens(self, text: str) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class KnowledgeIndex:
    """A loaded, verified index: passages, their vectors and the model to query them."""

    passages: list[Passage]
    dense: faiss.Index
    owners: np.ndarray  # FAISS row -> passage position
    # What embeds questions: the exported model under ONNX Runtime (the default), or the
    # PyTorch model itself with BOT_QUERY_ENCODER=torch. Both give the passages' vector space.
    encoder: Encoder
    manifest: dict
    questions: dict[str, list[str]]
    passage_tokens: list[np.ndarray]  # per passage: token rows of its text (float16)

    def dense_scores(self, query_vector: np.ndarray, text_vector: np.ndarray | None = None) -> np.ndarray:
        """Cosine similarity of the query to every passage (best of its rows).

        ``text_vector``, when given, is matched against the passage-text rows instead of
        ``query_vector`` (the adapted question, bot/retrieval/adapter.py); alternate
        questions are always matched with the question as embedded. Exact search over
        all rows: with a thousand rows this takes well under a millisecond, and
        approximate search would only add recall loss.
        """
        adapted = text_vector is not None
        queries = np.vstack([query_vector, text_vector] if adapted else [query_vector]).astype(np.float32)
        scores, rows = self.dense.search(queries, self.dense.ntotal)
        best = np.full(len(self.passages), -1.0, dtype=np.float32)
        texts = len(self.passages)  # rows below this are passage texts, the rest alternate questions
        for i, (query_scores, query_rows) in enumerate(zip(scores, rows, strict=True)):
            if adapted:  # the plain question for alternate questions, the adapted one for texts
                keep = query_rows < texts if i == 1 else query_rows >= texts
                query_scores, query_rows = query_scores[keep], query_rows[keep]
            np.maximum.at(best, self.owners[query_rows], query_scores)
        return best


def load_index(settings: Settings) -> KnowledgeIndex:
    """Load and verify the index; raise IndexMismatchError saying what to run."""
    reasons = stale_reasons(settings)
    if reasons:
        raise IndexMismatchError(
            f"the index in {settings.index_dir} cannot be used ({'; '.join(reasons)}): run `make index`"
        )
    manifest = _read_manifest(settings.index_dir) or {}
    try:
        passages = [
            Passage.from_dict(json.loads(line))
            for line in (settings.index_dir / PASSAGES_FILE).read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        dense = faiss.read_index(str(settings.index_dir / FAISS_FILE))
        owners = np.load(settings.index_dir / OWNERS_FILE)
        passage_tokens = load_passage_tokens(settings.index_dir / PASSAGE_TOKENS_FILE)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexMismatchError(f"the index in {settings.index_dir} is corrupt ({exc}): run `make index`") from exc
    if (
        len(passages) != manifest.get("passage_count")
        or dense.ntotal != len(owners)
        or len(owners) != len(passages) + manifest.get("question_count", 0)
        or (len(owners) and int(owners.max()) >= len(passages))
        or len(passage_tokens) != len(passages)
    ):
        raise IndexMismatchError(
            f"the index in {settings.index_dir} is incomplete ({len(passages)} passages, "
            f"{dense.ntotal} vectors, manifest says {manifest.get('passage_count')}): run `make index`"
        )
    encoder = _load_encoder(settings, manifest)
    if dense.d != encoder.dimension or manifest.get("dimension") != encoder.dimension:
        raise IndexMismatchError(
            f"the index has dimension {dense.d} but model {settings.embedding_model} gives "
            f"{encoder.dimension}: run `make index`"
        )
    return KnowledgeIndex(
        passages=passages,
        dense=dense,
        owners=owners,
        encoder=encoder,
        manifest=manifest,
        questions=load_passage_questions(settings.documents_dir),
        passage_tokens=passage_tokens,
    )


def save_passage_tokens(tokens: list[np.ndarray], path: Path) -> None:
    """Write per-passage token rows as one float16 matrix and their offsets."""
    offsets = np.cumsum([0] + [len(t) for t in tokens]).astype(np.int64)
    with path.open("wb") as fh:
        np.savez(fh, tokens=np.concatenate(tokens).astype(np.float16), offsets=offsets)


def load_passage_tokens(path: Path) -> list[np.ndarray]:
    """Per-passage token rows written by :func:`save_passage_tokens`."""
    with np.load(path) as data:
        tokens, offsets = data["tokens"], data["offsets"]
    return [tokens[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def _load_encoder(settings: Settings, manifest: dict) -> Encoder:
    """The question encoder BOT_QUERY_ENCODER names (see bot/knowledge/query_encoder.py)."""
    if settings.query_encoder == "torch":
        return get_embedder(settings.embedding_model, settings.embedding_threads)
    if settings.query_encoder != "onnx":
        raise IndexMismatchError(f"BOT_QUERY_ENCODER is {settings.query_encoder!r}; use 'onnx' or 'torch'")
    try:
        return OnnxQueryEncoder(
            settings.index_dir / ONNX_FILE,
            settings.index_dir / TOKENIZER_FILE,
            int(manifest.get("max_seq_length") or 256),
            settings.embedding_threads,
        )
    except QueryEncoderError as exc:
        raise IndexMismatchError(f"the index in {settings.index_dir} is corrupt ({exc}): run `make index`") from exc
