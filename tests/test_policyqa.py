"""The query adapter and PolicyQA harness: the adapter learns a mapping that carries to
policies it never saw, our alternate questions keep it from hurting our own ranking,
the shipped retriever really applies it, and a wrong adapter file is refused clearly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bot.evaluation.policyqa import Policy, policy_ranks, training_set
from bot.retrieval import Retriever
from bot.retrieval.adapter import ADAPTER_FILE, AdapterError, QueryAdapter, adapt
from bot.training.adapter import TrainingSet, fit_adapter


def _synthetic_policies(rng: np.random.Generator, rotation: np.ndarray, count: int) -> list[Policy]:
    """Policies whose questions are a fixed rotation of the paragraph that answers them:
    plain cosine cannot find the paragraph, a learnt linear map can."""
    policies = []
    for _ in range(count):
        contexts = rng.normal(size=(12, 16)).astype(np.float32)
        contexts /= np.linalg.norm(contexts, axis=1, keepdims=True)
        answer = rng.integers(0, 12, size=8)
        questions = (contexts[answer] @ rotation).astype(np.float32)
        policies.append(
            Policy(
                contexts=[f"c{i}" for i in range(12)],
                questions=[f"q{i}" for i in range(8)],
                relevant=[{int(a)} for a in answer],
                context_vectors=contexts,
                question_vectors=questions,
                keyword=np.zeros((8, 12)),
            )
        )
    return policies


def _hit1(policies: list[Policy], matrix: np.ndarray | None) -> float:
    ranks = [r for p in policies for r in policy_ranks(p, matrix)]
    return sum(r == 1 for r in ranks) / len(ranks)


def test_adapter_learns_a_mapping_that_carries_to_unseen_policies() -> None:
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    train = _synthetic_policies(rng, rotation.astype(np.float32), 30)
    test = _synthetic_policies(rng, rotation.astype(np.float32), 5)
    matrix = fit_adapter(training_set(train, None))
    assert _hit1(test, None) < 0.3
    assert _hit1(test, matrix) > 0.6


def test_alternate_question_floor_counts_only_other_questions_of_the_passage() -> None:
    # Two passages, three alternate questions: q0 and q1 belong to passage 0, q2 to 1.
    questions = np.eye(3, 4, dtype=np.float32)
    questions[1] = [0.6, 0.8, 0.0, 0.0]
    passages = np.eye(2, 4, dtype=np.float32)
    training = TrainingSet()
    training.add_alternate_questions(questions, np.array([0, 0, 1]), passages, weight=2.0)
    rows = np.concatenate([b[0] for b in training.batches])
    floors = np.concatenate([b[4] for b in training.batches])
    q0 = next(i for i, r in enumerate(rows) if np.allclose(r, questions[0]))
    # q0's floor for passage 0 is its similarity to q1 (0.6), never to itself (1.0);
    # passage 1's only question is orthogonal to it.
    assert floors[q0].tolist() == pytest.approx([0.6, 0.0])
    assert {b[3] for b in training.batches} == {2.0}


def test_shipped_retriever_matches_passage_text_through_the_adapter(retriever: Retriever) -> None:
    assert retriever.adapter is not None
    question = "can they see where I am on my phone"
    vector = retriever.index.encoder.encode_one(question)
    adapted = retriever.adapter.apply(vector)
    assert np.linalg.norm(adapted) == pytest.approx(1.0, abs=1e-5)
    n = len(retriever.passages)
    rows = retriever.index.dense.reconstruct_n(0, retriever.index.dense.ntotal)
    expected = np.full(n, -1.0, dtype=np.float32)
    np.maximum.at(expected, retriever.index.owners, np.concatenate([rows[:n] @ adapted[0], rows[n:] @ vector[0]]))
    got = retriever.index.dense_scores(vector, adapted)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # And the adapter changes something: the plain question gives other text scores.
    assert not np.allclose(got, retriever.index.dense_scores(vector), atol=1e-3)
    hits = retriever.search(question, k=3)
    assert hits[0].dense == pytest.approx(float(got[retriever.passages.index(hits[0].passage)]), abs=1e-5)


def test_adapter_can_be_switched_off(settings) -> None:
    plain = Retriever.from_settings(dataclasses.replace(settings, query_adapter=False))
    assert plain.adapter is None
    assert plain.search("how do I submit a claim", k=1)


def test_adapter_for_another_model_or_missing_is_refused_with_what_to_run(settings, tmp_path: Path) -> None:
    shipped = QueryAdapter.load(settings.documents_dir / ADAPTER_FILE, settings.embedding_model)
    other = tmp_path / ADAPTER_FILE
    QueryAdapter(matrix=shipped.matrix, model="some/other-model").save(other)
    with pytest.raises(AdapterError, match="fitted for some/other-model.*run `bot adapt`.*BOT_QUERY_ADAPTER=0"):
        QueryAdapter.load(other, settings.embedding_model)
    with pytest.raises(AdapterError, match="run `bot adapt`"):
        QueryAdapter.load(tmp_path / "missing.npz", settings.embedding_model)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a numpy file")
    with pytest.raises(AdapterError, match="run `bot adapt`"):
        QueryAdapter.load(corrupt, settings.embedding_model)


def test_adapt_keeps_rows_unit_length_and_none_is_identity() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(5, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert adapt(vectors, None) is vectors
    out = adapt(vectors, rng.normal(size=(8, 8)).astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
