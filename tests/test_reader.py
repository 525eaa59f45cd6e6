"""The answer reader (bot/retrieval/reader.py): NumPy scoring equals the PyTorch model it
was trained as, the file refuses another model, and the shipped reader reads passages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.retrieval import normalise_query
from bot.retrieval.reader import READER_FILE, AnswerReader, ReaderError
from bot.training.reader import Example, _module, fit_one, numpy_weights


def _random_reader(seed: int = 0) -> tuple[AnswerReader, object]:
    import torch

    torch.manual_seed(seed)
    module = _module(384).eval()
    return AnswerReader(numpy_weights(module), "some-model", {}), module


def test_numpy_scoring_equals_the_trained_pytorch_model() -> None:
    import torch

    reader, module = _random_reader()
    rng = np.random.default_rng(1)
    for q_len, p_len in ((2, 5), (9, 40), (25, 200)):
        q, p = rng.normal(size=(q_len, 384)).astype(np.float32), rng.normal(size=(p_len, 384)).astype(np.float32)
        with torch.no_grad():
            expected = float(module(torch.from_numpy(q), torch.from_numpy(p)))
        assert reader.score(q, p) == pytest.approx(expected, abs=1e-4)


def test_save_load_round_trip_and_another_model_is_refused(tmp_path: Path) -> None:
    reader, _ = _random_reader()
    reader = AnswerReader(reader.weights, reader.model, {"how do i claim": 1.5})
    path = tmp_path / READER_FILE
    reader.save(path)
    loaded = AnswerReader.load(path, "some-model")
    assert loaded.out_of_fold == {"how do i claim": pytest.approx(1.5)}
    q, p = np.ones((6, 384), dtype=np.float32), np.eye(10, 384, dtype=np.float32)
    assert loaded.score(q, p) == pytest.approx(reader.score(q, p), abs=1e-6)
    with pytest.raises(ReaderError, match="bot reader"):
        AnswerReader.load(path, "another-model")
    path.write_bytes(b"not a reader")
    with pytest.raises(ReaderError, match="bot reader"):
        AnswerReader.load(path, "some-model")


def test_training_learns_to_tell_a_passage_that_answers_from_one_that_does_not() -> None:
    # Two passages whose token rows differ; questions made of one passage's rows answer it.
    rng = np.random.default_rng(0)
    passages = [rng.normal(size=(30, 384)).astype(np.float32) for _ in range(2)]
    examples = []
    for i in range(60):
        own = i % 2
        rows = passages[own][rng.choice(np.arange(1, 29), 5)] + rng.normal(scale=0.1, size=(5, 384))
        tokens = np.vstack([np.zeros((1, 384)), rows, np.zeros((1, 384))]).astype(np.float32)
        examples += [Example("", tokens, own, 1.0), Example("", tokens, 1 - own, 0.0)]
    reader = AnswerReader(fit_one(examples[:100], passages, epochs=6), "m", {})
    right = [reader.score(e.tokens, passages[e.passage]) for e in examples[100:] if e.label]
    wrong = [reader.score(e.tokens, passages[e.passage]) for e in examples[100:] if not e.label]
    assert min(right) > max(wrong)


def test_the_shipped_reader_prefers_a_questions_own_passage(retriever) -> None:
    # Alternate questions against their own passage and against another of the same
    # document: the reader trained on them should rank their own passage first nearly always.
    position = {p.id: i for i, p in enumerate(retriever.passages)}
    wins, total = 0, 0
    for passage_id, questions in list(retriever.index.questions.items())[::4]:
        own = position[passage_id]
        doc = retriever.passages[own].doc_id
        other = next(i for i, p in enumerate(retriever.passages) if p.doc_id == doc and i != own)
        for q in questions[:2]:
            tokens = retriever.index.encoder.encode_with_tokens(normalise_query(q))[1]
            mine = retriever.reader.score(tokens, retriever.index.passage_tokens[own])
            theirs = retriever.reader.score(tokens, retriever.index.passage_tokens[other])
            wins += mine > theirs
            total += 1
    assert total > 40 and wins / total >= 0.9


def test_the_shipped_reader_was_trained_on_todays_documents_and_questions(retriever, settings) -> None:
    """Editing the documents, passage_questions.yml, unanswerable.yml or the pooled
    labelled sets without rerunning `bot reader` (then `bot calibrate`) fails here."""
    from bot.training.calibration import labelled_sets, reader_inputs_digest, unanswerable_questions

    unanswerable = unanswerable_questions(settings.documents_dir)
    assert len(unanswerable) >= 500
    assert retriever.reader.inputs == reader_inputs_digest(retriever, labelled_sets(), unanswerable), "run `bot reader`"
