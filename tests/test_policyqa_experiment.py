"""The PolicyQA query-adapter experiment: its harness matches the shipped ranking, and
the adapter really learns a mapping it can apply to policies it never saw."""

from __future__ import annotations

import numpy as np

from bot.evaluation import DEFAULT_QUESTIONS, first_relevant_rank, load_questions
from bot.policyqa_experiment import Policy, member_ranks, policy_ranks, train_adapter


def test_member_harness_without_adapter_ranks_like_the_shipped_retriever(retriever) -> None:
    questions = load_questions(DEFAULT_QUESTIONS)[0][::7]
    shipped = [
        first_relevant_rank([h.passage.id for h in retriever.search(q["q"], k=10)], set(q["passages"]))
        for q in questions
    ]
    assert member_ranks(retriever, questions, None) == shipped


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


def test_adapter_learns_a_mapping_that_carries_to_unseen_policies() -> None:
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    train = _synthetic_policies(rng, rotation.astype(np.float32), 30)
    test = _synthetic_policies(rng, rotation.astype(np.float32), 5)
    adapter = train_adapter(train)

    def hit1(a: np.ndarray | None) -> float:
        ranks = [r for p in test for r in policy_ranks(p, a)]
        return sum(r == 1 for r in ranks) / len(ranks)

    assert hit1(None) < 0.3
    assert hit1(adapter) > 0.6
