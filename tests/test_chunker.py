"""The chunker: structure-following passages that fit the model, with stable ids."""

from __future__ import annotations

from bot.knowledge.chunker import approx_tokens, chunk_document, chunk_documents
from bot.knowledge.documents import Document, load_documents
from bot.knowledge.embedder import get_embedder


def _doc(text: str, shape: str = "faq-text") -> Document:
    return Document("d", "d.txt", "Doc", "Org", "https://example.org/p", "", "faq", shape, text)


def test_passages_fit_the_model_window(settings) -> None:
    passages = chunk_documents(load_documents(settings.documents_dir), settings.max_passage_tokens)
    embedder = get_embedder(settings.embedding_model)
    worst = max(embedder.count_tokens(p.embedding_text()) for p in passages)
    assert worst <= 256
    # The estimate used for cutting never undercounts badly.
    assert all(approx_tokens(p.embedding_text()) >= 0.9 * embedder.count_tokens(p.embedding_text()) for p in passages)


def test_ids_are_unique_and_stable(settings) -> None:
    docs = load_documents(settings.documents_dir)
    first = [p.id for p in chunk_documents(docs, settings.max_passage_tokens)]
    second = [p.id for p in chunk_documents(docs, settings.max_passage_tokens)]
    assert first == second and len(set(first)) == len(first)


def test_long_list_is_split_and_every_part_keeps_the_intro() -> None:
    items = "\n".join(
        f"  • Item number {i} says something fairly long about data sharing and cookies." for i in range(40)
    )
    doc = _doc(f"Section\n\nWe share data with:\n{items}\n")
    passages = chunk_document(doc, max_tokens=120)
    assert len(passages) > 2
    assert all(p.text.startswith("We share data with:") for p in passages)
    assert all(approx_tokens(p.embedding_text()) <= 120 for p in passages)


def test_short_paragraphs_merge_but_faq_answers_stay_apart() -> None:
    doc = _doc(
        "Contact\n\nWrite to us at:\n\nCompany, Street 1, Antwerp.\n\n"
        "Frequently asked questions\n\nAnswer one.\n\nAnswer two.\n"
    )
    passages = chunk_document(doc, max_tokens=200)
    assert passages[0].text == "Write to us at:\nCompany, Street 1, Antwerp."
    assert [p.text for p in passages[1:]] == ["Answer one.", "Answer two."]


def test_links_point_at_the_section_anchor() -> None:
    passages = chunk_document(_doc("Claiming expenses\n\nSend us your claim.\n"), max_tokens=200)
    assert passages[0].url == "https://example.org/p#claiming-expenses-1"
    assert passages[0].local_url == "/documents/d#claiming-expenses-1"
    assert passages[0].id == "d#claiming-expenses-1"


def test_no_navigation_debris_in_passages(settings) -> None:
    passages = chunk_documents(load_documents(settings.documents_dir), settings.max_passage_tokens)
    assert not [p.id for p in passages if "Skip navigation" in p.text or "You are here" in p.text]
