"""Custom actions for the Rasa assistant. Thin: the logic lives in the `bot` package.

Loaded by the action server (`python -m rasa_sdk --actions actions`). Importing this
module checks the index, so a missing or stale one stops the action server at start-up
with a message to run `make index`. The model itself is loaded in the Sanic worker
process (which imports this module again), not in the supervising process: loading
torch there would fix multiprocessing's start method before Sanic chooses its own.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, FollowupAction, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.dialogue import replies
from bot.dialogue.answering import (
    answer_turn,
    asks_about_the_assistant,
    asks_at_confirmation,
    asks_for_a_person,
    asks_for_information,
    asks_for_request,
    asks_instead_of_answering,
    contact_request_intent,
    feedback_is_helpful,
    is_question,
    request_offer,
)
from bot.dialogue.context import Reply, Topic, is_follow_up, next_topic, own_topic_terms, points_back
from bot.dialogue.forms import (
    ALL_FORM_SLOTS,
    FORM_BY_INTENT,
    FORMS,
    FormSpec,
    contact_of,
    field_to_change,
    form_about,
    form_for_intent,
    mask_contact,
    opening_slots,
    request_type_in,
    required_slots,
    takes_the_offer,
    volunteered,
)
from bot.dialogue.intents import load_intent_answers
from bot.dialogue.validation import MAX_MESSAGE_CHARS, too_long_reply
from bot.dialogue.validation_flow import FAILURES_SLOT, check_confirmed, check_slot
from bot.knowledge.index import IndexMismatchError
from bot.language import DEFAULT_LANGUAGE, conversation_language, language_choice, localise, start_language
from bot.language.conversation import answer_in_language
from bot.live import live_available
from bot.privacy.masking import install_log_masking, mask_text
from bot.requests import RequestStoreError
from bot.services import check_index, get_services

logger = logging.getLogger(__name__)
install_log_masking(["rasa_sdk", __name__])
try:
    check_index()
except IndexMismatchError as _exc:  # refuse to start, saying what to run (no traceback)
    print(f"action server not started: {_exc}", file=sys.stderr, flush=True)
    raise SystemExit(2) from None
if os.environ.get("SANIC_WORKER_NAME"):
    # Load the model while the worker starts, in a thread: Sanic kills a worker that has
    # not reported ready within 30 s, which loading torch on a busy 2-core machine can
    # exceed. The first action waits for the load (get_services is locked).
    threading.Thread(target=get_services, name="load-services", daemon=True).start()
INTENT_ANSWERS = load_intent_answers()


def _say(dispatcher: CollectingDispatcher, *messages: dict) -> None:
    for message in messages:
        dispatcher.utter_message(**message)


#: The slot Rasa fills with the metadata of the message that started the session.
SESSION_METADATA_SLOT = "session_started_metadata"


def member_language(tracker: Tracker) -> str:
    """The language the bot answers in: the one the member chose in the widget, if their
    latest message says so (its metadata), else the one they write in."""
    latest = next((e for e in reversed(tracker.events) if e.get("event") == "user"), None)
    return language_choice((latest or {}).get("metadata")) or written_language(tracker)


def written_language(tracker: Tracker) -> str:
    """The language the member writes in, read from their messages so far (bot/language).
    Answers to a form's questions do not count: a hospital's or a person's name says
    nothing about the language the member reads ("Ziekenhuis Netwerk Antwerpen")."""
    texts, in_form = [], False
    for event in tracker.events:
        if event.get("event") == "active_loop":
            in_form = bool(event.get("name"))
        elif event.get("event") == "user" and not in_form:
            texts.append(event.get("text") or "")
    return conversation_language(texts, start_language(tracker.get_slot(SESSION_METADATA_SLOT)))


class ActionSessionStart(Action):
    """Start a conversation session as Rasa's own ``action_session_start`` does (the
    slots carried over), in the language the member's widget started it in: the
    ``language`` slot is set from the first message's metadata (the choice in the
    switch, or the browser's language), so that the greeting, and a form started from a
    button before the member writes, are in that language (:func:`start_language`)."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        events += [SlotSet(slot, value) for slot, value in tracker.slots.items() if value is not None]
        language = start_language(tracker.get_slot(SESSION_METADATA_SLOT))
        if language:
            events.append(SlotSet("language", language))
        return [*events, ActionExecuted("action_listen")]


def latest_intent(tracker: Tracker) -> str | None:
    """The intent the classifier gave the latest message."""
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def user_texts(tracker: Tracker) -> list[str]:
    """What the member said in the conversation, message by message, the latest last."""
    return [str(e.get("text") or "") for e in tracker.events if e.get("event") == "user"]


def previous_user_text(tracker: Tracker) -> str | None:
    """What the member said before the latest message, if anything."""
    said = user_texts(tracker)
    return said[-2] if len(said) > 1 else None


def guessed_intent(tracker: Tracker) -> str | None:
    """The latest message's intent; when the classifier was unsure (``nlu_fallback``),
    its best guess."""
    intent = latest_intent(tracker)
    if intent == "nlu_fallback":
        ranking = (tracker.latest_message or {}).get("intent_ranking") or []
        return next((r.get("name") for r in ranking if r.get("name") != "nlu_fallback"), None)
    return intent


def request_intent(tracker: Tracker) -> str | None:
    """The request intent whose form the latest message would open: its (guessed)
    intent when that is a request's, or the request a question's intent offers."""
    intent = guessed_intent(tracker)
    text = (tracker.latest_message or {}).get("text") or ""
    if (intent == "affirm" or takes_the_offer(text)) and (offered := tracker.get_slot(OFFER_SLOT)):
        # a yes to the offer after the last answer, or "start the request for me"
        return replies.payload_intent(str(offered))[0]
    if intent in FORM_BY_INTENT:
        return intent
    known = INTENT_ANSWERS.get(intent or "")
    return (known.request_intent if known else None) or contact_request_intent(text)


class ActionAnswerQuestion(Action):
    """Answer from our documents: a cited answer, a clarification, or an honest "I don't know".

    A follow-up is answered about the conversation's topic, kept in the ``topic_question``
    and ``topic_passage`` slots (bot/dialogue/context.py); a message asking two questions
    gets an answer for each.
    """

    def name(self) -> str:
        return "action_answer_question"

    def _replies(self, tracker: Tracker, language: str = DEFAULT_LANGUAGE) -> list[Reply]:
        message = tracker.latest_message or {}
        text = (message.get("text") or "").strip()
        question = tracker.get_slot("topic_question")
        topic = Topic(str(question), tracker.get_slot("topic_passage")) if question else None
        if language != DEFAULT_LANGUAGE and text and not text.startswith("/"):
            # Answered from the English passages, follow-ups and two-part questions read
            # with the language's own words (bot/language/conversation.py).
            return answer_in_language(get_services().retriever, text, topic, language)
        return answer_turn(
            get_services().retriever,
            message.get("text") or "",
            (message.get("intent") or {}).get("name"),
            float((message.get("intent") or {}).get("confidence") or 0.0),
            next(tracker.get_latest_entity_values("passage_id"), None),
            INTENT_ANSWERS,
            topic,
            during_request=bool(tracker.active_loop_name),
        )

    def _record(self, tracker: Tracker, reply: Reply) -> int | None:
        answer = reply.answer
        try:
            return get_services().store.record_answer(
                tracker.sender_id,
                answer.question,
                answer.best.passage.id if answer.best else None,
                answer.confidence,
                answer.band,
            )
        except RequestStoreError:  # the answer still goes out; only the log entry is lost
            logger.exception("could not record an answer for feedback")
            return None

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = (tracker.latest_message or {}).get("text") or ""
        if not tracker.active_loop_name and asks_for_request(text) and request_intent(tracker):
            # "I'd like to request deletion of my data": the request itself, as taking
            # the offer after the answer would be.
            known = INTENT_ANSWERS.get(guessed_intent(tracker) or "")
            named = request_type_in(text) or (known.request_type if known else None)
            kind = [SlotSet("request_type", named)] if named else []
            return [*kind, FollowupAction("action_form_intro")]
        if tracker.get_slot("requested_slot") == "request_type" and tracker.active_loop_name == "data_rights_form":
            known = INTENT_ANSWERS.get(guessed_intent(tracker) or "")
            if known and known.request_type:
                # "please delete my data" answers the form's "What kind of request?"
                # (the slot's mapping in domain.yml): the form takes it, nothing to answer.
                return []
        return [SlotSet(slot, value) for slot, value in self.answer(dispatcher, tracker).items()]

    def replies(self, tracker: Tracker) -> list[Reply]:
        """The answers to the latest message, one per question it asks (not yet said)."""
        return self._replies(tracker, written_language(tracker))  # retrieval reads the question's language

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
               turn: list[Reply] | None = None) -> dict[str, Any]:
        """Say the answers to the latest message (``turn``, when already worked out);
        the conversation slots to set."""
        text = (tracker.latest_message or {}).get("text") or ""
        if len(text) > MAX_MESSAGE_CHARS:
            dispatcher.utter_message(text=too_long_reply(len(text)))
            return {}
        language = member_language(tracker)
        turn = turn if turn is not None else self.replies(tracker)
        answer_ids = [self._record(tracker, reply) for reply in turn]
        _say(dispatcher, *localise(replies.turn_messages(turn, get_services().facts, answer_ids), language))
        intent = latest_intent(tracker)
        offer = (
            request_offer(INTENT_ANSWERS.get(intent or ""), turn[-1].answer, tracker.active_loop_name)
            if len(turn) == 1 else None
        )
        if offer:
            _say(dispatcher, *localise([offer], language))
        answer_id = next((i for i in reversed(answer_ids) if i), None)
        previous = tracker.get_slot("topic_question")
        topic = next_topic(turn, Topic(str(previous), tracker.get_slot("topic_passage")) if previous else None)
        return {
            "last_answer_id": str(answer_id) if answer_id else None,
            "topic_question": topic.question if topic else None,
            "topic_passage": topic.passage_id if topic else None,
            "language": language,
            OFFER_SLOT: replies.offered_payload(offer),
        }


#: What the assistant says to an intent that is not a question about our documents,
#: outside a form.
CHAT_RESPONSES = {
    "out_of_scope": "utter_out_of_scope",
    "bot_challenge": "utter_iamabot",
    "cancel": "utter_nothing_to_cancel",
    "affirm": "utter_anything_else",
    "deny": "utter_anything_else",
}
#: The start payload of the request offered after the last answer ("Would you like to
#: send us this request now?"): a typed yes takes the offer as its button would.
OFFER_SLOT = "offered_request"


class ActionChatReply(Action):
    """The reply to a message the classifier took for chat ("are you a bot?", "cancel",
    "yes") or for something we do not cover, outside a form: a yes to the request offered
    after the last answer starts it, as its button would; otherwise its response, unless the message
    is a question our documents answer in the conversation so far. A follow-up is short
    and odd enough to be read as anything ("who is that person?" after an answer naming
    the Data Protection Administrator, "can the hospital fill something in instead?"),
    so it is answered when its answer is sure, with its topic, as any question."""

    def name(self) -> str:
        return "action_chat_reply"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = (tracker.latest_message or {}).get("text") or ""
        intent = latest_intent(tracker)
        if intent in ("affirm", "deny") and (offered := tracker.get_slot(OFFER_SLOT)):
            if intent == "affirm":
                entities = replies.payload_intent(str(offered))[1]
                return [*(SlotSet(k, v) for k, v in entities.items()), FollowupAction("action_form_intro")]
            dispatcher.utter_message(response=CHAT_RESPONSES["deny"])
            return [SlotSet(OFFER_SLOT, None)]
        spec = FORMS.get(tracker.active_loop_name or "")
        if spec and (given := volunteered(spec, str(tracker.get_slot("requested_slot") or ""), text,
                                          {s: tracker.get_slot(s) for s in spec.slots})):
            # "her name is Anna Berg" when asked for the member ID reads as chat to the
            # classifier: noted as the answer it is, and the form asks its question again.
            _say(dispatcher, *localise([replies.noted(spec.summary_lines(given))], member_language(tracker)))
            return [SlotSet(slot, value) for slot, value in given.items()]
        if intent == "bot_challenge" and is_question(text) and not asks_about_the_assistant(text):
            # "what are your opening hours?": a question to answer, not about the assistant.
            return [SlotSet(slot, value) for slot, value in ActionAnswerQuestion().answer(dispatcher, tracker).items()]
        # A follow-up naming something ("can the hospital fill something in instead"),
        # not "thanks" or "ok", which name nothing, nor "ugh, forget about it" (cancel).
        asks = is_question(text) or (intent != "cancel" and is_follow_up(text) and bool(own_topic_terms(text)))
        if tracker.get_slot("topic_question") and asks and len(text) <= MAX_MESSAGE_CHARS:
            answering = ActionAnswerQuestion()
            turn = answering.replies(tracker)
            if any(reply.answer.band == "answer" for reply in turn):
                return [SlotSet(slot, value) for slot, value in answering.answer(dispatcher, tracker, turn).items()]
        dispatcher.utter_message(response=CHAT_RESPONSES.get(intent or "", "utter_out_of_scope"))
        return []


#: The channel our web app talks to Rasa through: only its members can be put through to a
#: live agent (widgets on Rasa's socket.io channel get the request form).
LIVE_CHANNEL = "rest"


class ActionFormIntro(Action):
    """Before a form's questions: what happens with the request, facts quoted from the documents."""

    def name(self) -> str:
        return "action_form_intro"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = latest_intent(tracker)
        # A request made under a question's intent or an unsure classification
        # (ActionAnswerQuestion) opens the form of the request it asks for; the rules
        # open forms after the request intents only.
        opening = request_intent(tracker) or intent
        spec = form_for_intent(opening)
        text = (tracker.latest_message or {}).get("text") or ""
        if spec.topic and points_back(text):
            # "ok can you request it for me please" after the guarantee of payment's
            # steps: "it" is the request the conversation is about, whichever request
            # the classifier guessed; after a question we could not answer, the request
            # that question was about ("I might need a guarantee of payment, how does
            # that work?" then "ok please start one for me").
            retriever = get_services().retriever
            asked = previous_user_text(tracker)
            hits = retriever.search(asked, 1) if asked else []
            spec = (form_about(retriever, hits[0].passage.id) if hits else None) or form_about(
                retriever, tracker.get_slot("topic_passage")) or spec
        language = member_language(tracker)
        # A question, not a request: answer it, offer the request, and do not start the
        # form. Asking for a person ("what about talking to someone?") always gets one; a
        # question taken for a hand-off that asks for nobody is answered (its answer, or
        # the "couldn't find" that offers a person).
        asks = asks_for_information(text, written_language(tracker))
        if spec.name == "handoff_form" and asks and not asks_for_a_person(text):
            events = await ActionAnswerQuestion().run(dispatcher, tracker, domain)
            return [*events, FollowupAction("action_listen")]
        if spec.name != "handoff_form" and asks:
            events = await ActionAnswerQuestion().run(dispatcher, tracker, domain)
            offer = replies.form_offer(str(intent))
            _say(dispatcher, *localise([offer], language))
            return [*events, SlotSet(OFFER_SLOT, replies.offered_payload(offer)), FollowupAction("action_listen")]
        services = get_services()
        live = spec.kind == "handoff" and tracker.get_latest_input_channel() == LIVE_CHANNEL
        if live and live_available(services.live, services.settings):
            # A person is free: the web app queues the conversation on seeing this message,
            # and the pause keeps the assistant (and the request form) silent meanwhile.
            _say(dispatcher, *localise([replies.live_handoff_message()], language))
            return [ConversationPaused()]
        _say(dispatcher, *localise([replies.form_intro(spec, services.facts)], language))
        # a new request starts unconfirmed and with no failed answers, whatever came before;
        # the form's questions (domain.yml responses) are asked in the `language` slot's language
        events: list[EventType] = [
            SlotSet("confirmed", None), SlotSet(FAILURES_SLOT, None), SlotSet("language", language),
            SlotSet(OFFER_SLOT, None),
        ]
        events += [SlotSet(slot, value) for slot, value in opening_slots(spec, text, user_texts(tracker)[:-1]).items()]
        if spec.topic:  # follow-ups from now on are about the request
            events += [SlotSet("topic_question", spec.topic), SlotSet("topic_passage", None)]
        if spec.name != FORM_BY_INTENT.get(intent or ""):  # not the form the rules open next
            events.append(FollowupAction(spec.name))
        return events


class ActionRecordFeedback(Action):
    """Store thumbs up/down for the last answer. A typed question the classifier took
    for feedback is answered instead."""

    def name(self) -> str:
        return "action_record_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = (tracker.latest_message or {}).get("text") or ""
        value = next(tracker.get_latest_entity_values("feedback_value"), None)
        if value is None and not text.startswith("/") and is_question(text):
            # "how quickly do you normally answer?" taken for feedback is a question
            return await ActionAnswerQuestion().run(dispatcher, tracker, domain)
        helpful = feedback_is_helpful(value, text)
        answer_id = tracker.get_slot("last_answer_id")
        try:
            get_services().store.record_feedback(
                helpful=helpful,
                answer_id=int(answer_id) if answer_id and str(answer_id).isdigit() else None,
                conversation_id=None if answer_id else tracker.sender_id,
            )
        except RequestStoreError:
            logger.exception("could not record feedback")
        _say(dispatcher, *localise([replies.feedback_reply(helpful)], member_language(tracker)))
        return []


def _form_values(spec: FormSpec, tracker: Tracker) -> dict[str, Any]:
    values = {f.slot: tracker.get_slot(f.slot) for f in spec.fields}
    if spec.name == "handoff_form":  # an email or phone given earlier in the conversation counts
        values["contact"] = contact_of({s: tracker.get_slot(s) for s in ("contact", "email", "phone_number")})
    return values


class ActionAskConfirmed(Action):
    """Show the masked summary of the active form and ask whether to submit."""

    def name(self) -> str:
        return "action_ask_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        spec = FORMS.get(tracker.active_loop_name or "")
        if spec:
            question = replies.confirmation_question(spec, _form_values(spec, tracker))
            _say(dispatcher, *localise([question], member_language(tracker)))
        return []


class _SubmitForm:
    """Write the completed form to the request store; tell the reference only after commit.

    A mixin, not an Action: rasa-sdk registers every Action subclass it finds.
    """

    form_name = ""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        spec = FORMS[self.form_name]
        language = member_language(tracker)
        if spec.confirm and tracker.get_slot("confirmed") != "yes":
            _say(dispatcher, *localise([{"text": f"OK, I have not submitted your {spec.title}. Nothing was saved."}],
                                       language))
            return []
        values = _form_values(spec, tracker)
        try:
            record = get_services().store.submit(spec.kind, values, conversation_id=tracker.sender_id)
        except RequestStoreError:
            logger.exception("%s not saved", spec.kind)
            _say(dispatcher, *localise([replies.not_saved_message(spec.title, get_services().facts)], language))
            return []
        due = record.due_at.strftime("%-d %B %Y")
        _say(dispatcher, *localise([replies.submitted_message(spec, record.reference, due, get_services().facts)],
                                   language))
        return []


class ActionHandoff(Action):
    """Store a confirmed hand-off request: how to reach the member and the conversation's
    last messages (masked), then say who contacts them, where and when (quoted)."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        spec = FORMS["handoff_form"]
        if tracker.get_slot("confirmed") != "yes":
            dispatcher.utter_message(text=f"OK, I have not sent your {spec.title}. Nothing was saved.")
            return []
        contact = _form_values(spec, tracker)["contact"]
        reach = {("email" if "@" in contact else "phone_number"): contact} if contact else {}
        context = [mask_text(t)[:300] for t in user_texts(tracker) if t and not t.startswith("/")][-3:]
        try:
            record = get_services().store.submit(
                spec.kind,
                {**reach, "recent_messages": context, "channel": tracker.get_latest_input_channel()},
                conversation_id=tracker.sender_id,
            )
        except RequestStoreError:
            logger.exception("hand-off request not saved")
            _say(dispatcher, replies.not_saved_message(spec.title, get_services().facts))
            return []
        shown = mask_contact(contact) if contact else "the contact details you gave"
        _say(dispatcher, replies.handoff_message(record.reference, shown, get_services().facts))
        return []


class ActionSubmitDataRights(_SubmitForm, Action):
    form_name = "data_rights_form"

    def name(self) -> str:
        return "action_submit_data_rights"


class ActionSubmitGop(_SubmitForm, Action):
    form_name = "gop_form"

    def name(self) -> str:
        return "action_submit_gop"


class ActionSubmitCallback(_SubmitForm, Action):
    form_name = "callback_form"

    def name(self) -> str:
        return "action_submit_callback"


class ActionResetForms(Action):
    """Forget every form slot after a submission or cancellation."""

    def name(self) -> str:
        return "action_reset_forms"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return [SlotSet(slot, None) for slot in ALL_FORM_SLOTS] + [SlotSet(FAILURES_SLOT, None)]


#: A validator as rasa-sdk calls it: ``validate_<slot>(value, dispatcher, tracker, domain)``.
SlotValidator = Callable[[Any, Any, CollectingDispatcher, Tracker, DomainDict], dict[str, Any]]


def _slot_validator(slot: str) -> SlotValidator:
    """The ``validate_<slot>`` method for one field: check it with bot.dialogue.validation_flow."""

    def validate(self: _ValidateForm, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                 domain: DomainDict) -> dict[str, Any]:
        return self._check(slot, value, dispatcher, tracker)

    validate.__name__ = validate.__qualname__ = f"validate_{slot}"
    validate.__doc__ = f"Validate the {slot!r} slot against its field of the form."
    return validate


class _ValidateForm:
    """Validate each slot of a form defined in bot.dialogue.forms; re-ask politely; after
    repeated failures offer a person (bot.dialogue.validation_flow decides).

    A mixin for FormValidationAction subclasses (see _SubmitForm for why). Each subclass
    names its form in ``spec_name`` and gets a ``validate_<slot>`` method for every field
    of that form: rasa-sdk looks the methods up by name (``getattr``) for each slot the
    domain lists for the form, so a field added to the form is validated without a new
    method here.
    """

    spec_name = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for form_field in FORMS[cls.spec_name].fields:
            setattr(cls, f"validate_{form_field.slot}", _slot_validator(form_field.slot))

    def name(self) -> str:
        return f"validate_{self.spec_name}"

    def _check(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        form_field = FORMS[self.spec_name].field(slot)
        text = (tracker.latest_message or {}).get("text") or ""
        if (
            form_field is not None and not form_field.question_is_an_answer
            and slot == tracker.get_slot("requested_slot") and asks_instead_of_answering(text)
            and (form_field.free_text or not (form_field.accepts(value) or form_field.accepts(text)))
        ):
            # "how long does it take?" when asked for the hospital, or "what do you need
            # to know about the treatment?" when asked who the patient is: answered, then
            # the form asks its question again (the slot stays empty). A question that is
            # a valid answer ("is it for my daughter?") answers the field.
            return {**ActionAnswerQuestion().answer(dispatcher, tracker), slot: None}
        result = check_slot(
            FORMS[self.spec_name], slot, value,
            requested_slot=tracker.get_slot("requested_slot"),
            events=tracker.events,
            failures=tracker.get_slot(FAILURES_SLOT),
            values={f.slot: tracker.get_slot(f.slot) for f in FORMS[self.spec_name].fields},
            intent=latest_intent(tracker),
        )
        _say(dispatcher, *localise(result.messages, member_language(tracker)))
        return result.slots

    async def next_requested_slot(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any] | None:
        """No next question once a no has ended the form (validation_flow.check_slot):
        the form is done unconfirmed, and its submit action stores nothing and says so."""
        if latest_intent(tracker) == "deny" and tracker.get_slot("requested_slot") is None:
            return SlotSet("requested_slot", None)
        return await super().next_requested_slot(dispatcher, tracker, domain)

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> list[str]:
        """The domain's slots for this form, less those the conversation makes unnecessary."""
        needed = required_slots(FORMS[self.spec_name], {s: tracker.get_slot(s) for s in ALL_FORM_SLOTS})
        # rasa-sdk validates only the slots listed here: the question just asked stays
        # listed even when the answer itself makes it unnecessary (a phone number given
        # for the hand-off's contact also fills phone_number)
        asked = tracker.get_slot("requested_slot")
        return [s for s in domain_slots if s in needed or s == asked]

    def _field_to_change(self, tracker: Tracker) -> str | None:
        """The answer the member asks to change at the confirmation ("wait, change the
        phone number", "no, the email is wrong"), or None."""
        if tracker.get_slot("requested_slot") != "confirmed":
            return None
        return field_to_change(FORMS[self.spec_name], (tracker.latest_message or {}).get("text") or "")

    async def extract_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        """A change asked for at the confirmation clears that answer (and a "no" said with
        it): the form asks that question again, then the confirmation with the new
        summary. A new value the message itself gives ("change the phone to +32 ...",
        found by the NLU) is kept, validated like any answer."""
        slot = self._field_to_change(tracker)
        if slot is None:
            return {}
        if tracker.slots_to_validate().get(slot) is not None:
            return {"confirmed": None}
        return {slot: None, "confirmed": None}

    def validate_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> dict[str, Any]:
        if value is None and self._field_to_change(tracker):
            return {"confirmed": None}  # the changed answer is asked again first (extract_confirmed)
        text = (tracker.latest_message or {}).get("text") or ""
        if (tracker.get_slot("requested_slot") == "confirmed" and asks_at_confirmation(text)
                and not self._field_to_change(tracker)):
            # "wait, how long will this take?" or "is there no deadline?" at "Shall I
            # submit it?": answered, then the confirmation is asked again.
            return {**ActionAnswerQuestion().answer(dispatcher, tracker), "confirmed": None}
        result = check_confirmed(value, tracker.get_slot("requested_slot"))
        _say(dispatcher, *localise(result.messages, member_language(tracker)))
        return result.slots


class ValidateDataRightsForm(_ValidateForm, FormValidationAction):
    spec_name = "data_rights_form"


class ValidateGopForm(_ValidateForm, FormValidationAction):
    spec_name = "gop_form"


class ValidateCallbackForm(_ValidateForm, FormValidationAction):
    spec_name = "callback_form"


class ValidateHandoffForm(_ValidateForm, FormValidationAction):
    spec_name = "handoff_form"
