"""Follow-ups and two-part questions in the languages we answer in besides English.

The English reading of a conversation (bot/dialogue/context.py) recognises a follow-up
("and by email?") by its opening words and the words that point back, and cuts a
message asking two questions at the conjunction before a question word. The same
functions read the other languages here, with each language's words
(``conversation.yml`` beside this module): :func:`~bot.dialogue.context.is_follow_up`
and :func:`~bot.dialogue.context.split_questions` take them as patterns.

Each question is answered from the English passages by the cross-lingual retriever
(bot/language/crosslingual.py). A follow-up is retrieved on the previous question and
the follow-up together (:func:`~bot.dialogue.context.combined_question`); when that
finds no answer but the message alone does, the message was a question of its own
after all. Among the passages that rank for the combined question, the previous turn's
is kept when the follow-up names no topic of its own ("combien de temps cela
prend-il ?"): "cela" is what was just answered. A follow-up that names a topic of its
own ("und bei einer Beschwerde?") is ranked on the combined question and on its own
words alike (:meth:`~bot.language.crosslingual.CrossLingualRetriever.answer`), and a
question after sentences of context on the whole message and on the question alike.

A message asking two questions is cut as English is, after a greeting or a clause of
context too ("Hola, ¿puedo elegir mi hospital? ¿Y qué hago en caso de emergencia?"),
and each part is asked without them. A later part is ranked the same way on the part
before it and on its own words: "what do I do in an emergency?" after choosing a
hospital is about being admitted.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

import yaml

from bot.dialogue.context import (
    Reply,
    Topic,
    combined_question,
    is_follow_up,
    message_sentences,
    own_topic_terms,
    split_questions,
)
from bot.retrieval import Answer, Retriever
from bot.retrieval.keywords import terms

WORDS_FILE = Path(__file__).resolve().parent / "conversation.yml"


@dataclass(frozen=True)
class ConversationWords:
    """One language's words for :func:`is_follow_up` (on the :func:`folded` message) and
    :func:`split_questions`."""

    opener: re.Pattern[str]
    pointer: re.Pattern[str]
    generic: frozenset[str]
    split: re.Pattern[str]
    question_start: re.Pattern[str]
    request: re.Pattern[str]
    knowing: re.Pattern[str]
    part_start: re.Pattern[str]

    def question_of(self, part: str) -> str:
        """A part of a message from its question on, without the greeting or clause of
        context before it ("Hola, ¿puedo elegir mi hospital?" asks "¿puedo elegir mi
        hospital?")."""
        found = self.part_start.match(part)
        return part[found.end("context"):] if found and found.group("context") else part


def _alternatives(words: list[str]) -> str:
    """The words as one regex alternation, longest first (so "et si" wins over "et")."""
    return "|".join(re.escape(str(w)) for w in sorted(words, key=lambda w: -len(str(w))))


def folded(text: str) -> str:
    """``text`` without its accents ("électronique" -> "electronique", "groß" -> "gross"):
    the term reader of bot/retrieval/keywords.py cuts words at letters outside ASCII, so
    a follow-up's own words are counted on this (:func:`answer_in_language`)."""
    text = text.replace("ß", "ss")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _words(entry: dict) -> ConversationWords:
    conjunctions = _alternatives(entry["conjunctions"])
    questions = _alternatives(entry["question_words"])
    return ConversationWords(
        # read on the folded message; a continuation may follow an acknowledgement ("ok, et par email ?")
        opener=re.compile(
            rf"^(?:[\w']+[,\s]+)?(?:{_alternatives([folded(str(w)) for w in entry['openers']])})(?![\w'-])",
            re.IGNORECASE,
        ),
        pointer=re.compile(
            rf"(?<![\w'-])(?:{_alternatives([folded(str(w)) for w in entry['pointers']])})(?![\w'-])", re.IGNORECASE
        ),
        generic=frozenset(terms(folded(" ".join(str(w) for w in entry["generic"])))),
        split=re.compile(
            rf"\?\s+¿?(?:(?:{conjunctions})\s+)?"
            r"|\s*;\s*"
            rf"|,?\s+(?:{conjunctions})\s+(?=¿?(?:{questions})(?![\w'-]))",
            re.IGNORECASE,
        ),
        question_start=re.compile(rf"^¿?(?:{questions})(?![\w'-])", re.IGNORECASE),
        request=_phrases(entry["requests"]),
        knowing=_phrases(entry["knowing"]),
        # a part of a message opening like a question, or after a greeting or a clause of
        # context does ("Hallo, ich bin in Spanien. Zwei Fragen: wie lange dauert ...")
        part_start=re.compile(
            rf"^(?P<context>[^?¿]*?(?:[,.;:!]\s+|\s+[-–—]+\s+))?¿?(?:{questions})(?![\w'-])", re.IGNORECASE
        ),
    )


def _phrases(words: list[str]) -> re.Pattern[str]:
    """Any of ``words`` as whole words, read on the :func:`folded` message."""
    return re.compile(rf"(?<![\w'-])(?:{_alternatives([folded(str(w)) for w in words])})(?![\w'-])", re.IGNORECASE)


@cache
def conversation_words(language: str) -> ConversationWords | None:
    """The words of ``language`` (ISO 639-1), or None for a language the file lacks."""
    data = yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8")) or {}
    entry = data.get(language)
    return _words(entry) if entry else None


#: Question marks in the scripts members write in (Latin, Chinese full-width, Arabic).
QUESTION_MARKS = ("?", "？", "؟")
#: Where a message's clauses part: a greeting or a clause of context comes before the
#: question ("Olá, os meus dados pessoais podem ser guardados nos Estados Unidos?").
_CLAUSE = re.compile(r"[,.;:!]\s+|\s+[-–—]+\s+")


def last_clause(text: str) -> str:
    """The last clause of ``text``: the question after a clause of context."""
    return _CLAUSE.split(text)[-1]


def asks_for_information_in(text: str, language: str) -> bool | None:
    """Whether a message in ``language`` that the intent classifier took for a request
    asks a question instead, as :func:`bot.dialogue.answering.asks_for_information` reads
    English: it ends with a question mark, or its last clause opens like a question, and
    it has none of the language's words asking for something to be done ("je voudrais",
    "bitte", "pouvez-vous"), unless they ask to know ("je voudrais savoir ...") or come
    in a clause before a question of its own, as English reads "if I want a copy, how
    do I ask for it?" ("e se voglio una copia dei miei dati, come faccio a chiederla?").
    None for a language the file lacks."""
    words = conversation_words(language)
    if words is None:
        return None
    said = folded(text).strip().lower()
    if not said or said.startswith("/"):
        return False
    question = last_clause(said)
    if words.request.search(said):
        return bool(words.knowing.search(said)) or (
            question != said and bool(words.question_start.match(question)) and not words.request.search(question)
        )
    return said.endswith(QUESTION_MARKS) or bool(words.question_start.match(question))


def answer_in_language(retriever: Retriever, text: str, topic: Topic | None, language: str) -> list[Reply]:
    """The replies to a message in ``language`` (not English): one per question it asks,
    a follow-up answered about the conversation's ``topic`` (see the module docstring)."""
    words = conversation_words(language)
    if words is None:  # a language we do not speak: one question, no context
        return [Reply(text, retriever.answer(text, language=language))]
    parts = split_questions(text, words.split, words.part_start, follows=None)
    if len(parts) > 1:
        asked = [words.question_of(part) for part in parts]
        replies = [Reply(asked[0], retriever.answer(asked[0], language=language))]
        for before, question in pairwise(asked):
            combined = retriever.answer(combined_question(Topic(before), question), language=language, own=question)
            replies.append(Reply(question, combined if combined.answered else retriever.answer(question,
                                                                                                language=language)))
        return replies
    if topic is None or not topic.question or not is_follow_up(folded(text), words.opener, words.pointer,
                                                               words.generic):
        said = message_sentences(text)
        # Sentences about the member before the question ("Hallo, ich bin beruflich in
        # Nigeria und nutze die International SOS App. Wofür wird mein Standort
        # verwendet?"): the question's own words weigh as much as the whole message.
        asked = said[-1] if len(said) > 1 and said[-1].endswith(QUESTION_MARKS) else None
        return [Reply(text, retriever.answer(text, language=language, own=asked))]
    # A follow-up naming a topic of its own is ranked on its own words as much as on the
    # combined question, whose vector the previous question dominates.
    own = [t for t in own_topic_terms(folded(text)) if t not in words.generic]
    combined = retriever.answer(combined_question(topic, text), language=language, own=text if own else None)
    if not combined.answered:
        alone = retriever.answer(text, language=language)
        if alone.answered:
            return [Reply(text, alone)]
    if not own:
        return [Reply(text, _keep_topic_passage(retriever, combined, topic), follow_up=True)]
    return [Reply(text, combined, follow_up=True)]


def _keep_topic_passage(retriever: Retriever, answer: Answer, topic: Topic) -> Answer:
    """``answer`` citing the previous turn's passage when that passage ranks among its
    passages: the follow-up names nothing of its own, so it is about what was just
    answered. Its highlight is the passage's sentences closest to the combined question."""
    ranked = [hit.passage.id for hit in answer.hits]
    if not answer.answered or topic.passage_id not in ranked[1:] or retriever.crosslingual is None:
        return answer
    kept = answer.hits[ranked.index(topic.passage_id)]
    hits = [kept, *(hit for hit in answer.hits if hit is not kept)]
    vector = retriever.crosslingual.embed(answer.question)
    highlight = retriever.crosslingual.highlight(kept.passage, answer.question, vector)
    return dataclasses.replace(answer, hits=hits, text=highlight, highlight=highlight)
