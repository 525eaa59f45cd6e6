"""Keyword side of retrieval: tokens, light stemming, spelling repair and BM25.

The embedding model is good at paraphrase but weak on exact terms members type
("activation code", "GOP", "settlement note"), and it cannot tell a question we have
no text for from one we have. BM25 over the same passages supplies both: exact-term
matching and a measure of how much of the question our documents cover at all.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import yaml

_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each few for from further had hadn't has hasn't have haven't having he her here hers herself him
    himself his how i i'm i've if in into is isn't it it's its itself let's me more most my myself no nor
    not of off on once only or other ought our ours ourselves out over own same she should shouldn't so
    some such than that that's the their theirs them themselves then there there's these they they're this
    those through to too under until up very was wasn't we we're were weren't what what's when where which
    while who whom why with won't would wouldn't you you're your yours yourself yourselves hi hello hey
    please thanks thank pls plz u ur im ive dont cant wont also just like get got want wanna need know
    tell say said will shall may might must one would can could ok okay yes yeah does anyone someone
    something thing things way ways much many lot lots really kind sort us we our cigna whats hows wheres
    whos thats theres isnt doesnt didnt wasnt arent youre ill""".split()
)


def stem(word: str) -> str:
    """A light suffix stripper: enough to meet "claims"/"claim", "deleted"/"delete",
    "urgently"/"urgent" (an adverb keeps at least five letters: "apply" is not "app")."""
    if word.endswith("ly") and len(word) >= 7:
        return word[:-2]
    for suffix, repl in (
        ("ies", "y"),
        ("ied", "y"),
        ("sses", "ss"),
        ("ation", "e"),
        ("ing", ""),
        ("ed", ""),
        ("es", "e"),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + repl
    return word


def words(text: str) -> list[str]:
    """Lower-case word tokens (apostrophes normalised, digits kept)."""
    return _TOKEN.findall(text.lower().replace("’", "'"))


def terms(text: str) -> list[str]:
    """Content terms: stop words dropped, stemmed."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def _whole_words(mapping: dict[str, str]) -> re.Pattern[str] | None:
    """A pattern matching the keys of ``mapping`` as whole words ("u" is "you", but not
    in "U.S." or "user")."""
    if not mapping:
        return None
    return re.compile(r"(?<![\w'])(" + "|".join(map(re.escape, mapping)) + r")(?![\w']|\.\w)", re.IGNORECASE)


def _replace(pattern: re.Pattern[str] | None, mapping: dict[str, str], text: str) -> str:
    return text if pattern is None else pattern.sub(lambda m: mapping[m.group(1).lower()], text)


class Synonyms:
    """Member words -> document words (data/documents/synonyms.yml)."""

    def __init__(
        self,
        expansions: dict[str, list[str]] | None = None,
        abbreviations: dict[str, str] | None = None,
        misspellings: dict[str, str] | None = None,
    ) -> None:
        self.expansions = {k.lower(): [v.lower() for v in vs] for k, vs in (expansions or {}).items()}
        self.phrases = sorted((k for k in self.expansions if " " in k), key=len, reverse=True)
        self.misspellings = {k.lower(): v for k, v in (misspellings or {}).items()}
        self.abbreviations = {**{k.lower(): v for k, v in (abbreviations or {}).items()}, **self.misspellings}
        self._abbreviation = _whole_words(self.abbreviations)
        self._misspelling = _whole_words(self.misspellings)

    @classmethod
    def load(cls, path: Path) -> Synonyms:
        """Read the YAML file; a missing file means no expansion."""
        if not path.is_file():
            return cls()
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(data.get("expansions") or {}, data.get("abbreviations") or {}, data.get("misspellings") or {})

    def spell_out(self, text: str) -> str:
        """The question with members' abbreviations and misspellings written out ("isos"
        -> "International SOS", "adress" -> "address"): stemmed, "isos" would be "iso",
        a word none of our documents has."""
        return _replace(self._abbreviation, self.abbreviations, text)

    def respell(self, text: str) -> str:
        """The question with members' misspellings corrected, and nothing else written out."""
        return _replace(self._misspelling, self.misspellings, text)

    def expand(self, text: str) -> list[str]:
        """Extra document words for a query (not including the query's own words)."""
        lowered = " ".join(words(text))
        extra: list[str] = []
        for phrase in self.phrases:
            if f" {phrase} " in f" {lowered} ":
                extra.extend(self.expansions[phrase])
        for w in lowered.split():
            extra.extend(self.expansions.get(w, []))
        return extra


class BM25:
    """Okapi BM25 over passages, with spelling repair against the corpus vocabulary."""

    def __init__(self, documents: Iterable[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.docs = [Counter(terms(d)) for d in documents]
        self.lengths = np.array([sum(c.values()) for c in self.docs], dtype=np.float32)
        self.avg_length = float(self.lengths.mean()) if len(self.docs) else 0.0
        self.k1, self.b = k1, b
        df: Counter[str] = Counter()
        for c in self.docs:
            df.update(c.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.max_idf = math.log(1 + (n + 0.5) / 0.5) if n else 1.0
        self._postings: dict[str, list[tuple[int, int]]] = {}
        for i, c in enumerate(self.docs):
            for t, f in c.items():
                self._postings.setdefault(t, []).append((i, f))
        self._surface_vocab = sorted(self.idf)

    def correct(self, term: str, cutoff: float = 0.8) -> str | None:
        """The corpus term a misspelt query term most likely meant, or None."""
        if term in self.idf:
            return term
        if len(term) < 4 or term.isdigit():
            return None
        match = difflib.get_close_matches(term, self._surface_vocab, n=1, cutoff=cutoff)
        return match[0] if match else None

    def query_terms(self, text: str) -> list[str]:
        """The query's content terms, spelling repaired, unknown terms kept (they count
        against coverage: a question about things we have no words for)."""
        out = []
        for t in terms(text):
            fixed = self.correct(t)
            out.append(fixed if fixed else t)
        return out

    def scores(self, query_terms: list[str], weights: dict[str, float] | None = None) -> np.ndarray:
        """BM25 score of every passage for the given (already processed) terms."""
        result = np.zeros(len(self.docs), dtype=np.float32)
        for t in set(query_terms):
            idf = self.idf.get(t)
            if idf is None:
                continue
            w = (weights or {}).get(t, 1.0) * idf
            for i, f in self._postings[t]:
                denom = f + self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg_length)
                result[i] += w * f * (self.k1 + 1) / denom
        return result

    def coverage(self, text: str, synonyms: Synonyms | None = None) -> float:
        """IDF-weighted share of the question's terms that our passages have words for.

        Near 1 for questions phrased in our documents' vocabulary, low for questions
        about things we have no text for ("weather", "stock price"), which the dense
        score alone cannot separate. A term counts as known when it occurs in the
        passages, is a close misspelling of a passage word (stricter than for ranking,
        so "founded" does not pass for "found") or is member shorthand that the
        synonym list maps to passage words ("isos", "pw").
        """
        raw = set(terms(synonyms.spell_out(text) if synonyms else text))
        if not raw:
            return 0.0
        total = known = 0.0
        for t in raw:
            fixed = self.correct(t, cutoff=0.85)
            w = self.idf.get(fixed or t, self.max_idf)
            total += w
            if fixed or (synonyms and any(s in self.idf for s in terms(" ".join(synonyms.expand(t))))):
                known += w
        return known / total
