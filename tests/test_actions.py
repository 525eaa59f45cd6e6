"""Custom actions called directly with real trackers, the real retriever and real
databases (SQLite and the local PostgreSQL). The live Rasa round trip is in
tests/test_stories.py."""

from __future__ import annotations

import uuid

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.requests import RequestStore
from bot.services import Services


def _tracker(text: str = "", intent: str = "ask_question", confidence: float = 0.9, slots: dict | None = None,
             entities: list | None = None, active_loop: str | None = None, events: list | None = None) -> Tracker:
    return Tracker(
        sender_id=f"test-{uuid.uuid4().hex[:8]}",
        slots=slots or {},
        latest_message={"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": entities or []},
        events=events or [],
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name=None,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def services(request, settings, make_services, tmp_path, monkeypatch) -> Services:
    """Real services on a fresh database of each kind, patched into the actions module."""
    import actions.actions as module

    sqlite = f"sqlite:///{tmp_path}/requests.db"
    url = sqlite if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    svc = make_services(settings, database_url=url)
    monkeypatch.setattr(module, "get_services", lambda: svc)
    return svc


async def _run(action, tracker: Tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher.messages, events


async def test_answer_is_cited_and_recorded(services) -> None:
    from actions.actions import ActionAnswerQuestion

    tracker = _tracker("where is my activation code?", "login_activation_code")
    messages, events = await _run(ActionAnswerQuestion(), tracker)
    assert "activation code" in messages[0]["text"]
    assert "Source: [Cigna Health Benefits Member Help" in messages[0]["text"]
    payload = messages[0]["custom"]
    assert payload["type"] == "answer" and payload["citations"][0]["id"].endswith("general-information-4")
    answer_id = int(events[0]["value"])
    assert services.store.get_answer(answer_id).band == "answer"
    cited = next(p for p in services.retriever.passages if p.id == payload["citations"][0]["id"])
    assert payload["citations"][0]["text"] == cited.text  # the whole passage, for the web chat
    assert all(line in cited.text for line in payload["highlight"].splitlines())  # each sentence quoted
    assert messages[0]["text"].startswith(payload["highlight"])
    assert not any(m.get("text") == "Did this help?" for m in messages)  # thumbs on the answer instead
    slots = {e["name"]: e["value"] for e in events}
    assert slots["topic_passage"].endswith("general-information-4") and slots["topic_question"]


async def test_follow_up_uses_the_topic_slots(services) -> None:
    from actions.actions import ActionAnswerQuestion

    tracker = _tracker("and if it's urgent?", "login_urgent_access", slots={
        "topic_question": "I can't log into my personal webpages",
        "topic_passage": "cigna-health-benefits-member-faq#having-trouble-logging-in-1",
    })
    messages, events = await _run(ActionAnswerQuestion(), tracker)
    assert messages[0]["custom"]["citations"][0]["id"].endswith("general-information-5")
    assert "If you need urgent access" in messages[0]["text"]


async def test_unknown_question_abstains_with_contact_from_faq(services) -> None:
    from actions.actions import ActionAnswerQuestion

    messages, _ = await _run(ActionAnswerQuestion(), _tracker("what is your IBAN for premium payments", confidence=0.3))
    assert messages[0]["custom"]["type"] == "abstain"
    assert "You can contact us by email, by post, or by phone." in messages[0]["text"]
    assert any(b["payload"] == "/human_handoff" for b in messages[0]["buttons"])


async def test_feedback_is_stored_for_the_last_answer(services) -> None:
    from actions.actions import ActionAnswerQuestion, ActionRecordFeedback

    _, events = await _run(ActionAnswerQuestion(), _tracker("how do i claim"))
    answer_id = events[0]["value"]
    tracker = _tracker('/feedback{"feedback_value":"down"}', "feedback", slots={"last_answer_id": answer_id},
                       entities=[{"entity": "feedback_value", "value": "down"}])
    messages, _ = await _run(ActionRecordFeedback(), tracker)
    assert services.store.get_answer(int(answer_id)).helpful is False
    assert any(b["payload"] == "/human_handoff" for b in messages[0]["buttons"])


async def test_a_question_taken_for_feedback_is_answered(services) -> None:
    """"how quickly do you normally answer?" read as feedback is answered and cited, not
    thanked for; typed feedback ("that didn't help") is still feedback."""
    from actions.actions import ActionRecordFeedback

    messages, _ = await _run(ActionRecordFeedback(), _tracker("how quickly do you normally answer?", "feedback"))
    assert "within two days" in messages[0]["text"] and "Source:" in messages[0]["text"]
    messages, _ = await _run(ActionRecordFeedback(), _tracker("that didn't help", "feedback"))
    assert "within two days" not in messages[0]["text"]


async def test_submit_data_rights_masks_and_stores(services) -> None:
    from actions.actions import ActionAskConfirmed, ActionSubmitDataRights

    slots = {"request_type": "deletion", "full_name": "Jane Doe", "email": "jane.doe@example.com",
             "member_id": "AB123456", "date_of_birth": "1985-03-12", "details": "call me on +32471123456",
             "confirmed": "yes"}
    tracker = _tracker("yes", "affirm", slots=slots, active_loop="data_rights_form")
    summary, _ = await _run(ActionAskConfirmed(), tracker)
    shown = summary[0]["text"]
    for secret in ("jane.doe@example.com", "AB123456", "1985-03-12", "+32471123456"):
        assert secret not in shown
    messages, _ = await _run(ActionSubmitDataRights(), tracker)
    reference = messages[0]["custom"]["reference"]
    stored = services.store.get(reference)
    assert stored.kind == "data_rights" and stored.data["email"] == "jane.doe@example.com"
    assert stored.conversation_id == tracker.sender_id and 29 <= stored.days_left() <= 30


async def test_failed_write_is_reported_not_swallowed(services) -> None:
    from actions.actions import ActionSubmitCallback

    services.store.close()
    broken = RequestStore("sqlite:////nonexistent-dir/forbidden/requests.db")
    services.store = broken
    slots = {"full_name": "Jane Doe", "phone_number": "+3231234567", "preferred_time": "mornings", "topic": "claim",
             "confirmed": "yes"}
    messages, _ = await _run(ActionSubmitCallback(), _tracker("yes", "affirm", slots=slots))
    assert "could **not** be saved" in messages[0]["text"] and "reference" not in messages[0]["text"].lower()


async def test_validation_reasks_and_offers_a_person_or_to_stop_after_two_failures(services) -> None:
    from actions.actions import ValidateDataRightsForm

    form = ValidateDataRightsForm()
    dispatcher = CollectingDispatcher()
    result = form.validate_member_id("??", dispatcher, _tracker(), {})
    assert result["member_id"] is None and not any(m.get("buttons") for m in dispatcher.messages)
    slots = {"validation_failures": result["validation_failures"]}
    result = form.validate_member_id("abc", dispatcher, _tracker(slots=slots), {})
    assert result["member_id"] is None and result["validation_failures"] == 2.0
    payloads = {b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []}
    assert payloads == {"/human_handoff", "/cancel"}
    ok = form.validate_member_id("ab 123 456", CollectingDispatcher(), _tracker(), {})
    assert ok["member_id"] == "AB123456"


async def test_handoff_records_conversation_and_contact(services) -> None:
    from actions.actions import ActionHandoff

    events = [{"event": "user", "text": "my card 4111 1111 1111 1111 does not work and I am stuck"}]
    slots = {"contact": "+447700900123", "confirmed": "yes"}
    tracker = _tracker("yes", "affirm", slots=slots, events=events)
    messages, _ = await _run(ActionHandoff(), tracker)
    reference = messages[0]["custom"]["reference"]
    record = services.store.get(reference)
    assert record.kind == "handoff" and record.conversation_id == tracker.sender_id
    assert record.data["phone_number"] == "+447700900123"
    assert "4111 1111 1111 1111" not in str(record.data)  # the messages are stored masked
    assert "+44 *** 0123" in messages[0]["text"] and "+447700900123" not in messages[0]["text"]
    assert "within two days" in messages[0]["text"] and "Source:" in messages[0]["text"]
    # the quoted reply time is cited in the payload, as an answer's passage is
    cited = [c["id"] for c in messages[0]["custom"]["citations"]]
    assert cited == ["cigna-health-benefits-member-faq#general-information-2"]


async def test_handoff_uses_an_email_given_earlier(services) -> None:
    from actions.actions import ActionHandoff

    tracker = _tracker("yes", "affirm", slots={"email": "jane@example.com", "confirmed": "yes"})
    messages, _ = await _run(ActionHandoff(), tracker)
    record = services.store.get(messages[0]["custom"]["reference"])
    assert record.data["email"] == "jane@example.com" and "j***@e***.com" in messages[0]["text"]


async def test_handoff_not_confirmed_stores_nothing(services) -> None:
    from actions.actions import ActionHandoff

    tracker = _tracker("no", "deny", slots={"contact": "jane@example.com", "confirmed": "no"})
    messages, _ = await _run(ActionHandoff(), tracker)
    assert "not sent" in messages[0]["text"] and not [
        r for r in services.store.list(limit=500) if r.conversation_id == tracker.sender_id
    ]


async def test_form_intro_of_data_rights_states_no_legal_deadline(services) -> None:
    from actions.actions import ActionFormIntro

    messages, events = await _run(ActionFormIntro(), _tracker("file a privacy request", "start_data_rights_request"))
    text = messages[0]["text"]
    assert "consistent with applicable law" in text and "Source:" in text
    assert "legal deadline" not in text and "one month" not in text and "30 days" not in text
    assert {e["name"]: e["value"] for e in events} == {
        "confirmed": None, "validation_failures": None, "topic_passage": None, "language": "en",
        "topic_question": "my request to Cigna to access, correct or delete my personal information",
        "offered_request": None,  # the request started is no longer on offer
    }


async def test_callback_confirmation_masks_the_phone_number(services) -> None:
    from actions.actions import ActionAskConfirmed

    slots = {"full_name": "Jane Doe", "phone_number": "+32470123456", "preferred_time": "mornings", "topic": "claim"}
    tracker = _tracker("claim", "inform", slots=slots, active_loop="callback_form")
    messages, _ = await _run(ActionAskConfirmed(), tracker)
    assert "+32 *** 3456" in messages[0]["text"] and "470123456" not in messages[0]["text"]
    assert "Shall I submit it?" in messages[0]["text"]


async def test_clarify_options_from_one_long_section_can_be_told_apart(services) -> None:
    """Three passages of one section used to give three identical buttons. Whichever
    band the calibration puts this question in, its options are what clarify shows."""
    import dataclasses

    from bot.dialogue import replies

    answer = services.retriever.answer("isos cookies")
    messages = replies.answer_messages(dataclasses.replace(answer, band="clarify"), services.facts, None)
    options = [b for b in messages[0]["buttons"] if b["payload"].startswith("/ask_question")]
    assert messages[0]["json_message"]["type"] == "clarify" and len(options) == 3
    sections = {b["title"].split(":")[0] for b in options}
    assert len(sections) == 1, "the example should offer one section's passages"
    assert len({b["title"] for b in options}) == 3, [b["title"] for b in options]
    assert all("“" in b["title"] for b in options)
    assert messages[0]["text"].endswith("in the International SOS Privacy & Cookies Statement?")


async def test_a_confident_intent_stands_in_for_an_unsure_retrieval(services) -> None:
    """One word does not say what the member wants, so retrieval only offers options; the
    intent classifier is sure, so its verified passage answers."""
    from actions.actions import ActionAnswerQuestion

    assert services.retriever.answer("gop").band != "answer"
    messages, _ = await _run(ActionAnswerQuestion(), _tracker("gop", "gop_info", confidence=0.95))
    payload = messages[0]["custom"]
    assert payload["type"] == "answer" and payload["citations"][0]["id"].endswith("claiming-expenses-3")


async def test_a_confident_intent_does_not_answer_a_fact_its_passage_lacks(services) -> None:
    """On topic is not answered: the guarantee-of-payment passage says how to ask for one,
    not what it costs, so the member is told we do not know."""
    from actions.actions import ActionAnswerQuestion

    question = "how much does a guarantee of payment cost?"
    messages, _ = await _run(ActionAnswerQuestion(), _tracker(question, "gop_info", confidence=0.95))
    assert messages[0]["custom"]["type"] == "abstain"
    assert "couldn't find that in our documents" in messages[0]["text"]


async def test_a_confident_intent_does_not_answer_a_word_it_has_never_seen(services) -> None:
    """The intent only says the topic is reimbursement; "IVF" is in none of its examples
    nor its passage, and our documents do not say what a plan covers."""
    from actions.actions import ActionAnswerQuestion

    question = "does my plan cover IVF treatment?"
    assert services.retriever.answer(question).band != "answer"
    messages, _ = await _run(ActionAnswerQuestion(), _tracker(question, "claim_reimbursement", confidence=0.95))
    assert messages[0]["custom"]["type"] != "answer"


async def test_a_confident_intent_answers_a_long_question_in_its_own_words(services) -> None:
    """Our documents say little about sending a claim, so retrieval on the member's words
    is unsure; every word is one members use for claim_submit, so its answer stands."""
    from actions.actions import ActionAnswerQuestion

    question = "where do i send my receipts and invoices for a claim?"
    assert services.retriever.answer(question).band != "answer"
    messages, _ = await _run(ActionAnswerQuestion(), _tracker(question, "claim_submit", confidence=0.95))
    payload = messages[0]["custom"]
    assert payload["type"] == "answer" and payload["citations"][0]["section"] == "Claiming expenses"


async def test_a_question_taken_for_a_request_is_answered_and_the_form_not_started(services) -> None:
    from actions.actions import ActionFormIntro

    tracker = _tracker("is that free if i call from abroad?", "request_callback")
    messages, events = await _run(ActionFormIntro(), tracker)
    assert "call you back" not in messages[0].get("text", "")
    assert messages[-1]["buttons"][0]["payload"] == "/request_callback"  # offered, not started
    assert events[-1]["event"] == "followup" and events[-1]["name"] == "action_listen"
    assert not any(e.get("name") == "confirmed" for e in events)


async def test_a_question_asked_for_the_hospital_is_answered_and_asked_again(services) -> None:
    from actions.actions import ValidateCallbackForm, ValidateGopForm

    dispatcher = CollectingDispatcher()
    slots = {"requested_slot": "provider", "topic_question": "my guarantee of payment request for a hospital stay"}
    tracker = _tracker("how long does it take?", "ask_question", slots=slots, active_loop="gop_form")
    result = ValidateGopForm().validate_provider("how long does it take?", dispatcher, tracker, {})
    assert result["provider"] is None
    assert "48 hours" in dispatcher.messages[0]["text"] and "Source:" in dispatcher.messages[0]["text"]
    named = ValidateGopForm().validate_provider(
        "AZ Klina", CollectingDispatcher(), _tracker("AZ Klina", "inform", slots=slots, active_loop="gop_form"), {}
    )
    assert named["provider"] == "AZ Klina"
    # a question where a choice is asked (who the patient is) is answered too; a
    # question that is itself a valid answer answers the field
    patient_slots = {**slots, "requested_slot": "patient"}
    text = "what if the hospital doesnt have a direct billing agreement with you?"
    dispatcher = CollectingDispatcher()
    result = ValidateGopForm().validate_patient(
        text, dispatcher, _tracker(text, "gop_info", slots=patient_slots, active_loop="gop_form"), {}
    )
    assert result["patient"] is None
    assert "case-by-case basis" in dispatcher.messages[0]["text"]
    text = "is it ok if it's for my daughter?"
    chose = ValidateGopForm().validate_patient(
        text, CollectingDispatcher(), _tracker(text, "inform", slots=patient_slots, active_loop="gop_form"), {}
    )
    assert chose["patient"] == "dependant"
    # a question is what a call back is about
    asked = _tracker("why was my claim only partly paid?", "claim_partial_settlement",
                     slots={"requested_slot": "topic"}, active_loop="callback_form")
    topic = ValidateCallbackForm().validate_topic(
        "why was my claim only partly paid?", CollectingDispatcher(), asked, {}
    )
    assert topic["topic"] == "why was my claim only partly paid?"


async def test_an_answer_keeps_its_offer_and_a_yes_takes_it(services) -> None:
    from actions.actions import OFFER_SLOT, ActionAnswerQuestion, ActionChatReply, ActionFormIntro

    _, events = await _run(ActionAnswerQuestion(), _tracker("how do i delete my data?", "data_deletion"))
    offered = {e["name"]: e["value"] for e in events}[OFFER_SLOT]
    assert offered == '/start_data_rights_request{"request_type":"deletion"}'
    messages, events = await _run(ActionChatReply(), _tracker("yes please", "affirm", slots={OFFER_SLOT: offered}))
    assert messages == []
    assert [(e["event"], e.get("name"), e.get("value")) for e in events] == [
        ("slot", "request_type", "deletion"), ("followup", "action_form_intro", None)]
    tracker = _tracker("yes please", "affirm", slots={OFFER_SLOT: offered, "request_type": "deletion"})
    messages, events = await _run(ActionFormIntro(), tracker)
    assert {"event": "followup", "name": "data_rights_form"} in [
        {"event": e["event"], "name": e.get("name")} for e in events]
    assert {e.get("name"): e.get("value") for e in events if e["event"] == "slot"}[OFFER_SLOT] is None


async def test_a_no_to_the_offer_clears_it_and_chat_gets_its_response(services) -> None:
    from actions.actions import OFFER_SLOT, ActionChatReply

    messages, events = await _run(ActionChatReply(), _tracker("no thanks", "deny", slots={OFFER_SLOT: "/x"}))
    assert messages[0]["response"] == "utter_anything_else" and events == [
        {"event": "slot", "timestamp": None, "name": OFFER_SLOT, "value": None}]
    messages, events = await _run(ActionChatReply(), _tracker("yes", "affirm"))
    assert messages[0]["response"] == "utter_anything_else" and events == []
    messages, _ = await _run(ActionChatReply(), _tracker("what's the weather tomorrow?", "out_of_scope"))
    assert messages[0]["response"] == "utter_out_of_scope"


async def test_a_follow_up_read_as_out_of_scope_is_answered_on_the_topic_but_ok_is_not(services) -> None:
    """"can the hospital fill something in instead" after the guarantee-of-payment steps
    reads as out of scope to the classifier; it names something and leans on the topic,
    so it is answered about it. "ok great" names nothing and gets its response."""
    from actions.actions import ActionChatReply

    topic = {"topic_question": "what do you need to know for a gop request",
             "topic_passage": "cigna-health-benefits-member-faq#claiming-expenses-4"}
    messages, events = await _run(
        ActionChatReply(), _tracker("can the hospital fill something in instead", "out_of_scope", slots=topic))
    assert "Cost estimate form" in messages[0]["text"], messages
    assert any(e.get("name") == "topic_passage" for e in events)
    messages, _ = await _run(ActionChatReply(), _tracker("ok great", "affirm", slots=topic))
    assert messages[0]["response"] == "utter_anything_else"
    # a cancel with no form running is no follow-up, though it names a word ("forget")
    messages, _ = await _run(ActionChatReply(), _tracker("ugh forget about it", "cancel", slots=topic))
    assert [m.get("response") for m in messages] == ["utter_nothing_to_cancel"]


async def test_a_question_taken_for_one_about_the_assistant_is_answered(services) -> None:
    """"what are your opening hours?" reads as "what are you?" to the classifier: it is
    answered from the documents (here the honest "couldn't find" with our contacts),
    while "are you a real person?" gets the assistant's own answer."""
    from actions.actions import ActionChatReply

    messages, _ = await _run(ActionChatReply(), _tracker("what are your opening hours?", "bot_challenge"))
    assert not any(m.get("response") == "utter_iamabot" for m in messages)
    assert "couldn't find" in messages[0]["text"], messages
    messages, _ = await _run(ActionChatReply(), _tracker("are you a real person?", "bot_challenge"))
    assert [m.get("response") for m in messages] == ["utter_iamabot"]


async def test_a_name_said_early_in_words_the_classifier_takes_for_chat_is_noted(services) -> None:
    """"her name is Anna Berg" at the member ID question reads as out of scope: it is
    noted (masked) as the patient's name, and nothing else is said."""
    from actions.actions import ActionChatReply

    tracker = _tracker("her name is Anna Berg", "out_of_scope", slots={"requested_slot": "member_id"},
                       active_loop="gop_form")
    messages, events = await _run(ActionChatReply(), tracker)
    assert {e["name"]: e["value"] for e in events} == {"patient_name": "Anna Berg", "patient": "dependant"}
    assert len(messages) == 1 and "noted" in messages[0]["text"] and "Anna Berg" not in messages[0]["text"]


async def test_start_one_after_an_unanswered_question_starts_the_request_it_was_about(services) -> None:
    """"ok please start one for me" after a guarantee-of-payment question we could not
    answer is that request, whichever request the classifier guessed."""
    from actions.actions import ActionFormIntro

    asked = "I might need a guarantee of payment next month, how does that work?"
    events = [{"event": "user", "text": asked}, {"event": "user", "text": "ok please start one for me"}]
    tracker = _tracker("ok please start one for me", "start_data_rights_request", events=events)
    messages, result = await _run(ActionFormIntro(), tracker)
    assert "guarantee-of-payment" in messages[0]["text"]
    assert {"event": "followup", "name": "gop_form"} in [
        {"event": e["event"], "name": e.get("name")} for e in result if e["event"] == "followup"]
