"""Write the forms' slot mappings (domain.yml) and rules (data/rules/form_*.yml) from bot.dialogue.forms.

The three kinds of answer a form takes decide which intents may fill a slot:

* a structured value (member ID, email, phone, date) is taken only from an ``inform``-like
  message: a question (an informational intent or low NLU confidence) is answered from the
  documents and the form asks again;
* free text (names, topic, details, treatment, provider) is taken whatever the NLU makes
  of it, because a topic such as "a question about my claim" is an answer, not a question,
  and a name may read like anything to it ("Alice Martin" as a question, "AZ Klina" as a
  yes); a bare "yes" is refused by the field's validator;
* every slot refuses ``cancel``, ``deny`` and ``human_handoff``: those end the form (except
  the optional estimated cost, where "no" means no estimate).

Run ``.venv/bin/python -m bot.devtools.form_dialogue`` after changing a form; it rewrites the form slots'
block of domain.yml (between its marker comments) and the rule files.
"""

from __future__ import annotations

from bot.dialogue.forms import FORMS
from bot.settings import ROOT

QUESTION_INTENTS = [
    "claim_submit", "claim_status", "claim_reimbursement", "claim_partial_settlement",
    "login_password", "login_activation_code", "login_locked", "login_urgent_access",
    "data_access", "data_correction", "data_deletion", "data_restriction", "data_objection_marketing",
    "data_withdraw_consent", "data_complaint", "contact_phone", "contact_email", "contact_post",
    "contact_response_time", "gop_info", "ask_question",
]
REQUEST_INTENTS = ["start_data_rights_request", "request_guarantee_of_payment", "request_callback"]
ENDING_INTENTS = ["cancel", "deny", "human_handoff"]
CHAT_INTENTS = ["greet", "goodbye", "bot_challenge", "feedback", "thanks"]

#: Slots whose answer is a structured value: questions and low-confidence messages are not answers.
STRUCTURED = {"email", "member_id", "phone_number", "date_of_birth", "admission_date", "contact"}
#: Slots also filled from entities of the same meaning (buttons and regexes).
ENTITIES = {
    "request_type": ["request_type"], "email": ["email"], "member_id": ["member_id"], "phone_number": ["phone_number"],
    "date_of_birth": ["date"], "admission_date": ["date"], "patient": ["patient"], "contact": ["email", "phone_number"],
}
#: Entities that may fill a slot before its form asks (in the request that opens the form).
EARLY = {"request_type", "email", "member_id", "phone_number"}
#: Slots with a closed set of answers given by buttons only.
ENTITY_ONLY = {"request_type"}


def not_intents(slot: str, free_text: bool) -> list[str]:
    """The intents whose message never fills ``slot``."""
    if slot == "preferred_time":  # "Friday afternoon" reads like a greeting to the NLU
        return ENDING_INTENTS + [i for i in CHAT_INTENTS if i != "greet"]
    if free_text:
        return ENDING_INTENTS + CHAT_INTENTS
    if slot == "patient":
        return ENDING_INTENTS + CHAT_INTENTS
    if slot == "estimated_cost":  # "no" and "I don't know" mean no estimate, not stop
        return ["cancel", "human_handoff"]
    out = QUESTION_INTENTS + ENDING_INTENTS + CHAT_INTENTS + ["out_of_scope"] + REQUEST_INTENTS
    return out + (["nlu_fallback"] if slot in STRUCTURED else [])


def request_type_intents() -> dict[str, str]:
    """The data-rights question intents and the kind of request each names."""
    from bot.dialogue.intents import load_intent_answers

    return {name: known.request_type for name, known in load_intent_answers().items() if known.request_type}


def _conditions(slot: str) -> list[str]:
    forms = [name for name, spec in FORMS.items() if slot in spec.slots]
    return [line for form in forms for line in (f"      - active_loop: {form}", f"        requested_slot: {slot}")]


def _intent_list(key: str, intents: list[str]) -> list[str]:
    return [f"      {key}:"] + [f"      - {i}" for i in intents]


def slot_block() -> str:
    """The domain's form slots and their mappings."""
    fields: dict[str, bool] = {}
    for spec in FORMS.values():
        for f in spec.fields:
            fields[f.slot] = fields.get(f.slot, False) or f.free_text
    lines = []
    for slot, free_text in fields.items():
        lines += [f"  {slot}:"]
        if slot == "request_type":
            lines += ["    type: categorical", "    values:"]
            lines += [f"    - {v}" for v in ("access", "correction", "deletion", "restriction", "objection",
                                               "withdraw_consent")]
        else:
            lines += ["    type: text"]
        lines += ["    influence_conversation: false", "    mappings:"]
        for entity in ENTITIES.get(slot, []):
            if slot in EARLY:
                lines += ["    - type: from_entity", f"      entity: {entity}"]
                lines += _intent_list("intent", ["inform", *REQUEST_INTENTS])
            lines += ["    - type: from_entity", f"      entity: {entity}"]
            lines += _intent_list("not_intent", ["cancel", "human_handoff"])
            lines += ["      conditions:", *_conditions(slot)]
        if slot == "request_type":
            # "please delete my data" typed at "What kind of request?": the data-rights
            # question it would be elsewhere names the kind (data/intent_questions.yml).
            for intent, kind in request_type_intents().items():
                lines += ["    - type: from_intent", f"      intent: {intent}", f"      value: {kind}"]
                lines += ["      conditions:", *_conditions(slot)]
        if slot not in ENTITY_ONLY:
            lines += ["    - type: from_text"]
            lines += _intent_list("not_intent", not_intents(slot, free_text))
            lines += ["      conditions:", *_conditions(slot)]
    lines += ["  confirmed:", "    type: text", "    influence_conversation: false", "    mappings:"]
    confirming = [c for spec in FORMS.values() if spec.confirm for c in (
        f"      - active_loop: {spec.name}", "        requested_slot: confirmed")]
    for intent, value in (("affirm", "yes"), ("deny", "no")):
        lines += ["    - type: from_intent", f"      intent: {intent}", f"      value: '{value}'", "      conditions:"]
        lines += confirming
    # "yes submit", "ok submit" and "don't submit" read as a new request to the NLU (its
    # requests are "submitted"): at the confirmation they are the answer, and the
    # validator reads the yes or no in them (validation_flow.check_confirmed).
    lines += ["    - type: from_text", *_intent_list("intent", REQUEST_INTENTS), "      conditions:", *confirming]
    return "\n".join(lines) + "\n"


def forms_block() -> str:
    """The domain's forms and their required slots (a validator may skip some)."""
    lines = ["forms:"]
    for spec in FORMS.values():
        lines += [f"  {spec.name}:", "    required_slots:"] + [f"    - {s}" for s in spec.slots]
    return "\n".join(lines) + "\n"


SUBMIT_ACTION = {
    "data_rights_form": "action_submit_data_rights",
    "gop_form": "action_submit_gop",
    "callback_form": "action_submit_callback",
    "handoff_form": "action_handoff",
}
ACTIVATING_INTENT = {
    "data_rights_form": "start_data_rights_request",
    "gop_form": "request_guarantee_of_payment",
    "callback_form": "request_callback",
    "handoff_form": "human_handoff",
}
CHAT_REPLIES = {
    "feedback": "action_record_feedback",
    "greet": "utter_greet",
    "thanks": "utter_you_are_welcome",
    # action_chat_reply answers a question the classifier took for one of these.
    "bot_challenge": "action_chat_reply",
    "out_of_scope": "action_chat_reply",
}


def _rule(name: str, form: str | None, steps: list[str]) -> list[str]:
    lines = [f"- rule: {name}"]
    if form:
        lines += ["  condition:", f"  - active_loop: {form}"]
    return lines + ["  steps:"] + [f"  - {s}" for s in steps]


def _resume(form: str) -> list[str]:
    return [f"action: {form}", f"active_loop: {form}"]


def _end(first: str) -> list[str]:
    return [f"action: {first}", "action: action_deactivate_loop", "active_loop: null", "action: action_reset_forms"]


def rules(form: str) -> str:
    """Activation, submission, ending and interruptions of one form."""
    intent = ACTIVATING_INTENT[form]
    out = [f"# {form}: generated by bot/devtools/form_dialogue.py from bot/dialogue/forms.py.",
           "# A question is answered and the form asks its question again; stop words end it.",
           "version: '3.1'", "rules:"]
    if form == "handoff_form":
        out += _rule(f"Activate {form}", None, [f"intent: {intent}", "action: action_form_intro", *_resume(form)])
    else:
        out += _rule(f"Activate {form}", None, [f"intent: {intent}", "action: action_form_intro", *_resume(form)])
    out += _rule(f"Submit {form}", form, [
        f"action: {form}", "active_loop: null", "slot_was_set:\n    - requested_slot: null",
        f"action: {SUBMIT_ACTION[form]}", "action: action_reset_forms",
    ])
    out += _rule(f"cancel ends {form}", form, ["intent: cancel", *_end("utter_form_cancelled")])
    out += _rule(f"deny ends {form}", form, ["intent: deny", *_end("utter_form_cancelled")])
    out += _rule(f"goodbye ends {form}", form, ["intent: goodbye", *_end("utter_goodbye")])
    if form == "handoff_form":
        out += _rule(f"human_handoff during {form} goes on with it", form,
                     ["intent: human_handoff", "action: utter_handoff_in_progress", *_resume(form)])
    else:
        out += _rule(f"human_handoff during {form} starts a hand-off", form, [
            "intent: human_handoff", "action: action_deactivate_loop", "active_loop: null",
            "action: action_form_intro", "action: handoff_form", "active_loop: handoff_form",
        ])
    for question in [*QUESTION_INTENTS, "nlu_fallback"]:
        out += _rule(f"Question {question} during {form}", form,
                     [f"intent: {question}", "action: action_answer_question", *_resume(form)])
    for chat, reply in CHAT_REPLIES.items():
        out += _rule(f"{chat} during {form}", form, [f"intent: {chat}", f"action: {reply}", *_resume(form)])
    for request in REQUEST_INTENTS:
        out += _rule(f"{request} while {form} is running", form,
                     [f"intent: {request}", "action: utter_finish_current_form", *_resume(form)])
    for other in ("inform", "affirm"):
        out += _rule(f"Unusable {other} during {form}", form,
                     [f"intent: {other}", "action: utter_form_not_understood", *_resume(form)])
    return "\n".join(out) + "\n"


#: The rule file of each form, in data/rules/.
RULE_FILES = {
    "data_rights_form": "form_data_rights",
    "gop_form": "form_gop",
    "callback_form": "form_callback",
    "handoff_form": "form_handoff",
}


def _replace_between(text: str, start: str, end: str, new: str) -> str:
    i, j = text.index(start), text.index(end)
    return text[: i + len(start)] + "\n" + new + text[j:]


def main() -> None:
    domain = ROOT / "domain.yml"
    text = domain.read_text(encoding="utf-8")
    text = _replace_between(text, "# form slots: begin", "  # form slots: end", slot_block())
    text = _replace_between(text, "# forms: begin", "# forms: end", forms_block())
    domain.write_text(text, encoding="utf-8")
    for form, file in RULE_FILES.items():
        (ROOT / "data" / "rules" / f"{file}.yml").write_text(rules(form), encoding="utf-8")


if __name__ == "__main__":
    main()
