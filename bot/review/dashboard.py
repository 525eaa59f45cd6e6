"""The dashboard's figures from the answer log: per day, unanswered topics, usage per document.

Pure functions over :class:`bot.review.store.LoggedAnswer` rows, so the figures can be
checked without a web server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.review.store import LoggedAnswer


@dataclass
class Day:
    """One day's questions, by band, with thumbs down and conversations handed to a person."""

    day: date
    questions: int = 0
    answered: int = 0
    clarified: int = 0
    abstained: int = 0
    thumbs_down: int = 0
    conversations: set[str] = field(default_factory=set)
    handed_over: set[str] = field(default_factory=set)

    @property
    def thumbs_down_rate(self) -> float:
        """Share of the day's answers that got a thumbs down."""
        return self.thumbs_down / self.questions if self.questions else 0.0

    @property
    def handoff_rate(self) -> float:
        """Share of the day's conversations that led to a hand-off or callback request."""
        return len(self.handed_over) / len(self.conversations) if self.conversations else 0.0


def per_day(logged: Iterable[LoggedAnswer], handed_over: set[str], first: date, last: date) -> list[Day]:
    """A :class:`Day` for every date from ``first`` to ``last`` (days without questions too)."""
    days = {first + timedelta(days=n): Day(first + timedelta(days=n)) for n in range((last - first).days + 1)}
    for row in logged:
        day = days.get(row.created_at.date())
        if day is None:
            continue
        day.questions += 1
        if row.band == "answer":
            day.answered += 1
        elif row.band == "clarify":
            day.clarified += 1
        else:
            day.abstained += 1
        if row.helpful is False:
            day.thumbs_down += 1
        if row.conversation_id:
            day.conversations.add(row.conversation_id)
            if row.conversation_id in handed_over:
                day.handed_over.add(row.conversation_id)
    return list(days.values())


def unanswered(logged: Iterable[LoggedAnswer]) -> list[tuple[int, str]]:
    """(position, masked question) of every question the assistant abstained on."""
    return [(i, row.question_masked) for i, row in enumerate(logged) if row.band == "abstain"]


def usage(logged: Iterable[LoggedAnswer], sections: dict[str, tuple[str, str]]) -> tuple[
    list[tuple[str, int]], list[tuple[str, int]]
]:
    """Answers citing each document and each section, most used first: ``sections`` maps a
    passage id to (document title, section title)."""
    documents: Counter[str] = Counter()
    by_section: Counter[str] = Counter()
    for row in logged:
        if row.band != "answer" or not row.passage_id:
            continue
        title, section = sections.get(row.passage_id, (row.passage_id.split("#")[0], "?"))
        documents[title] += 1
        by_section[f"{section} ({title})"] += 1  # the section first: long titles are cut on the chart
    return documents.most_common(), by_section.most_common()


def totals(days: Sequence[Day]) -> dict[str, float]:
    """The period's totals and rates."""
    questions = sum(d.questions for d in days)
    conversations = set().union(*(d.conversations for d in days)) if days else set()
    handed = set().union(*(d.handed_over for d in days)) if days else set()
    return {
        "questions": questions,
        "answered": sum(d.answered for d in days),
        "clarified": sum(d.clarified for d in days),
        "abstained": sum(d.abstained for d in days),
        "thumbs_down_rate": sum(d.thumbs_down for d in days) / questions if questions else 0.0,
        "handoff_rate": len(handed) / len(conversations) if conversations else 0.0,
    }
