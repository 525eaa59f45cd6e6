"""Answering a member's message: retrieval, the intent's verified answer, feedback, and
the request offered after an answer.

Retrieval answers from our documents; the intent classifier only says what the topic
is. :func:`answer_message` decides when a confident intent's verified answer may stand
in for an unsure retrieval. The functions take plain values (the message text, the
intent and its confidence), so the action server only reads them off the tracker.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from bot.dialogue import replies
from bot.dialogue.context import (
    Reply,
    Topic,
    answer_in_context,
    combined_question,
    continues_topic,
    fact_asked,
    in_topic_document,
    in_topic_steps,
    message_sentences,
    next_topic,
    own_topic_terms,
    passage_terms,
    refocus,
    split_questions,
    without_context,
)
from bot.dialogue.forms import form_about, subject_passages
from bot.dialogue.intents import IntentAnswer
from bot.language.conversation import QUESTION_MARKS, asks_for_information_in, last_clause
from bot.retrieval import Answer, Retriever, normalise_query, passage_answer, states_what_is_asked
from bot.retrieval.answer_types import asked_types

#: Intent confidence above which a verified intent answer may replace an unsure retrieval.
INTENT_CONFIDENCE = 0.7

#: Typed feedback that means the answer did not help ("that didn't help", "wrong", 👎).
NEGATIVE_FEEDBACK = re.compile(
    r"\b(not|no|nope|useless|wrong|bad|unhelpful|rubbish|didn't|doesn't|wasn't|isn't)\b|👎", re.I
)


#: How a question for information opens ("is that free if I call from abroad?", "how
#: does a guarantee of payment work?").
_QUESTION_OPENING = re.compile(
    r"^(?:how|hows|what|whats|when|where|why|which|who|is|isn't|are|does|do|did|will|was|were)\b", re.I
)
_CAN_YOU = re.compile(r"^(?:can|could|would|will) (?:you|i|we|cigna)\b", re.I)
#: Whether someone else may do it ("can the hospital request the guarantee of payment
#: instead of me?"): a question about the request, not the member asking for it.
_CAN_SOMEONE_ELSE = re.compile(
    r"^(?:can|could|may|would|will|should) (?:the|my|his|her|our|their|they|he|she|someone else|"
    r"somebody else)\b(?!.*\b(?:(?:call|ring|phone|contact|email|text) me|call(?:ed)? back)\b)", re.I
)
#: Words that carry a message on from the last answer before its question ("ok, and how
#: do I send the request?" asks how).
_CARRYING_ON = re.compile(r"^(?:(?:ok(?:ay)?|so|and|but|then|well|alright|right)\b[,\s]*)+(?=\w)", re.I)
#: A question carrying on from the last answer, once :data:`_CARRYING_ON` is cut off
#: ("[ok and] if ...?", "what about ...?", "[and] for a planned operation?").
_CONTINUES = re.compile(r"^(?:if|what if|what about|how about|for)\b", re.I)
_WH_OPENING = re.compile(r"^(?:how|hows|what|whats|when|where|why|which|who)\b", re.I)
#: A question for a time or an amount after a clause that sets the scene, with no comma
#: between them ("once ive sent in a guarantee of payment request how long before i get
#: it?"): it asks how long, not for the request.
_ASKS_HOW_LONG = re.compile(
    r"\b(?:how (?:long|soon|quickly|fast|much|many)|when (?:will|would|do|does|can|should|shall))\b[^?]*\?$", re.I
)
#: Words that ask for something to be done, not explained.
_ASKS_FOR_ACTION = re.compile(
    r"\b(?:please|pls|(?:call|ring|phone|contact) me|call(?:ed)? back|callback|start|submit|send me|for me|"
    r"want(?!\s*(?:or|and)\b|\s*[?,.!]|$)|need|would like|'d like|request|arrange|organi[sz]e|get me|"
    r"sort (?:me )?out|set (?:me )?up|book)\b",
    re.I,
)


def asks_for_information(text: str, language: str = "en") -> bool:
    """Whether a message the intent classifier took for a request asks a question
    instead: it opens like one ("how", "what", "is", "does"...) or carries on from the
    last answer ("ok and if ...?") and, unless it opens with a question word, asks for
    nothing to be done ("is that free if I call from
    abroad?", not "is it possible to call me back?"). Such a message is answered, and
    the request only offered: a form starts when the member asks for it. A message in
    another ``language`` is read with that language's words
    (:func:`bot.language.conversation.asks_for_information_in`)."""
    if language != "en" and (asks := asks_for_information_in(text, language)) is not None:
        return asks
    said = normalise_query(text).lower()
    text = _CARRYING_ON.sub("", said)
    if not text or text.startswith("/"):
        return False
    # The question may follow a clause of context ("I'm going into hospital next month,
    # can you pay the hospital directly?").
    question = last_clause(text)
    if _WH_OPENING.match(question) or _WH_OPENING.match(text):
        return True
    if _CAN_SOMEONE_ELSE.match(question) and question.endswith("?"):
        return True
    if _ASKS_HOW_LONG.search(text) and not _REQUEST_OPENING.match(text):
        return True
    if (_CONTINUES.match(text) or text != said) and question.endswith("?") and not _ASKS_FOR_ACTION.search(text):
        return True  # "ok and if my hospital isn't on the list?", "and opting out on my phone apps?"
    if _QUESTION_OPENING.match(question) and question.endswith("?"):
        # "I'm calling from Singapore though, is it free?": the question decides.
        return not _ASKS_FOR_ACTION.search(text)
    if not (_QUESTION_OPENING.match(text) or (_CAN_YOU.match(question) and question.endswith("?"))):
        return False
    return not _ASKS_FOR_ACTION.search(text)


#: How a message asking for something to be done opens: "I'd like to request deletion of
#: my personal data", "please delete my data", "I want to see what you hold about me".
_REQUEST_OPENING = re.compile(
    r"^(?:(?:hi|hello|hey|ok(?:ay)?|yes|so|well|actually|great|good|perfect|cool|fine|sure|alright|right|thanks|"
    r"thank you|then|now|in that case)[,!.\s]+)*"
    r"(?:i(?:'d| would) like|i (?:do |really )?want|i wish|i (?:do |really )?need|please|pls|kindly|"
    r"(?:can|could|would) you (?:just )?please|(?:can|could|would) you just|"
    # "can you request one for me please": asking us to do it, not whether it can be done
    r"(?:can|could|would|will) you (?:kindly )?(?:request|start|file|submit|open|make|arrange|book|set up|"
    r"sort out|organi[sz]e|begin)\b(?=.*\b(?:for me|for us|please|pls)\b))\b",
    re.I,
)
#: Words of a member who wants to know, not to have it done ("I'd like to know how...").
_WANTS_TO_KNOW = re.compile(
    r"\b(?:know|understand|find out|learn|ask(?:ing)?|information|info|wonder(?:ing)?|question|explain|tell me)\b",
    re.I,
)


def asks_for_request(text: str) -> bool:
    """Whether a message the intent classifier took for a question about a request asks
    for the request itself: it opens by asking for something ("I'd like", "I want",
    "please") and not for knowledge ("I'd like to know how to delete my data"). Such a
    message starts the request's form, as taking the offer would."""
    text = normalise_query(text).lower()
    if not text or text.startswith("/"):
        return False
    # The request may come after a sentence of context ("Bonjour, I'm based in Geneva
    # with my partner. I'd like to make a request about my personal data").
    sentences = message_sentences(text)
    return any(_REQUEST_OPENING.match(s) for s in {sentences[0], sentences[-1]}) and not _WANTS_TO_KNOW.search(text)


#: Asking to be called ("have someone call me", "phone me back").
_CALL_ME = re.compile(r"\b(?:call|ring|phone)(?:s|ed)? (?:me|us)\b|\bcall(?:ed)? back|\bcallback\b", re.I)


def contact_request_intent(text: str) -> str | None:
    """The request a member makes by asking to be contacted, where the classifier saw
    none ("actually yes, I do want someone from the team to contact me"): a call back
    when they ask to be called, a hand-off to a person otherwise; None when they ask for
    no person."""
    if not asks_for_request(text) or not asks_for_a_person(text):
        return None
    return "request_callback" if _CALL_ME.search(text) else "human_handoff"


#: Words of a member asking for a person: who ("a human", "someone", "an agent") or how
#: ("talk", "speak", "put me through").
_WANTS_A_PERSON = re.compile(
    r"\b(?:person|people|human|someone|somebody|anyone|anybody|agent|advis[oe]r|operator|representative|"
    r"staff member|customer (?:service|support|care)|team|talk|speak|chat|bot|escalate|transfer|connect|"
    r"put me through|hand me over)\b",
    re.I,
)


#: Asking to be put in touch, in a question that opens with a question word ("who can I
#: talk to?", "how do I reach someone?").
_REACHING = re.compile(
    r"\b(?:(?:talk|speak|chat|contact|reach|escalat|connect)\w*|put me through|"
    r"hand me over)\b",
    re.I,
)


#: Asking what the ways are ("what are the ways to talk to someone?", "which options do
#: I have to contact you?"): the contact passage answers it, a person one button away.
_WAYS = re.compile(r"\b(?:ways?|options?|means|channels?|methods?)\b", re.I)


def asks_for_a_person(text: str) -> bool:
    """Whether a message the classifier took for a hand-off asks for a person at all:
    "is there someone i can talk to?" does, "and do staff wear id badges in their
    offices?" asks about the documents (and is answered, with a person one button away),
    and so does a question opening with a question word that asks for no contact ("what
    if a staff member loses their phone?")."""
    text = _CARRYING_ON.sub("", normalise_query(text))
    if not _WANTS_A_PERSON.search(text):
        return False
    if _WH_OPENING.match(text) and _WAYS.search(text):
        return False  # "what are the ways to talk to someone at Cigna?" asks how to reach us
    return not (_WH_OPENING.match(text) or _CONTINUES.match(text)) or bool(_REACHING.search(text))


#: Words of a question about the assistant itself ("are you a bot?", "am I talking to a
#: real person?", "what are you?").
_ABOUT_THE_ASSISTANT = re.compile(
    r"\b(?:bot|robot|chatbot|human|real|person|people|machine|ai|automated|automatic|computer|program|"
    r"talking to|speaking to|chatting with|who are you|what are you)\b",
    re.I,
)


def asks_about_the_assistant(text: str) -> bool:
    """Whether a message the classifier took for a question about the assistant asks
    about it: "are you a bot?" does; "what are your opening hours?" asks about us, and is
    answered from the documents (or with the honest "couldn't find" and our contacts)."""
    return bool(_ABOUT_THE_ASSISTANT.search(normalise_query(text)))


def is_question(text: str) -> bool:
    """Whether ``text`` asks something: it ends with a question mark or opens like a
    question ("how long does it take"). A hospital's name or a treatment does not."""
    return text.strip().endswith(QUESTION_MARKS) or bool(_QUESTION_OPENING.match(normalise_query(text).lower()))


#: A message of fewer words than this without a question mark answers a form's free-text
#: question even when it opens like a question: "Will Smith" is a name, "how long does
#: it take" a question.
ANSWER_WORDS = 4


def asks_instead_of_answering(text: str) -> bool:
    """Whether a message typed at a form's free-text question (a name, a hospital) asks
    something instead: a question (:func:`is_question`) that ends with a question mark or
    has at least :data:`ANSWER_WORDS` words."""
    return is_question(text) and (text.strip().endswith(QUESTION_MARKS) or len(text.split()) >= ANSWER_WORDS)


#: A reply that opens with a yes or a no answers the confirmation, whatever follows it.
_OPENS_WITH_YES_OR_NO = re.compile(r"^\W*(?:yes|yeah|yep|yup|no|nope|nah|ok(?:ay)?|sure|don'?t|do not)\b", re.I)


def asks_at_confirmation(text: str) -> bool:
    """Whether a message typed at "Shall I submit it?" asks a question instead of
    answering it ("wait, how long will this take?", "is there no deadline?"), rather than
    opening with a yes or a no ("no, the phone number is wrong")."""
    return asks_instead_of_answering(text) and not _OPENS_WITH_YES_OR_NO.match(text) and not text.startswith("/")


def answer_turn(
    retriever: Retriever,
    text: str,
    intent: str | None,
    intent_confidence: float,
    chosen_passage: str | None,
    intent_answers: Mapping[str, IntentAnswer],
    topic: Topic | None = None,
    during_request: bool = False,
) -> list[Reply]:
    """The answers to one message in its conversation: one per question it asks
    (bot/dialogue/context.py splits "... and also ...?"); a follow-up ("and by email?")
    is answered about the conversation's ``topic`` (the intent, read from the message
    alone, does not stand in for it); any other single question goes through
    :func:`answer_message`, and, ``during_request`` (a request form is running), is
    read with the topic when it has no answer alone."""
    typed = bool(text.strip()) and not text.startswith("/") and not chosen_passage
    if typed:
        # Misspellings corrected ("adress"), so that the conversation's rules read the
        # words retrieval reads.
        text = retriever.synonyms.respell(normalise_query(text))
        parts = split_questions(text)
        if len(parts) > 1:
            return answer_parts(retriever, parts, topic)
        if len(parts[0].split()) >= 2:
            text = parts[0]  # without a greeting before it ("hi, how can I get in touch with you?")
        # A follow-up is read without the sentences of context after it ("and if it's
        # urgent? I need my documents for the hospital tonight" asks about the topic,
        # not about documents for a hospital); one before it may say what it is about
        # ("I think someone got into my account. What should I do?").
        for follow_up_text in dict.fromkeys((without_context(text, before=False), text)):
            if continues_topic(retriever, follow_up_text, topic):
                answer, follow_up = answer_in_context(retriever, follow_up_text.strip(), topic)
                if not during_request:
                    answer = how_long_the_request_takes(retriever, follow_up_text.strip(), topic, answer)
                return [Reply(follow_up_text.strip(), answer, follow_up)]
    answer = answer_message(retriever, text, intent, intent_confidence, chosen_passage, intent_answers)
    if typed and not answer.answered and (asked := without_context(text)) != text and own_topic_terms(asked):
        # The sentences of context around the question may drown it ("My daughter needs
        # a knee operation in Madrid in March. What does the guarantee of payment
        # actually tell me?"); they stay when the question alone names no topic ("...
        # it keeps failing. What can I do?").
        alone = answer_message(retriever, asked, intent, intent_confidence, None, intent_answers)
        if alone.answered:
            answer, text = alone, asked
    if typed:
        answer = in_topic_document(retriever, text.strip(), topic, answer)
        answer = in_topic_steps(retriever, text.strip(), topic, answer)
        if not during_request:
            answer = how_long_the_request_takes(retriever, text.strip(), topic, answer)
        if during_request and topic and topic.question:
            # A question asked while a request form runs is about the request (the topic
            # the form set) or what was asked in it since, when it has no answer alone
            # ("how long does the hospital have to wait for it?" while asking for a
            # guarantee of payment), or when its answer alone is off the request's
            # subject and the request's passage has its words ("what do you need to know
            # about the treatment?" is not about the health encyclopaedia's treatments).
            # The question is read with the topic only then: an answer on the subject
            # needs no second retrieval.
            subject = subject_passages(retriever, topic.question) if answer.answered else ()
            if not answer.answered or (answer.best is not None and answer.best.passage.id not in subject):
                about = retriever.answer(combined_question(topic, text.strip()))
                if about.answered and (not answer.answered or _on_subject(about, subject, text)):
                    return [Reply(text, refocus(retriever, about, text.strip()), True)]
    return [Reply(text, answer)]


#: A question that names a request ("how long do you have to answer a data access request?").
_NAMES_A_REQUEST = re.compile(r"\brequests?\b", re.I)


def how_long_the_request_takes(retriever: Retriever, text: str, topic: Topic | None, answer: Answer) -> Answer:
    """How long a request takes, asked about that request, answered from what the
    request's own passages say, as it is while its form runs: "how long do they have to
    reply?" after whom to write to for a copy of my data, or "how long do you have to
    answer my data access request?", cites Cigna's "We will respond to your request
    consistent with applicable law", not the FAQ's "We usually respond to enquiries
    within two days" (general enquiries) nor International SOS's thirty days.

    The question is about a request when the conversation's topic passage, or one of its
    own best passages, is one of a request form's subject passages (bot/dialogue/forms.py).
    It is read with the form's topic only when its own answer cites a passage off that
    subject and the question names no organisation (International SOS has a deadline
    of its own), and the reading is kept only when it cites a passage on the subject that
    states a time."""
    query = normalise_query(text)
    asked = fact_asked(query)
    if not any(t.name == "duration" for t in asked_types(asked)):
        return answer
    about = [topic.passage_id] if topic and topic.passage_id else []
    if _NAMES_A_REQUEST.search(query):
        about += [h.passage.id for h in answer.hits]
    spec = next((spec for passage_id in about if (spec := form_about(retriever, passage_id))), None)
    if spec is None:
        return answer
    subject = subject_passages(retriever, spec.topic)
    named = retriever.named_documents(query)
    if named and not any(retriever.passage(p).doc_id in named for p in subject):
        return answer
    if (answer.answered and answer.best is not None and answer.best.passage.id in subject
            and states_what_is_asked(asked, answer.best.passage)):
        return answer
    reading = retriever.answer(combined_question(Topic(spec.topic), text))
    if (reading.answered and reading.best is not None and reading.best.passage.id in subject
            and states_what_is_asked(asked, reading.best.passage)):
        # The member's question (with the conversation's, for a follow-up) stays the
        # topic: "and if I ask International SOS instead?" asks how long it takes them.
        return dataclasses.replace(refocus(retriever, reading, asked), question=answer.question)
    return answer


def _on_subject(about: Answer, subject: tuple[str, ...], text: str) -> bool:
    """Whether ``about`` (the question read with the running request's topic) cites one
    of the request's ``subject`` passages that has every topic word of the question
    ("will you give my email address to other companies?" while asking for a deletion
    is about companies, which the deletion passages do not name)."""
    own = set(own_topic_terms(text))
    return (about.best is not None and about.best.passage.id in subject
            and bool(own) and own <= passage_terms(about.best.passage.text))


def answer_parts(retriever: Retriever, parts: list[str], topic: Topic | None = None) -> list[Reply]:
    """The answers to the questions of one message, each with its own source. A part
    that leans on the one before it ("Does Cigna send my data abroad? and is it 100%
    safe?"), or the first on the conversation's ``topic`` ("what about by email?
    anything I should put in it?" after how to contact us), is a follow-up to that
    answer; the others stand alone. A part answered from a passage an earlier part
    already cites adds its sentences to that answer ("what's the privacy email? and the
    postal address?"): one passage is quoted once."""
    replies: list[Reply] = []
    for part in parts:
        if continues_topic(retriever, part, topic):
            answer, follow_up = answer_in_context(retriever, part, topic)
            reply = Reply(part, answer, follow_up)
        else:
            reply = Reply(part, retriever.answer(part))
        topic = next_topic([reply], None)
        same = next((r for r in replies if reply.answer.answered and r.answer.answered
                     and r.answer.best.passage.id == reply.answer.best.passage.id), None)
        if same is None:
            replies.append(reply)
            continue
        lines = same.answer.highlight.splitlines()
        lines += [line for line in reply.answer.highlight.splitlines() if line not in lines]
        replies[replies.index(same)] = dataclasses.replace(
            same, answer=dataclasses.replace(same.answer, highlight="\n".join(lines)))
    return replies


def answer_message(
    retriever: Retriever,
    text: str,
    intent: str | None,
    intent_confidence: float,
    chosen_passage: str | None,
    intent_answers: Mapping[str, IntentAnswer],
) -> Answer:
    """The answer to one message.

    A passage the member chose from a clarification answers directly, and so does the
    intent's verified passage for a button payload (``/intent``) or an empty message
    (they ask the intent's own question; retrieved when the intent has no passage).
    Otherwise the message is retrieved. When retrieval is unsure and the intent classifier is
    at least :data:`INTENT_CONFIDENCE` sure, the intent's verified answer stands in, but
    only for a message in words members use for that intent (or its passage uses) that
    asks for no price, date or count the passage lacks.
    """
    text = text.strip()
    if chosen_passage and (answer := passage_answer(retriever, chosen_passage, text)):
        return answer
    known = intent_answers.get(intent or "")
    if known and known.passage and (not text or text.startswith("/")):
        # A button names its topic: the intent's verified passage answers its question.
        if verified := passage_answer(retriever, known.passage, known.question):
            return verified
    question = known.question if known and (not text or text.startswith("/")) else text
    answer = retriever.answer(question)
    if answer.band != "answer" and known and intent_confidence >= INTENT_CONFIDENCE:
        fallback = passage_answer(retriever, known.passage, question) if known.passage else None
        fallback = fallback or retriever.answer(known.question)
        # The intent says what the topic is, not that its passage holds what was asked:
        # only a message in words members use for the intent, asking for no price,
        # date or count the passage lacks, gets the intent's answer.
        passage = fallback.best.passage if fallback.best else None
        own_words = text.startswith("/") or known.asks_nothing_else(
            normalise_query(text), passage.text if passage else ""
        )
        if own_words and (passage is None or states_what_is_asked(question, passage)):
            answer = fallback
    return answer


def request_offer(known: IntentAnswer | None, answer: Answer, active_form: str | None) -> dict | None:
    """After an answer to a data-rights or guarantee-of-payment question, the message
    offering to start that request.

    Only when the answer is confident, and not in the middle of another form: the member
    is answering that form's questions and the offer would only confuse.
    """
    if not known or answer.band != "answer" or active_form:
        return None
    if known.request_type:
        return replies.request_offer(known.request_type)
    return replies.form_offer(known.offer) if known.offer else None


def feedback_is_helpful(value: str | None, text: str) -> bool:
    """Whether feedback says the answer helped: the thumb button's ``up``/``down``, or for
    typed feedback ("that didn't help"), no negative word in it."""
    if value not in ("up", "down"):
        value = "down" if NEGATIVE_FEEDBACK.search(text) else "up"
    return value != "down"
