"""The retriever on the real index: citations, bands and hostile input."""

from __future__ import annotations

import numpy as np
import pytest

from bot.dialogue.intents import load_intent_answers
from bot.retrieval import normalise_query


def test_faq_question_is_answered_with_its_citation(retriever) -> None:
    answer = retriever.answer("i never received my activation code, where is it?")
    assert answer.band == "answer"
    assert answer.best.passage.doc_id == "cigna-health-benefits-member-faq"
    assert "activation code" in answer.text
    data = answer.to_dict()
    assert data["answered"] is True and data["citations"][0]["section"] == "General information"


def test_answer_leads_with_the_sentence_that_answers(retriever) -> None:
    """The highlight is the passage's own answering sentence, verbatim, without the
    list of what is tracked or a list's lead-in; `bot ask --jsonl` carries it."""
    answer = retriever.answer("does cigna honour do not track signals?")
    assert answer.highlight.startswith("We do not honor a web browser")
    assert "Media Access Control" not in answer.highlight
    # Asked with a word the list of what is collected also has ("browser"), the list
    # still adds nothing the answering sentence lacks.
    browser = retriever.answer("does cigna respect the do not track setting in my browser?")
    assert browser.highlight.startswith("We do not honor a web browser")
    assert "Media Access Control" not in browser.highlight
    assert answer.highlight in answer.best.passage.text
    assert answer.to_dict()["highlight"] == answer.highlight
    gop = retriever.answer("how long does a guarantee of payment take?")
    assert "within 48 hours" in gop.highlight and "please follow these steps" not in gop.highlight
    assert retriever.answer("give me a lasagne recipe").to_dict()["highlight"] == ""


def test_urgent_access_phone_number_comes_from_the_document(retriever) -> None:
    answer = retriever.answer("I need urgent access to my personal webpages, what number do I call?")
    assert answer.answered and "+ 32 3 217 68 68" in answer.text


def test_unrelated_question_is_abstained(retriever) -> None:
    for q in ("what's the weather like in Antwerp tomorrow", "give me a lasagne recipe"):
        answer = retriever.answer(q)
        assert answer.band == "abstain", (q, answer.confidence)
        assert answer.to_dict()["answered"] is False and answer.to_dict()["answer"] == ""


@pytest.mark.parametrize(
    "question",
    ["i never received my activation code, where is it?", "cookies", "what's the weather like in Antwerp tomorrow",
     "how much does a guarantee of payment cost?"],
)
def test_agent_candidates_take_the_bots_own_band(retriever, question: str) -> None:
    """The candidate an agent sees for the passage the bot would cite has the bot's own
    confidence and band (one decision, not a second formula); candidates go most
    confident first."""
    answer = retriever.answer(question)
    candidates = retriever.candidates(question, k=5)
    assert [c.confidence for c in candidates] == sorted((c.confidence for c in candidates), reverse=True)
    same = next(c for c in candidates if c.best.passage.id == answer.best.passage.id)
    assert (same.band, same.confidence) == (answer.band, answer.confidence)


def test_exact_member_term_finds_its_passage(retriever) -> None:
    hits = retriever.search("settlement note", k=3)
    assert hits[0].passage.id == "cigna-health-benefits-member-faq#the-settlement-of-your-claim-2"


def test_hostile_input_never_raises(retriever) -> None:
    for q in (
        "",
        "   ",
        "\x00\x01\x02",
        "a" * 20000,
        "<script>alert(1)</script>",
        "'; DROP TABLE x; --",
        "🙂🙂",
        "保险索赔",
    ):
        answer = retriever.answer(q)
        assert answer.band in {"answer", "clarify", "abstain"}
    assert retriever.answer("").band == "abstain"


def test_answers_carry_up_to_three_citations_best_first(retriever) -> None:
    data = retriever.answer("can I ask Cigna to correct my personal data?").to_dict()
    scores = [c["score"] for c in data["citations"]]
    assert 1 <= len(scores) <= 3 and scores == sorted(scores, reverse=True)
    assert {"title", "section", "url", "text", "score"} <= set(data["citations"][0])


def test_evaluation_sets_name_real_passages_and_cover_every_document(retriever) -> None:
    """Every labelled set stays usable: a renamed passage would silently count as a miss."""
    from bot.evaluation import labelled

    known = {p.id for p in retriever.passages}
    documents = {p.doc_id for p in retriever.passages}
    assert labelled.sets(labelled.HELD_OUT), "no tests/eval/heldout/*.yml"
    for s in [s for s in labelled.sets() if s.language == "en"]:  # other languages: tests/test_language.py
        path, questions, out_of_scope = s.path, s.questions, s.out_of_scope
        least_in, least_out = (150, 25) if s.role == labelled.TUNING else (80, 25)
        labels = [pid for q in questions for pid in q["passages"]]
        assert len(questions) >= least_in and len(out_of_scope) >= least_out, path
        assert set(labels) <= known, (path, sorted(set(labels) - known)[:5])
        assert {pid.split("#")[0] for pid in labels} == documents, path
        assert not {q["q"] for q in questions} & set(out_of_scope), path


def test_one_word_question_gets_options_not_a_guess(retriever) -> None:
    """"privacy" matches passages in four documents strongly; picking one would be a guess."""
    for word in ("privacy", "cookies", "login"):
        answer = retriever.answer(word)
        assert answer.band == "clarify", (word, answer.band, answer.confidence)
        assert len(answer.to_dict()["citations"]) == 3 and answer.to_dict()["answered"] is False
    assert retriever.answer("cant log in").band == "answer"
    # A word our documents never use gets no options to pick from ("weather" is spelt
    # like "whether", which they do use).
    for word in ("weather", "bitcoin"):
        assert retriever.answer(word).band == "abstain", word


def test_the_organisation_a_member_names_decides_whose_answer_comes_first(retriever) -> None:
    """Both Cigna and International SOS say how they use data for marketing; the member's
    words ("isos", "cigna") pick whose answer they get (without the names, a Cigna
    passage ranks first for "isos")."""
    question = "does {} use my data for marketing"
    assert retriever.search(question.format("isos"), k=1)[0].passage.doc_id == "international-sos-privacy-and-cookies"
    assert retriever.search(question.format("cigna"), k=1)[0].passage.doc_id.startswith("cigna-")
    assert retriever.unnamed_passages(question.format("my insurer")) is None
    assert retriever.unnamed_passages("is cigna part of international sos?") is None
    unnamed = retriever.unnamed_passages("what cookies does Int'l SOS use")
    assert unnamed is not None
    assert {p.doc_id for p, out in zip(retriever.passages, unnamed, strict=True) if not out} == {
        "international-sos-privacy-and-cookies"
    }


def test_cigna_international_names_its_own_notice_not_every_cigna_document(retriever) -> None:
    """"cigna" names every Cigna document; "Cigna International" (or CIHS) only those of
    Cigna International Health Services, so the US online notice's answer on marketing
    (California's rights) no longer comes before its own notice's."""
    cigna = {"cigna-ihs-data-protection-notice", "cigna-online-and-mobile-privacy-notice",
             "cigna-website-privacy-policy", "cigna-health-benefits-member-faq"}
    ihs = {"cigna-ihs-data-protection-notice", "cigna-health-benefits-member-faq"}
    assert set(retriever.named_documents("does cigna use cookies")) == cigna
    assert set(retriever.named_documents("what does Cigna International Health Services keep")) == ihs
    assert set(retriever.named_documents("can cihs or isos see it")) == ihs | {"international-sos-privacy-and-cookies"}
    question = "will cigna international use my personal data for marketing without asking me first"
    assert retriever.answer(question).best.passage.id == "cigna-ihs-data-protection-notice#how-we-use-personal-data-1"


def test_an_introduction_that_only_announces_the_answer_gives_way_to_the_passage_after_it(retriever) -> None:
    """The member FAQ opens its contact section with "You can always reach out to us.
    Here's some advice on how to contact us.": asked how to reach us, the member gets the
    channels of the passage after it; asked whether someone is there at night, the
    introduction itself answers ("During the day, or in the middle of the night")."""
    channels = retriever.answer("hey whats the best way to reach u guys?")
    assert channels.best.passage.id == "cigna-health-benefits-member-faq#general-information-2"
    assert "by email, by post, or by phone" in channels.highlight
    night = retriever.answer("can i reach somebody in the middle of the night")
    assert night.best.passage.id == "cigna-health-benefits-member-faq#general-information-1"


def test_a_named_organisation_does_not_drown_what_is_asked(retriever) -> None:
    """In the embedding, "Cigna International Health Services" outweighs what is asked:
    every passage of its notice scores alike. The question is also ranked without the
    name, so the notice's passage on transfers abroad comes first, as it does when the
    member leaves the name out; the name still decides whose notice answers."""
    asked = "could {} send my data to people in another country?"
    abroad = "cigna-ihs-data-protection-notice#how-we-disclose-personal-data-5"
    assert retriever.without_names(asked.format("Cigna International Health Services")) == (
        "could send my data to people in another country?"
    )
    assert retriever.search(asked.format("Cigna International Health Services"), k=1)[0].passage.id == abroad
    assert retriever.search(asked.format("cihs"), k=1)[0].passage.id == abroad
    isos = retriever.search(asked.format("International SOS"), k=1)[0].passage
    assert isos.doc_id == "international-sos-privacy-and-cookies"


def test_the_neighbour_whose_sentence_answers_is_cited(retriever) -> None:
    """Passages cut from one section rank alike: the steps of a guarantee of payment run
    over three, each repeating the section's introduction. Asked what we need for one,
    the ranking puts the first step first; the neighbour whose sentence answers ("We
    need to know the diagnosis, the planned treatment...") is cited. The ranking itself
    (and an agent's candidates) are left as they are."""
    question = "what information do you need from me for a payment guarantee before my hospital stay?"
    ranked = [h.passage.id for h in retriever.search(question, k=3)]
    wanted = "cigna-health-benefits-member-faq#claiming-expenses-4"
    assert ranked[0] != wanted and wanted in ranked
    answer = retriever.answer(question)
    assert answer.answered and answer.best.passage.id == wanted
    assert "the diagnosis, the planned treatment" in answer.highlight
    assert {a.best.passage.id for a in retriever.candidates(question, 3)} == set(ranked)


@pytest.mark.parametrize(
    ("question", "wanted", "fact"),
    [
        ("how do i complain to international sos about how they used my data",
         "international-sos-privacy-and-cookies#how-do-i-resolve-disputes-with-international-1",
         "privacy@internationalsos.com"),
        ("how would i get my data deleted at international sos?",
         "international-sos-privacy-and-cookies#how-can-users-correct-inaccuracies-in-their-2",
         "privacy@internationalsos.com"),
        # the step naming the guarantee most (sent within 48 hours) ranks best
        ("how does the guarantee of payment work?", "cigna-health-benefits-member-faq#claiming-expenses-4",
         "Request a guarantee of payment"),
    ],
)
def test_asked_how_the_tied_passage_giving_the_way_is_cited(retriever, question: str, wanted: str, fact: str) -> None:
    """Asked how to do something, or how something works, of passages of one section
    that rank alike, the one giving the way (an address to write to, the request button)
    is cited, not the one describing the procedure."""
    ranked = [h.passage.id for h in retriever.search(question, k=3)]
    assert ranked[0] != wanted and wanted in ranked
    answer = retriever.answer(question)
    assert answer.answered and answer.best.passage.id == wanted
    assert fact in answer.highlight


def test_asked_what_is_needed_the_highlight_says_what_is_needed(retriever) -> None:
    """Not the sentence naming the form it goes in ("Fill in all the necessary information")."""
    from bot.retrieval.retriever import _ASKS_NEEDED

    passage = retriever.passage("cigna-health-benefits-member-faq#claiming-expenses-4")
    for question in ("what info do you need from me for a guarantee of payment?", "what will you need from me?"):
        assert _ASKS_NEEDED.search(question)
        assert "We need to know the diagnosis" in retriever.highlight(passage, question)
    assert not _ASKS_NEEDED.search("what do you do with my data?")


def test_asked_how_soon_an_answer_comes_the_tied_passage_saying_when_is_cited(retriever) -> None:
    """The deletion passage says what may be kept; the one before it says when Cigna
    responds ("consistent with applicable law")."""
    answer = retriever.answer("how long does Cigna take to respond if I ask them to delete my data?")
    assert answer.answered and answer.best.passage.id == "cigna-online-and-mobile-privacy-notice#your-access-rights-1"
    assert "respond to your request consistent with applicable law" in answer.highlight
    kept = retriever.answer("if you delete my data, is everything really gone?")
    assert kept.best.passage.id == "cigna-online-and-mobile-privacy-notice#your-access-rights-2"


def test_a_question_to_you_naming_nobody_is_answered_by_the_organisation_the_member_talks_to(retriever) -> None:
    """The member talks to Cigna: "how do I ask you to delete my data?" is Cigna's
    procedure, not International SOS's opt-out note, which matches it as well; naming
    International SOS still gets theirs."""
    answer = retriever.answer("how do I ask you to delete my data?")
    assert answer.answered and answer.best.passage.id == "cigna-online-and-mobile-privacy-notice#your-access-rights-1"
    named = retriever.answer("how do I ask International SOS to delete my data?")
    assert named.best.passage.doc_id == "international-sos-privacy-and-cookies"


def test_chat_shorthand_is_written_out(retriever) -> None:
    """"u", "ur" and "gop" are written out before embedding; "U.S." is not "you"."""
    spelt = retriever.synonyms.spell_out("what info do u need for a GOP in the U.S.? thx")
    assert spelt == "what info do you need for a guarantee of payment in the U.S.? thanks"
    assert retriever.synonyms.spell_out("user guide") == "user guide"


def test_members_abbreviations_count_as_words_we_know(retriever) -> None:
    """"isos" was stemmed to "iso", an unknown word, so a plain question about International
    SOS scored as if it were about something we have no text for."""
    spelt = retriever.synonyms.spell_out("must i update ISOS details? whats the intl sos app")
    assert spelt == "must i update International SOS details? whats the international sos app"
    assert retriever.synonyms.spell_out("isosceles crisis") == "isosceles crisis"
    question = "must i update isos details"
    assert retriever.bm25.coverage(retriever.synonyms.spell_out(question), retriever.synonyms) == 1.0
    assert retriever.answer(question).best.passage.doc_id == "international-sos-privacy-and-cookies"


def test_who_inside_the_company_sees_my_data_is_the_access_restriction(retriever) -> None:
    # "inside the company" and "look at" are the notice's "authorized workforce members"
    # and "access" (synonyms.yml), not the employer the data may be disclosed to.
    answer = retriever.answer("and who inside the company can look at my data?")
    assert answer.answered
    assert answer.best.passage.id == "cigna-ihs-data-protection-notice#how-we-protect-your-privacy-1"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<script>alert(1)</script> how do I submit a claim", "how do I submit a claim"),
        ("<img src=x onerror=alert(1)> how do I submit a claim", "how do I submit a claim"),
        ("how do I\x00 submit\x07 a claim\x1b[31m?", "how do I submit a claim ?"),
        ("😀 how do I submit a claim? 🏥", "how do I submit a claim?"),
        ("👍🏽❤️ thanks", "thanks"),
        ("is 3 < 5 days > normal?", "is 3 < 5 days > normal?"),
        ("¿Cómo presento una reclamación?", "¿Cómo presento una reclamación?"),
    ],
)
def test_queries_lose_markup_and_control_codes_but_not_comparisons(raw: str, clean: str) -> None:
    assert normalise_query(raw) == clean


def test_an_intent_covers_only_words_members_use_for_it() -> None:
    answers = load_intent_answers()
    assert answers["claim_submit"].asks_nothing_else("how do I send you a claim for my doctor's bill?")
    assert not answers["claim_reimbursement"].asks_nothing_else("does my plan cover IVF treatment?")
    # ...or words of the passage it answers with.
    assert answers["gop_info"].asks_nothing_else("gop for a hospitalisation", "planned hospitalisation")


def test_the_highlight_keeps_the_sentence_after_the_one_in_the_questions_words() -> None:
    """The passage names the topic in the member's words and answers in the next sentence."""
    from bot.knowledge.chunker import split_sentences
    from bot.retrieval.retriever import highlight_sentences

    sentences = split_sentences(
        "Sometimes, we don't receive an email address for a new plan member. In that case, we send a welcome "
        "letter that includes a new membership card. In this letter, you'll also find your activation code."
    )
    cosines = np.array([0.8, 0.3, 0.2])
    highlight = highlight_sentences(sentences, cosines, "what if you never got my email address?")
    assert highlight.splitlines() == sentences[:2]


def test_a_highlighted_sentence_that_opens_on_the_one_before_brings_it() -> None:
    """"In this letter, you'll also find your activation code." says nothing without the
    sentence naming the letter."""
    from bot.knowledge.chunker import split_sentences
    from bot.retrieval.retriever import highlight_sentences

    sentences = split_sentences(
        "If we have received your email address, you will receive an email with an activation code. "
        "Sometimes, we don't receive an email address for a new plan member. In these cases we send a welcome "
        "letter that includes a new membership card. In this letter, you'll also find your activation code."
    )
    cosines = np.array([0.2, 0.1, 0.1, 0.9])
    highlight = highlight_sentences(sentences, cosines, "where is my activation code?")
    assert highlight.splitlines()[:2] == sentences[2:4]


def test_the_highlight_prefers_the_sentence_stating_the_kind_of_fact_asked() -> None:
    from bot.retrieval.retriever import highlight_sentences

    sentences = [
        "International SOS has offices around the world.",
        "Its assistance centres are staffed day and night.",
        "It operates in over 70 countries.",
    ]
    cosines = np.array([0.62, 0.2, 0.5])
    assert highlight_sentences(sentences, cosines, "how many countries are they in?").startswith("It operates in over")


def test_a_list_item_in_the_highlight_brings_the_rest_of_its_item() -> None:
    from bot.retrieval.retriever import highlight_sentences

    sentences = [
        "Please follow these steps:",
        "• Cigna sends a Guarantee of payment to both you and the provider within 48 hours.",
        "This document mentions whether or not the treatment is covered.",
        "• Upon admission, show your membership card and Guarantee of payment to the provider.",
        "After we settle with the provider, you will receive a settlement note.",
    ]
    cosines = np.array([0.3, 0.5, 0.3, 0.51, 0.4])
    lines = highlight_sentences(sentences, cosines, "what does a guarantee of payment tell me?").splitlines()
    assert lines[:2] == sentences[1:3]


def test_a_question_about_a_case_that_does_not_hold_leads_with_that_case() -> None:
    from bot.retrieval.retriever import highlight_sentences

    sentences = [
        "If we have received your email address, you will receive an email with an activation code.",
        "Sometimes, we don't receive an email address for a new plan member.",
        "In these cases we send a welcome letter that includes a new membership card.",
    ]
    cosines = np.array([0.44, 0.40, 0.26])  # without the bonus: the first two
    highlight = highlight_sentences(sentences, cosines, "and if you never had my email address?")
    assert highlight.splitlines()[:2] == sentences[1:]  # leads with the case (a close runner-up may follow)


@pytest.mark.parametrize(
    ("question", "whole"),
    [
        ("what kind of personal information do you keep about me?", True),
        ("which data does CIHS collect?", True),
        ("do you keep my card number?", False),
    ],
)
def test_a_question_asking_what_a_list_holds_gets_the_whole_list(question: str, whole: bool) -> None:
    from bot.retrieval.retriever import highlight_sentences

    sentences = [
        "The data collected by CIHS include:",
        "• Name, address, email address and birth date;",
        "• Credit or debit card number;",
        "• CIHS ID;",
    ]
    cosines = np.array([0.3, 0.35, 0.6, 0.2])
    assert (highlight_sentences(sentences, cosines, question).splitlines() == sentences) is whole


def test_a_members_own_email_address_does_not_pull_the_question_away(retriever) -> None:
    """The member's address is read as "an email address"; the documents' own are kept."""
    answer = retriever.answer("I registered with raj.patel@gmail.com, where do I find my activation code?")
    assert answer.band == "answer"
    assert answer.best.passage.id == "cigna-health-benefits-member-faq#general-information-4"
    kept = retriever.answer("is privacy.europe@cigna.com the right address for a data request?")
    assert kept.best.passage.id == "cigna-ihs-data-protection-notice#actions-you-may-take-1"


@pytest.mark.parametrize(
    ("question", "passage"),
    [
        ("how do we check if the hospital has a deal with you?",
         "cigna-health-benefits-member-faq#what-to-do-in-case-of-hospitalisation-2"),
    ],
)
def test_members_words_for_a_direct_payment_agreement(retriever, question: str, passage: str) -> None:
    """"a deal with you" is what the FAQ calls an agreement."""
    answer = retriever.answer(question)
    assert answer.band == "answer" and answer.best.passage.id == passage


def test_misspellings_are_corrected_and_abbreviations_only_written_out_for_retrieval(retriever) -> None:
    synonyms = retriever.synonyms
    assert synonyms.respell("what if i never gave you my email adress?") == "what if i never gave you my email address?"
    assert synonyms.respell("does isos have my adress") == "does isos have my address"
    assert synonyms.spell_out("does isos have my adress") == "does International SOS have my address"
    # Whole words only: the French "adresse" stays.
    assert synonyms.respell("quelle est votre adresse ?") == "quelle est votre adresse ?"
