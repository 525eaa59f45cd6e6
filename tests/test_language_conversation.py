"""Follow-ups and two-part questions in the languages we answer in besides English: the
English reading of a conversation (bot/dialogue/context.py) with each language's words
(bot/language/conversation.yml), answered from the English passages."""

from __future__ import annotations

import pytest

from bot.dialogue.context import Topic, combined_question, is_follow_up, next_topic, split_questions
from bot.language import ANSWERED_LANGUAGES
from bot.language.conversation import answer_in_language, conversation_words, folded

OTHER_LANGUAGES = [language for language in ANSWERED_LANGUAGES if language != "en"]


def _follow_up(text: str, language: str) -> bool:
    words = conversation_words(language)
    assert words is not None
    return is_follow_up(folded(text), words.opener, words.pointer, words.generic)


def _split(text: str, language: str) -> list[str]:
    words = conversation_words(language)
    assert words is not None
    return split_questions(text, words.split, words.question_start)


def test_every_language_we_answer_in_has_its_words() -> None:
    assert all(conversation_words(language) is not None for language in OTHER_LANGUAGES)
    assert conversation_words("zh") is None


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("fr", "et par email ?"), ("fr", "Combien de temps cela prend-il ?"), ("fr", "ok, et si c'est urgent ?"),
        ("nl", "en per post?"), ("nl", "hoe lang duurt dat?"),
        ("de", "und per Post?"), ("de", "wie lange dauert das?"),
        ("es", "¿y por correo electrónico?"), ("es", "¿cuánto tarda eso?"),
        ("pt", "e por email?"), ("pt", "quanto tempo demora isso?"),
        ("it", "e per email?"), ("it", "quanto tempo ci vuole per questo?"),
    ],
)
def test_a_short_message_that_continues_or_points_back_is_a_follow_up(language: str, text: str) -> None:
    assert _follow_up(text, language)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("fr", "Comment puis-je soumettre une demande de remboursement pour mes lunettes ?"),
        ("fr", "Mon employeur voit-il mes données médicales ?"),
        ("de", "Wie reiche ich eine Arztrechnung ein?"),
        ("es", "¿Cómo restablezco mi contraseña de la aplicación móvil?"),
        ("nl", "Wie kan mijn medische gegevens zien?"),
    ],
)
def test_a_question_of_its_own_is_no_follow_up(language: str, text: str) -> None:
    assert not _follow_up(text, language)
    assert not is_follow_up(text)  # nor in English


def test_two_questions_are_cut_at_the_conjunction_before_a_question_word() -> None:
    assert _split("¿Cómo restablezco mi contraseña y cuánto tarda una garantía de pago?", "es") == [
        "¿Cómo restablezco mi contraseña?", "cuánto tarda una garantía de pago?"
    ]
    assert _split("¿Cómo restablezco mi contraseña? ¿Y cuánto tarda una garantía de pago?", "es") == [
        "¿Cómo restablezco mi contraseña?", "cuánto tarda una garantía de pago?"
    ]
    assert _split("Comment vous joindre par téléphone et combien de temps dure une garantie de paiement ?", "fr") == [
        "Comment vous joindre par téléphone?", "combien de temps dure une garantie de paiement ?"
    ]
    assert len(_split("Wie reiche ich eine Rechnung ein und wann bekomme ich mein Geld?", "de")) == 2


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("es", "¿Dónde envío las facturas y los recibos de mi hija?"),  # "y" before no question word
        ("fr", "Comment envoyer mes factures et mes ordonnances ?"),
        ("it", "Come posso inviare fatture e ricevute?"),
    ],
)
def test_one_question_joining_two_things_is_not_cut(language: str, text: str) -> None:
    assert _split(text, language) == [text]


def test_a_french_follow_up_is_answered_about_the_previous_topic(retriever) -> None:
    first = answer_in_language(retriever, "Comment puis-je vous contacter par téléphone ?", None, "fr")
    topic = next_topic(first, None)
    assert topic is not None and topic.passage_id
    [reply] = answer_in_language(retriever, "et par email ?", topic, "fr")
    assert reply.follow_up and reply.answer.answered and reply.answer.language == "fr"
    assert "by email" in reply.answer.highlight
    assert reply.answer.question.startswith("Comment puis-je vous contacter par téléphone ?")  # the combined question
    # Without the topic it is the same words, read alone.
    [alone] = answer_in_language(retriever, "et par email ?", None, "fr")
    assert not alone.follow_up and alone.answer.question == "et par email ?"


def test_a_follow_up_naming_nothing_keeps_the_previous_passage_when_it_ranks(retriever) -> None:
    """"combien de temps cela prend-il ?" is about what was just answered: of the passages
    the combined question ranks, the previous turn's is cited, with its own sentences."""
    question, follow_up = "Comment puis-je vous contacter par téléphone ?", "combien de temps cela prend-il ?"
    combined = retriever.answer(combined_question(Topic(question), follow_up), language="fr")
    assert combined.answered and len(combined.hits) > 1
    previous = combined.hits[1].passage  # ranked, but not first
    [reply] = answer_in_language(retriever, follow_up, Topic(question, previous.id), "fr")
    assert reply.follow_up and reply.answer.answered and reply.answer.best.passage.id == previous.id
    assert reply.answer.highlight and all(line in previous.text for line in reply.answer.highlight.split("\n"))
    # A follow-up naming a topic of its own is answered from the combined question's best.
    [named] = answer_in_language(retriever, "et pour les remboursements ?", Topic(question, previous.id), "fr")
    assert named.follow_up and named.answer.best and named.answer.best.passage.id != previous.id


@pytest.mark.parametrize("text", ["est-ce que c'est gratuit ?", "où dois-je envoyer ça ?"])
def test_a_french_message_pointing_back_is_a_follow_up(text: str) -> None:
    assert _follow_up(text, "fr")


def test_a_spanish_two_part_question_gets_an_answer_for_each_part(retriever) -> None:
    replies = answer_in_language(
        retriever,
        "¿Cuál es el número de teléfono para activar mi cuenta en caso de urgencia y cómo puedo contactar con ustedes?",
        Topic("how do I submit a claim?", None),
        "es",
    )
    assert [r.part for r in replies] == [
        "¿Cuál es el número de teléfono para activar mi cuenta en caso de urgencia?",
        "cómo puedo contactar con ustedes?",
    ]
    assert all(r.answer.answered and r.answer.best and r.answer.language == "es" for r in replies)
    assert "+ 32 3 217 68 68" in replies[0].answer.highlight


@pytest.mark.parametrize(
    ("language", "question", "follow_up", "wanted"),
    [
        ("de", "Wie lange braucht International SOS, um meine Daten zu korrigieren?", "und bei einer Beschwerde?",
         "international-sos-privacy-and-cookies#how-do-i-resolve-disputes-with-international-4"),
        ("es", "¿Puedo elegir mi hospital?", "¿y en caso de accidente?",
         "cigna-health-benefits-member-faq#claiming-expenses-2"),
    ],
)
def test_a_follow_up_naming_its_own_topic_is_not_drowned_by_the_previous_question(
    retriever, language: str, question: str, follow_up: str, wanted: str
) -> None:
    """The combined question's vector leans on the previous question: a follow-up naming
    a topic of its own (a complaint after a correction, an accident after choosing a
    hospital) is ranked on its own words as much, and gets that topic's passage."""
    first = answer_in_language(retriever, question, None, language)
    topic = next_topic(first, None)
    assert topic is not None and topic.passage_id != wanted
    [reply] = answer_in_language(retriever, follow_up, topic, language)
    assert reply.follow_up and reply.answer.answered and reply.answer.best.passage.id == wanted
    assert reply.answer.highlight and all(line in reply.answer.best.passage.text
                                          for line in reply.answer.highlight.split("\n"))


@pytest.mark.parametrize(
    ("language", "text", "questions"),
    [
        ("fr", "Bonjour, puis-je choisir mon hôpital ? Et que faire en cas d'accident ?",
         ["puis-je choisir mon hôpital?", "que faire en cas d'accident ?"]),
        ("de", "Hallo, kann ich mein Krankenhaus wählen? Und was mache ich bei einem Notfall?",
         ["kann ich mein Krankenhaus wählen?", "was mache ich bei einem Notfall?"]),
    ],
)
def test_a_two_part_message_after_a_greeting_is_cut_and_its_second_part_read_with_the_first(
    retriever, language: str, text: str, questions: list[str]
) -> None:
    """A greeting before the first question does not keep the message whole, and "and
    what do I do in an accident?" after choosing a hospital is about being admitted."""
    replies = answer_in_language(retriever, text, None, language)
    assert [r.part for r in replies] == questions
    assert [r.answer.best.passage.id for r in replies] == [
        "cigna-health-benefits-member-faq#what-to-do-in-case-of-hospitalisation-2",
        "cigna-health-benefits-member-faq#claiming-expenses-2",
    ]


@pytest.mark.parametrize(
    ("language", "question", "follow_up"),
    [
        ("de", "Ich habe keinen Aktivierungscode bekommen, was nun?", "und wenn es dringend ist?"),
        ("nl", "Ik heb geen activeringscode ontvangen, wat nu?", "en als het dringend is?"),
        ("es", "No he recibido ningún código de activación, ¿qué hago?", "¿y si es urgente?"),
    ],
)
def test_an_urgent_follow_up_gets_the_urgent_case(retriever, language: str, question: str, follow_up: str) -> None:
    """Urgency names a case of its own, as "and if it's urgent?" does in English: after
    the activation code, the FAQ's urgent access to the personal webpages."""
    topic = next_topic(answer_in_language(retriever, question, None, language), None)
    assert topic is not None and topic.passage_id.endswith("#general-information-4")
    [reply] = answer_in_language(retriever, follow_up, topic, language)
    assert reply.follow_up and reply.answer.answered
    assert reply.answer.best.passage.id.endswith("#general-information-5")
    assert "urgent access" in reply.answer.highlight


def test_the_words_files_lists_are_words() -> None:
    """YAML reads a bare on, no, yes or off as a boolean: every word must stay a string."""
    import yaml

    from bot.language.conversation import WORDS_FILE

    data = yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8"))
    assert all(isinstance(word, str) for entry in data.values() for words in entry.values() for word in words)


def test_a_question_after_sentences_of_context_is_ranked_on_its_own_words_too(retriever) -> None:
    """"Hallo, ich bin beruflich in Nigeria und nutze die International SOS App. Wofür
    wird mein Standort verwendet?": the sentences about the member weigh no more than the
    question they lead to."""
    [reply] = answer_in_language(
        retriever,
        "Hallo, ich bin beruflich in Nigeria und nutze die International SOS App. Wofür wird mein Standort "
        "verwendet?",
        None,
        "de",
    )
    assert reply.answer.answered
    assert reply.answer.best.passage.id == "international-sos-privacy-and-cookies#how-the-personal-data-will-be-used-3"
