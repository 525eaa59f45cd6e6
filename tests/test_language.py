"""Members in other languages: which language a message is in, answers from the English
passages through the multilingual model, and the labelled sets that measure them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from bot.evaluation import labelled
from bot.language import ANSWERED_LANGUAGES, detect_language
from bot.language.detect import detector


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Comment est-ce que je demande une garantie de paiement ?", "fr"),
        ("Hoe vraag ik een betalingsgarantie aan voor mijn opname?", "nl"),
        ("Wie kann ich meine persönlichen Daten löschen lassen?", "de"),
        ("¿Cómo puedo ponerme en contacto con ustedes?", "es"),
        ("Como posso acompanhar o meu pedido de reembolso?", "pt"),
        ("Come posso contattarvi per una domanda sulla privacy?", "it"),
        ("我怎样才能联系你们？", "zh"),
        ("how do I send you a claim?", "en"),
    ],
)
def test_a_message_in_a_language_is_detected(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize("text", ["gop?", "password reset", "cant log in help", "tell me a joke", "ok", "👍"])
def test_short_english_stays_english(text: str) -> None:
    """Left to all its languages the identifier calls these Pidgin, Afrikaans or Dutch."""
    assert detect_language(text) == "en"


def test_a_short_or_unclear_message_keeps_the_conversation_language() -> None:
    assert detect_language("ok", current="fr") == "fr"
    assert detect_language("yes", current="nl") == "nl"
    assert detect_language("privacy.europe@cigna.com", current="de") == "de"
    # A clear message switches it.
    assert detect_language("Can you tell me how to request a guarantee of payment?", current="fr") == "en"
    assert detect_language("Hoe kan ik jullie bereiken?", current="fr") == "nl"
    # A script of its own switches even when short.
    assert detect_language("谢谢", current="fr") == "zh"


def test_detection_reports_the_guess_and_probability() -> None:
    found = detector().detect("ok merci", current="en")  # two words: too short to switch
    assert found.language == "en" and found.guess != "en" and 0.0 <= found.probability <= 1.0


def test_a_french_question_is_answered_from_the_english_passage(retriever) -> None:
    answer = retriever.answer("Quel est le numéro de téléphone pour activer mon compte en urgence ?", language="fr")
    assert answer.language == "fr" and answer.band == "answer"
    assert answer.best.passage.id == "cigna-health-benefits-member-faq#general-information-5"
    # The highlight is quoted from the English passage, never translated.
    assert "+ 32 3 217 68 68" in answer.highlight and answer.highlight in answer.best.passage.text
    assert answer.to_dict()["language"] == "fr"


def test_a_dutch_out_of_scope_question_is_not_answered(retriever) -> None:
    answer = retriever.answer("Wat voor weer wordt het morgen in Amsterdam?", language="nl")
    assert answer.band == "abstain" and not answer.answered


def test_english_questions_keep_the_english_ranking(retriever) -> None:
    plain = retriever.answer("how fast do you send the guarantee of payment?")
    same = retriever.answer("how fast do you send the guarantee of payment?", language="en")
    assert plain.language == "en" and same.to_dict() == plain.to_dict()


def test_bot_ask_jsonl_gives_the_language(retriever) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--jsonl"],
        input="how do I submit a claim?\nOù trouver les plafonds de remboursement de mon contrat ?\n",
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["language"] for r in rows] == ["en", "fr"]
    assert rows[1]["citations"][0]["id"] == "cigna-health-benefits-member-faq#general-information-6"


def test_every_answered_language_has_a_labelled_set_of_thirty_questions(retriever) -> None:
    sets = [s for s in labelled.sets() if s.language != "en"]
    known = {p.id for p in retriever.passages}
    for s in sets:  # a renamed passage would silently count as a miss
        assert {pid for q in s.questions for pid in q["passages"]} <= known, s.path
        assert not {q["q"] for q in s.questions} & set(s.out_of_scope), s.path
    # Only the near-topic development sets set anything (the cross-lingual thresholds);
    # the rest are held out.
    assert all(s.role == labelled.HELD_OUT or (s.role == labelled.CALIBRATION and not s.questions) for s in sets)
    by_language: dict[str, int] = {}
    for s in sets:  # a language's in-scope questions, over all its sets
        by_language[s.language] = by_language.get(s.language, 0) + len(s.questions)
    for language in ANSWERED_LANGUAGES[1:]:
        assert by_language.get(language, 0) >= 30, language
    assert all(s.out_of_scope for s in sets)


def test_crosslingual_scores_weigh_text_and_best_alternate_question(retriever) -> None:
    """Each passage's score: TEXT_WEIGHT times its text's cosine plus the rest times its
    best alternate question's (-1 for a passage without any), recomputed row by row."""
    from bot.knowledge.index import load_passage_questions
    from bot.language.crosslingual import TEXT_WEIGHT

    cross = retriever.crosslingual
    questions = load_passage_questions(retriever.settings.documents_dir)
    vector = cross.embed("Hoe vraag ik een betalingsgarantie aan voor mijn opname?")
    scores = cross.scores(vector)
    texts = cross.model.passage([p.text for p in cross.passages[:12]])
    for i, passage in enumerate(cross.passages[:12]):
        asked = questions.get(passage.id, [])
        best = float((cross.model.query(asked) @ vector).max()) if asked else -1.0
        assert scores[i] == pytest.approx(TEXT_WEIGHT * float(texts[i] @ vector) + (1 - TEXT_WEIGHT) * best, abs=1e-4)


def test_crosslingual_sentence_vectors_come_with_the_index(retriever) -> None:
    """The highlight reads each passage's sentences embedded at index build: the same
    vectors the model gives them, so answering embeds nothing but the question."""
    from bot.language.crosslingual import passage_sentences

    cross = retriever.crosslingual
    for passage in cross.passages[:: max(len(cross.passages) // 5, 1)]:
        sentences, vectors = cross._sentences[passage.id]
        assert sentences == passage_sentences(passage)
        assert np.allclose(vectors, cross.model.passage(sentences), atol=1e-4)


NEAR_TOPIC_LANGUAGES = ("fr", "nl", "de", "es", "pt", "it", "zh", "ar")


def test_the_cross_lingual_thresholds_are_set_on_questions_in_other_languages(settings) -> None:
    """The cross-lingual retriever answers only questions in other languages than
    English, whose cosines run lower: its thresholds are set on those (the near-topic
    development sets), and the shipped file says so."""
    from bot.language.crosslingual import CONFIDENCE_FILE
    from bot.training.crosslingual import threshold_sets

    chosen = threshold_sets()
    assert chosen and all(s.role == labelled.CALIBRATION and s.language != "en" for s in chosen)
    assert {s.language for s in chosen} == set(NEAR_TOPIC_LANGUAGES)
    shipped = yaml.safe_load((settings.documents_dir / CONFIDENCE_FILE).read_text(encoding="utf-8"))
    assert shipped["fitted"]["thresholds_on"] == [s.where for s in chosen]


def test_near_topic_out_of_scope_sets_cover_eight_languages_with_a_development_twin() -> None:
    """Each language has a development set (the cross-lingual thresholds are set on it)
    and a held-out set of near-topic out-of-scope questions, at least ten each and none
    asked in both."""
    calibration = {s.name: s for s in labelled.sets(labelled.CALIBRATION)}
    held_out = {s.name: s for s in labelled.sets(labelled.HELD_OUT)}
    for language in NEAR_TOPIC_LANGUAGES:
        dev = calibration[f"multilingual-near-topic-dev-{language}.yml"]
        held = held_out[f"multilingual-near-topic-{language}.yml"]
        assert dev.language == held.language == language
        assert len(dev.out_of_scope) >= 10 and len(held.out_of_scope) >= 10
        assert not set(dev.out_of_scope) & set(held.out_of_scope)


def test_the_multilingual_report_shows_out_of_scope_set_by_set(retriever) -> None:
    """Two sets of one language pool into one row per language, and each set keeps its
    own out-of-scope row."""
    from bot.evaluation.multilingual import evaluate_languages, report_section

    sets = {s.name: s for s in labelled.sets(labelled.HELD_OUT)}
    chosen = [sets["multilingual-nl.yml"], sets["multilingual-near-topic-nl.yml"]]
    figures = evaluate_languages(retriever, chosen)
    assert [f.language for f in figures] == ["nl"]
    counts = figures[0].oos_by_set
    assert {w: n for w, (_, n) in counts.items()} == {s.where: len(s.out_of_scope) for s in chosen}
    assert figures[0].oos_abstained == pytest.approx(sum(a for a, _ in counts.values()) / figures[0].out_of_scope)
    section = "\n".join(report_section(figures, chosen))
    for s in chosen:
        abstained, asked = counts[s.where]
        assert f"| `{s.where}` | nl | {asked} | {abstained / asked:.3f} |" in section


def test_the_multilingual_engine_takes_no_more_threads_than_cores_are_free(retriever) -> None:
    from bot.language.crosslingual import free_cores

    model = retriever.crosslingual.model
    assert 1 <= free_cores() <= (os.cpu_count() or 1)
    assert 1 <= model.threads() <= retriever.settings.multilingual_threads
    one = model.query(["Wie kann ich meine persönlichen Daten löschen lassen?"])
    assert one.shape == (1, model.dimension) and np.linalg.norm(one) == pytest.approx(1.0, abs=1e-3)
