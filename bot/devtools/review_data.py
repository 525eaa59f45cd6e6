"""A generated answer log for the review pages' benchmark, browser tests and screenshots.

Questions are drawn from our own alternate questions (answered, now and then clarified,
with the passage they belong to) and out-of-scope examples (abstained), reworded a
little so that grouping has near-duplicates to find; some answers get a thumbs up or
down, and some conversations end in a hand-off or callback request. Dates spread over
the last ``days`` days. Seeded: the same arguments give the same log.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from bot.knowledge.index import load_passage_questions
from bot.requests import RequestStore
from bot.requests.models import Answer
from bot.settings import Settings

_PREFIXES = ("", "", "", "hi, ", "hello ", "quick question: ", "please, ")
_SUFFIXES = ("", "", "", "?", " please", " thanks", "??")


def _reword(rng: random.Random, question: str) -> str:
    text = question.rstrip("?")
    if rng.random() < 0.3:
        text = text.lower()
    return f"{rng.choice(_PREFIXES)}{text}{rng.choice(_SUFFIXES)}"


def generate(
    store: RequestStore,
    settings: Settings,
    count: int,
    *,
    days: int = 30,
    seed: int = 0,
    now: datetime | None = None,
) -> int:
    """Write ``count`` logged answers (and a few hand-off requests) into ``store``; returns
    the number of conversations."""
    import yaml

    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    questions = [(pid, q) for pid, qs in load_passage_questions(settings.documents_dir).items() for q in qs]
    path = settings.documents_dir / "out_of_scope.yml"
    unanswerable = [str(e) for e in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("examples", [])]
    rows = []
    conversations = []
    conversation = ""
    for n in range(count):
        if n % 3 == 0:
            conversation = f"{rng.getrandbits(64):016x}-bench-{n:06d}"
            conversations.append(conversation)
        roll = rng.random()
        if roll < 0.72:
            passage, question = rng.choice(questions)
            band, confidence = "answer", rng.uniform(0.5, 0.99)
        elif roll < 0.82:
            passage, question = rng.choice(questions)
            band, confidence = "clarify", rng.uniform(0.43, 0.5)
        else:
            passage, question = None, rng.choice(unanswerable[: max(1, len(unanswerable) // 4)])
            band, confidence = "abstain", rng.uniform(0.0, 0.43)
        feedback = rng.random()
        helpful = None if feedback < 0.8 else (band == "answer" and feedback < 0.95)
        created = now - timedelta(days=rng.random() ** 0.7 * days)
        rows.append({
            "conversation_id": conversation,
            "created_at": created,
            "question_masked": _reword(rng, question),
            "passage_id": passage,
            "confidence": confidence,
            "band": band,
            "helpful": helpful,
            "feedback_at": created if helpful is not None else None,
        })
    with store._transaction("generate answers") as session:
        for start in range(0, len(rows), 1000):
            session.execute(insert(Answer), rows[start : start + 1000])
    for conversation in conversations[::12]:  # one conversation in twelve reaches a person
        kind = rng.choice(("handoff", "callback"))
        store.submit(kind, {"topic": "claims", "details": "generated"}, conversation_id=conversation)
    return len(conversations)
