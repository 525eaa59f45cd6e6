"""The three request forms: which slots, how each is validated, shown and stored.

The Rasa side (domain.yml) lists the slots; this module owns what they mean, so the
action server, the web app and the tests share one definition. Slot values are kept in
the tracker as the normalised strings the validators return.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from bot.dialogue import validation
from bot.privacy import masking as privacy
from bot.retrieval.keywords import terms

if TYPE_CHECKING:
    from bot.retrieval import Retriever

#: How many failed answers to one question before we offer a person or to stop.
MAX_FAILURES = 2

REQUEST_TYPES = {
    "access": "a copy of your personal data (access)",
    "correction": "correct your personal data",
    "deletion": "delete your personal data",
    "restriction": "restrict how we use your personal data",
    "objection": "object to the use of your data for marketing",
    "withdraw_consent": "withdraw your consent",
}


def _request_type(text: object) -> str:
    value = str(text or "").strip().lower().replace(" ", "_")
    if value not in REQUEST_TYPES:
        raise validation.ValidationError(
            "Please choose one of the request types: " + ", ".join(k.replace("_", " ") for k in REQUEST_TYPES) + "."
        )
    return value


#: The words that name each kind of data-rights request in a member's message.
_KIND_WORDS = {
    "deletion": re.compile(r"\b(?:delet\w*|eras\w*|remov\w*|forget me)\b", re.I),
    "correction": re.compile(r"\b(?:correct(?:ed|ing|ion)?|rectif\w*|amend\w*|inaccurate|wrong)\b", re.I),
    "access": re.compile(
        r"\b(?:access|a copy|see (?:what|everything|all)|what (?:data|information) you (?:hold|have|keep))\b", re.I
    ),
    "restriction": re.compile(r"\brestrict\w*\b", re.I),
    "objection": re.compile(r"\bobject(?:ion|ing)?\b|\bmarketing\b", re.I),
    "withdraw_consent": re.compile(r"\bwithdraw\w*\b[^.?!]*\bconsent\b", re.I),
}


def request_type_in(text: str) -> str | None:
    """The kind of data-rights request ``text`` names in so many words ("I'd like to
    request deletion of my personal data"), when it names exactly one."""
    named = [kind for kind, words in _KIND_WORDS.items() if words.search(text)]
    return named[0] if len(named) == 1 else None


_NO_ESTIMATE = re.compile(
    r"\b(skip|unknown|no idea|not sure|don'?t know|do not know|dunno|n/?a|none)\b|^\s*(no|nope|not yet)\W*$", re.I
)


def _cost(text: object) -> str:
    """Optional: "I don't know" and the like mean no estimate, not an invalid answer."""
    if isinstance(text, str) and _NO_ESTIMATE.search(text.replace("’", "'")) and not re.search(r"\d", text):
        return "not given"
    cost = validation.validate_cost(text)
    if cost is None:
        return "not given"
    return f"{cost.amount} {cost.currency}".strip() if cost.currency else str(cost.amount)


#: Who a guarantee of payment is for: the member or one of their dependants.
PATIENTS = {"member": "you (the member)", "dependant": "a dependant"}

_SELF = re.compile(r"\b(?:me|myself|i am|i'm|the member|member|mine|my own)\b", re.I)
_RELATIONSHIPS = {
    "daughter": "daughter", "son": "son", "child": "child", "kid": "child", "baby": "child",
    "wife": "spouse", "husband": "spouse", "spouse": "spouse", "partner": "partner",
}
_RELATIONSHIP = re.compile(r"\b(" + "|".join(_RELATIONSHIPS) + r")s?\b", re.I)


#: A relative named as company, not as the patient: "I live in Milan with my wife".
_WITH = re.compile(r"\bwith (?:my|our)\s+$", re.I)


def relationship_in(text: object) -> str | None:
    """The dependant's relationship to the member named in ``text`` ("my daughter" is
    "daughter", "my wife" is "spouse"), or None. A relative the member is "with" ("I
    live in Milan with my wife. I need a guarantee of payment") is not the patient, and
    several relationships are examples, not one ("A dependant (child, spouse, ...)",
    the patient button's title typed out)."""
    text = str(text or "")
    named = {_RELATIONSHIPS[m.group(1).lower()] for m in _RELATIONSHIP.finditer(text)
             if not _WITH.search(text[:m.start()])}
    return named.pop() if len(named) == 1 else None


def _patient(text: object) -> str:
    """Whether the patient is the member or a dependant, from a button or in words."""
    value = str(text or "").strip().lower().replace("’", "'")
    if value in PATIENTS:
        return value
    if relationship_in(value) or re.search(r"\b(depend[ae]nt|someone else|family member|other person)\b", value):
        return "dependant"
    if _SELF.search(value):
        return "member"
    raise validation.ValidationError(
        "Please tell me who will be treated: you, or a dependant (for example your child)."
    )


def _relationship(text: object) -> str:
    """A dependant's relationship to the member: a known word is normalised, other text kept."""
    return relationship_in(text) or validation.validate_free_text(text, max_len=60)


EMAIL_IN_TEXT = re.compile(r"[^\s<>()\[\],;:]+@[^\s<>()\[\],;:]+")
_PHONE_IN_TEXT = re.compile(r"\+[\d\s().\-/]{7,}\d")
_CONTACT_IN_TEXT = re.compile(f"{EMAIL_IN_TEXT.pattern}|{_PHONE_IN_TEXT.pattern}")


def _contact(text: object) -> str:
    """How to reach the member: an email address or an international phone number, alone
    or in a sentence ("email me at jane@example.com")."""
    value = str(text or "").strip()
    found = EMAIL_IN_TEXT.search(value) or _PHONE_IN_TEXT.search(value)
    value = found.group(0).rstrip(".") if found else value
    try:
        return validation.validate_email(value) if "@" in value else validation.validate_phone(value)
    except validation.ValidationError as exc:
        raise validation.ValidationError(
            "Please give an email address (name@example.com) or a phone number with its country code "
            f"(+32 3 217 68 68). {exc.message}"
        ) from None


#: Digits of a phone number read back to the member who gave it: enough to check it.
READ_BACK_DIGITS = 4


def read_back_phone(value: str) -> str:
    """A phone number masked the way it is read back to the member: ``+32 *** 5678``."""
    return privacy.mask_phone(value, keep=READ_BACK_DIGITS)


def mask_contact(value: str) -> str:
    """An email address or phone number, masked the way it is shown back to the member."""
    return privacy.mask_email(value) if "@" in value else read_back_phone(value)


def _iso(fn: Callable[[object], date]) -> Callable[[object], str]:
    return lambda text: fn(text).isoformat()


def _mask_cost(value: str) -> str:
    return value  # an estimate is not personal data


@dataclass(frozen=True)
class Field:
    """One slot of a form."""

    slot: str
    label: str
    validate: Callable[[object], str]
    mask: Callable[[str], str]
    #: Any sensible text is the answer, whatever intent the NLU sees in it ("a question
    #: about my claim" as the topic of a call back is not a claim question; a name such
    #: as "Alice Martin" can read as a question to it, "AZ Klina" as a yes).
    free_text: bool = False
    #: A question is a sensible answer ("why was my claim rejected?" as the topic of a
    #: call back); for any other field a question is one to answer before asking again.
    question_is_an_answer: bool = False

    def accepts(self, value: object) -> bool:
        """Whether ``value`` is a valid answer to this field."""
        try:
            self.validate(value)
        except validation.ValidationError:
            return False
        return True


@dataclass(frozen=True)
class FormSpec:
    """A request form: its kind in the request store and its fields in order."""

    name: str
    kind: str
    title: str
    fields: tuple[Field, ...]
    confirm: bool = True
    #: What the conversation is about once the form starts, for follow-ups during and
    #: after it ("when will I get the answer?" after a guarantee-of-payment request).
    topic: str = ""

    @property
    def slots(self) -> list[str]:
        """All slots the form fills (the confirmation slot last)."""
        return [f.slot for f in self.fields] + (["confirmed"] if self.confirm else [])

    def field(self, slot: str) -> Field | None:
        """The field for a slot name, if it belongs to this form."""
        return next((f for f in self.fields if f.slot == slot), None)

    def summary_lines(self, values: dict[str, object]) -> list[str]:
        """Masked "label: value" lines, for the confirmation message and logs."""
        lines = []
        for f in self.fields:
            value = values.get(f.slot)
            if value in (None, ""):
                continue
            if f.slot == "request_type":
                shown = REQUEST_TYPES.get(str(value), str(value))
            elif f.slot == "patient":
                shown = PATIENTS.get(str(value), str(value))
            else:
                shown = f.mask(str(value))
            lines.append(f"- {f.label}: {shown}")
        return lines


def _keep(value: str) -> str:
    return value


def _short(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "…"


FORMS: dict[str, FormSpec] = {
    "data_rights_form": FormSpec(
        name="data_rights_form",
        kind="data_rights",
        title="data-protection request",
        topic="my request to Cigna to access, correct or delete my personal information",
        fields=(
            Field("request_type", "Request", _request_type, _keep),
            Field("full_name", "Name", validation.validate_full_name, privacy.mask_name, True),
            Field("email", "Email", validation.validate_email, privacy.mask_email),
            Field("member_id", "Member id", validation.validate_member_id, privacy.mask_member_id),
            Field("date_of_birth", "Date of birth", _iso(validation.validate_birth_date), privacy.mask_date),
            Field(
                "details", "Details", validation.validate_free_text, lambda v: privacy.mask_text(_short(v)), True,
                question_is_an_answer=True,
            ),
        ),
    ),
    "gop_form": FormSpec(
        name="gop_form",
        kind="guarantee_of_payment",
        title="guarantee-of-payment request",
        topic="my guarantee of payment request for a hospital stay",
        fields=(
            Field("member_id", "Member id", validation.validate_member_id, privacy.mask_member_id),
            Field("patient", "Patient", _patient, _keep),
            Field("patient_name", "Patient's name", validation.validate_full_name, privacy.mask_name, True),
            Field("patient_relationship", "Relationship to you", _relationship, _short, True),
            Field("provider", "Hospital or provider", validation.validate_free_text, _short, True),
            Field("admission_date", "Planned admission", _iso(validation.validate_future_date), _keep),
            Field("treatment", "Diagnosis or treatment", validation.validate_free_text, lambda v: "(given)", True),
            Field("estimated_cost", "Estimated cost", _cost, _mask_cost),
            Field("email", "Contact email", validation.validate_email, privacy.mask_email),
        ),
    ),
    "callback_form": FormSpec(
        name="callback_form",
        kind="callback",
        title="callback request",
        fields=(
            Field("full_name", "Name", validation.validate_full_name, privacy.mask_name, True),
            Field("phone_number", "Phone", validation.validate_phone, read_back_phone),
            Field("preferred_time", "Preferred time", validation.validate_preferred_time, _short, True),
            Field(
                "topic", "Topic", validation.validate_free_text, lambda v: privacy.mask_text(_short(v)), True,
                question_is_an_answer=True,
            ),
        ),
    ),
    "handoff_form": FormSpec(
        name="handoff_form",
        kind="handoff",
        title="request to talk to a person",
        fields=(Field("contact", "Contact", _contact, mask_contact),),
    ),
}

#: Slots a form skips: the dependant's name and relationship when the member is the patient.
DEPENDANT_SLOTS = ("patient_name", "patient_relationship")


def required_slots(spec: FormSpec, values: dict[str, object]) -> list[str]:
    """The slots ``spec`` still needs to ask, given what the conversation already holds.

    A guarantee of payment for the member needs no dependant's name; a hand-off needs no
    new contact detail when the member already gave an email address or phone number.
    """
    slots = spec.slots
    if spec.name == "gop_form" and values.get("patient") != "dependant":
        slots = [s for s in slots if s not in DEPENDANT_SLOTS]
    if spec.name == "handoff_form" and (values.get("email") or values.get("phone_number")):
        slots = [s for s in slots if s != "contact"]
    return slots


def contact_of(values: dict[str, object]) -> str | None:
    """The contact detail a hand-off uses: the one asked for, else an email or phone given earlier."""
    for slot in ("contact", "email", "phone_number"):
        if values.get(slot):
            return str(values[slot])
    return None

#: Every slot any form fills (reset after a submission or cancellation).
ALL_FORM_SLOTS = sorted({s for spec in FORMS.values() for s in spec.slots} | {"requested_slot"})


#: The intent that opens each form, for its introduction.
FORM_BY_INTENT = {
    "start_data_rights_request": "data_rights_form",
    "request_guarantee_of_payment": "gop_form",
    "request_callback": "callback_form",
    "human_handoff": "handoff_form",
}


#: The questions whose answer a member may have given earlier in the conversation.
CONTACT_SLOTS = ("email", "phone_number", "contact")


def opening_slots(spec: FormSpec, text: str, earlier: Sequence[str] = ()) -> dict[str, str]:
    """Answers the message opening ``spec`` already gives (:func:`volunteered`): "I need
    a guarantee of payment for my daughter" says the patient is a dependant, the member's
    daughter, so the form asks only the name; "I want to speak to someone, my email is
    lea@example.com" says how to reach the member, so the hand-off asks only to confirm.
    "for me" in a request ("can you request it for me?") says who asks, not who is
    treated: the patient question is still asked. An email address or phone number the
    member gave ``earlier`` in the conversation (the latest last) is not asked for again;
    the confirmation reads it back before anything is sent."""
    found = volunteered(spec, "", text, {})
    if found.get("patient") == "member":
        del found["patient"]
    if "request_type" in spec.slots and (kind := request_type_in(text)):
        found["request_type"] = kind
    for said in reversed(earlier):
        given = volunteered(spec, "", said, found)
        found.update({slot: value for slot, value in given.items() if slot in CONTACT_SLOTS})
    return found


#: "for me", "it's me", "I'm the patient": the member is the patient, said in so many
#: words (a bare "me" or "I'm" in a failed answer may mean anything).
_FOR_SELF = re.compile(
    r"\b(?:for (?:me|myself)|(?:it's|it is|its) (?:me|mine)|i(?:'m| am) the patient|the patient is me|"
    r"(?:just|only) (?:me|myself))\b",
    re.I,
)
#: A name said in so many words: "my name is Jane Doe" (the member), "her name is Anna
#: Berg", "the patient is called Leo Baker" (the patient). Up to four words, up to the end
#: of the clause.
_NAMED = re.compile(
    r"\b(?:(?P<own>my name is|i am called|i'm called)|(?:her|his|their|the patient's|the patients) name is|"
    r"(?:she|he|the patient) is called)\s+(?P<name>[^\W\d_][\w'’-]*(?:\s+[^\W\d_][\w'’-]*){0,3})\s*(?:[,.;!?]|$)",
    re.I,
)


def volunteered(spec: FormSpec, asked: str, text: str, values: dict[str, object]) -> dict[str, str]:
    """Answers to questions of ``spec`` not yet answered that ``text`` gives in a form
    no other answer has, though it was said to another question (``asked``): who the
    patient is ("for my husband" when asked for the member ID), a name said in so many
    words ("her name is Anna Berg"), an email address, a phone number with its country
    code (either is a hand-off's contact). A member who says these early is not refused."""
    text = text.replace("’", "'")
    found: dict[str, str] = {}
    if "patient" in spec.slots and asked != "patient" and not values.get("patient"):
        if relationship := relationship_in(text):
            found = {"patient": "dependant", "patient_relationship": relationship}
        elif _FOR_SELF.search(text):
            found = {"patient": "member"}
    if named := _NAMED.search(text):
        slot = "full_name" if named.group("own") else "patient_name"
        if slot in spec.slots and slot != asked and not values.get(slot):
            try:
                found[slot] = validation.validate_full_name(named.group("name"))
            except validation.ValidationError:
                pass
            else:
                if slot == "patient_name" and not values.get("patient"):
                    found["patient"] = "dependant"  # "her name is ..." names someone else
    for slot, pattern, check in (
        ("email", EMAIL_IN_TEXT, validation.validate_email),
        ("phone_number", _PHONE_IN_TEXT, validation.validate_phone),
        ("contact", _CONTACT_IN_TEXT, _contact),
    ):
        if slot in spec.slots and slot != asked and not values.get(slot) and (match := pattern.search(text)):
            try:
                found[slot] = check(match.group(0).rstrip("."))
            except validation.ValidationError:
                pass
    return found


#: What members call each field when they ask to change it, besides its label: "the
#: number" is the phone in a callback request and the member ID nowhere (a longer name,
#: "member number", wins over a shorter one inside it).
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "request_type": ("request type", "type of request", "kind of request"),
    "full_name": ("name", "full name", "my name"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail"),
    "member_id": ("member id", "member number", "membership number", "member id number", "id", "id number"),
    "date_of_birth": ("date of birth", "birth date", "birthday", "dob", "date"),
    "details": ("details", "description"),
    "patient": ("patient",),
    "patient_name": ("patient's name", "patient name", "name"),
    "patient_relationship": ("relationship",),
    "provider": ("hospital", "clinic", "provider"),
    "admission_date": ("admission date", "date of admission", "admission", "date"),
    "treatment": ("treatment", "diagnosis"),
    "estimated_cost": ("cost", "estimate", "estimated cost", "amount", "price"),
    "phone_number": ("phone", "phone number", "number", "telephone", "telephone number", "mobile"),
    "preferred_time": ("time", "preferred time"),
    "topic": ("topic", "subject"),
    "contact": ("contact", "contact details", "email", "e-mail", "phone", "phone number", "number"),
}
#: Words asking to change an answer already given ("wait, change the phone number",
#: "no, the email is wrong"); "correct" only as a verb: "yes, the name is correct" confirms.
_CHANGE = re.compile(
    r"\b(?:change|fix|edit|update|amend|modify|correct (?:it|that|this|the|my)|wrong|incorrect|mistake|typo|"
    r"not right|isn't right|is not right)\b",
    re.IGNORECASE,
)


def field_to_change(spec: FormSpec, text: str) -> str | None:
    """The slot of ``spec`` that ``text``, said at the confirmation, asks to change: it
    asks for a change and names exactly one field (:data:`FIELD_NAMES` or its label).
    None when it asks for no change or names no field, or several."""
    said = text.replace("’", "'").lower()
    if not _CHANGE.search(said):
        return None
    spans: list[tuple[int, int, str]] = []
    for form_field in spec.fields:
        for name in {form_field.label.lower(), *FIELD_NAMES.get(form_field.slot, ())}:
            spans += [(m.start(), m.end(), form_field.slot) for m in re.finditer(rf"\b{re.escape(name)}\b", said)]
    named = {
        slot for start, end, slot in spans
        if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in spans)
    }
    return named.pop() if len(named) == 1 else None


#: How many of the passages a form's subject retrieves count as about that subject.
SUBJECT_PASSAGES = 3


#: Words that take an offered request without naming one ("yes please, start the
#: request for me", "ok go ahead and file it").
_TAKING_WORDS = frozenset(terms(
    "yes yeah yep sure ok okay please start begin open make file send submit go ahead request form application "
    "apply now thanks thank great right away straight"
))


def takes_the_offer(text: str) -> bool:
    """Whether ``text`` asks for a request without saying which: after an offer, it
    takes the offered one, whatever request the classifier guessed."""
    said = terms(text)
    return bool(said) and all(t in _TAKING_WORDS for t in said)


def form_about(retriever: Retriever, passage_id: str | None) -> FormSpec | None:
    """The request form whose subject a passage is about: the form whose ``topic``
    retrieves it among its best :data:`SUBJECT_PASSAGES` (the guarantee of payment's
    steps and delay, the data-rights passages), or None."""
    if not passage_id:
        return None
    return next(
        (spec for spec in FORMS.values() if spec.topic and passage_id in subject_passages(retriever, spec.topic)),
        None,
    )


#: The request forms' own topics, whose subject passages are searched once per retriever.
_FORM_TOPICS = frozenset(spec.topic for spec in FORMS.values() if spec.topic)
_FORM_SUBJECTS: WeakKeyDictionary[Retriever, dict[str, tuple[str, ...]]] = WeakKeyDictionary()


def subject_passages(retriever: Retriever, topic: str) -> tuple[str, ...]:
    """Ids of the passages about a request's ``topic``, best first: the best
    :data:`SUBJECT_PASSAGES`.

    A form's own topic is searched once per retriever (the forms and the index do not
    change while it lives): every question about a request, and every question asked
    while its form runs, needs them."""
    known = _FORM_SUBJECTS.setdefault(retriever, {}) if topic in _FORM_TOPICS else {}
    if topic not in known:
        known[topic] = tuple(h.passage.id for h in retriever.search(topic, SUBJECT_PASSAGES))
    return known[topic]


def form_for_intent(intent: str | None) -> FormSpec:
    """The form an intent opens. The rules introduce a form only after one of these intents;
    for any other, the callback form."""
    return FORMS[FORM_BY_INTENT.get(intent or "", "callback_form")]
