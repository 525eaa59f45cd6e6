"""Similar questions together: members ask the same thing in many wordings.

Questions are embedded with the index's own query encoder (the vectors retrieval ranks
with, :class:`bot.knowledge.index.Encoder`), each distinct wording once and then cached,
and grouped greedily: the most frequent wording opens a group, and every other wording
joins the first group whose opening wording is at least :data:`SIMILARITY` close
(cosine), or opens its own.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

#: Cosine at which two wordings count as the same question (all-MiniLM-L6-v2: paraphrases
#: of one question score 0.75 to 0.95, different questions on one topic 0.4 to 0.7).
SIMILARITY = 0.75
#: Distinct wordings whose vectors are kept between page loads.
CACHE_SIZE = 20_000

K = TypeVar("K", bound=Hashable)


def normalise(text: str) -> str:
    """The wording a group counts: lower case, single spaces, no trailing punctuation."""
    return re.sub(r"\s+", " ", text.lower()).strip().rstrip("?!. ")


@dataclass
class Group(Generic[K]):
    """Similar questions: the most asked wording, every member's key and the wordings' counts."""

    label: str
    keys: list[K] = field(default_factory=list)
    wordings: Counter[str] = field(default_factory=Counter)

    @property
    def size(self) -> int:
        """How many questions the group holds."""
        return len(self.keys)


class QuestionGrouper:
    """Groups questions by meaning with a cache of their vectors (thread-safe)."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], similarity: float = SIMILARITY) -> None:
        self._encode = encode
        self.similarity = similarity
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, wordings: Sequence[str]) -> np.ndarray:
        """L2-normalised vectors of ``wordings`` (normalised already), embedding only new ones."""
        with self._lock:
            missing = [w for w in dict.fromkeys(wordings) if w not in self._cache]
        if missing:
            fresh = np.asarray(self._encode(missing), dtype=np.float32)
            with self._lock:
                for wording, vector in zip(missing, fresh, strict=True):
                    self._cache[wording] = vector
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        with self._lock:
            rows = [self._cache.get(w) for w in wordings]
        if any(r is None for r in rows):  # evicted meanwhile by a very large request
            return np.asarray(self._encode(list(wordings)), dtype=np.float32)
        return np.vstack(rows) if rows else np.zeros((0, 1), dtype=np.float32)

    def group(self, items: Sequence[tuple[K, str]]) -> list[Group[K]]:
        """``items`` (key, question) grouped, biggest group first (ties: most asked wording first)."""
        counts: Counter[str] = Counter()
        keys: dict[str, list[K]] = {}
        for key, text in items:
            wording = normalise(text)
            if not wording:
                continue
            counts[wording] += 1
            keys.setdefault(wording, []).append(key)
        wordings = [w for w, _ in counts.most_common()]
        if not wordings:
            return []
        vectors = self.vectors(wordings)
        groups: list[Group[K]] = []
        leaders: list[np.ndarray] = []
        for wording, vector in zip(wordings, vectors, strict=True):
            target = None
            if leaders:
                similarity = np.vstack(leaders) @ vector
                best = int(np.argmax(similarity))
                if similarity[best] >= self.similarity:
                    target = groups[best]
            if target is None:
                target = Group(label=wording)
                groups.append(target)
                leaders.append(vector)
            target.keys.extend(keys[wording])
            target.wordings[wording] += counts[wording]
        return sorted(groups, key=lambda g: (-g.size, -g.wordings[g.label]))
