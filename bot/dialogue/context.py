"""The conversation around a question: follow-ups that lean on the previous answer, and
messages that ask two questions at once.

A member's "and by email?" or "how long does that take?" names no topic of its own: it
is about what the previous answer was about. :func:`is_follow_up` recognises such a
message; :func:`answer_in_context` then retrieves on the previous question and the
follow-up together, and answers through the same band decision as any question. A
self-contained question ("how do I submit a claim?") starts afresh.

"how do I reset my login and also how long does a guarantee of payment take?" asks two
things that no single passage answers; :func:`split_questions` cuts it at the
conjunction when each side is a question of its own, and each part gets its own answer
and source (or its own "I couldn't find that").

The topic (the question the last answer answered, and the passage it cited) lives in
the conversation's Rasa slots, so it survives a page reload and any server.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.dialogue.forms import EMAIL_IN_TEXT, subject_passages
from bot.knowledge.chunker import Passage
from bot.retrieval import Answer, Retriever, normalise_query, passage_answer, states_what_is_asked
from bot.retrieval.answer_types import asked_types
from bot.retrieval.keywords import terms
from bot.retrieval.retriever import NEGATION, best_sentences

#: The previous question is kept to its last this many words when follow-ups chain.
TOPIC_WORDS = 40
#: Messages longer than this many words are not taken as follow-ups, unless they open
#: like a continuation ("and if the one I want has no agreement with Cigna?"): those may
#: run to OPENER_WORDS.
FOLLOW_UP_WORDS = 10
OPENER_WORDS = 12
#: How many topic words of its own a message that points back ("do they collect
#: personal stuff?") may name and still be a follow-up; one that opens like a
#: continuation ("and by email?") may name two.
POINTER_TOPIC_WORDS = 3
#: How many of the combined question's best passages a follow-up may cite.
OPTIONS = 3
#: How far through the topic's section a follow-up asking for a fact the topic's
#: passage lacks looks for a passage stating it (the whole of any section we have).
SECTION_REACH = 10

#: Openings of a message that continues the previous one.
_OPENER = re.compile(
    r"^(?:(?:ok(?:ay)?|right|thanks|great|so|and|but|also|then)[,\s]+)*"
    r"(?:and|what about|how about|what if|and if|but if|or|also|even if|same for|same with)\b",
    re.IGNORECASE,
)
#: Pronouns that point back at what the previous answer was about.
_PRONOUN = r"\b(?:it|its|it's|that|this|they|them|those|these|there|one)\b"
_REFERS_BACK = re.compile(_PRONOUN, re.IGNORECASE)
#: "it" that points at nothing: "is it possible to have Cigna delete my data?" asks afresh.
_EXPLETIVE = re.compile(
    r"\b(?:(?:is|was|would|will) it(?: be)?|it is|it's|its) (?:possible|ok|okay|true|safe|legal|allowed|"
    r"necessary|normal|right|wise|better|easier|mandatory|compulsory)\b",
    re.IGNORECASE,
)
#: Words that lean on the previous topic: its pronouns, or asking for an alternative to
#: what the previous answer said ("can I send a letter instead?", "by phone too?").
_POINTER = re.compile(_PRONOUN + r"|\b(?:instead|too|as well|either)\b", re.IGNORECASE)
#: Content words that ask about a topic without naming one: when, how long, how much,
#: what if urgent, for whom. Stems, as :func:`bot.retrieval.keywords.terms` gives them.
_GENERIC = frozenset(
    terms(
        "answer answers reply response respond hear back get gets got take takes taking long time soon quickly till "
        "until fast day days week weeks hour hours urgent urgently emergency cost costs much price pay paid need "
        "getting needed work works happen happens next else more why mean ok okay thanks please tell know find "
        "send sent way ways address number form child children kid kids daughter son wife husband partner "
        "family spouse baby parent parents also instead too still again wait waiting sure really always "
        "possible possibly never ever free allowed otherwise correct true now anything something everything "
        "nothing anyone someone anybody somebody thing things stuff different thx cheers afterwards later "
        "definitely certainly actually absolutely completely totally fully entirely you'll youll we'll they'll "
        "i'll it'll you're we're they're i'm i've"
    )
)
#: Where a message asks a second question: the cut and the words that start the next one.
_SPLIT = re.compile(
    r"(?<=\?)\s+(?:(?:and|also|plus)\b[,\s]*)?"
    r"|\s*;\s*"
    r"|,?\s+and\s+also,?\s+"
    r"|,?\s+also,\s*"
    r"|,?\s+and\s+(?=(?:how|hows|what|whats|when|where|wheres|who|whos|why|which|whether|can|could|do|does|is|"
    r"are|will|would|should|may)\b)",
    re.IGNORECASE,
)
#: A greeting or acknowledgement before the questions ("hi, what's ... and how ...?").
_GREETING = re.compile(
    r"^(?:(?:hi|hello|hey|good (?:morning|afternoon|evening)|ok(?:ay)?|thanks|thank you|whatever|btw|by the way|"
    r"anyway|anyways|sorry|one more thing|another (?:thing|question)|(?:a )?quick (?:q|question)|"
    r"(?:i have |i've got |got )?(?:two|2|a couple of|a few) (?:things|questions|qs))\b[\s,!.:-]*)+",
    re.IGNORECASE,
)
#: Thanks after the questions ("... treatment? Many thanks.").
_THANKS_AFTER = re.compile(
    r"(?<=[?.!])\s*(?:many thanks|thanks(?: a lot| so much| in advance)?|thank you(?: (?:so|very) much)?|"
    r"cheers|ty|thx)[\s.!]*$",
    re.IGNORECASE,
)
#: Chat fillers ending a question ("what do you need to know about the treatment btw?"):
#: the model reads them as words of the question, which they are not.
_FILLER_AFTER = re.compile(r"[\s,]+(?:btw|by the way|lol|haha|tbh|fyi)(?=[\s?.!]*$)", re.IGNORECASE)
#: Contact details given in passing ("my email is k.n@example.jp.", "you can reach me on
#: +32 470 12 34 56,"): the form that needs them reads them (bot/dialogue/forms.py); a
#: question asked with them is retrieved without them, which no passage is about. Any
#: number goes, with or without its country code: none is what a question asks about.
_CONTACT_GIVEN = re.compile(
    r"\b(?:(?:my|our) (?:e-?mail(?: address)?|phone(?: number)?|mobile(?: number)?|number|contact(?: details)?) "
    r"(?:is|:)|(?:you can )?(?:reach|email|e-mail|call|ring|phone|text|contact) (?:me|us) (?:at|on))\s*"
    rf"(?:{EMAIL_IN_TEXT.pattern}|\+?\d[\d ()./-]{{5,}}\d)[\s,;.!]*",
    re.IGNORECASE,
)
#: "when will I hear back" asks for a time as "how soon" does (bot/retrieval/answer_types.py).
_WHEN = re.compile(r"\bwhen (?:will|would|do|does|can|shall|should)\b", re.IGNORECASE)
_WHAT_IS = re.compile(r"\bwhats\b", re.IGNORECASE)
_QUESTION_START = re.compile(
    r"^(?:how|hows|what|whats|when|where|wheres|who|whos|why|which|whether|can|could|do|does|did|is|are|will|would|"
    r"should|may|i|my|cant|can't|cannot|dont|don't|need|please)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Topic:
    """What the last answer was about: the question it answered and the passage it cited."""

    question: str
    passage_id: str | None = None


@dataclass(frozen=True)
class Reply:
    """The answer to one part of a message, and the question it was retrieved for."""

    part: str
    answer: Answer
    follow_up: bool = False


def own_topic_terms(text: str) -> list[str]:
    """The content terms of ``text`` that name a topic (not "how long", "urgent", "daughter")."""
    return [t for t in terms(text) if t not in _GENERIC]


def is_follow_up(
    text: str,
    opener: re.Pattern[str] = _OPENER,
    pointer: re.Pattern[str] = _POINTER,
    generic: frozenset[str] = frozenset(),
) -> bool:
    """Whether ``text`` leans on the previous answer: a short message that opens like a
    continuation ("and by email?", "what if it's urgent?", "ok and ...") with at most
    two topic words of its own, points back or asks for an alternative ("how long does
    that take?", "can I send a letter instead?") with at most
    :data:`POINTER_TOPIC_WORDS`, or names no topic at all ("when will I get the answer?");
    so is a message whose first question is one, whatever follows it ("what about if
    it's urgent? i need my documents today").

    English by default; another language passes its own ``opener`` and ``pointer``
    patterns and the terms that name no topic in it (``generic``: its function words),
    as bot/language/conversation.py does."""
    text = normalise_query(text)
    first, asks, rest = text.partition("?")
    if asks and rest.strip() and is_follow_up(first + asks, opener, pointer, generic):
        return True
    words = text.split()
    opens = bool(opener.match(text))
    if not words or len(words) > (OPENER_WORDS if opens else FOLLOW_UP_WORDS) or text.startswith("/"):
        return False
    own = [t for t in own_topic_terms(text) if t not in generic]
    if opens:
        return len(own) <= 2
    if pointer.search(_EXPLETIVE.sub(" ", text)):
        return len(own) <= POINTER_TOPIC_WORDS
    return not own


#: "and what do I need to bring?": a question of its own after the opener, asking more
#: about the topic, not naming the case next to it ("and my photos?", "and if it's urgent?").
_FURTHER = re.compile(
    r"^(?:(?:ok(?:ay)?|right|thanks|great|so|and|but|also|then)[,\s]+)+"
    r"(?!(?:what|how) about\b|what if\b)"
    r"(?:what|whats|how|when|where|who|which|why|do|does|did|can|could|is|are|will|would|should|may)\b",
    re.IGNORECASE,
)


def asks_further(text: str) -> bool:
    """Whether ``text`` opens like a follow-up and then asks a question of its own about
    the topic ("and what do I need to bring on the day?")."""
    return bool(_FURTHER.match(normalise_query(text)))


def points_back(text: str) -> bool:
    """Whether ``text`` asks about what the last answer said ("is that guaranteed?",
    "what do they use it for?"), by a pronoun, rather than opening on a case next to it
    ("and if it's urgent?", "what about by email?")."""
    text = normalise_query(text)
    return bool(_REFERS_BACK.search(text)) and not _OPENER.match(text)


#: A message this short whose every topic word is in the previous answer's passage
#: ("what number do I call" after the passage giving one) continues that topic.
LEANING_WORDS = 6


def continues_topic(retriever: Retriever, text: str, topic: Topic | None) -> bool:
    """Whether ``text`` is about the conversation's ``topic``: a follow-up by its wording
    (:func:`is_follow_up`), a short message naming an organisation and nothing else
    ("does International SOS?", the same question about another organisation), or a
    short message naming no organisation whose every topic word the previous answer's
    passage has ("what number do I call" after California residents' rights)."""
    if topic is None or not topic.question:
        return False
    if is_follow_up(text):
        return True
    query = normalise_query(text)
    if (len(query.split()) <= FOLLOW_UP_WORDS and retriever.named_documents(query)
            and not own_topic_terms(retriever.without_names(query))):
        return True  # "does International SOS?" after "does Cigna collect data on children?"
    own = set(own_topic_terms(query))
    if not own or len(query.split()) > LEANING_WORDS or query.startswith("/"):
        return False
    if retriever.unnamed_passages(query) is not None:
        return False
    passage = retriever.passage(topic.passage_id)
    return passage is not None and own <= set(terms(passage.text))


def fact_asked(text: str) -> str:
    """``text`` as bot/retrieval/answer_types.py reads the kind of fact it asks for:
    "when will I hear back?" asks how soon."""
    return _WHAT_IS.sub("what is", _WHEN.sub("how soon", text))


def combined_question(topic: Topic, text: str) -> str:
    """The previous question and the follow-up as one question, the topic's words kept
    to its last :data:`TOPIC_WORDS`."""
    previous = " ".join(topic.question.split()[-TOPIC_WORDS:])
    return f"{previous} {text.strip()}".strip()


def answer_in_context(retriever: Retriever, text: str, topic: Topic) -> tuple[Answer, bool]:
    """The answer to ``text``, a message that continues the conversation's ``topic``
    (:func:`continues_topic`, which the caller has checked), and whether it was read as
    a follow-up.

    A follow-up is retrieved on the previous question with it. Each of the combined
    question's best :data:`OPTIONS` passages gets its own confidence and band
    (:meth:`Retriever.candidates`, the band decision every answer goes through). Of
    those in the answer band, from the topic's organisation (or the one the follow-up
    names), that state what the follow-up asks for (a time for "when
    will I hear back", an address for "what's the email address":
    bot/retrieval/answer_types.py) we cite, when the topic's passage does not state it,
    one of the topic's section that does ("is that free?" after how to review your
    data: "may ask you to cover the reasonable cost", four passages on), else the one
    with most of the follow-up's own words ("urgent", "email"; a negation counts as one
    when both have one), then, for a follow-up on the case next to the topic, one from
    the topic's section, then, for one that points back or asks more about the topic
    (:func:`asks_further`: "and what do I need to bring on the day?"), the topic's own
    passage, then the most confident.
    If none is answered and the message names a topic of its own ("and by email?") that
    it answers alone, it stands alone; otherwise the combined question is clarified or
    abstained on like any other. A message whose own topic words none of the answered
    passages has ("and will you tell me if the policy changes" after cookies) also
    stands alone when its own answer has them: it opens like a follow-up but moves on.
    """
    previous = Topic(retriever.without_other_names(topic.question, text), topic.passage_id)
    question = combined_question(previous, _WHAT_IS.sub("what is", text))
    asked = fact_asked(text)
    wanted = set(terms(text))
    outside = _other_organisations(retriever, topic, text)
    own = set(own_topic_terms(text))
    adds = _word_overlap(retriever, text, previous.question)
    # A passage beside the topic's, in its section, that has more of the follow-up's own
    # words than the topic's passage is on the conversation's topic and about what the
    # follow-up adds ("urgent"): it needs no band of its own (the member already has that
    # section's answer, and the combined question weighs the previous words most).
    topic_passage = retriever.passage(topic.passage_id)
    topic_words = adds(_titled(topic_passage)) if topic_passage else 0
    near = {p.id for p in retriever.neighbours(topic.passage_id) if adds(_titled(p)) > topic_words}
    # "how long have they got?" after a passage that gives no time asks for the time a
    # passage of the same section gives ("no later than thirty (30) calendar days").
    lacks = bool(topic_passage and asked_types(asked) and not states_what_is_asked(asked, topic_passage))
    if lacks:
        near |= {p.id for p in retriever.neighbours(topic.passage_id, SECTION_REACH) if states_what_is_asked(asked, p)}
    # "is that always possible?" asks about what the last answer said: the topic's own
    # passage needs no band of its own either when it has the follow-up's words, all of
    # its topic words among them ("what time is the F1 race?" names its own topic).
    stays = points_back(text)
    further = asks_further(text)
    topic_terms = passage_terms(topic_passage.text) if topic_passage else set()
    if stays and wanted & topic_terms and own <= topic_terms:
        near.add(topic.passage_id)
    candidates = retriever.candidates(question, OPTIONS, also=near)
    if lacks:  # and those of the section among the best, beyond the neighbours
        near |= {
            a.best.passage.id for a in candidates
            if a.best and _section(a.best.passage) == _section(topic_passage)
            and states_what_is_asked(asked, a.best.passage)
        }
    # So is one of the combined question's best passages from the topic's document that
    # has more of the follow-up's words, for a follow-up on the case next to the topic:
    # "what if it's urgent?" after a password question is the FAQ's urgent-access passage,
    # in another section of the same page. One that points back ("will they always change
    # it?") asks about what the last answer said, not about another passage with its words.
    if topic_passage and not stays:
        near |= {
            a.best.passage.id for a in candidates
            if a.best and a.best.passage.doc_id == topic_passage.doc_id and adds(_titled(a.best.passage)) > topic_words
        }
    # A confident candidate counts as answered though the combined question asks for a
    # fact it lacks: that fact was an earlier turn's ("what is the email address?" then
    # "and if it's urgent?"); what the follow-up asks, it must state.
    answered = [
        a for a in candidates
        if (a.answered or a.confidence >= retriever.settings.answer_threshold or (a.best and a.best.passage.id in near))
        and a.best and a.best.passage.id not in outside and states_what_is_asked(asked, a.best.passage)
    ]
    if on_topic := _topic_passage_answer(retriever, topic, text, asked):
        # Carries the combined question, so that a further follow-up keeps the topic.
        return refocus(retriever, dataclasses.replace(on_topic, question=question), asked), True
    if own and answered and not any(own & passage_terms(a.best.passage.text) for a in answered):
        alone = in_topic_document(retriever, text, topic, retriever.answer(text))
        if (alone.answered and alone.best and own & passage_terms(alone.best.passage.text)
                and alone.best.passage.id not in outside and states_what_is_asked(asked, alone.best.passage)):
            return alone, False
    # "is that guaranteed?" asks about what the last answer said; "and if it's urgent?"
    # or "what about by email?" asks for the case next to it, which the topic's section
    # gives before another section does (the hospital choice's "does not have an
    # agreement with us", not the claims steps' "has no direct payment agreement").
    section = _section(topic_passage) if topic_passage else None
    if answered:
        best = max(
            answered,
            key=lambda a: (
                # "is that free?" after a passage naming no cost is about the cost its
                # section states, not a passage elsewhere with the word "free".
                lacks and _section(a.hits[0].passage) == section,
                adds(_titled(a.hits[0].passage)),
                not stays and _section(a.hits[0].passage) == section,
                a.answered,
                (stays or further) and a.hits[0].passage.id == topic.passage_id,
                a.confidence,
            ),
        )
        if not best.answered:
            best = dataclasses.replace(best, band="answer", text=best_sentences(best.hits[0].passage, asked))
        # A follow-up naming only another organisation ("what about International SOS?")
        # asks what the previous question asked, of it: the highlight is the combined
        # question's ("no later than thirty (30) calendar days" after how long Cigna takes).
        query = normalise_query(text)
        names_only = bool(retriever.named_documents(query)) and not own_topic_terms(retriever.without_names(query))
        return refocus(retriever, best, question if names_only else asked), True
    if own:
        alone = retriever.answer(text)
        if (alone.answered and alone.best and alone.best.passage.id not in outside
                and states_what_is_asked(asked, alone.best.passage)):
            return alone, False
    return retriever.answer(question), True


#: A member's children, and the documents' word for them.
_FAMILY = frozenset(terms("daughter daughters son sons kid kids child children baby babies teenager"))
_CHILDREN = frozenset(terms("child children minor minors"))
_EMAIL_ADDRESS = re.compile(r"\S@\S")
_EMAIL_WORDS = frozenset(terms("email emails"))
#: A street number, then a postcode and a town ("Plantin en Moretuslei 299, 2140 Antwerpen").
_POSTAL_ADDRESS = re.compile(r"\b\d{1,4}[a-z]?,\s*\d{4,5}\s+[A-Z][a-z]+")
_POST_WORDS = frozenset(terms("post postal mail letter letters address write"))


def passage_terms(text: str) -> set[str]:
    """The terms of a passage's ``text``, with "email" when it gives an e-mail address
    ("and by email?" after "contact International SOS at privacy@internationalsos.com"
    is answered by that address), and "post" or "letter" when it gives a postal address
    ("can I send a letter instead?" after Cigna International's privacy contact)."""
    found = set(terms(text))
    if _EMAIL_ADDRESS.search(text):
        found |= _EMAIL_WORDS
    if _POSTAL_ADDRESS.search(text):
        found |= _POST_WORDS
    return found


def _section(passage: Passage) -> tuple[str, tuple[str, ...]]:
    """Where ``passage`` stands: its document and section."""
    return passage.doc_id, passage.section


def _titled(passage: Passage) -> str:
    """A passage's text after its section's title: "same for the app?" is about the
    section "Additional Information for Users of a Cigna Mobile Application"."""
    return f"{passage.section[-1] if passage.section else ''}. {passage.text}"


def _word_overlap(retriever: Retriever, text: str, topic_question: str = "") -> Callable[[str], float]:
    """How much of follow-up ``text`` a passage's text has, for choosing the passage it
    is about: one for each of its terms the passage has; one for a negation on both
    sides ("and if it doesn't have an agreement?" is about "If your provider does not
    have an agreement with us"); a half when the passage has document words that the
    follow-up's words stand for (synonyms.yml: "gone" for "removed", "residual"), but
    only if it has a word for each of the follow-up's topic words ("in US dollars
    instead of euros?" is not about "settle")."""
    # The follow-up's words that repeat the topic's question tell nothing apart: "if you
    # delete it, is everything really gone?" after asking to delete one's data is about
    # "gone".
    wanted = set(terms(text)) - set(terms(topic_question)) or set(terms(text))
    if wanted & _FAMILY:
        wanted |= _CHILDREN  # "and for my daughter?" is about what the documents say of children
    negated = bool(NEGATION.search(text))
    means = {t: set(terms(f"{w} {' '.join(retriever.synonyms.expand(w))}")) for w in text.split() for t in terms(w)}
    own = set(own_topic_terms(text))

    def overlap(passage_text: str) -> float:
        said = passage_terms(passage_text)
        covered = all(means.get(t, {t}) & said for t in own)
        expanded = covered and any((means[t] - {t}) & said for t in means if t not in said)
        return len(wanted & said) + 0.5 * expanded + (negated and bool(NEGATION.search(passage_text)))

    return overlap


#: How much lower (in the hybrid ranking score) the best passage of the conversation's
#: document may rank than another document's best and still answer a new question.
DOCUMENT_MARGIN = 0.1
#: The same for the best passage of the conversation's organisation (any of its
#: documents) against another organisation's: "how would I send a correction request?"
#: after Cigna International's rights is not answered with International SOS's procedure.
ORGANISATION_MARGIN = 0.2


def in_topic_document(retriever: Retriever, text: str, topic: Topic | None, answer: Answer) -> Answer:
    """``answer`` to a question of its own in a conversation, or one from the document
    the conversation is about when one of its passages answers it nearly as well
    (:data:`DOCUMENT_MARGIN`) as the best passage of another document ("how do you keep
    the servers safe?" after a question on the website privacy policy), else one from
    the conversation's organisation when the best is another organisation's
    (:data:`ORGANISATION_MARGIN`), unless the question names whose answer it wants."""
    own = retriever.passage(topic.passage_id) if topic else None
    if (own is None or not answer.best or answer.best.passage.doc_id == own.doc_id
            or retriever.unnamed_passages(text) is not None):
        return answer
    candidates = retriever.candidates(text, OPTIONS)
    better = [
        a for a in candidates
        if a.answered and a.best.passage.doc_id == own.doc_id and a.best.score >= answer.best.score - DOCUMENT_MARGIN
    ]
    if better:
        return better[0]
    outside = _other_organisations(retriever, topic, text)
    if answer.best.passage.id in outside:
        ours = [a for a in candidates if a.answered and a.best.passage.id not in outside
                and a.best.score >= answer.best.score - ORGANISATION_MARGIN]
        if ours:
            return ours[0]
    return answer


#: How far below the best passage a step of the procedure the conversation is about may
#: rank and still answer (:func:`in_topic_steps`).
STEPS_MARGIN = 0.2


def in_topic_steps(retriever: Retriever, text: str, topic: Topic | None, answer: Answer) -> Answer:
    """``answer``, or the answer from a step of the procedure the conversation is about
    when one ranks among its passages nearly as well (:data:`STEPS_MARGIN`). The chunker
    repeats a list's introduction ("To help us arrange direct payment in case of a
    planned hospitalisation, please follow these steps:") before each part of a long
    list, so the passages sharing the topic passage's introduction are that procedure's
    steps. "what do we need to show at the hospital?" after how long a guarantee of
    payment takes asks for the planned admission's step ("show your membership card and
    Guarantee of payment"), though the emergency's "Simply show your membership card"
    ranks first. A request form's topic names no passage ("my guarantee of payment
    request for a hospital stay"): the procedure is that of its best passage."""
    if not answer.answered or not answer.best or topic is None:
        return answer
    if topic.passage_id:
        own = retriever.passage(topic.passage_id)
    else:
        best = subject_passages(retriever, topic.question)[:1] if topic.question else ()
        own = retriever.passage(best[0]) if best else None
    introduction = own.text.split("\n", 1)[0] if own else ""
    if not introduction.endswith(":"):
        return answer
    if answer.best.passage.text.startswith(introduction):
        return answer
    step = next((hit for hit in answer.hits if hit.passage.text.startswith(introduction)
                 and hit.score >= answer.best.score - STEPS_MARGIN), None)
    return (passage_answer(retriever, step.passage.id, text) or answer) if step else answer


def _topic_passage_answer(retriever: Retriever, topic: Topic, text: str, asked: str) -> Answer | None:
    """The answer from the passage the previous turn cited, for a follow-up that names
    nothing of its own and asks for a kind of fact that passage states ("how long does
    that take?" after the marketing opt-out, which says "as soon as reasonably
    practicable"): "that" is the previous topic, though the combined question may rank
    a passage on response times in general above it."""
    if not topic.passage_id or own_topic_terms(text) or not asked_types(asked):
        return None
    passage = retriever.passage(topic.passage_id)
    if passage is None or not states_what_is_asked(asked, passage):
        return None
    return passage_answer(retriever, passage.id, asked)


def refocus(retriever: Retriever, answer: Answer, asked: str) -> Answer:
    """``answer`` leading with the sentences of its passage that answer the follow-up
    itself: retrieved on the combined question, its highlight would repeat the sentence
    the previous turn already quoted ("is that by post?" wants the one that says how the
    note is sent)."""
    if not answer.answered or not answer.best:
        return answer
    highlight = retriever.highlight(answer.best.passage, asked)
    return dataclasses.replace(answer, highlight=highlight) if highlight else answer


def _other_organisations(retriever: Retriever, topic: Topic, text: str) -> set[str]:
    """Ids of the passages of organisations other than the one the follow-up names, or
    else the one the topic's passage belongs to: "and what's the email address?" after
    a question to Cigna is not answered with International SOS's address."""
    passage = retriever.passage(topic.passage_id)
    mask = retriever.unnamed_passages(text)
    if mask is None and passage is not None:
        mask = retriever.unnamed_passages(passage.doc_title)
    if mask is None:
        return set()
    return {p.id for p, out in zip(retriever.passages, mask, strict=True) if out}


#: Where one sentence ends and the next starts.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=\S)")
#: A sentence that states something: it opens on whom or what it is about.
_STATES = re.compile(
    r"^(?:i|i'm|im|i've|ive|i'd|i'll|we|we're|we've|my|our|it|it's|its|this|that|the|he|she|they|there|thanks|"
    r"thank you)\b",
    re.IGNORECASE,
)


def message_sentences(text: str) -> list[str]:
    """The sentences of a member's message, cut after ".", "!" or "?"."""
    return _SENTENCE_BREAK.split(text.strip())


def without_context(text: str, before: bool = True) -> str:
    """``text`` without the sentences of context that ask nothing before its first
    question (unless not ``before``) or after its last ("I'm living in Dubai with my
    wife and two kids. how can i get in touch with you?", "... by email instead of by
    post? The post here is so slow."); ``text`` itself when it asks no question with a
    "?". A sentence after the last question is context when it opens on whom or what it
    is about ("I need my documents tonight"); "like a data protection officer" says
    what the question meant."""
    sentences = message_sentences(text)
    asking = [n for n, sentence in enumerate(sentences) if sentence.endswith("?")]
    if not asking:
        return text
    last = asking[-1]
    if any(not _STATES.match(sentence) for sentence in sentences[last + 1:]):
        last = len(sentences) - 1  # "who do I call?? also how long does a GOP take" asks on
    return " ".join(sentences[asking[0] if before else 0:last + 1])


#: A question after the case it is about ("if i ask international sos to delete my data
#: how long do they have"): a part of its own like one that opens with its question word.
_ASKS_AFTER_CONDITION = re.compile(
    r"^(?:if|when|once|after|before)\b[^?]*\b(?:how|what|when|where|who|which|why)\b", re.IGNORECASE
)


def split_questions(
    text: str, split: re.Pattern[str] = _SPLIT, question_start: re.Pattern[str] = _QUESTION_START,
    follows: Callable[[str], bool] | None = is_follow_up,
) -> list[str]:
    """The questions in ``text``: more than one only when it joins questions ("..., and
    how long does ... take?", "...? And can I ...?", "...; ...") and every part is a
    question of its own (at least three words, opening like a question or ending with
    "?", with a topic word, or, after the first, a follow-up by ``follows``: "how long
    does a guarantee of payment take and what do you need from me?"). "terms and
    conditions" or "claims and reimbursements" are no cut: "and" splits only before a
    question word. English by default; another language passes its own ``split`` and
    ``question_start`` patterns, and its own ``follows`` or None."""
    text = _FILLER_AFTER.sub("", _THANKS_AFTER.sub("", _GREETING.sub("", _CONTACT_GIVEN.sub("", text).strip()))) or text
    asked = without_context(text)  # "...? The post here is so slow." asks nothing more
    parts = [p.strip(" ,;") for p in split.split(asked) if p and p.strip(" ,;?")]
    if len(parts) < 2:
        return [text]
    for n, part in enumerate(parts):
        words = part.split()
        leans = n > 0 and follows is not None and follows(part)
        if len(words) < 3 or not (own_topic_terms(part) or leans):
            return [text]
        if not (question_start.match(part) or part.endswith("?") or _ASKS_AFTER_CONDITION.match(part)):
            return [text]
    return [p if p.endswith("?") else p + "?" for p in parts]


def next_topic(replies: list[Reply], previous: Topic | None) -> Topic | None:
    """The topic after this turn: the last part answered (a follow-up carries the
    combined question, so that a further follow-up keeps to it); unchanged when nothing
    was answered."""
    for reply in reversed(replies):
        if reply.answer.answered and reply.answer.best:
            passage_id = reply.answer.best.passage.id
            if previous and previous.passage_id == passage_id and not reply.follow_up:
                # Still on the same passage ("i never gave you my email tho" after how to
                # get the activation code): the conversation's question goes on with it.
                return Topic(combined_question(previous, reply.answer.question), passage_id)
            return Topic(reply.answer.question, passage_id)
    return previous
