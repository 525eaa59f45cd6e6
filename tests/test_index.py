"""Index build and manifest checks, on a small copy of the documents."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.knowledge.embedder import Embedder
from bot.knowledge.index import IndexMismatchError, build_index, load_index, stale_reasons
from bot.knowledge.query_encoder import OnnxQueryEncoder
from bot.settings import Settings


@pytest.fixture()
def small(tmp_path: Path, settings: Settings) -> Settings:
    """Settings over one real document in a temporary folder."""
    docs = tmp_path / "documents"
    docs.mkdir()
    meta = yaml.safe_load((settings.documents_dir / "documents.yml").read_text())
    entry = next(d for d in meta["documents"] if d["id"] == "cigna-website-privacy-policy")
    shutil.copy(settings.documents_dir / entry["file"], docs / entry["file"])
    (docs / "documents.yml").write_text(yaml.safe_dump({"documents": [entry]}))
    return Settings.from_env(documents_dir=docs, index_dir=tmp_path / "index")


def test_build_then_load_then_skip(small: Settings) -> None:
    manifest = build_index(small, progress=False)
    assert manifest["passage_count"] > 3 and manifest["dimension"] == 384
    assert set(manifest["sources"]) == {"cigna-website-privacy-policy.txt"}
    index = load_index(small)
    assert len(index.passages) == manifest["passage_count"] == index.dense.ntotal
    again = build_index(small, progress=False)
    assert again.get("skipped") is True


def test_missing_index_says_run_make_index(small: Settings) -> None:
    with pytest.raises(IndexMismatchError, match="make index"):
        load_index(small)


def test_changed_source_is_detected(small: Settings) -> None:
    build_index(small, progress=False)
    doc = small.documents_dir / "cigna-website-privacy-policy.txt"
    doc.write_text(doc.read_text() + "\nNew paragraph.\n")
    assert any("source documents changed" in r for r in stale_reasons(small))
    with pytest.raises(IndexMismatchError, match="make index"):
        load_index(small)


def test_other_model_is_rejected(small: Settings) -> None:
    build_index(small, progress=False)
    other = Settings.from_env(
        documents_dir=small.documents_dir, index_dir=small.index_dir, embedding_model="some/other-model"
    )
    with pytest.raises(IndexMismatchError, match="model"):
        load_index(other)


def test_corrupt_vectors_are_rejected(small: Settings) -> None:
    build_index(small, progress=False)
    (small.index_dir / "dense.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(IndexMismatchError, match="make index"):
        load_index(small)


def test_a_truncated_artefact_is_caught_by_its_checksum(small: Settings) -> None:
    build_index(small, progress=False)
    assert stale_reasons(small) == []
    owners = small.index_dir / "owners.npy"
    owners.write_bytes(owners.read_bytes()[:-8])
    reasons = stale_reasons(small)
    assert any("owners.npy does not match its checksum" in r for r in reasons)
    assert build_index(small, progress=False).get("skipped") is not True  # rebuilt
    assert stale_reasons(small) == []


QUESTIONS = [
    "do you use cookies on the website",
    "who can i ask about my personal data??",
    "x",
    "how long do you keep the information you collect about visitors to the site " * 12,  # past the window
]


def test_the_exported_query_encoder_gives_the_models_vectors(small: Settings) -> None:
    manifest = build_index(small, progress=False)
    assert manifest["query_encoder_max_difference"] < 1e-4
    onnx_index = load_index(small)
    assert isinstance(onnx_index.encoder, OnnxQueryEncoder)
    torch_index = load_index(
        Settings.from_env(documents_dir=small.documents_dir, index_dir=small.index_dir, query_encoder="torch")
    )
    assert isinstance(torch_index.encoder, Embedder)
    for question in QUESTIONS:
        fast, reference = onnx_index.encoder.encode_one(question), torch_index.encoder.encode_one(question)
        assert fast.shape == reference.shape == (1, 384)
        assert np.abs(fast - reference).max() < 1e-4, question
        assert int(np.argmax(onnx_index.dense_scores(fast))) == int(np.argmax(torch_index.dense_scores(reference)))
    batch = onnx_index.encoder.encode(QUESTIONS)  # padded to the longest: same rows as one by one
    assert np.abs(batch - torch_index.encoder.encode(QUESTIONS)).max() < 1e-4
    # The token rows the answer reader reads come from the same forward pass, and match too.
    for question in QUESTIONS:
        (vector, tokens), (_, reference_tokens) = (
            onnx_index.encoder.encode_with_tokens(question), torch_index.encoder.encode_with_tokens(question))
        assert np.abs(vector - onnx_index.encoder.encode_one(question)).max() < 1e-6
        assert tokens.shape == reference_tokens.shape and tokens.shape[1] == 384
        assert np.abs(tokens - reference_tokens).max() < 1e-3, question


def test_every_passage_has_its_token_rows(small: Settings) -> None:
    build_index(small, progress=False)
    index = load_index(small)
    assert len(index.passage_tokens) == len(index.passages)
    for passage, tokens in zip(index.passages, index.passage_tokens, strict=True):
        assert tokens.shape[1] == 384 and len(tokens) >= 3, passage.id  # [CLS] ... [SEP]


def test_a_missing_or_damaged_query_encoder_says_run_make_index(small: Settings) -> None:
    build_index(small, progress=False)
    encoder = small.index_dir / "query_encoder.onnx"
    encoder.write_bytes(encoder.read_bytes()[:1000])
    with pytest.raises(IndexMismatchError, match="query_encoder.onnx does not match.*make index"):
        load_index(small)
    encoder.unlink()
    assert any("query_encoder.onnx is missing" in r for r in stale_reasons(small))
    build_index(small, progress=False)
    (small.index_dir / "query_tokenizer.json").write_text("{}")
    with pytest.raises(IndexMismatchError, match="query_tokenizer.json does not match.*make index"):
        load_index(small)
    build_index(small, progress=False)
    assert isinstance(load_index(small).encoder, OnnxQueryEncoder)


def test_an_unknown_query_encoder_setting_is_refused(small: Settings) -> None:
    build_index(small, progress=False)
    with pytest.raises(IndexMismatchError, match="use 'onnx' or 'torch'"):
        load_index(Settings.from_env(documents_dir=small.documents_dir, index_dir=small.index_dir, query_encoder="tf"))


def test_a_torch_only_index_skips_the_export_and_onnx_then_asks_for_a_rebuild(small: Settings) -> None:
    torch_only = Settings.from_env(documents_dir=small.documents_dir, index_dir=small.index_dir, query_encoder="torch")
    manifest = build_index(torch_only, progress=False)
    assert "query_encoder.onnx" not in manifest["files"] and not (small.index_dir / "query_encoder.onnx").exists()
    assert isinstance(load_index(torch_only).encoder, Embedder)
    assert any("query_encoder.onnx is missing" in r for r in stale_reasons(small))
    build_index(small, progress=False)
    assert isinstance(load_index(small).encoder, OnnxQueryEncoder)
