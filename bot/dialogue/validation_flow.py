"""Checking a form's answers turn by turn: keep a valid answer, re-ask politely, offer a person.

The field validators in :mod:`bot.dialogue.validation` judge one value; this module adds
what the conversation needs around them: a value mentioned in passing while another
question was asked does not overwrite a valid answer already given, and after
:data:`~bot.dialogue.forms.MAX_FAILURES` failed answers in a row the member is offered a
person. The functions take plain values (the tracker's slots and events) and return the
slots to set and the messages to send, so the action server only passes them on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue import replies
from bot.dialogue.forms import MAX_FAILURES, FormSpec, relationship_in, volunteered
from bot.dialogue.validation import ValidationError

#: The slot counting failed answers in a row (a float, as Rasa stores it).
FAILURES_SLOT = "validation_failures"


@dataclass(frozen=True)
class SlotCheck:
    """What checking one answer decided: slot values to set and messages to send
    (dicts in the shape ``dispatcher.utter_message`` takes)."""

    slots: dict[str, Any]
    messages: list[dict] = field(default_factory=list)


def previous_value(events: Iterable[Mapping[str, Any]], slot: str) -> Any:
    """The value a slot held before the member's latest message (None if none).

    Slot events after the latest user message are candidates extracted from it (there
    may be several, one per matching mapping); the last one before it is what the slot
    held until now.
    """
    value: Any = None
    held: Any = None
    for event in events:
        if event.get("event") == "user":
            held = value
        elif event.get("event") == "slot" and event.get("name") == slot:
            value = event.get("value")
    return held


def check_slot(
    spec: FormSpec,
    slot: str,
    value: Any,
    *,
    requested_slot: str | None,
    events: Iterable[Mapping[str, Any]],
    failures: Any,
    values: Mapping[str, Any] | None = None,
    intent: str | None = None,
) -> SlotCheck:
    """Validate the candidate ``value`` for ``slot`` of the form ``spec``.

    ``requested_slot`` is the question the form asked, ``events`` the conversation so far
    and ``failures`` the current value of the failure counter slot; ``values`` are the
    form's slots so far, ``intent`` the NLU's intent for the message. A valid value is
    stored normalised and resets the counter. A no the question cannot take ("no thanks"
    at the optional cost, where "no" means no estimate: only such a question sees a deny)
    ends the form unsubmitted: the requested slot is cleared. An
    invalid one mentioned in passing (digits in a topic look like a phone number) keeps
    the answer already given; one that answers another question of the form ("for my
    husband" when asked for the member ID: forms.volunteered) fills that one and the
    question is asked again, with no failure counted; otherwise it is refused with the
    validator's message, the counter goes up, and at
    :data:`~bot.dialogue.forms.MAX_FAILURES` the member is offered a person.
    """
    checked = spec.field(slot)
    if checked is None or value is None:
        return SlotCheck({slot: value})
    said = next((e.get("text") for e in reversed(list(events)) if e.get("event") == "user"), None)
    answered = said if requested_slot == slot else None
    try:
        slots = {slot: _validate(checked.validate, value, answered), FAILURES_SLOT: None}
    except ValidationError as exc:
        if intent == "deny" and requested_slot == slot:
            return SlotCheck({slot: None, "requested_slot": None})
        if requested_slot and requested_slot != slot:
            previous = previous_value(events, slot)
            if previous is not None:
                return SlotCheck({slot: previous})
        if given := volunteered(spec, slot, str(value), dict(values or {})):
            return SlotCheck({slot: None, **given}, [replies.noted(spec.summary_lines(given))])
        count = int(failures or 0) + 1
        messages = [{"text": exc.message}]
        if count >= MAX_FAILURES:
            messages.append(replies.offer_a_person(handoff=spec.kind == "handoff"))
        return SlotCheck({slot: None, FAILURES_SLOT: float(count)}, messages)
    if slot == "patient" and slots[slot] == "dependant":
        # "my daughter" says who the patient is and how they are related: ask only the name
        if relationship := relationship_in(value) or relationship_in(said):
            slots["patient_relationship"] = relationship
    return SlotCheck(slots)


def _validate(validate: Callable[[Any], Any], value: Any, said: str | None) -> Any:
    """``value`` validated; when it fails, the whole message ``said`` in answer to the
    question: the NLU may extract a part of it as the entity ("next" of "next Friday")."""
    try:
        return validate(value)
    except ValidationError as first:
        if not said or said == value:
            raise
        try:
            return validate(said)
        except ValidationError:
            raise first from None


#: A typed answer to "Shall I submit it?" that the NLU took for something else ("yes
#: submit", "ok submit", "don't submit" read as a new request): a no is looked for first.
_NO = re.compile(r"\b(?:no|nope|not|don'?t|do not|stop|cancel)\b", re.I)
_YES = re.compile(r"\b(?:yes|yep|yeah|ok(?:ay)?|sure|submit|send|confirm(?:ed)?|correct|go ahead)\b", re.I)


def check_confirmed(value: Any, requested_slot: str | None = "confirmed") -> SlotCheck:
    """The answer to the confirmation question: "yes" or "no", anything else is asked
    again. An empty value before the question was asked is the form's start clearing an
    earlier request's answer: nothing to say."""
    if isinstance(value, str) and value not in ("yes", "no"):
        value = _NO.search(value) and "no" or _YES.search(value) and "yes" or value
    if value in ("yes", "no"):
        return SlotCheck({"confirmed": value})
    if value is None and requested_slot != "confirmed":
        return SlotCheck({"confirmed": None})
    return SlotCheck({"confirmed": None}, [replies.confirmation_reask()])
