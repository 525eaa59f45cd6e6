"""The chat widget in the member's language: its texts from the gettext catalogues, and
the language the member chose in its switch, which reaches Rasa as message metadata.
"""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import ActionSessionStart, member_language
from bot.language.detect import ANSWERED_LANGUAGES, language_choice, start_language
from bot.language.messages import translate
from bot.web.member import WIDGET_TEXTS

OTHER_LANGUAGES = [language for language in ANSWERED_LANGUAGES if language != "en"]


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_widget_text_is_translated_with_its_placeholders(language: str) -> None:
    for text in WIDGET_TEXTS:
        translated = translate(text, language)
        assert translated, (language, text)
        for name in ("%(limit)s", "%(length)s"):
            assert (name in text) == (name in translated), (language, text)


async def test_the_texts_endpoint_gives_the_widget_in_french(client) -> None:
    response = await client.get("/api/chat/texts", params={"language": "fr"})
    assert response.status == 200
    data = await response.json()
    assert data["language"] == "fr"
    assert data["texts"]["Send"] == "Envoyer"
    assert data["texts"]["Show the whole passage"].startswith("Afficher tout le passage")
    assert set(data["texts"]) == set(WIDGET_TEXTS)


@pytest.mark.parametrize("asked", ["en", "zh", "", "../../etc"])
async def test_english_or_a_language_we_do_not_answer_in_gets_english(client, asked: str) -> None:
    data = await (await client.get("/api/chat/texts", params={"language": asked})).json()
    assert data == {"language": "en", "texts": {}}


@pytest.mark.parametrize("language", ["xx", 7, ["fr"]])
async def test_a_message_in_a_language_we_do_not_answer_in_is_a_400(client, language) -> None:
    response = await client.post("/api/chat", json={"message": "how do I claim?", "language": language})
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_field"


def test_the_live_chat_notices_are_widget_texts_with_the_agents_name_kept() -> None:
    """The live service writes its notices in English; the widget shows them from its texts."""
    from bot.live.service import ENDINGS, JOINED, REQUEUED

    for notice in (JOINED, REQUEUED, *ENDINGS.values()):
        assert notice in WIDGET_TEXTS
    assert translate(JOINED % {"agent": "Maria"}, "fr") == "Maria du service aux membres a rejoint la conversation."
    assert translate(ENDINGS["handed_back"] % {"agent": "Tom"}, "es").startswith("Tom le ha devuelto al asistente.")


async def test_the_choice_and_the_browsers_language_reach_rasa_as_metadata(make_client, fake_rasa) -> None:
    client = await make_client()
    for body in ({"message": "hello", "start_language": "fr"}, {"message": "hello", "language": "de"},
                 {"message": "hello"}):
        assert (await client.post("/api/chat", json=body)).status == 200
    assert fake_rasa.metadata == [{"start_language": "fr"}, {"language": "de"}, None]
    refused = await client.post("/api/chat", json={"message": "hello", "start_language": "xx"})
    assert refused.status == 400 and "start_language" in (await refused.json())["message"]


def test_the_choice_is_read_from_the_metadata() -> None:
    assert language_choice({"language": "nl"}) == "nl"
    assert language_choice({"language": "zh"}) is None
    assert language_choice(None) is None and language_choice("fr") is None


def _tracker(*events: dict, slots: dict | None = None) -> Tracker:
    return Tracker("c", slots or {}, {}, list(events), False, None, {}, "action_listen")


def test_a_conversation_starts_in_the_choice_or_the_browsers_language() -> None:
    assert start_language({"start_language": "fr"}) == "fr"
    assert start_language({"language": "de", "start_language": "fr"}) == "de"  # the choice wins
    assert start_language({"start_language": "zh"}) is None and start_language(None) is None


async def test_the_session_starts_with_the_language_slot_set_from_the_first_message() -> None:
    """Rasa fills ``session_started_metadata`` from the message that starts the session;
    the greeting (a response conditioned on the ``language`` slot) then speaks it."""
    slots = {"session_started_metadata": {"start_language": "nl"}, "topic_question": "how do I claim?"}
    events = await ActionSessionStart().run(CollectingDispatcher(), _tracker(slots=slots), {})
    assert [e["event"] for e in events][0] == "session_started"
    assert (events[-1]["event"], events[-1]["name"]) == ("action", "action_listen")
    slot_sets = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slot_sets["language"] == "nl" and slot_sets["topic_question"] == "how do I claim?"
    english = await ActionSessionStart().run(
        CollectingDispatcher(), _tracker(slots={"session_started_metadata": {}}), {}
    )
    assert not any(e["event"] == "slot" and e["name"] == "language" for e in english)


def test_the_member_is_read_from_the_language_the_conversation_started_in() -> None:
    started = {"session_started_metadata": {"start_language": "fr"}}
    assert member_language(_tracker({"event": "user", "text": "/human_handoff"}, slots=started)) == "fr"
    assert member_language(_tracker({"event": "user", "text": "ok"}, slots=started)) == "fr"  # too short to switch
    english = {"event": "user", "text": "How can I reset the password of my online account?"}
    assert member_language(_tracker(english, slots=started)) == "en"  # their own words win


def test_the_members_choice_wins_over_the_language_they_write_in() -> None:
    french = {"event": "user", "text": "Comment puis-je envoyer une demande de remboursement ?"}
    assert member_language(_tracker(french)) == "fr"
    assert member_language(_tracker(french, {**french, "metadata": {"language": "de"}})) == "de"
    # Back on "Automatic": the messages' language again.
    assert member_language(_tracker({**french, "metadata": {"language": "de"}}, french)) == "fr"


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_the_forms_validation_messages_and_summary_are_translated(language: str) -> None:
    from bot.dialogue import validation
    from bot.dialogue.forms import FORMS

    for check, answer in ((validation.validate_email, "marie at example"), (validation.validate_member_id, "12"),
                          (validation.validate_full_name, "R2D2"), (validation.validate_phone, "0470")):
        with pytest.raises(validation.ValidationError) as refused:
            check(answer)
        assert translate(refused.value.message, language), (language, refused.value.message)
    for spec in FORMS.values():
        if spec.name == "handoff_form":
            continue
        values = {f.slot: "x" for f in spec.fields} | {"request_type": "deletion", "patient": "member"}
        for line in spec.summary_lines(values):
            assert translate(line, language), (language, line)
    assert translate("- Request: delete your personal data", "fr") == "- Demande : supprimer vos données personnelles"


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_the_callback_and_handoff_introductions_are_translated(language: str) -> None:
    from bot.dialogue import replies
    from bot.dialogue.forms import FORMS

    for name in ("callback_form", "handoff_form"):
        text = replies.form_intro(FORMS[name], {})["text"]  # these two quote no fact
        for line in text.split("\n"):
            assert translate(line, language), (language, line)
