"""Fitting the query adapter (`bot adapt`): see bot/retrieval/adapter.py for what it does.

The map is trained on two kinds of pairs, each a softmax over candidate texts:

* PolicyQA (`../shared/benchmarks/policyqa`, MIT licence): questions over twenty privacy
  policies nobody on the team wrote, each with the paragraphs that answer it, so the
  map learns privacy-policy language in general rather than our documents;
* our alternate questions (data/documents/passage_questions.yml) with the passage each
  belongs to, scored the way the retriever scores them: a passage counts the best of
  its adapted text row and its *other* alternate questions' plain rows. Trained on
  PolicyQA alone, the adapter lowers passage-text scores below the alternate-question
  rows and ranks our members' questions worse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Training: epochs over all batches, AdamW learning rate, softmax temperature (cosine x
#: SCALE) and the weight of our own questions' loss against one PolicyQA policy's.
#: Chosen by PolicyQA cross-validation and questions.yml together: 40 epochs
#: or a learning rate of 2e-3 overfit PolicyQA's wording; a member weight of 10 costs
#: PolicyQA 0.03 hit@3 for no member gain.
EPOCHS = 20
LEARNING_RATE = 1e-3
SCALE = 20.0
MEMBER_WEIGHT = 3.0
#: Our alternate questions are split into this many batches, each about a policy's size.
MEMBER_BATCHES = 8
#: Adapters fitted from this many seeds (of the batch order) are averaged into
#: one matrix: it costs nothing per query and steadies the fit (PolicyQA hit@3
#: cross-validated: one seed 0.546, three 0.552, five 0.554).
SEEDS = 5


@dataclass
class TrainingSet:
    """Questions and the texts that answer them, in batches the loss is taken over.

    Each batch is a softmax over its candidate texts with every answering text counted as
    right (PolicyQA questions often have several). ``floor`` holds, per question and
    candidate, a score the candidate has anyway (our alternate-question rows) which the
    adapted text score only counts above.
    """

    batches: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray | None]] = field(default_factory=list)

    def add_policy(self, questions: np.ndarray, contexts: np.ndarray, relevant: list[set[int]]) -> None:
        """One PolicyQA policy: its questions against its own paragraphs."""
        positive = np.zeros((len(questions), len(contexts)), dtype=bool)
        for qi, rel in enumerate(relevant):
            positive[qi, sorted(rel)] = True
        self.batches.append((questions, contexts, positive, 1.0, None))

    def add_alternate_questions(self, questions: np.ndarray, owners: np.ndarray, passages: np.ndarray,
                                weight: float = MEMBER_WEIGHT, seed: int = 0) -> None:
        """Our alternate questions (``owners``: the passage each belongs to) against all
        passage texts, each passage floored by its other alternate questions' similarity."""
        n = len(passages)
        similarity = questions @ questions.T
        np.fill_diagonal(similarity, -1.0)  # a question must not find itself
        floor = np.full((len(questions), n), -1.0, dtype=np.float32)
        for p in range(n):
            rows = owners == p
            if rows.any():
                floor[:, p] = similarity[:, rows].max(axis=1)
        positive = np.zeros((len(questions), n), dtype=bool)
        positive[np.arange(len(questions)), owners] = True
        order = np.random.default_rng(seed).permutation(len(questions))
        for chunk in np.array_split(order, MEMBER_BATCHES):
            self.batches.append((questions[chunk], passages, positive[chunk], weight, floor[chunk]))


def fit_adapter(training: TrainingSet, seeds: int = SEEDS) -> np.ndarray:
    """The average of the adapters fitted from ``seeds`` seeds (see SEEDS)."""
    return np.mean([fit_one(training, seed=seed) for seed in range(seeds)], axis=0).astype(np.float32)


def fit_one(training: TrainingSet, seed: int = 0, epochs: int = EPOCHS) -> np.ndarray:
    """Fit one adapter matrix by AdamW on the batches' softmax losses, from the identity map."""
    import torch

    torch.manual_seed(seed)
    dim = training.batches[0][0].shape[1]
    matrix = torch.zeros(dim, dim, requires_grad=True)
    optimiser = torch.optim.AdamW([matrix], lr=LEARNING_RATE, weight_decay=0.0)
    batches = [
        (torch.from_numpy(q), torch.from_numpy(c), torch.from_numpy(pos), w,
         None if floor is None else torch.from_numpy(floor))
        for q, c, pos, w, floor in training.batches
    ]
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for b in torch.randperm(len(batches), generator=order).tolist():
            queries, contexts, positive, weight, floor = batches[b]
            scores = torch.nn.functional.normalize(queries + queries @ matrix, dim=-1) @ contexts.T
            if floor is not None:
                scores = torch.maximum(scores, floor)
            logits = scores * SCALE
            right = torch.logsumexp(logits.masked_fill(~positive, -1e4), 1)
            loss = -(right - torch.logsumexp(logits, 1)).mean() * weight
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return matrix.detach().numpy()
