"""Retrieval: a member's question -> ranked passages, a confidence and a band.

The public API is :class:`Retriever` (``answer``, ``candidates``, ``search``, ``rank``)
and the :class:`Answer` / :class:`Hit` it returns; the modules beside it are its parts:
BM25 keywords, the query adapter, the answer reader, the confidence and its bands, and
the answer-type check.
"""

from bot.retrieval.confidence import Band, decide_band
from bot.retrieval.retriever import (
    Answer,
    Hit,
    Retriever,
    normalise_query,
    passage_answer,
    states_what_is_asked,
)

__all__ = [
    "Answer",
    "Band",
    "Hit",
    "Retriever",
    "decide_band",
    "normalise_query",
    "passage_answer",
    "states_what_is_asked",
]
