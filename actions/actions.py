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
import re
import sys
import threading
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.dialogue import replies
from bot.dialogue.forms import ALL_FORM_SLOTS, FORMS, MAX_FAILURES, FormSpec
from bot.dialogue.intents import load_intent_answers
from bot.dialogue.validation import MAX_MESSAGE_CHARS, ValidationError, too_long_reply
from bot.knowledge.index import IndexMismatchError
from bot.privacy.masking import install_log_masking, mask_text
from bot.requests import RequestStoreError
from bot.retrieval import Answer, normalise_query, passage_answer, states_what_is_asked
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
#: Intent confidence above which a verified intent answer may replace an unsure retrieval.
INTENT_CONFIDENCE = 0.7


def _say(dispatcher: CollectingDispatcher, *messages: dict) -> None:
    for message in messages:
        dispatcher.utter_message(**message)


class ActionAnswerQuestion(Action):
    """Answer from our documents: a cited answer, a clarification, or an honest "I don't know"."""

    def name(self) -> str:
        return "action_answer_question"

    def _answer(self, tracker: Tracker) -> Answer:
        message = tracker.latest_message or {}
        text = (message.get("text") or "").strip()
        intent = (message.get("intent") or {}).get("name")
        confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
        retriever = get_services().retriever
        chosen = next(tracker.get_latest_entity_values("passage_id"), None)
        if chosen and (answer := passage_answer(retriever, chosen, text)):
            return answer
        known = INTENT_ANSWERS.get(intent or "")
        question = known.question if known and (not text or text.startswith("/")) else text
        answer = retriever.answer(question)
        if answer.band != "answer" and known and confidence >= INTENT_CONFIDENCE:
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

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = (tracker.latest_message or {}).get("text") or ""
        if len(text) > MAX_MESSAGE_CHARS:
            dispatcher.utter_message(text=too_long_reply(len(text)))
            return []
        answer = self._answer(tracker)
        answer_id = None
        try:
            answer_id = get_services().store.record_answer(
                tracker.sender_id,
                answer.question,
                answer.best.passage.id if answer.best else None,
                answer.confidence,
                answer.band,
            )
        except RequestStoreError:  # the answer still goes out; only the log entry is lost
            logger.exception("could not record an answer for feedback")
        _say(dispatcher, *replies.answer_messages(answer, get_services().facts, answer_id))
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        known = INTENT_ANSWERS.get(intent or "")
        # Offer the matching request, but not in the middle of another form: the member
        # is answering that form's questions and the offer would only confuse.
        if known and known.request_type and answer.band == "answer" and not tracker.active_loop_name:
            dispatcher.utter_message(
                text="Would you like to send us this request now?",
                buttons=[
                    {
                        "title": "Start a request",
                        "payload": '/start_data_rights_request{"request_type":"' + known.request_type + '"}',
                    },
                    {"title": "No, thanks", "payload": "/deny"},
                ],
            )
        return [SlotSet("last_answer_id", str(answer_id) if answer_id else None)]


#: The intent that opens each form, for its introduction.
FORM_BY_INTENT = {
    "start_data_rights_request": "data_rights_form",
    "request_guarantee_of_payment": "gop_form",
    "request_callback": "callback_form",
}


class ActionFormIntro(Action):
    """Before a form's questions: what happens with the request, facts quoted from the documents."""

    def name(self) -> str:
        return "action_form_intro"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""
        spec = FORMS[FORM_BY_INTENT.get(intent, "callback_form")]
        services = get_services()
        _say(dispatcher, replies.form_intro(spec, services.facts, services.settings.data_rights_due_days))
        return []


_NEGATIVE = re.compile(r"\b(not|no|nope|useless|wrong|bad|unhelpful|rubbish|didn't|doesn't|wasn't|isn't)\b|👎", re.I)


class ActionRecordFeedback(Action):
    """Store thumbs up/down for the last answer."""

    def name(self) -> str:
        return "action_record_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        value = next(tracker.get_latest_entity_values("feedback_value"), None)
        if value not in ("up", "down"):  # typed feedback ("that didn't help") rather than a thumb button
            value = "down" if _NEGATIVE.search((tracker.latest_message or {}).get("text") or "") else "up"
        helpful = value != "down"
        answer_id = tracker.get_slot("last_answer_id")
        try:
            get_services().store.record_feedback(
                helpful=helpful,
                answer_id=int(answer_id) if answer_id and str(answer_id).isdigit() else None,
                conversation_id=None if answer_id else tracker.sender_id,
            )
        except RequestStoreError:
            logger.exception("could not record feedback")
        if helpful:
            dispatcher.utter_message(text="Thanks for letting me know! Anything else I can help with?")
        else:
            dispatcher.utter_message(
                text="Sorry that didn't help. You can rephrase your question, or talk to a person.",
                buttons=[replies.HANDOFF_BUTTON, replies.CALLBACK_BUTTON],
            )
        return []


class ActionHandoff(Action):
    """Record a hand-off request with the conversation id and say what happens next."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        user_texts = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
        context = [mask_text(t)[:300] for t in user_texts if t and not t.startswith("/")][-3:]
        try:
            record = get_services().store.submit(
                "handoff", {"recent_messages": context, "channel": tracker.get_latest_input_channel()},
                conversation_id=tracker.sender_id,
            )
        except RequestStoreError:
            logger.exception("hand-off request not saved")
            _say(dispatcher, replies.not_saved_message("request to talk to a person", get_services().facts))
            return []
        _say(dispatcher, replies.handoff_message(record.reference, get_services().facts))
        return []


def _form_values(spec: FormSpec, tracker: Tracker) -> dict[str, Any]:
    return {f.slot: tracker.get_slot(f.slot) for f in spec.fields}


class ActionAskConfirmed(Action):
    """Show the masked summary of the active form and ask whether to submit."""

    def name(self) -> str:
        return "action_ask_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        spec = FORMS.get(tracker.active_loop_name or "")
        if spec:
            _say(dispatcher, replies.confirmation_question(spec, _form_values(spec, tracker)))
        return []


class _SubmitForm:
    """Write the completed form to the request store; tell the reference only after commit.

    A mixin, not an Action: rasa-sdk registers every Action subclass it finds.
    """

    form_name = ""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        spec = FORMS[self.form_name]
        if spec.confirm and tracker.get_slot("confirmed") != "yes":
            dispatcher.utter_message(text=f"OK, I have not submitted your {spec.title}. Nothing was saved.")
            return []
        values = _form_values(spec, tracker)
        try:
            record = get_services().store.submit(spec.kind, values, conversation_id=tracker.sender_id)
        except RequestStoreError:
            logger.exception("%s not saved", spec.kind)
            _say(dispatcher, replies.not_saved_message(spec.title, get_services().facts))
            return []
        due = record.due_at.strftime("%-d %B %Y")
        _say(dispatcher, replies.submitted_message(spec, record.reference, due, get_services().facts))
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
        return [SlotSet(slot, None) for slot in ALL_FORM_SLOTS] + [SlotSet("validation_failures", None)]


def _previous_value(tracker: Tracker, slot: str) -> Any:
    """The value a slot held before the member's latest message (None if none).

    Slot events after the latest user message are candidates extracted from it (there
    may be several, one per matching mapping); the last one before it is what the slot
    held until now.
    """
    value: Any = None
    held: Any = None
    for event in tracker.events:
        if event.get("event") == "user":
            held = value
        elif event.get("event") == "slot" and event.get("name") == slot:
            value = event.get("value")
    return held


class _ValidateForm:
    """Validate each slot with bot.dialogue.forms; re-ask politely; after repeated failures offer a person.

    A mixin for FormValidationAction subclasses (see _SubmitForm for why).
    """

    spec_name = ""

    def name(self) -> str:
        return f"validate_{self.spec_name}"

    def _check(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        field = FORMS[self.spec_name].field(slot)
        if field is None or value is None:
            return {slot: value}
        try:
            return {slot: field.validate(value), "validation_failures": None}
        except ValidationError as exc:
            requested = tracker.get_slot("requested_slot")
            previous = _previous_value(tracker, slot)
            if requested and requested != slot and previous is not None:
                # Something that looks like this slot was mentioned in passing (digits in
                # a topic look like a phone number): keep the valid answer already given.
                return {slot: previous}
            failures = int(tracker.get_slot("validation_failures") or 0) + 1
            dispatcher.utter_message(text=exc.message)
            if failures >= MAX_FAILURES:
                dispatcher.utter_message(
                    text="This doesn't seem to be working. Would you like to talk to a person instead?",
                    buttons=[replies.HANDOFF_BUTTON, {"title": "Cancel this request", "payload": "/cancel"}],
                )
            return {slot: None, "validation_failures": float(failures)}

    def validate_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> dict[str, Any]:
        if value in ("yes", "no"):
            return {"confirmed": value}
        dispatcher.utter_message(text="Please answer yes to submit, or no to stop without submitting.")
        return {"confirmed": None}


class ValidateDataRightsForm(_ValidateForm, FormValidationAction):
    spec_name = "data_rights_form"

    def validate_request_type(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> dict[str, Any]:
        return self._check("request_type", value, dispatcher, tracker)

    def validate_full_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> dict[str, Any]:
        return self._check("full_name", value, dispatcher, tracker)

    def validate_email(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> dict[str, Any]:
        return self._check("email", value, dispatcher, tracker)

    def validate_member_id(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> dict[str, Any]:
        return self._check("member_id", value, dispatcher, tracker)

    def validate_date_of_birth(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> dict[str, Any]:
        return self._check("date_of_birth", value, dispatcher, tracker)

    def validate_details(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                         domain: DomainDict) -> dict[str, Any]:
        return self._check("details", value, dispatcher, tracker)


class ValidateGopForm(_ValidateForm, FormValidationAction):
    spec_name = "gop_form"

    def validate_member_id(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> dict[str, Any]:
        return self._check("member_id", value, dispatcher, tracker)

    def validate_provider(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> dict[str, Any]:
        return self._check("provider", value, dispatcher, tracker)

    def validate_admission_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        return self._check("admission_date", value, dispatcher, tracker)

    def validate_treatment(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> dict[str, Any]:
        return self._check("treatment", value, dispatcher, tracker)

    def validate_estimated_cost(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        return self._check("estimated_cost", value, dispatcher, tracker)

    def validate_email(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> dict[str, Any]:
        return self._check("email", value, dispatcher, tracker)


class ValidateCallbackForm(_ValidateForm, FormValidationAction):
    spec_name = "callback_form"

    def validate_full_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> dict[str, Any]:
        return self._check("full_name", value, dispatcher, tracker)

    def validate_phone_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> dict[str, Any]:
        return self._check("phone_number", value, dispatcher, tracker)

    def validate_preferred_time(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        return self._check("preferred_time", value, dispatcher, tracker)

    def validate_topic(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> dict[str, Any]:
        return self._check("topic", value, dispatcher, tracker)
