"""The dialogue logic the actions delegate to: validators generated from the forms, the
form validation flow, the intent-fallback policy, feedback polarity, the request offer
and button payloads. Whole actions with databases are in tests/test_actions.py."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.dialogue import replies
from bot.dialogue.answering import INTENT_CONFIDENCE, answer_message, feedback_is_helpful, request_offer
from bot.dialogue.forms import (
    FORM_BY_INTENT,
    FORMS,
    contact_of,
    field_to_change,
    form_for_intent,
    opening_slots,
    required_slots,
)
from bot.dialogue.intents import load_intent_answers
from bot.dialogue.validation_flow import FAILURES_SLOT, check_confirmed, check_slot, previous_value
from bot.settings import ROOT

GOP_PASSAGE = "cigna-health-benefits-member-faq#claiming-expenses-3"
ACTIVATION_PASSAGE = "cigna-health-benefits-member-faq#general-information-4"


@pytest.fixture(scope="module")
def intent_answers():
    return load_intent_answers()


@pytest.fixture(scope="module")
def validators(retriever) -> dict[str, type]:
    """The FormValidationAction classes the action server registers, by form name.
    (Importing the actions checks the index, which the retriever fixture builds.)"""
    import actions.actions as module

    classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
               if issubclass(c, Action) and c.__module__ == module.__name__ and c().name().startswith("validate_")]
    return {c().name().removeprefix("validate_"): c for c in classes}


# Validators generated from the form definitions


def test_every_form_has_its_validation_action(validators) -> None:
    assert set(validators) == set(FORMS)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_validators_are_exactly_the_form_fields_and_the_confirmation(validators, form: str) -> None:
    cls = validators[form]
    methods = {name for name in dir(cls) if name.startswith("validate_")}
    assert methods == {f"validate_{f.slot}" for f in FORMS[form].fields} | {"validate_confirmed"}


def test_every_slot_the_domain_asks_for_is_validated(validators) -> None:
    """rasa-sdk skips, with only a warning, a required slot that has no validate_<slot>."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    for form, spec in domain["forms"].items():
        missing = [s for s in spec["required_slots"] if not hasattr(validators[form], f"validate_{s}")]
        assert not missing, (form, missing)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_generated_validator_checks_its_own_slot(validators, form: str) -> None:
    """Each method is bound to its own field (not the last one of a loop)."""
    action = validators[form]()
    tracker = Tracker("t", {}, {}, [], False, None, {}, None)
    for field in FORMS[form].fields:
        result = getattr(action, f"validate_{field.slot}")(None, CollectingDispatcher(), tracker, {})
        assert result == {field.slot: None}


# The validation flow


def test_previous_value_is_what_the_slot_held_before_the_latest_message() -> None:
    events = [
        {"event": "slot", "name": "phone_number", "value": "+3231234567"},
        {"event": "user", "text": "about my claim 12345"},
        {"event": "slot", "name": "phone_number", "value": "12345"},
    ]
    assert previous_value(events, "phone_number") == "+3231234567"
    assert previous_value(events, "topic") is None
    assert previous_value([], "phone_number") is None


def test_a_valid_answer_is_normalised_and_clears_the_failure_count() -> None:
    result = check_slot(FORMS["gop_form"], "member_id", "ab 123 456", requested_slot="member_id", events=[],
                        failures=2.0)
    assert result.slots == {"member_id": "AB123456", FAILURES_SLOT: None} and result.messages == []


def test_an_invalid_value_mentioned_in_passing_keeps_the_answer_already_given() -> None:
    """Digits in a topic look like a phone number: the phone number given before stays,
    silently, and no failure is counted."""
    events = [
        {"event": "slot", "name": "phone_number", "value": "+3231234567"},
        {"event": "user", "text": "claim 12"},
    ]
    result = check_slot(FORMS["callback_form"], "phone_number", "12", requested_slot="topic", events=events,
                        failures=None)
    assert result.slots == {"phone_number": "+3231234567"} and result.messages == []


def test_an_invalid_answer_to_the_question_asked_is_refused_and_counted() -> None:
    events = [{"event": "slot", "name": "phone_number", "value": "+3231234567"}, {"event": "user", "text": "12"}]
    result = check_slot(FORMS["callback_form"], "phone_number", "12", requested_slot="phone_number", events=events,
                        failures=None)
    assert result.slots == {"phone_number": None, FAILURES_SLOT: 1.0}
    assert len(result.messages) == 1 and result.messages[0]["text"]


@pytest.mark.parametrize(
    ("form", "asked", "said", "noted"),
    [
        ("gop_form", "member_id", "for my husband", {"patient": "dependant", "patient_relationship": "spouse"}),
        ("gop_form", "member_id", "it's for me", {"patient": "member"}),
        ("gop_form", "member_id", "just for myself", {"patient": "member"}),
        ("callback_form", "full_name", "you can call me on +32 470 12 34 56", {"phone_number": "+32470123456"}),
        ("data_rights_form", "full_name", "my email is jane@example.com", {"email": "jane@example.com"}),
        ("gop_form", "member_id", "her name is Anna Berg", {"patient_name": "Anna Berg", "patient": "dependant"}),
        ("data_rights_form", "email", "my name is Jane Doe.", {"full_name": "Jane Doe"}),
    ],
)
def test_an_answer_to_a_later_question_is_noted_not_refused(
    form: str, asked: str, said: str, noted: dict[str, str]
) -> None:
    """"for my husband" when asked for the member ID says who the patient is: kept, shown
    masked, no failure counted, and the member ID is asked again."""
    result = check_slot(FORMS[form], asked, said, requested_slot=asked, events=[], failures=1.0, values={})
    assert result.slots == {asked: None, **noted}
    assert len(result.messages) == 1 and result.messages[0]["text"].startswith("Thanks, I've noted")
    assert "jane@example.com" not in result.messages[0]["text"] and "470 12 34 56" not in result.messages[0]["text"]


@pytest.mark.parametrize("said", ["I'm not sure", "my member id is on the card", "Tom Berg", "her name is 42"])
def test_an_unclear_answer_fills_no_other_question(said: str) -> None:
    """A bare "I'm" or "member" says nothing about the patient: the answer is refused as before."""
    result = check_slot(FORMS["gop_form"], "member_id", said, requested_slot="member_id", events=[], failures=None,
                        values={})
    assert result.slots == {"member_id": None, FAILURES_SLOT: 1.0}


def test_an_answer_already_given_is_not_replaced_by_one_said_early() -> None:
    result = check_slot(FORMS["gop_form"], "member_id", "for my husband", requested_slot="member_id", events=[],
                        failures=None, values={"patient": "member"})
    assert result.slots == {"member_id": None, FAILURES_SLOT: 1.0}


def test_the_whole_answer_counts_when_the_nlu_extracted_a_part_of_it() -> None:
    """The NLU tags "next" of "next friday" as a date: the whole answer is the date."""
    from datetime import date, timedelta

    events = [{"event": "user", "text": "next friday"}]
    result = check_slot(FORMS["gop_form"], "admission_date", "next", requested_slot="admission_date", events=events,
                        failures=None)
    when = date.fromisoformat(result.slots["admission_date"])
    assert when.weekday() == 4 and date.today() < when <= date.today() + timedelta(days=7)


def test_a_value_for_a_slot_outside_the_form_passes_through() -> None:
    result = check_slot(FORMS["callback_form"], "email", "not an email", requested_slot=None, events=[], failures=None)
    assert result.slots == {"email": "not an email"} and result.messages == []


@pytest.mark.parametrize("value", ["yes", "no"])
def test_confirmation_accepts_yes_and_no(value: str) -> None:
    assert check_confirmed(value).slots == {"confirmed": value} and check_confirmed(value).messages == []


@pytest.mark.parametrize(
    ("typed", "value"),
    [("yes submit", "yes"), ("ok submit", "yes"), ("submit it", "yes"), ("don't submit", "no"),
     ("no, do not send it", "no")],
)
def test_a_typed_confirmation_the_nlu_took_for_a_request_is_read(typed: str, value: str) -> None:
    """"yes submit" reads as a new data-rights request to the NLU; at the confirmation it
    is the answer (domain.yml maps the request intents' text to the slot there)."""
    assert check_confirmed(typed, "confirmed").slots == {"confirmed": value}


def test_the_hand_off_offers_no_person_after_failed_answers() -> None:
    """Asking for a person is what the hand-off form does: after two failed contact
    details only leaving is offered; other forms offer a person too."""
    result = check_slot(FORMS["handoff_form"], "contact", "jane at example", requested_slot="contact", events=[],
                        failures=1.0, values={})
    assert [b["title"] for b in result.messages[-1]["buttons"]] == ["Cancel this request"]
    result = check_slot(FORMS["callback_form"], "phone_number", "0471", requested_slot="phone_number", events=[],
                        failures=1.0, values={})
    assert "Talk to a person" in [b["title"] for b in result.messages[-1]["buttons"]]


def test_confirmation_asks_again_for_anything_else() -> None:
    result = check_confirmed("maybe")
    assert result.slots == {"confirmed": None} and result.messages == [replies.confirmation_reask()]
    result = check_confirmed(None, "confirmed")
    assert result.messages == [replies.confirmation_reask()]


def test_confirmation_cleared_at_a_form_start_says_nothing() -> None:
    result = check_confirmed(None, "member_id")
    assert result.slots == {"confirmed": None} and result.messages == []
    assert check_confirmed(None, None).messages == []


@pytest.mark.parametrize(
    ("form", "said", "slot"),
    [
        ("callback_form", "wait, change the phone number", "phone_number"),
        ("callback_form", "the number is wrong", "phone_number"),
        ("callback_form", "can you correct the time", "preferred_time"),
        ("data_rights_form", "no, the email is wrong", "email"),
        ("data_rights_form", "change my member number please", "member_id"),
        ("gop_form", "the admission date is wrong", "admission_date"),
        ("gop_form", "the patient's name has a typo", "patient_name"),
        ("gop_form", "can you fix the hospital", "provider"),
        ("handoff_form", "change my email", "contact"),
    ],
)
def test_a_change_asked_for_at_the_confirmation_names_its_field(form: str, said: str, slot: str) -> None:
    assert field_to_change(FORMS[form], said) == slot


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ("data_rights_form", "yes, the name is correct"),  # confirms
        ("callback_form", "yes that is correct"),
        ("data_rights_form", "i want to change something"),  # names no field
        ("gop_form", "change the name and the date"),  # names two
        ("callback_form", "what is the phone number of the hospital?"),  # asks no change
    ],
)
def test_no_change_is_read_where_none_or_no_single_field_is_asked_for(form: str, said: str) -> None:
    assert field_to_change(FORMS[form], said) is None


# Which form an intent opens


def test_form_for_intent() -> None:
    for intent, form in FORM_BY_INTENT.items():
        assert form_for_intent(intent) is FORMS[form]
    assert form_for_intent("greet") is FORMS["callback_form"]
    assert form_for_intent(None) is FORMS["callback_form"]


# The intent-fallback policy (the cases through the action are in tests/test_actions.py)


def test_the_intent_stands_in_from_the_confidence_threshold_up(retriever, intent_answers) -> None:
    at = answer_message(retriever, "gop", "gop_info", INTENT_CONFIDENCE, None, intent_answers)
    below = answer_message(retriever, "gop", "gop_info", INTENT_CONFIDENCE - 0.01, None, intent_answers)
    assert at.band == "answer" and at.best.passage.id == GOP_PASSAGE
    assert below == retriever.answer("gop") and below.band != "answer"


def test_an_unknown_intent_leaves_retrieval_alone(retriever, intent_answers) -> None:
    assert answer_message(retriever, "gop", "no_such_intent", 0.99, None, intent_answers) == retriever.answer("gop")


@pytest.mark.parametrize("text", ["", "/gop_info"])
def test_a_button_payload_or_empty_message_asks_the_intents_question(retriever, intent_answers, text: str) -> None:
    """Whatever the confidence: the intent's question is what retrieval is asked."""
    answer = answer_message(retriever, text, "gop_info", 0.2, None, intent_answers)
    assert answer.question == intent_answers["gop_info"].question
    assert answer.band == "answer" and answer.best.passage.id == GOP_PASSAGE


def test_the_message_is_read_without_surrounding_space(retriever, intent_answers) -> None:
    answer = answer_message(retriever, "  where is my activation code?\n", "ask_question", 0.9, None, intent_answers)
    assert answer.question == "where is my activation code?"


def test_a_chosen_passage_answers_whatever_the_intent(retriever, intent_answers) -> None:
    answer = answer_message(retriever, "gop", "gop_info", 0.99, ACTIVATION_PASSAGE, intent_answers)
    assert answer.band == "answer" and answer.best.passage.id == ACTIVATION_PASSAGE


def test_an_unknown_chosen_passage_falls_back_to_the_message(retriever, intent_answers) -> None:
    answer = answer_message(retriever, "gop", "no_such_intent", 0.99, "no-such-passage", intent_answers)
    assert answer == retriever.answer("gop")


# Offering the matching request after an answer


def test_a_data_rights_answer_offers_its_request(retriever, intent_answers) -> None:
    known = intent_answers["data_deletion"]
    answer = dataclasses.replace(retriever.answer(known.question), band="answer")
    offer = request_offer(known, answer, None)
    assert offer == replies.request_offer("deletion")
    start = offer["buttons"][0]["payload"]
    assert start == '/start_data_rights_request{"request_type":"deletion"}'


def test_no_request_offer_when_unsure_in_a_form_or_for_other_intents(retriever, intent_answers) -> None:
    known = intent_answers["data_deletion"]
    answer = dataclasses.replace(retriever.answer(known.question), band="answer")
    assert request_offer(known, answer, "gop_form") is None
    assert request_offer(known, dataclasses.replace(answer, band="clarify"), None) is None
    assert request_offer(intent_answers["login_password"], answer, None) is None
    assert request_offer(None, answer, None) is None


# Feedback polarity


@pytest.mark.parametrize(("value", "text", "helpful"), [
    ("up", "", True),
    ("down", "", False),
    ("up", "that didn't help", True),  # the button decides, not the words
    (None, "that didn't help", False),
    (None, "Wrong answer", False),
    (None, "👎", False),
    (None, "thanks, perfect", True),
    (None, "", True),
    ("sideways", "nope", False),
])
def test_feedback_polarity(value: str | None, text: str, helpful: bool) -> None:
    assert feedback_is_helpful(value, text) is helpful


# Button payloads


@pytest.mark.parametrize("entities", [
    {"feedback_value": "up"},
    {"passage_id": "cigna-health-benefits-member-faq#general-information-4"},
    {"request_type": "withdraw_consent"},
    {"text": 'a "quoted" value with a \\ backslash and {braces}'},
    {"name": "Zoë Ñúñez"},
    {"a": "1", "b": "2"},
])
def test_intent_payload_round_trips(entities: dict[str, str]) -> None:
    payload = replies.intent_payload("some_intent", entities)
    assert payload.startswith("/some_intent{")
    assert json.loads(payload.removeprefix("/some_intent")) == entities


def test_intent_payload_is_compact_and_plain_without_entities() -> None:
    """Byte for byte what the stories send, so a button and a typed payload read alike."""
    assert replies.intent_payload("feedback", {"feedback_value": "up"}) == '/feedback{"feedback_value":"up"}'
    assert replies.intent_payload("deny") == "/deny"
    assert replies.intent_payload("deny", {}) == "/deny"


# The guarantee of payment's patient, the hand-off's contact and which slots a form asks


@pytest.mark.parametrize(
    ("said", "patient", "relationship"),
    [
        ("me", "member", None),
        ("for myself", "member", None),
        ("member", "member", None),
        ("it's for my daughter", "dependant", "daughter"),
        ("my wife", "dependant", "spouse"),
        ("dependant", "dependant", None),
        ("our son Tom", "dependant", "son"),
        ("A dependant (child, spouse, ...)", "dependant", None),  # the button's title, typed
    ],
)
def test_patient_is_the_member_or_a_dependant(said: str, patient: str, relationship: str | None) -> None:
    events = [{"event": "user", "text": said}]
    result = check_slot(FORMS["gop_form"], "patient", said, requested_slot="patient", events=events, failures=None)
    assert result.slots["patient"] == patient and result.messages == []
    assert result.slots.get("patient_relationship") == relationship


def test_a_patient_button_keeps_the_relationship_typed_with_it() -> None:
    """The NLU may give the entity's value ("dependant"); the words typed still name the relation."""
    events = [{"event": "user", "text": "my husband"}]
    result = check_slot(FORMS["gop_form"], "patient", "dependant", requested_slot="patient", events=events,
                        failures=None)
    assert result.slots["patient_relationship"] == "spouse"


def test_an_unclear_patient_is_asked_again() -> None:
    result = check_slot(FORMS["gop_form"], "patient", "next tuesday", requested_slot="patient", events=[],
                        failures=None)
    assert result.slots["patient"] is None and "dependant" in result.messages[0]["text"]


def test_gop_for_the_member_skips_the_dependants_questions() -> None:
    spec = FORMS["gop_form"]
    assert "patient_name" not in required_slots(spec, {"patient": "member"})
    assert "patient_name" not in required_slots(spec, {})
    assert {"patient_name", "patient_relationship"} <= set(required_slots(spec, {"patient": "dependant"}))


@pytest.mark.parametrize(
    ("said", "stored"),
    [
        ("jane@example.com", "jane@example.com"),
        ("email me at Jane@Example.com.", "Jane@example.com"),
        ("+44 7700 900123", "+447700900123"),
        ("you can call me on +32 470 12 34 56 after 5", "+32470123456"),
    ],
)
def test_handoff_contact_is_an_email_or_an_international_phone(said: str, stored: str) -> None:
    assert FORMS["handoff_form"].field("contact").validate(said) == stored


@pytest.mark.parametrize("said", ["0471 12 34 56", "jane at example", "tomorrow"])
def test_handoff_contact_refuses_what_we_cannot_reach(said: str) -> None:
    result = check_slot(FORMS["handoff_form"], "contact", said, requested_slot="contact", events=[], failures=None)
    assert result.slots["contact"] is None and "email address" in result.messages[0]["text"]


def test_handoff_asks_no_contact_already_given() -> None:
    spec = FORMS["handoff_form"]
    assert required_slots(spec, {}) == ["contact", "confirmed"]
    assert required_slots(spec, {"email": "jane@example.com"}) == ["confirmed"]
    assert required_slots(spec, {"phone_number": "+3231234567"}) == ["confirmed"]
    assert contact_of({"phone_number": "+3231234567"}) == "+3231234567"
    assert contact_of({"contact": "a@b.co", "email": "c@d.co"}) == "a@b.co"


def test_every_request_form_confirms_before_submitting() -> None:
    assert all(spec.confirm for spec in FORMS.values())


def test_callback_summary_masks_the_phone_number() -> None:
    message = replies.confirmation_question(
        FORMS["callback_form"],
        {"full_name": "Jane Doe", "phone_number": "+32470123456", "preferred_time": "mornings", "topic": "claim"},
    )
    assert "+32 *** 3456" in message["text"] and "470123456" not in message["text"]
    assert "Jane Doe" not in message["text"]


def test_the_person_is_offered_after_two_failed_answers() -> None:
    first = check_slot(FORMS["gop_form"], "member_id", "xx", requested_slot="member_id", events=[], failures=None)
    assert len(first.messages) == 1
    second = check_slot(FORMS["gop_form"], "member_id", "yy", requested_slot="member_id", events=[],
                        failures=first.slots[FAILURES_SLOT])
    buttons = {b["payload"] for m in second.messages for b in m.get("buttons") or []}
    assert buttons == {"/human_handoff", "/cancel"}


def test_free_text_slots_take_any_intent_but_the_ones_that_end_a_form() -> None:
    """A callback topic such as "a question about my guarantee of payment" is the topic:
    the mapping of a free-text slot excludes only the intents that end the form or are
    small talk, never a question or request intent."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    for spec in FORMS.values():
        for f in spec.fields:
            if f.slot == "request_type":  # chosen with buttons only
                continue
            text_mappings = [m for m in domain["slots"][f.slot]["mappings"] if m["type"] == "from_text"]
            assert text_mappings, f.slot
            excluded = set(text_mappings[0]["not_intent"])
            # "no" to the optional cost estimate means no estimate
            ending = {"cancel", "human_handoff"} | ({"deny"} if f.slot != "estimated_cost" else set())
            assert ending <= excluded, f.slot
            if f.free_text:
                # nor a yes: a hospital's name ("AZ Klina") can read as one to the NLU
                assert not excluded & {"ask_question", "claim_status", "request_guarantee_of_payment",
                                       "nlu_fallback", "inform", "affirm"}, f.slot


def test_generated_form_dialogue_is_up_to_date() -> None:
    """domain.yml's form slots and data/rules/form_*.yml are written by bot/devtools/form_dialogue.py."""
    from bot.devtools import form_dialogue as module

    domain = (ROOT / "domain.yml").read_text(encoding="utf-8")
    assert module.slot_block() in domain and module.forms_block() in domain
    for form, file in module.RULE_FILES.items():
        assert (ROOT / "data" / "rules" / f"{file}.yml").read_text(encoding="utf-8") == module.rules(form), file


def test_no_message_states_a_legal_deadline() -> None:
    """Deadlines are quoted from the documents or worded as our own target, never as the law."""
    text = (ROOT / "bot" / "dialogue" / "replies.py").read_text(encoding="utf-8")
    text += (ROOT / "domain.yml").read_text(encoding="utf-8")
    assert "legal deadline" not in text and "one month" not in text


# --------------------------------------------------------------------------- conversation context

@pytest.mark.parametrize(
    ("text", "follow_up"),
    [
        ("and by email?", True),
        ("what about by email?", True),
        ("ok and whats the email address?", True),
        ("how long does that take?", True),
        ("what if it's urgent?", True),
        ("and for my daughter?", True),
        ("what now?", True),
        ("when will I get the answer?", True),
        ("can i send a letter instead", True),
        ("do they collect personal stuff?", True),
        ("do i still pay anything?", True),
        ("what do i have to do when i get there?", True),
        ("can i also take it to a data protection authority?", True),
        ("and if the one i want has no agreement with cigna?", True),
        ("and what do i do with it on the day im admitted", True),
        ("how do I submit a claim?", False),
        ("is it possible to have cigna delete my personal info?", False),
        ("is it ok to email you my medical reports?", False),
        ("does cigna sell my personal information to advertisers?", False),
        ("what's your phone number?", False),
        ("/feedback", False),
    ],
)
def test_follow_up_is_told_from_a_fresh_question(text: str, follow_up: bool) -> None:
    from bot.dialogue.context import is_follow_up

    assert is_follow_up(text) is follow_up


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("how do i reset my login and also how long does a guarantee of payment take?",
         ["how do i reset my login?", "how long does a guarantee of payment take?"]),
        ("where can I see my plan's exclusions? And who do I call if I can't log in?",
         ["where can I see my plan's exclusions?", "who do I call if I can't log in?"]),
        ("how do I unsubscribe from marketing emails; does cigna sell my data?",
         ["how do I unsubscribe from marketing emails?", "does cigna sell my data?"]),
        ("what are the terms and conditions of my plan?", ["what are the terms and conditions of my plan?"]),
        ("claims and reimbursements", ["claims and reimbursements"]),
        ("cant log in and also how long does a gop take", ["cant log in?", "how long does a gop take?"]),
        ("why was my claim only partly paid??", ["why was my claim only partly paid??"]),
        ("Hi, my email is k.n@example.jp. How long does a guarantee of payment take?",
         ["How long does a guarantee of payment take?"]),
        ("you can reach me on +32 470 12 34 56, how long until you call?", ["how long until you call?"]),
        ("if i ask international sos to delete my data how long do they have, and do i pay for the correction?",
         ["if i ask international sos to delete my data how long do they have?", "do i pay for the correction?"]),
        ("if i move abroad and also change my email address",
         ["if i move abroad and also change my email address"]),
    ],
)
def test_two_questions_are_split_only_when_each_is_a_question(text: str, parts: list[str]) -> None:
    from bot.dialogue.context import split_questions

    assert split_questions(text) == parts


def test_follow_up_is_answered_about_the_previous_topic(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import Topic, next_topic

    first = answer_turn(retriever, "how do I request a guarantee of payment?", "gop_info", 0.9, None, intent_answers)
    topic = next_topic(first, None)
    assert topic is not None and topic.passage_id and "claiming-expenses" in topic.passage_id
    [reply] = answer_turn(retriever, "when will I get the answer?", "contact_response_time", 0.9, None,
                          intent_answers, topic)
    assert reply.follow_up and reply.answer.answered
    assert "48 hours" in reply.answer.highlight and "two days" not in reply.answer.highlight
    [fresh] = answer_turn(retriever, "does cigna sell my personal information?", None, 0.0, None,
                          intent_answers, Topic(reply.answer.question, reply.answer.best.passage.id))
    assert not fresh.follow_up and fresh.answer.best.passage.doc_id == "cigna-online-and-mobile-privacy-notice"


def test_a_follow_up_on_the_next_case_finds_it_elsewhere_on_the_topics_page(retriever, intent_answers) -> None:
    """"what if it's urgent?" after a password question is the FAQ's urgent-access
    passage, in another section of the same page, not the login passage again."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    first = answer_turn(retriever, "i forgot my password", "login_password", 0.9, None, intent_answers)
    topic = next_topic(first, None)
    assert topic is not None and topic.passage_id == "cigna-health-benefits-member-faq#having-trouble-logging-in-1"
    [reply] = answer_turn(retriever, "what if it's urgent?", "login_urgent_access", 0.9, None, intent_answers, topic)
    assert reply.follow_up and reply.answer.answered
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#general-information-5"
    assert "urgent access" in reply.answer.highlight


def test_a_question_during_a_request_is_read_with_the_request(retriever, intent_answers) -> None:
    """Alone, "how long does the hospital have to wait for it?" has no answer; asked while
    the guarantee-of-payment form runs, it is about that request (48 hours). Outside a
    form the same topic does not stand in for it."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import Topic
    from bot.dialogue.forms import FORMS

    topic = Topic(FORMS["gop_form"].topic)
    text = "hang on, how long does the hospital have to wait for it?"
    [outside] = answer_turn(retriever, text, None, 0.0, None, intent_answers, topic)
    assert not outside.answer.answered
    [during] = answer_turn(retriever, text, None, 0.0, None, intent_answers, topic, during_request=True)
    assert during.answer.answered and "48 hours" in during.answer.highlight
    assert during.answer.best.passage.id.startswith("cigna-health-benefits-member-faq#claiming-expenses")


def test_urgent_follow_up_after_login_cites_urgent_access(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "I can't log into my personal webpages", None, 0.0, None,
                                   intent_answers), None)
    [reply] = answer_turn(retriever, "and if it's urgent?", None, 0.0, None, intent_answers, topic)
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#general-information-5"


def test_a_greeting_before_the_question_is_left_out(retriever, intent_answers) -> None:
    """"hi" before "how can I get in touch with you" weighed on the confidence (0.30
    against 0.81 without it) and turned an answer into an abstention."""
    from bot.dialogue.answering import answer_turn

    [reply] = answer_turn(retriever, "hi how can i get in touch with you", None, 0.0, None, intent_answers)
    [plain] = answer_turn(retriever, "how can i get in touch with you", None, 0.0, None, intent_answers)
    assert reply.answer.answered and reply.answer.best.passage.id == plain.answer.best.passage.id
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#general-information-2"


def test_sentences_of_context_around_the_question_are_left_out(retriever, intent_answers) -> None:
    """A sentence about the member before the question drowned it (the whole message
    abstained); one after a follow-up turned it into a question of its own."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic, without_context

    said = ("hi, I'm living in Dubai with my wife and two kids and I've never contacted you before. "
            "how can i get in touch with you?")
    assert without_context(said) == "how can i get in touch with you?"
    [reply] = answer_turn(retriever, said, None, 0.0, None, intent_answers)
    assert reply.answer.answered
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#general-information-2"
    topic = next_topic(answer_turn(retriever, "I can't log into my personal webpages, what can I do?", None, 0.0,
                                   None, intent_answers), None)
    [urgent] = answer_turn(retriever, "and if it's urgent? I need my documents for the hospital tonight", None, 0.0,
                           None, intent_answers, topic)
    assert urgent.answer.best.passage.id == "cigna-health-benefits-member-faq#general-information-5"
    # What the question meant, or a question asked on without a "?", is no context.
    assert without_context("anyone else i could write to? like a data protection officer") == (
        "anyone else i could write to? like a data protection officer")
    assert without_context("who do I call?? also how long does a GOP take") == (
        "who do I call?? also how long does a GOP take")
    assert without_context("I live abroad. It is urgent.") == "I live abroad. It is urgent."


def test_a_follow_up_is_answered_though_an_earlier_turn_asked_a_fact_it_lacks(retriever, intent_answers) -> None:
    """"and if it's urgent?" after "what's the email address?": the contact passage says
    to call, though it gives no e-mail address, which the combined question still asks."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = None
    for said in ("how can i get in touch with you?", "what about by email?", "ok and whats the email address?"):
        topic = next_topic(answer_turn(retriever, said, None, 0.0, None, intent_answers, topic), topic)
    [reply] = answer_turn(retriever, "and if it's urgent?", None, 0.0, None, intent_answers, topic)
    assert reply.answer.answered
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#general-information-2"
    assert "urgent we ask that you call us" in reply.answer.highlight


def test_asking_for_an_alternative_is_no_pointing_back() -> None:
    """"instead" leans on the previous answer but asks for the case beside it."""
    from bot.dialogue.context import points_back

    assert not points_back("can i send a letter instead")
    assert points_back("is that guaranteed?")


def test_a_new_question_is_answered_from_the_conversations_document(retriever, intent_answers) -> None:
    """"how do you keep the servers safe?" alone is answered from the online privacy notice;
    asked after a question on the website privacy policy, from that policy's passage on
    protecting information, which answers it nearly as well. Naming an organisation
    overrides the conversation's document."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import Topic

    question = "how do you keep the servers safe"
    [alone] = answer_turn(retriever, question, None, 0.0, None, intent_answers)
    assert alone.answer.best.passage.doc_id == "cigna-online-and-mobile-privacy-notice"
    topic = Topic("do you give my feedback email to other companies",
                  "cigna-website-privacy-policy#the-information-we-collect-and-how-we-use-it-1")
    [reply] = answer_turn(retriever, question, None, 0.0, None, intent_answers, topic)
    assert not reply.follow_up and reply.answer.answered
    assert reply.answer.best.passage.id == "cigna-website-privacy-policy#how-we-protect-your-information-1"
    [named] = answer_turn(retriever, "how does international sos keep the servers safe", None, 0.0, None,
                          intent_answers, topic)
    assert named.answer.best.passage.doc_id == "international-sos-privacy-and-cookies"


def test_a_new_question_is_answered_from_the_conversations_organisation(retriever, intent_answers) -> None:
    """"how would I send a correction request?" alone gets International SOS's procedure;
    after Cigna International's rights, Cigna International's privacy contact answers it."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import Topic

    question = "how would i send a correction request?"
    [alone] = answer_turn(retriever, question, None, 0.0, None, intent_answers)
    assert alone.answer.best.passage.doc_id == "international-sos-privacy-and-cookies"
    topic = Topic("what rights do I have over my data with Cigna International Health Services?",
                  "cigna-ihs-data-protection-notice#your-individual-rights-1")
    [reply] = answer_turn(retriever, question, None, 0.0, None, intent_answers, topic)
    assert reply.answer.answered
    assert reply.answer.best.passage.id == "cigna-ihs-data-protection-notice#actions-you-may-take-1"


def test_follow_up_reaches_the_passage_beside_the_topic(retriever, intent_answers) -> None:
    """The steps of a guarantee of payment run over three passages of one section. After
    the one saying how long it takes, "what if it's urgent?" is answered from the one
    beside it ("In case of an urgent admission, please call us"), though the combined
    question ranks it only in the clarify band."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import Topic

    topic = Topic("how long does a guarantee of payment take?", "cigna-health-benefits-member-faq#claiming-expenses-5")
    [reply] = answer_turn(retriever, "what if its urgent", None, 0.0, None, intent_answers, topic)
    assert reply.follow_up and reply.answer.answered
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#claiming-expenses-4"
    assert "urgent admission, please call us" in reply.answer.highlight


def test_a_follow_up_whose_words_no_candidate_has_is_answered_on_its_own(retriever, intent_answers) -> None:
    """ "and will you tell me if the policy changes" opens like a follow-up, but after the
    website policy's cookies the combined question's passages (cookies) have none of its
    words: it is answered alone, from that policy's consent section, which has them."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import Topic

    topic = Topic("what are the cookies on the cigna website for", "cigna-website-privacy-policy#cookies-2")
    [reply] = answer_turn(retriever, "and will you tell me if the policy changes", None, 0.0, None,
                          intent_answers, topic)
    assert not reply.follow_up and reply.answer.answered
    assert reply.answer.best.passage.id == "cigna-website-privacy-policy#your-consent-1"
    assert "If we change our Privacy Policy" in reply.answer.highlight


def test_neighbours_are_the_passages_of_the_same_section_nearby(retriever) -> None:
    ids = [p.id for p in retriever.neighbours("cigna-health-benefits-member-faq#claiming-expenses-5")]
    assert "cigna-health-benefits-member-faq#claiming-expenses-4" in ids
    assert "cigna-health-benefits-member-faq#claiming-expenses-5" in ids
    assert all(i.startswith("cigna-health-benefits-member-faq#claiming-expenses-") for i in ids)
    assert retriever.neighbours("no-such-passage") == []


def test_two_part_message_gets_an_answer_per_part(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.facts import FactBook

    turn = answer_turn(retriever, "what is the weather in antwerp today and how do i reset my password?",
                       None, 0.0, None, intent_answers)
    assert [r.answer.answered for r in turn] == [False, True]
    messages = replies.turn_messages(turn, FactBook(retriever.passages), [None, 5])
    assert "couldn't find that" in messages[0]["text"] and "+32 3 217 68 68" in messages[1]["text"]
    assert messages[1]["json_message"]["answer_id"] == 5
    assert messages[-1]["buttons"]  # the contact channels and a person, once, for the part not answered


def test_a_guarantee_of_payment_answer_offers_the_request_and_does_not_start_it(retriever) -> None:
    from bot.dialogue.answering import request_offer
    from bot.dialogue.intents import load_intent_answers

    known = load_intent_answers()["gop_info"]
    answer = retriever.answer("how does the guarantee of payment work?")
    offer = request_offer(known, dataclasses.replace(answer, band="answer"), None)
    assert offer is not None
    assert offer["buttons"][0]["payload"] == "/request_guarantee_of_payment"
    assert request_offer(known, dataclasses.replace(answer, band="clarify"), None) is None
    assert request_offer(known, dataclasses.replace(answer, band="answer"), "callback_form") is None


def test_a_follow_up_naming_nothing_stays_on_the_passage_that_states_what_it_asks(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "how do i stop cigna's marketing emails", None, 0.0, None,
                                   intent_answers), None)
    assert topic is not None and topic.passage_id.endswith("#other-online-communications-1")
    [reply] = answer_turn(retriever, "how long does that take?", None, 0.0, None, intent_answers, topic)
    # Not the FAQ's "we usually respond to enquiries within two days": "that" is the opt-out.
    assert reply.follow_up and reply.answer.best.passage.id == topic.passage_id
    assert reply.answer.highlight.startswith("We will try to comply with your request(s) as soon as reasonably")
    [admin] = answer_turn(retriever, "and the admin emails too?", None, 0.0, None, intent_answers,
                          next_topic([reply], topic))
    assert "you cannot opt-out from receiving administrative messages" in admin.answer.highlight
    assert "stop cigna's marketing emails" in admin.answer.question  # the topic carries on


def test_how_long_after_a_deletion_question_quotes_the_documents_deadline(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "is it possible to have cigna delete my personal info?", None, 0.0,
                                   None, intent_answers), None)
    assert topic is not None and topic.passage_id.endswith("#your-access-rights-1")
    [reply] = answer_turn(retriever, "how long does that take?", None, 0.0, None, intent_answers, topic)
    # The notice's deadline for such requests is the law's: no number of days.
    assert "We will respond to your request consistent with applicable law." in reply.answer.highlight


@pytest.mark.parametrize(
    "first", ["can i choose any hospital i want?", "am i free to pick which hospital or doctor i go to"]
)
def test_a_follow_up_on_a_case_that_does_not_hold_is_answered_from_the_topics_section(
    retriever, intent_answers, first: str
) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, first, None, 0.0, None, intent_answers), None)
    assert topic is not None and topic.passage_id.endswith("#what-to-do-in-case-of-hospitalisation-2")
    [reply] = answer_turn(retriever, "and if they dont have an agreement with u?", None, 0.0, None, intent_answers,
                          topic)
    # The hospital choice's own "does not have an agreement", not the claims steps' one.
    assert reply.follow_up and reply.answer.best.passage.id.endswith("#what-to-do-in-case-of-hospitalisation-4")
    assert "discount on a case-by-case basis" in reply.answer.highlight
    [again] = answer_turn(retriever, "is that always possible?", None, 0.0, None, intent_answers,
                          next_topic([reply], topic))
    assert again.answer.best.passage.id == reply.answer.best.passage.id
    assert "this is not always possible" in again.answer.highlight


@pytest.mark.parametrize("follow_up", ["and will all of it be gone?", "would all of it be gone afterwards?"])
def test_a_follow_up_in_members_words_reaches_the_passage_in_the_documents_words(
    retriever, intent_answers, follow_up: str
) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "is it possible to have cigna delete my personal info?", None, 0.0,
                                   None, intent_answers), None)
    [reply] = answer_turn(retriever, follow_up, None, 0.0, None, intent_answers, topic)
    # "gone" is the documents' "residual information ... which will not be removed" (synonyms.yml).
    assert reply.follow_up and reply.answer.best.passage.id.endswith("#your-access-rights-2")
    assert "residual information" in reply.answer.highlight


def test_not_satisfied_after_a_complaint_reaches_the_next_step_of_escalation(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "how do I complain to International SOS about my data?", None, 0.0,
                                   None, intent_answers), None)
    [reply] = answer_turn(retriever, "what if I'm not satisfied with their answer?", None, 0.0, None,
                          intent_answers, topic)
    # "satisfied" is the documents' "If you do not receive a satisfactory response" (synonyms.yml).
    assert reply.follow_up and reply.answer.best.passage.id.endswith("#how-do-i-resolve-disputes-with-international-3")
    assert "Chief Data Protection Officer" in reply.answer.highlight


def test_a_question_in_a_conversation_on_a_procedure_is_answered_from_its_steps(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    question = "what do we need to show at the hospital when he's admitted?"
    [alone] = answer_turn(retriever, question, None, 0.0, None, intent_answers)
    assert alone.answer.best.passage.id.endswith("#claiming-expenses-2")  # the emergency's "Simply show your card"
    topic = next_topic(answer_turn(retriever, "where on the website do I ask for a guarantee of payment?", None, 0.0,
                                   None, intent_answers), None)
    assert topic is not None and topic.passage_id.endswith("#claiming-expenses-4")
    [reply] = answer_turn(retriever, question, None, 0.0, None, intent_answers, topic)
    # The planned admission's steps share their introduction; their step says what to show.
    assert reply.answer.best.passage.id.endswith("#claiming-expenses-5")
    assert "show your membership card and Guarantee of payment" in reply.answer.highlight


def test_a_follow_up_on_the_same_passage_leads_with_its_own_sentence(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = None
    for text in ("can i choose any hospital i want?", "and if it doesnt have an agreement with you?"):
        topic = next_topic(answer_turn(retriever, text, None, 0.0, None, intent_answers, topic), topic)
    [reply] = answer_turn(retriever, "is that always possible?", None, 0.0, None, intent_answers, topic)
    assert reply.follow_up and reply.answer.answered
    assert "this is not always possible" in reply.answer.highlight


@pytest.mark.parametrize(
    ("text", "information"),
    [
        ("is that free if i call from abroad?", True),
        ("how does the guarantee of payment work?", True),
        ("how do i request a callback?", True),
        ("does a guarantee of payment cover my daughter?", True),
        ("im going into hospital next month, can you pay the hospital directly?", True),
        ("ok and if my hospital isnt on the list?", True),
        ("and for a planned operation?", True),
        ("and for my daughter?", True),
        ("for my daughter", False),
        ("once ive sent in a guarantee of payment request how long before i get it?", True),
        ("i want a guarantee of payment, when will it be ready?", True),
        ("i want a guarantee of payment how long will it take?", False),
        ("could somebody give me a ring tomorrow?", False),
        ("ok, and how do i send the request?", True),
        ("ok so please call me back", False),
        ("can someone call me back please?", False),
        ("can you arrange a guarantee of payment for my operation?", False),
        ("can you get me a guarantee of payment for my daughter's operation?", False),
        ("and opting out on my phone apps?", True),
        ("and can you call me back?", False),
        ("could you sort out a guarantee of payment for my knee surgery?", False),
        ("I'd like a callback, can you do that?", False),
        ("i need a guarantee of payment for next month", False),
        ("is it possible to call me back tomorrow?", False),
        ("callback", False),
        ("/request_callback", False),
        ("I'm calling from Singapore though, is it free?", True),
        ("please call me, is that possible?", False),
        ("my clinic sorts out the paperwork - can the hospital request the guarantee of payment instead of me?", True),
        ("could the team call me back?", False),
        ("my husband needs a hip operation. can we pick any hospital we want or do we have to use yours?", True),
        ("i want a guarantee of payment, can you do it?", False),
    ],
)
def test_a_question_taken_for_a_request_is_told_from_a_request(text: str, information: bool) -> None:
    from bot.dialogue.answering import asks_for_information

    assert asks_for_information(text) is information


@pytest.mark.parametrize(
    ("text", "language", "information"),
    [
        ("Olá, os meus dados pessoais podem ser guardados nos Estados Unidos?", "pt", True),
        ("Hallo, wie läuft das mit der Kostenübernahme bei einer geplanten OP?", "de", True),
        ("¿Cómo solicito una garantía de pago?", "es", True),
        ("je voudrais savoir comment supprimer mes données", "fr", True),
        ("Je voudrais supprimer mes données", "fr", False),
        ("Können Sie meine Daten löschen?", "de", False),
        ("Quiero solicitar una garantía de pago", "es", False),
        ("Vorrei richiedere una garanzia di pagamento per mia figlia", "it", False),
        ("Ik wil mijn gegevens laten verwijderen", "nl", False),
        ("rappelez-moi demain svp", "fr", False),
        ("e se voglio una copia dei miei dati, come faccio a chiederla?", "it", True),
        ("Voglio una copia dei miei dati, per favore", "it", False),
    ],
)
def test_a_question_taken_for_a_request_is_told_from_one_in_every_language(text: str, language: str,
                                                                           information: bool) -> None:
    """A question in another language is answered and the request offered, as in
    English: the classifier read the first two as a data-rights and a guarantee-of-payment
    request, at 0.99 and 1.0."""
    from bot.dialogue.answering import asks_for_information

    assert asks_for_information(text, language) is information


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("is there someone i can talk to?", True),
        ("can a human help me?", True),
        ("what about talking to an advisor?", True),
        ("can i chat with a staff member?", True),
        ("and do staff wear id badges in their offices?", False),
        ("does international sos record my calls?", False),
        ("what if a staff member loses their phone", False),
        ("who can i speak to about my claim?", True),
        ("how do i reach someone urgently?", True),
        ("what are the ways to talk to someone at Cigna?", False),
    ],
)
def test_a_question_taken_for_a_hand_off_is_told_from_asking_for_a_person(text: str, person: bool) -> None:
    from bot.dialogue.answering import asks_for_a_person

    assert asks_for_a_person(text) is person


@pytest.mark.parametrize(
    ("text", "about"),
    [
        ("are you a bot?", True),
        ("am i talking to a real person", True),
        ("what are you?", True),
        ("is this automated?", True),
        ("what are your opening hours?", False),
        ("what are your fees for a second opinion?", False),
    ],
)
def test_a_question_taken_for_one_about_the_assistant_is_told_apart(text: str, about: bool) -> None:
    from bot.dialogue.answering import asks_about_the_assistant

    assert asks_about_the_assistant(text) is about


def test_a_two_part_message_with_whats_is_split() -> None:
    from bot.dialogue.context import split_questions

    assert split_questions("whats the number to call if i cant log in, and do you cover ivf?") == [
        "whats the number to call if i cant log in?", "do you cover ivf?"]
    assert len(split_questions("how do i find a hospital in your network, and whats the yearly limit?")) == 2


def test_a_follow_up_naming_another_organisation_asks_about_that_one_only(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = None
    for text in ("what personal info does cigna collect through its website and app", "and for my son? he's 15"):
        topic = next_topic(answer_turn(retriever, text, None, 0.0, None, intent_answers, topic), topic)
    [reply] = answer_turn(retriever, "and international sos?", None, 0.0, None, intent_answers, topic)
    assert reply.follow_up and reply.answer.answered
    assert reply.answer.best.passage.doc_id == "international-sos-privacy-and-cookies"
    assert "cigna" not in reply.answer.question.lower()


def test_a_short_question_in_the_previous_passages_words_continues_its_topic(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import continues_topic, next_topic

    first = answer_turn(retriever, "i live in california, can i ask if you gave my data to marketers?", None, 0.0,
                        None, intent_answers)
    topic = next_topic(first, None)
    assert continues_topic(retriever, "what number do i call", topic)
    assert not continues_topic(retriever, "what number do i call at international sos", topic)
    assert not continues_topic(retriever, "how do i submit a claim for my dentist?", topic)
    [reply] = answer_turn(retriever, "what number do i call", "contact_phone", 0.98, None, intent_answers, topic)
    assert "1.800.234.4077" in reply.answer.highlight


def test_a_follow_up_pointing_back_stays_on_the_passage_it_points_at(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic, points_back

    first = "my hospital isnt on your provider list, can you still pay them directly?"
    topic = next_topic(answer_turn(retriever, first, None, 0.0, None, intent_answers), None)
    assert topic is not None and topic.passage_id.endswith("#what-to-do-in-case-of-hospitalisation-4")
    # "guaranteed" also names the guarantee of payment, whose passage the combined question ranks first.
    [reply] = answer_turn(retriever, "is that guaranteed?", None, 0.0, None, intent_answers, topic)
    assert reply.follow_up and reply.answer.best.passage.id == topic.passage_id
    assert "not always possible" in reply.answer.highlight
    assert points_back("is that guaranteed?") and points_back("what do they use it for?")
    assert not points_back("and if it's urgent?") and not points_back("what about by email?")


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("i'd like to request deletion of my personal data", True),
        ("please delete my data", True),
        ("hi, i need a copy of my personal data", True),
        ("I want to withdraw my consent", True),
        ("I'd like to know how to delete my data", False),
        ("I want to know what data you hold", False),
        ("please tell me how to correct my data", False),
        ("how do i delete my data?", False),
        ("can i ask you to delete my data?", False),
        ("actually can you just call me back please", True),
        ("could you please delete my old address", True),
        ("can you just explain how a deletion works?", False),
        ("/data_deletion", False),
        ("Bonjour, I'm based in Geneva. I'd like to make a request about my personal data", True),
        ("ok great, please request one for me", True),
        ("ok great, can you request one for me please", True),
        ("can you send the guarantee to the hospital?", False),
        ("could you arrange direct payment?", False),
        ("ok then please file a request to correct my data, my address is wrong since I moved", True),
        ("in that case I want my data deleted", True),
        ("actually yes, I do want someone from the team to contact me", True),
        ("I'm based in Geneva. What data do you hold?", False),
    ],
)
def test_a_request_taken_for_a_question_is_told_from_a_question(text: str, asks: bool) -> None:
    from bot.dialogue.answering import asks_for_request

    assert asks_for_request(text) is asks


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("actually yes, I do want someone from the team to contact me", "human_handoff"),
        ("please have someone call me back", "request_callback"),
        ("I want to delete my data", None),
        ("who can I talk to about my claim?", None),
    ],
)
def test_asking_to_be_contacted_is_a_hand_off_or_a_call_back(text: str, intent: str | None) -> None:
    """The classifier read "actually yes, I do want someone from the team to contact me"
    as an answer to a form's question; the member asks for a person."""
    from bot.dialogue.answering import contact_request_intent

    assert contact_request_intent(text) == intent


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("wait, how long will this take?", True),
        ("is there no deadline?", True),
        ("no, the email is wrong", False),
        ("No, don't submit", False),
        ("yes please", False),
        ("/affirm", False),
    ],
)
def test_a_question_at_the_confirmation_is_told_from_a_yes_or_no(text: str, asks: bool) -> None:
    """"is there no deadline?" at "Shall I submit it?" is a question to answer, not a no."""
    from bot.dialogue.answering import asks_at_confirmation

    assert asks_at_confirmation(text) is asks


def test_a_request_under_a_question_intent_opens_its_form(intent_answers) -> None:
    assert intent_answers["data_deletion"].request_intent == "start_data_rights_request"
    assert intent_answers["gop_info"].request_intent == "request_guarantee_of_payment"
    # The marketing opt-out is done by the member (the link in every email): answered, with the offer.
    assert intent_answers["data_objection_marketing"].request_intent is None
    assert intent_answers["claim_submit"].request_intent is None


def test_a_request_naming_the_dependant_fills_the_patient() -> None:
    from bot.dialogue.forms import opening_slots

    gop = FORMS["gop_form"]
    assert opening_slots(gop, "I need a guarantee of payment for my daughter") == {
        "patient": "dependant", "patient_relationship": "daughter"}
    assert opening_slots(gop, "I need a guarantee of payment") == {}
    # A relative the member lives or travels with is not the patient.
    assert opening_slots(gop, "I live in Milan with my wife. I need a guarantee of payment for an operation.") == {}
    assert opening_slots(gop, "I live in Spain and my son needs an operation, I need a guarantee of payment") == {
        "patient": "dependant", "patient_relationship": "son"}
    assert opening_slots(FORMS["callback_form"], "call me back about my son's claim") == {}


def test_a_request_offer_keeps_its_payload() -> None:
    offer = replies.request_offer("deletion")
    payload = replies.offered_payload(offer)
    assert replies.payload_intent(payload) == ("start_data_rights_request", {"request_type": "deletion"})
    assert replies.payload_intent("/request_guarantee_of_payment") == ("request_guarantee_of_payment", {})
    assert replies.payload_intent("yes please") == (None, {})
    assert replies.offered_payload(None) is None


def test_a_passage_about_a_request_names_its_form(retriever) -> None:
    from bot.dialogue.forms import form_about

    assert form_about(retriever, "cigna-health-benefits-member-faq#claiming-expenses-5") is FORMS["gop_form"]
    assert form_about(retriever, "cigna-online-and-mobile-privacy-notice#your-access-rights-1") is FORMS[
        "data_rights_form"]
    assert form_about(retriever, "cigna-health-benefits-member-faq#having-trouble-logging-in-1") is None
    assert form_about(retriever, None) is None


def test_a_question_is_recognised_in_other_scripts() -> None:
    from bot.dialogue.answering import is_question

    assert is_question("我的雇主能看到我的医疗数据吗？") and is_question("كيف يمكنني الاتصال بكم؟")
    assert not is_question("UZ Leuven")



def test_a_follow_up_asking_for_a_time_the_topic_lacks_takes_it_from_the_topics_section(
    retriever, intent_answers
) -> None:
    """The correction passage gives no time; the same section's deadline passage does."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "international sos has my date of birth wrong, how do i get it fixed?",
                                   None, 0.0, None, intent_answers), None)
    assert topic is not None and topic.passage_id.startswith("international-sos-privacy-and-cookies#how-can-users")
    [reply] = answer_turn(retriever, "how long have they got to sort it", None, 0.0, None, intent_answers, topic)
    assert reply.follow_up and reply.answer.answered
    assert "no later than thirty (30) calendar days" in reply.answer.highlight


def test_how_long_till_we_hear_back_after_a_planned_stay_is_the_guarantees_time(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    first = "my wife has an operation planned next month, how do we get cigna to pay the hospital directly?"
    topic = next_topic(answer_turn(retriever, first, None, 0.0, None, intent_answers), None)
    [reply] = answer_turn(retriever, "how long till we hear back?", None, 0.0, None, intent_answers, topic)
    assert reply.follow_up and "within 48 hours" in reply.answer.highlight


def test_a_follow_up_pointing_back_is_not_answered_from_another_organisation(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import Topic

    topic = Topic("international sos has my date of birth wrong, how do i get it fixed? how long have they got",
                  "international-sos-privacy-and-cookies#how-can-users-correct-inaccuracies-in-their-5")
    [reply] = answer_turn(retriever, "will they want ID from me?", None, 0.0, None, intent_answers, topic)
    assert not reply.answer.best or reply.answer.best.passage.doc_id == "international-sos-privacy-and-cookies"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("im locked out of my online account, what do i do? also how quick do you send a guarantee of payment?",
         ["im locked out of my online account, what do i do?", "how quick do you send a guarantee of payment?"]),
        ("how do I get a guarantee of payment? also, can I pay my premium in bitcoin?",
         ["how do I get a guarantee of payment?", "can I pay my premium in bitcoin?"]),
    ],
)
def test_a_question_mark_ends_a_part_whatever_it_opens_with(text: str, parts: list[str]) -> None:
    from bot.dialogue.context import split_questions

    assert split_questions(text) == parts


def test_a_second_part_leaning_on_the_first_is_its_follow_up(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn

    first, second = answer_turn(retriever, "Does Cigna send my personal info to other countries? and is it 100% safe?",
                                None, 0.0, None, intent_answers)
    assert first.answer.answered and not first.follow_up
    assert second.follow_up and second.answer.answered
    assert "guaranteed to be 100% secure" in second.answer.highlight


@pytest.mark.parametrize(
    ("form", "text", "slots"),
    [
        ("handoff_form", "that's too slow, i want to speak to someone. my email is lea.m@example.com",
         {"contact": "lea.m@example.com"}),
        ("handoff_form", "put me through to a human please", {}),
        ("gop_form", "ok can you request it for me please", {}),
        ("callback_form", "call me back on +44 7700 900123 please", {"phone_number": "+447700900123"}),
        ("data_rights_form", "i want my data deleted, my email is a.b@example.com",
         {"email": "a.b@example.com", "request_type": "deletion"}),
    ],
)
def test_how_to_reach_the_member_given_with_the_request_is_not_asked_again(
    form: str, text: str, slots: dict[str, str]
) -> None:
    from bot.dialogue.forms import FORMS, opening_slots

    assert opening_slots(FORMS[form], text) == slots


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("Good afternoon. Could you tell me how the Cigna website keeps my information secure, and whether my "
         "policy covers IVF treatment? Many thanks.",
         ["Could you tell me how the Cigna website keeps my information secure?",
          "whether my policy covers IVF treatment?"]),
        ("hi two things - i cant get into my personal webpages, and how long before i hear back on a guarantee of "
         "payment request?",
         ["i cant get into my personal webpages?", "how long before i hear back on a guarantee of payment request?"]),
        ("ok whatever. btw where can I check how my claim is going", ["where can I check how my claim is going"]),
        ("what do you need to know about my operation btw?", ["what do you need to know about my operation?"]),
        ("is my data sold to advertisers, by the way", ["is my data sold to advertisers"]),
    ],
)
def test_chat_around_the_questions_is_left_out(text: str, parts: list[str]) -> None:
    from bot.dialogue.context import split_questions

    assert split_questions(text) == parts


def _trained_examples(intent: str) -> list[str]:
    """The NLU training examples of ``intent``, in every language."""
    return [
        line.strip()[2:].strip()
        for path in sorted(ROOT.glob("data/nlu/**/*.yml"))
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []
        if item.get("intent") == intent
        for line in item["examples"].splitlines() if line.strip()
    ]


def test_a_no_needs_a_word_that_says_no() -> None:
    """Every "no" the classifier is trained on keeps its intent; a name or a doubt does not."""
    from bot.rasa_plugins.intent_guard import corrected_intent

    trained = _trained_examples("deny")
    assert len(trained) > 30
    assert [t for t in trained if corrected_intent(t, "deny")] == []
    assert [t for t in ("maybe later", "that's all", "i'm good", "na", "nope") if corrected_intent(t, "deny")] == []
    assert corrected_intent("Daniel Weber", "deny") == "inform"
    assert corrected_intent("and you'll definitely change it?", "deny") == "ask_question"
    assert corrected_intent("Daniel Weber", "inform") is None


@pytest.mark.parametrize(
    ("intent", "answer"),
    [
        ("goodbye", "Joao Pereira"),
        ("human_handoff", "mask.probe@example.org"),
        ("request_callback", "+32 470 12 34 56"),
    ],
)
def test_a_goodbye_hand_off_or_call_back_needs_its_words(intent: str, answer: str) -> None:
    """Every example of the intent the classifier is trained on, in every language, keeps
    it; an answer typed at a form's question (a name, an email address, a phone number)
    that the classifier reads as one is an answer."""
    from bot.rasa_plugins.intent_guard import corrected_intent

    trained = _trained_examples(intent)
    assert len(trained) > 20
    assert [t for t in trained if corrected_intent(t, intent)] == []
    assert corrected_intent(answer, intent) == "inform"


def test_the_phone_as_a_device_asks_for_no_call_back() -> None:
    """"a photo from my phone" names the device: the question is asked, no form starts;
    "phone me" still asks to be called."""
    from bot.rasa_plugins.intent_guard import corrected_intent

    question = "if i upload a photo from my phone in the app can u see it"
    assert corrected_intent(question, "request_callback") == "ask_question"
    assert corrected_intent("can you phone me tomorrow?", "request_callback") is None
    assert corrected_intent("please call me on my phone", "request_callback") is None


def test_a_question_is_not_a_cancel_unless_it_says_so() -> None:
    """Every cancel the classifier is trained on, in every language, keeps its intent; a
    question it reads as a cancel, saying neither no nor leave, is a question."""
    from bot.rasa_plugins.intent_guard import corrected_intent

    trained = _trained_examples("cancel")
    assert len(trained) > 50
    assert [t for t in trained if corrected_intent(t, "cancel")] == []
    assert corrected_intent("so what are they actually used for", "cancel") == "ask_question"
    assert corrected_intent("whats the process for asking them to delete my data?", "cancel") == "ask_question"
    assert corrected_intent("can i stop?", "cancel") is None
    assert corrected_intent("Daniel Weber", "cancel") is None
    # A "not" in a name or a question's "or not" says no to nothing.
    dnt = "Quick one, I browse with Do Not Track switched on. Do you actually respect that or not?"
    assert corrected_intent(dnt, "cancel") == "ask_question"
    assert corrected_intent("no, do not track me, stop?", "cancel") is None


def test_a_question_is_not_a_yes_unless_it_says_so() -> None:
    """Every yes the classifier is trained on keeps its intent; a question it reads as a
    yes is a question."""
    from bot.rasa_plugins.intent_guard import corrected_intent

    trained = _trained_examples("affirm")
    assert len(trained) > 50
    assert [t for t in trained if corrected_intent(t, "affirm")] == []
    assert corrected_intent("¿y si el hospital no tiene acuerdo con ustedes?", "affirm") == "ask_question"
    assert corrected_intent("is that right?", "affirm") is None
    assert corrected_intent("Daniel Weber", "affirm") is None


@pytest.mark.parametrize(
    ("text", "leaving"),
    [
        ("forget it, I'll do it later", True),
        ("hmm wait, I only wanted information", True),
        ("no thanks, stop", True),
        ("never mind", True),
        ("Stop.", True),
        ("cancel please", True),
        ("maybe later", True),
        ("actually I changed my mind", True),
        ("en fait j'ai changé d'avis", True),
        ("eigentlich habe ich es mir anders überlegt", True),
        ("en realidad cambié de opinión", True),
        ("eigenlijk ben ik van gedachten veranderd", True),
        ("in realtà ho cambiato idea", True),
        ("na verdade mudei de ideias", True),
        ("dimenticalo", True),
        ("not now, thanks", True),
        ("leave it", True),
        ("ok that's enough", True),
        ("I'll do it later", True),
        ("actually I don't need a call anymore", True),
        ("i don't want it after all", True),
        ("I don't need a call", False),
        ("i'll call you instead", True),
        ("I'd rather call you myself", True),
        ("I don't want to give my details", True),
        ("I don't want a callback", True),
        ("let me think about it", True),
        ("I'll come back later", True),
        ("get me out of here", True),
        ("leave it for now", True),
        ("I don't want to share my data with my employer", False),
        ("I don't want marketing emails", False),
        ("I don't want your newsletters anymore", False),
        ("I don't need a callback anymore", True),
        ("I don't want it deleted, just corrected", False),
        ("i'll call you tomorrow at 10", False),
        ("is that enough?", False),
        ("stop sharing my data with marketers", False),
        ("never mind, what's the phone number?", False),
        ("i only wanted information about deletion", False),
        ("Daniel Weber", False),
    ],
)
def test_a_message_opening_by_leaving_leaves(text: str, leaving: bool) -> None:
    """Leaving phrases end the form whatever the classifier makes of the rest."""
    from bot.rasa_plugins.intent_guard import leaves

    assert leaves(text) is leaving


def test_no_example_of_another_intent_is_read_as_leaving() -> None:
    from bot.rasa_plugins.intent_guard import LEAVING_INTENTS, leaves

    others = {
        item["intent"]
        for path in sorted(ROOT.glob("data/nlu/**/*.yml"))
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []
        if item.get("intent") and item["intent"] not in LEAVING_INTENTS
    }
    assert len(others) > 20
    assert [t for intent in sorted(others) for t in _trained_examples(intent) if leaves(t)] == []


def test_a_data_rights_request_naming_its_kind_opens_on_it() -> None:
    """The classifier read "request deletion" as a correction (0.25); the words decide."""
    from bot.dialogue.forms import request_type_in

    assert request_type_in("i'd like to request deletion of my personal data") == "deletion"
    assert request_type_in("I want to see everything you have on me") == "access"
    assert request_type_in("I want to submit a data protection request") is None
    assert request_type_in("delete or correct my data") is None  # two kinds: the form asks
    assert opening_slots(FORMS["data_rights_form"], "please file a request to erase my data") == {
        "request_type": "deletion"}


def test_a_request_naming_no_kind_takes_the_offer() -> None:
    from bot.dialogue.forms import takes_the_offer

    assert takes_the_offer("yes please, start the request for me")
    assert takes_the_offer("ok go ahead")
    assert not takes_the_offer("yes")  # a plain yes is the classifier's affirm
    assert not takes_the_offer("start a data rights request")


def test_contact_details_given_earlier_are_not_asked_again() -> None:
    earlier = ["Hi, my email is k.n@example.jp. How long does a guarantee of payment take?", "thanks"]
    assert opening_slots(FORMS["handoff_form"], "can I speak to an agent", earlier) == {"contact": "k.n@example.jp"}
    assert opening_slots(FORMS["callback_form"], "call me back", ["my number is +32 470 12 34 56"]) == {
        "phone_number": "+32470123456"}
    assert opening_slots(FORMS["callback_form"], "call me back", ["my member id is CG4481920"]) == {}


def test_a_follow_up_question_with_more_said_after_it_is_a_follow_up(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import is_follow_up, next_topic

    assert is_follow_up("what about if its urgent? i need my plan documents today")
    assert not is_follow_up("how do i submit a claim? i need my money back")
    topic = next_topic(answer_turn(retriever, "cant log into my personal pages, it keeps saying error", None, 0.0,
                                   None, intent_answers), None)
    [reply] = answer_turn(retriever, "what about if its urgent? i need my plan documents today", None, 0.0, None,
                          intent_answers, topic)
    assert reply.follow_up and "+ 32 3 217 68 68" in reply.answer.highlight


def test_contractions_and_adverbs_name_no_topic() -> None:
    from bot.dialogue.context import own_topic_terms

    assert own_topic_terms("and you'll definitely change it?") == ["change"]


def test_a_second_part_naming_no_topic_is_split_when_it_leans_on_the_first() -> None:
    from bot.dialogue.context import split_questions

    assert split_questions("how long does a guarantee of payment take and what do you need from me?") == [
        "how long does a guarantee of payment take?", "what do you need from me?"]
    # another language's parts stand alone: no follow-up test, no cut before a part without a topic
    assert split_questions("how long does a guarantee of payment take and what do you need from me?",
                           follows=None) == ["how long does a guarantee of payment take and what do you need from me?"]


def test_two_parts_answered_from_one_passage_quote_it_once(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn

    [reply] = answer_turn(retriever, "what's the email for privacy questions at cigna europe? and the postal address?",
                          None, 0.0, None, intent_answers)
    assert reply.answer.best.passage.id == "cigna-ihs-data-protection-notice#actions-you-may-take-1"
    assert "privacy.europe@cigna.com" in reply.answer.highlight
    assert "Plantin en Moretuslei 299" in reply.answer.highlight


def test_and_by_email_after_a_passage_giving_an_address_stays_on_it(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "how do i complain to international sos about my data", None, 0.0,
                                   None, intent_answers), None)
    assert topic is not None and "@" in retriever.passage(topic.passage_id).text
    [reply] = answer_turn(retriever, "and by email?", None, 0.0, None, intent_answers, topic)
    assert reply.follow_up and reply.answer.best.passage.id == topic.passage_id  # not the newsletter's emails


@pytest.mark.parametrize("follow_up", ["and by post?", "can i send a letter instead"])
def test_by_post_after_a_passage_giving_a_postal_address_stays_on_it(retriever, intent_answers, follow_up) -> None:
    """The FAQ's "by email, by post, or by phone" names the word; the privacy contact
    gives the address a letter goes to."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "Who do I contact at Cigna International about my personal data?",
                                   None, 0.0, None, intent_answers), None)
    assert topic is not None and topic.passage_id == "cigna-ihs-data-protection-notice#actions-you-may-take-1"
    [reply] = answer_turn(retriever, follow_up, None, 0.0, None, intent_answers, topic)
    assert reply.follow_up and reply.answer.best.passage.id == topic.passage_id
    assert "Plantin en Moretuslei 299" in reply.answer.highlight


def test_a_follow_up_asking_for_a_fact_the_topic_lacks_gets_it_from_the_topics_section(retriever,
                                                                                      intent_answers) -> None:
    """"is that free?" after how to review one's data at International SOS: the section
    says, four passages on, that they "may ask you to cover the reasonable cost"; the
    dispute passage elsewhere says "free of charge" of something else."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "how can i review the personal data international sos collected from me?",
                                   None, 0.0, None, intent_answers), None)
    assert topic is not None and topic.passage_id.endswith("how-can-users-correct-inaccuracies-in-their-1")
    [reply] = answer_turn(retriever, "is that free?", None, 0.0, None, intent_answers, topic)
    assert reply.follow_up
    assert reply.answer.best.passage.id.endswith("how-can-users-correct-inaccuracies-in-their-5")
    assert "reasonable cost" in reply.answer.highlight


def test_a_question_in_a_request_form_is_answered_from_the_requests_subject(retriever, intent_answers) -> None:
    """While a guarantee of payment is requested, "what do you need to know about the
    treatment?" is about the request, not the health encyclopaedia's treatments; a
    question on another subject keeps its own answer."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import Topic
    from bot.dialogue.forms import FORMS

    topic = Topic(FORMS["gop_form"].topic)
    question = "what do you need to know about the treatment?"
    [alone] = answer_turn(retriever, question, None, 0.0, None, intent_answers)
    assert alone.answer.answered and "encyclopaedia" in alone.answer.highlight
    [reply] = answer_turn(retriever, question, None, 0.0, None, intent_answers, topic, during_request=True)
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#claiming-expenses-4"
    assert "We need to know the diagnosis" in reply.answer.highlight
    [other] = answer_turn(retriever, "what's the privacy email?", None, 0.0, None, intent_answers, topic,
                          during_request=True)
    assert "privacy.europe@cigna.com" in other.answer.highlight
    [sharing] = answer_turn(retriever, "hold on, will you give my email address to other companies?", None, 0.0,
                            None, intent_answers, Topic(FORMS["data_rights_form"].topic), during_request=True)
    assert sharing.answer.best.passage.doc_id == "cigna-website-privacy-policy"


def test_a_part_naming_only_another_organisation_asks_the_same_of_it(retriever, intent_answers) -> None:
    """"..., and does International SOS?" asks the first part's question of International SOS."""
    from bot.dialogue.answering import answer_turn

    replies = answer_turn(retriever, "Does Cigna collect information from children online, and does International SOS?",
                          None, 0.0, None, intent_answers)
    assert [r.answer.best.passage.id for r in replies] == [
        "cigna-online-and-mobile-privacy-notice#our-online-privacy-notice-for-children-2",
        "international-sos-privacy-and-cookies#data-protection-for-children-1",
    ]


def test_and_for_my_daughter_reaches_what_the_documents_say_of_children(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "what personal information does cigna collect on its website", None,
                                   0.0, None, intent_answers), None)
    [reply] = answer_turn(retriever, "and for my daughter?", None, 0.0, None, intent_answers, topic)
    assert reply.follow_up and "children" in reply.answer.highlight.lower()


def test_how_long_a_data_request_takes_is_answered_from_the_request_passages(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    def cited(text: str, topic=None) -> tuple[str, str]:
        [reply] = answer_turn(retriever, text, None, 0.0, None, intent_answers, topic)
        return reply.answer.best.passage.id, reply.answer.highlight

    # Named in the question: Cigna's own statement, not International SOS's thirty days.
    passage, highlight = cited("how long do you have to answer a data access request?")
    assert passage == "cigna-online-and-mobile-privacy-notice#your-access-rights-1"
    assert "consistent with applicable law" in highlight and "thirty" not in highlight
    # Naming International SOS keeps its own deadline.
    passage, highlight = cited("how long does international sos take to answer a data request?")
    assert passage.startswith("international-sos-privacy-and-cookies#")
    assert "thirty (30) calendar days" in highlight
    # A general enquiry is not a data request.
    passage, highlight = cited("how long do you take to answer an email?")
    assert passage == "cigna-health-benefits-member-faq#general-information-2"

    # In a conversation about a data request, an elliptical "how long?" is about it.
    topic = None
    for text in ("what rights do i have over the personal data you keep on me?",
                 "and who do I contact for that, is there an email address?"):
        topic = next_topic(answer_turn(retriever, text, None, 0.0, None, intent_answers, topic), topic)
    assert topic is not None and topic.passage_id == "cigna-ihs-data-protection-notice#actions-you-may-take-1"
    passage, highlight = cited("how long do they have to reply to me?", topic)
    assert passage == "cigna-online-and-mobile-privacy-notice#your-access-rights-1"
    assert "consistent with applicable law" in highlight and "two days" not in highlight


def test_a_follow_up_naming_only_another_organisation_asks_the_same_of_it(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "how long do you have to answer a data access request?", None, 0.0,
                                   None, intent_answers), None)
    [reply] = answer_turn(retriever, "what about International SOS?", None, 0.0, None, intent_answers, topic)
    assert reply.answer.best.passage.doc_id == "international-sos-privacy-and-cookies"
    # The previous question asked how long: the highlight gives International SOS's time.
    assert "thirty (30) calendar days" in reply.answer.highlight.splitlines()[0]


def test_a_follow_up_counts_the_words_of_a_passages_section_title(retriever, intent_answers) -> None:
    """"and how are the servers protected" after the website's cookies is about its
    section "How we protect your information", whose passage says "secure", not "protect"."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "do your cookies store any personal info about me", None, 0.0, None,
                                   intent_answers), None)
    assert topic is not None and topic.passage_id == "cigna-website-privacy-policy#cookies-2"
    [reply] = answer_turn(retriever, "and how are the servers protected", None, 0.0, None, intent_answers, topic)
    assert reply.answer.best.passage.id == "cigna-website-privacy-policy#how-we-protect-your-information-1"
    assert "Firewalls are used to block unauthorised traffic" in reply.answer.highlight


def test_a_question_on_the_same_passage_carries_the_conversation_on(retriever, intent_answers) -> None:
    """"i never gave you my email tho" after how to get the activation code stays on that
    passage; "and what if it's urgent?" then asks about urgent access to the webpages, not
    about urgent e-mails."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = None
    for text in ("hi! new member here, how do I get my activation code?", "i never gave you my email tho"):
        topic = next_topic(answer_turn(retriever, text, None, 0.0, None, intent_answers, topic), topic)
    assert topic is not None and "activation code" in topic.question
    [reply] = answer_turn(retriever, "ok and what if it's urgent? I need to see my plan today", None, 0.0, None,
                          intent_answers, topic)
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#general-information-5"
    assert "urgent access to your personal webpages" in reply.answer.highlight


def test_a_misspelt_follow_up_is_read_as_its_spelling_meant(retriever, intent_answers) -> None:
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, "where do i get the activation code from", None, 0.0, None,
                                   intent_answers), None)
    [reply] = answer_turn(retriever, "what if i never gave you my email adress?", None, 0.0, None, intent_answers,
                          topic)
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#general-information-4"
    assert "welcome letter" in reply.answer.highlight


def test_a_question_in_the_guarantee_of_payment_form_is_answered_from_its_steps(retriever, intent_answers) -> None:
    """The form's topic names no passage; its procedure is the planned admission's, so
    what to show at the hospital is "your membership card and Guarantee of payment", not
    the emergency's card alone. An emergency is still the emergency."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import Topic
    from bot.dialogue.forms import FORMS

    topic = Topic(FORMS["gop_form"].topic)
    [reply] = answer_turn(retriever, "what does she need to show at the hospital when she's admitted?", None, 0.0,
                          None, intent_answers, topic, during_request=True)
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#claiming-expenses-5"
    assert "show your membership card and Guarantee of payment" in reply.answer.highlight
    [reply] = answer_turn(retriever, "what if it's an emergency?", None, 0.0, None, intent_answers, topic,
                          during_request=True)
    assert reply.answer.best.passage.id == "cigna-health-benefits-member-faq#claiming-expenses-2"


@pytest.mark.parametrize(
    "first",
    [
        "how long does a guarantee of payment take?",
        "i was taken to the ER after an accident, will you pay the hospital directly?",
        "how do I get my activation code?",
        "how do i find out what was reimbursed on my claim?",
    ],
)
def test_a_question_the_documents_do_not_answer_gets_no_answer_from_the_topic(retriever, intent_answers,
                                                                              first: str) -> None:
    """A conversation's topic does not lend its passage to what our documents never say."""
    from bot.dialogue.answering import answer_turn
    from bot.dialogue.context import next_topic

    topic = next_topic(answer_turn(retriever, first, None, 0.0, None, intent_answers), None)
    for question in ("can I pay my premium with bitcoin?", "do you cover IVF?", "are you open on Sundays?",
                     "can my dog be added to my plan?"):
        replies = answer_turn(retriever, question, None, 0.0, None, intent_answers, topic)
        answered = [r.answer.best.passage.id for r in replies if r.answer.answered]
        assert answered == [], (question, answered)
    if "reimbursed" in first:  # "hassle-free settlement" states no price
        [reply] = answer_turn(retriever, "is it free?", None, 0.0, None, intent_answers, topic)
        assert not reply.answer.answered
