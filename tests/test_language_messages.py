"""The bot's own words in the member's language: hand-written gettext catalogues, quotes
kept in English after a note, and English with a line on our languages elsewhere."""

from __future__ import annotations

import re

import pytest

from bot.dialogue import replies
from bot.dialogue.facts import FactBook
from bot.language import ANSWERED_LANGUAGES, localise
from bot.language.messages import LANGUAGES_LINE, QUOTE_NOTE, catalogue, translate

TRANSLATED = ANSWERED_LANGUAGES[1:]


def test_every_language_translates_every_sentence() -> None:
    english = set(catalogue("fr"))
    assert QUOTE_NOTE in english and len(english) >= 15
    for language in TRANSLATED:
        table = catalogue(language)
        assert set(table) == english, language
        for msgid, msgstr in table.items():
            assert msgstr != msgid
            # Placeholders (an English title, a kind of request) survive translation.
            assert sorted(re.findall(r"%\(\w+\)s", msgstr)) == sorted(re.findall(r"%\(\w+\)s", msgid))
            # Markdown emphasis too ("could **not** be saved").
            assert msgstr.count("**") == msgid.count("**")


@pytest.fixture(scope="module")
def facts(retriever) -> FactBook:
    return FactBook(retriever.passages)


def test_the_catalogues_match_the_english_the_bot_says(facts: FactBook) -> None:
    """Each English sentence of the catalogue is one replies.py really produces: a
    reworded English message would otherwise go out untranslated."""
    said = [
        *replies.abstain_messages(facts),
        replies.feedback_reply(True),
        replies.feedback_reply(False),
        replies.form_offer("request_callback"),
        replies.offer_a_person(),
        replies.not_saved_message("callback request", facts),
    ]
    lines = {line for m in said for line in m["text"].split("\n")}
    titles = {b["title"] for m in said for b in m.get("buttons", [])}
    for sentence in ("I'm sorry, I couldn't find that in our documents, so I'd rather not guess.",
                     "Thanks for letting me know! Anything else I can help with?",
                     "Would you like to send us this request now?"):
        assert sentence in lines and translate(sentence, "de")
    for title in ("Talk to a person", "Request a callback", "Start a request", "No, thanks", "Cancel this request"):
        assert title in titles and translate(title, "pt")
    not_saved = replies.not_saved_message("callback request", facts)["text"].split("\n")[0]
    assert translate(not_saved, "it").startswith("Mi dispiace, la sua richiesta (richiesta di essere richiamato)")


def test_an_answer_quotes_the_english_passage_after_a_note(retriever, facts: FactBook) -> None:
    answer = retriever.answer("Quel est le numéro de téléphone pour activer mon compte en urgence ?", language="fr")
    [message] = localise(replies.answer_messages(answer, facts, 7), "fr")
    lines = message["text"].split("\n")
    assert lines[0] == "Voici ce que dit notre document (en anglais) :"
    assert "\n".join(lines[1:-1]) == answer.highlight  # word for word, in English
    assert lines[-1].startswith("Source : [Cigna Health Benefits")
    assert message["json_message"]["language"] == "fr" and message["json_message"]["answer_id"] == 7


def test_an_abstention_in_dutch_keeps_the_quoted_contact_facts(facts: FactBook) -> None:
    [message] = localise(replies.abstain_messages(facts), "nl")
    lines = message["text"].split("\n")
    assert lines[0] == "Sorry, dat heb ik niet gevonden in onze documenten, en ik gok liever niet."
    assert lines[1] == "Dit staat er in ons document (in het Engels):"
    english = replies.abstain_messages(facts)[0]["text"].split("\n")
    assert lines[2:-1] == english[1:-1]  # the facts, untouched
    assert [b["title"] for b in message["buttons"]] == ["Met een medewerker praten", "Terugbelverzoek"]


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_guarantee_of_payment_intro_translates_its_own_words_and_quotes_the_facts(
    facts: FactBook, language: str
) -> None:
    from bot.dialogue.forms import FORMS

    english = replies.form_intro(FORMS["gop_form"], facts)["text"].split("\n")
    [message] = localise([replies.form_intro(FORMS["gop_form"], facts)], language)
    lines = message["text"].split("\n")
    assert lines[0] == translate(english[0], language) and lines[1] == translate(QUOTE_NOTE, language)
    assert lines[2] == english[1] and facts["gop_turnaround"].text in lines[2]  # the facts, in English
    assert lines[-1] == translate("You can say **cancel** at any time.", language)
    sources = [line for line in lines if line.startswith(translate("Source:", language) + " [")]
    assert len(sources) == len([line for line in english if line.startswith("Source: [")]) > 0


def test_a_language_we_do_not_speak_gets_english_and_our_languages(facts: FactBook) -> None:
    english = replies.abstain_messages(facts)
    [message] = localise(english, "zh")
    assert message["text"] == LANGUAGES_LINE + "\n" + english[0]["text"]
    assert localise(english, "en") is english


def test_a_request_summary_gets_no_document_note() -> None:
    """Only a message quoting a document (it has a "Source:" line) gets the note."""
    [message] = localise([{"text": "Here is your data-protection request:\n- Name: M*** D***\nShall I submit it?",
                           "buttons": [{"title": "Yes, submit", "payload": "/affirm"}]}], "fr")
    # The label is translated, the masked value kept as it is.
    assert message["text"] == "Voici votre demande relative à vos données :\n- Nom : M*** D***\nDois-je l'envoyer ?"
    assert message["buttons"][0]["title"] == "Oui, envoyer"


def test_the_data_rights_form_asks_its_questions_in_every_language() -> None:
    """Rasa asks a form's questions from domain.yml: each has a variant for the `language`
    slot's value in every language we answer in, and the English one as the default."""
    import yaml

    from bot.settings import ROOT

    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    responses = domain["responses"]
    assert "language" in domain["slots"]
    for name in ("utter_ask_request_type", "utter_ask_full_name", "utter_ask_data_rights_form_email",
                 "utter_ask_member_id", "utter_ask_date_of_birth", "utter_ask_details", "utter_form_cancelled"):
        variants = responses[name]
        languages = [v["condition"][0]["value"] for v in variants if v.get("condition")]
        assert sorted(languages) == sorted(TRANSLATED), name
        assert "condition" not in variants[-1], name  # English when no language is set
        texts = [v["text"] for v in variants]
        assert len(set(texts)) == len(texts), name
