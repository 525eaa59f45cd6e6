"""What the assistant says: member-facing messages built from answers, facts and forms.

Every message is a dict in the shape rasa-sdk's ``dispatcher.utter_message`` takes
(``text``, ``buttons``, ``json_message``), so the action classes only pass them on and
these functions can be tested without a Rasa server. Facts (numbers, deadlines,
channels) come from :mod:`bot.dialogue.facts`, quoted and cited.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping

from bot.dialogue.context import Reply
from bot.dialogue.facts import Fact, FactBook
from bot.dialogue.forms import FormSpec
from bot.retrieval import Answer, Hit


def intent_payload(intent: str, entities: Mapping[str, str] | None = None) -> str:
    """A button payload that sends ``intent`` with ``entities``: ``/intent{"entity":"value"}``.

    Rasa reads a message that starts with "/" as the intent named after it, and a JSON
    object right after the name as its entities. Compact separators keep the payload
    byte for byte what the stories and the web chat's transcript titles expect.
    """
    if not entities:
        return f"/{intent}"
    return f"/{intent}" + json.dumps(dict(entities), separators=(",", ":"), ensure_ascii=False)


_PAYLOAD = re.compile(r"^/(\w+)(\{.*\})?$", re.S)


def payload_intent(payload: str) -> tuple[str | None, dict[str, str]]:
    """The intent and entities of a button payload (:func:`intent_payload`)."""
    match = _PAYLOAD.match(payload.strip())
    if not match:
        return None, {}
    try:
        entities = json.loads(match.group(2)) if match.group(2) else {}
    except json.JSONDecodeError:
        entities = {}
    return match.group(1), {str(k): str(v) for k, v in entities.items()} if isinstance(entities, dict) else {}


def offered_payload(offer: Mapping | None) -> str | None:
    """The payload of the button that takes a request ``offer`` (:func:`form_offer`)."""
    buttons = (offer or {}).get("buttons") or []
    return str(buttons[0]["payload"]) if buttons else None


HANDOFF_BUTTON = {"title": "Talk to a person", "payload": intent_payload("human_handoff")}
CALLBACK_BUTTON = {"title": "Request a callback", "payload": intent_payload("request_callback")}
CANCEL_REQUEST_BUTTON = {"title": "Cancel this request", "payload": intent_payload("cancel")}


def source_line(hit: Hit) -> str:
    """Markdown "Source: Document › Section" linking to our copy of the passage."""
    p = hit.passage
    return f"Source: [{p.doc_title} › {p.section_title}]({p.local_url})"


def option_labels(hits: list[Hit], lead_words: int = 8, show_document: bool = True) -> list[str]:
    """Titles for "is it about one of these?" options: section (and document), plus the
    passage's own words where two options would otherwise read alike (a long section
    is several passages; the words they share, such as a list's introduction, are
    skipped so that the labels differ)."""
    keys = [(h.passage.section_title, h.passage.doc_id) for h in hits]
    words = [h.passage.text.replace("•", " ").split() for h in hits]
    repeated = Counter(keys)
    labels = []
    for key, own, hit in zip(keys, words, hits, strict=True):
        document = f" ({hit.passage.doc_title})" if show_document else ""
        if repeated[key] == 1:
            labels.append(hit.passage.section_title + document)
            continue
        twins = [w for k, w in zip(keys, words, strict=True) if k == key]
        shared = 0
        while all(len(w) > shared for w in twins) and len({w[shared] for w in twins}) == 1:
            shared += 1
        rest = own[shared:]
        lead = " ".join(rest[:lead_words]) + ("…" if len(rest) > lead_words else "")
        labels.append(f"{hit.passage.section_title}: “{lead}”{document}")
    return labels


def quote(*facts: Fact) -> str:
    """Quote facts followed by their (deduplicated) source lines."""
    sources = list(dict.fromkeys(f.source for f in facts))
    return " ".join(f.text for f in facts) + "\n" + "\n".join(sources)


def citations(*facts: Fact) -> list[dict]:
    """The citation objects of quoted facts, one per passage, for a message's custom
    payload: a message that quotes the documents cites them as an answer does."""
    return list({f.passage.id: f.citation() for f in facts}.values())


def answer_messages(answer: Answer, facts: FactBook, answer_id: int | None) -> list[dict]:
    """The messages for one retrieval result, in its band.

    An answer leads with the sentences of the cited passage that answer the question
    (``answer.highlight``), quoted exactly, then the source. The custom payload carries
    the whole passage (the first citation's ``text``), which the web chat shows under
    the answer on request, and the answer id its thumb buttons send feedback for: no
    "did this help?" question follows every answer.
    """
    if answer.band == "answer" and answer.best:
        best = answer.best
        payload = {
            "type": "answer",
            "answer_id": answer_id,
            "band": answer.band,
            "confidence": round(answer.confidence, 3),
            "highlight": answer.highlight or answer.text,
            "citations": [h.citation() for h in answer.hits[:3]],
        }
        return [{"text": f"{answer.highlight or answer.text}\n{source_line(best)}", "json_message": payload}]
    if answer.band == "clarify":
        options = answer.hits[:3]
        one_document = len({h.passage.doc_id for h in options}) == 1
        buttons = [
            {"title": title, "payload": intent_payload("ask_question", {"passage_id": h.passage.id})}
            for title, h in zip(option_labels(options, show_document=not one_document), options, strict=True)
        ]
        where = f" in the {options[0].passage.doc_title}" if one_document else ""
        return [
            {
                "text": f"I'm not completely sure what you mean. Is it about one of these{where}?",
                "buttons": [*buttons, HANDOFF_BUTTON],
                "json_message": {
                    "type": "clarify",
                    "confidence": round(answer.confidence, 3),
                    "citations": [h.citation() for h in answer.hits[:3]],
                },
            }
        ]
    return abstain_messages(facts)


def turn_messages(replies: list[Reply], facts: FactBook, answer_ids: list[int | None]) -> list[dict]:
    """The messages for a turn's answers (bot/dialogue/answering.py answer_turn). One
    question: its answer in its band (:func:`answer_messages`). Several: each part
    named, answered with its own source, or its own line saying we could not find it,
    and our contact channels once after them if any part was not answered."""
    if len(replies) == 1:
        return answer_messages(replies[0].answer, facts, answer_ids[0])
    messages: list[dict] = []
    missing = False
    for reply, answer_id in zip(replies, answer_ids, strict=True):
        answer = reply.answer
        if answer.answered and answer.best:
            first, *rest = answer_messages(answer, facts, answer_id)
            messages += [{**first, "text": f"**{reply.part}**\n{first['text']}"}, *rest]
        else:
            missing = True
            messages.append({
                "text": f"**{reply.part}**\nI'm sorry, I couldn't find that in our documents, so I'd rather not guess.",
                "json_message": {"type": "abstain", "citations": []},
            })
    if missing:
        messages.append({
            "text": "For what I couldn't answer, you can contact us directly.\n"
            + quote(facts["contact_channels"], facts["phone_location"]),
            "buttons": [HANDOFF_BUTTON, CALLBACK_BUTTON],
        })
    return messages


def abstain_messages(facts: FactBook) -> list[dict]:
    """We do not know: say so, give the contact channels from the FAQ, offer a person."""
    return [
        {
            "text": "I'm sorry, I couldn't find that in our documents, so I'd rather not guess.\n"
            + quote(facts["contact_channels"], facts["phone_location"]),
            "buttons": [HANDOFF_BUTTON, CALLBACK_BUTTON],
            "json_message": {"type": "abstain", "citations": [facts["contact_channels"].citation()]},
        }
    ]


def handoff_message(reference: str, contact: str, facts: FactBook) -> dict:
    """After a hand-off request was stored: who contacts the member, where, and when (quoted)."""
    return {
        "text": f"I've passed our conversation to our member services team (reference **{reference}**). "
        f"A person will read it and contact you at {contact}.\n" + quote(facts["response_time"]),
        "json_message": {"type": "handoff", "reference": reference, "citations": citations(facts["response_time"])},
    }


def not_saved_message(what: str, facts: FactBook) -> dict:
    """A write failed: tell the member plainly, and how else to reach us."""
    return {
        "text": f"I'm sorry, your {what} could **not** be saved because of a technical problem on our side. "
        "Nothing was submitted. Please try again in a few minutes, or contact us directly.\n"
        + quote(facts["contact_channels"], facts["phone_location"]),
        "buttons": [HANDOFF_BUTTON],
        "json_message": {
            "type": "not_saved", "citations": citations(facts["contact_channels"], facts["phone_location"]),
        },
    }


def live_handoff_message() -> dict:
    """The assistant steps aside for a person from member services (the web app queues the
    conversation when it sees the ``live_handoff`` payload)."""
    return {
        "text": "I'm putting you through to a person from our member services team. "
        "You can keep typing while you wait.",
        "json_message": {"type": "live_handoff"},
    }


def form_intro(spec: FormSpec, facts: FactBook) -> dict:
    """What happens with a request, before its questions are asked.

    Deadlines are quoted from the documents with their source; the documents set none
    for data-protection requests beyond "consistent with applicable law", so the message
    states none either.
    """
    if spec.kind == "data_rights":
        text = (
            "I can take your data-protection request here. Before we act on it we check that it is really you "
            "making it.\n" + quote(facts["identity_verification"], facts["data_rights_response"])
        )
    elif spec.kind == "guarantee_of_payment":
        text = (
            "I can send a guarantee-of-payment request for a planned hospital stay.\n"
            + quote(facts["gop_details"], facts["gop_turnaround"], facts["gop_urgent"])
        )
    elif spec.kind == "handoff":
        text = "I can pass our conversation to a person from our member services team."
    else:
        text = "I can ask a member of our team to call you back. I just need a few details."
    return {"text": text + "\nYou can say **cancel** at any time."}


def confirmation_question(spec: FormSpec, values: dict[str, object]) -> dict:
    """The masked summary with yes/no buttons."""
    lines = spec.summary_lines(values)
    return {
        "text": f"Here is your {spec.title}:\n" + "\n".join(lines) + "\nShall I submit it?",
        "buttons": [
            {"title": "Yes, submit", "payload": intent_payload("affirm")},
            {"title": "No, don't submit", "payload": intent_payload("deny")},
        ],
    }


def confirmation_reask() -> dict:
    """The answer to "Shall I submit it?" was neither yes nor no."""
    return {"text": "Please answer yes to submit, or no to stop without submitting."}


def noted(lines: list[str]) -> dict:
    """An answer given before its question (bot/dialogue/forms.py volunteered): kept,
    shown masked, and the question asked is asked again."""
    return {"text": "Thanks, I've noted that:\n" + "\n".join(lines)}


def offer_a_person(handoff: bool = False) -> dict:
    """After repeated invalid answers to a form's question: a person, or leave the form.
    In the request to talk to a person (``handoff``), a person is what is being asked
    for: only leaving is offered."""
    if handoff:
        return {
            "text": "This doesn't seem to be working. You can stop this request and contact us directly instead.",
            "buttons": [CANCEL_REQUEST_BUTTON],
        }
    return {
        "text": "This doesn't seem to be working. Would you like to talk to a person instead, "
        "or stop this request?",
        "buttons": [HANDOFF_BUTTON, CANCEL_REQUEST_BUTTON],
    }


def request_offer(request_type: str) -> dict:
    """After answering a data-rights question: start that request now."""
    return form_offer("start_data_rights_request", {"request_type": request_type})


def form_offer(intent: str, entities: dict | None = None) -> dict:
    """After an answer about a request: a button that starts it (the form itself starts
    only when the member takes the offer)."""
    start = intent_payload(intent, entities)
    return {
        "text": "Would you like to send us this request now?",
        "buttons": [
            {"title": "Start a request", "payload": start},
            {"title": "No, thanks", "payload": intent_payload("deny")},
        ],
    }


def feedback_reply(helpful: bool) -> dict:
    """After thumbs up or down (or typed feedback) on an answer."""
    if helpful:
        return {"text": "Thanks for letting me know! Anything else I can help with?"}
    return {
        "text": "Sorry that didn't help. You can rephrase your question, or talk to a person.",
        "buttons": [HANDOFF_BUTTON, CALLBACK_BUTTON],
    }


def submitted_message(spec: FormSpec, reference: str, due: str, facts: FactBook) -> dict:
    """After a request was committed to the store (never before).

    ``due`` is our own service target from the request store, worded as ours: the
    documents give no deadline for data-protection requests or call backs.
    """
    text = f"Your {spec.title} has been submitted. Your reference is **{reference}**"
    quoted: tuple[Fact, ...] = ()
    if spec.kind == "data_rights":
        quoted = (facts["data_rights_response"],)
        text += (
            f". We may contact you to verify your identity first. We aim to reply by **{due}** "
            "(our own service target).\n" + quote(*quoted)
        )
    elif spec.kind == "guarantee_of_payment":
        quoted = (facts["gop_turnaround"],)
        text += ".\n" + quote(*quoted)
    else:
        text += f". We aim to call you back by **{due}** (our own service target)."
    payload = {"type": "submitted", "reference": reference, "kind": spec.kind, "citations": citations(*quoted)}
    return {"text": text, "json_message": payload}
