"""Parsers for the three document shapes, on small samples and on the real files."""

from __future__ import annotations

from bot.knowledge.documents import load_documents
from bot.knowledge.parsers import clean_inline, parse


def test_markdown_headings_lists_links_and_debris() -> None:
    text = """> *Archived copy, see [snapshot](https://example.org).*

# Site | Privacy

Skip navigation

You are here:

[Home](https://example.org/en) » Privacy policy

## Data Protection Notice

Intro paragraph about **data**.

###   
Your Individual Rights

You have the following rights regarding your data

  * **Right to access.** You may ask for a copy, see [our form](https://x.org "Form").
  * Right to correct your data.

### 2\\. Contact

Company BVBA  
Some Street 1  
2000 Antwerp
"""
    blocks = parse("markdown", text)
    texts = " ".join(b.text + " ".join(b.items) for b in blocks)
    assert "Skip navigation" not in texts and "You are here" not in texts and "snapshot" not in texts
    rights = [b for b in blocks if b.section == ("Your Individual Rights",)]
    assert rights and rights[0].kind == "list"
    assert rights[0].text == "You have the following rights regarding your data"  # intro kept with items
    assert rights[0].items[0] == "Right to access. You may ask for a copy, see our form."
    contact = [b for b in blocks if b.section == ("Contact",)]  # "2\." numbering removed
    assert contact[0].text == "Company BVBA, Some Street 1, 2000 Antwerp"


def test_pdf_text_bullets_after_glyphs_and_wrapped_lines() -> None:
    text = """ Some Privacy Notice (“Notice”)
Introduction
This notice applies to the operations of the company and its
affiliates. We respect your privacy.
Information We Collect
We collect information that you provide, including:
•
•
•

Name, address, and
birthdate;
Financial and health information; and
Social media account IDs.
How We Use Information
We use it to process claims.
"""
    blocks = parse("pdf-text", text)
    sections = [b.section for b in blocks]
    assert ("Introduction",) in sections and ("How We Use Information",) in sections
    intro = next(b for b in blocks if b.section == ("Introduction",))
    assert (
        intro.text
        == "This notice applies to the operations of the company and its affiliates. We respect your privacy."
    )
    lst = next(b for b in blocks if b.kind == "list")
    assert lst.text.endswith("including:")
    assert lst.items == [
        "Name, address, and birthdate;",
        "Financial and health information; and",
        "Social media account IDs.",
    ]


def test_faq_text_sections_answers_and_numbered_steps() -> None:
    text = """Claiming expenses

Submitting a claim may seem hard.

Frequently asked questions
  • Contact us well in advance.
  • Direct payment is also possible.

To arrange direct payment, please follow these steps:

  1. Log in to your personal webpages.
  2. Click Request a guarantee of payment.
    Please include as many details as possible.
  3. We reply within 48 hours.

Having trouble logging in?

Call us at +32 3 217 68 68.
"""
    blocks = parse("faq-text", text)
    steps = next(b for b in blocks if b.text.startswith("To arrange direct payment"))
    assert steps.kind == "list" and len(steps.items) == 3
    assert steps.items[1] == "Click Request a guarantee of payment. Please include as many details as possible."
    bullets = next(b for b in blocks if b.kind == "list" and not b.text)
    assert bullets.items == ["Contact us well in advance.", "Direct payment is also possible."]
    assert any(b.section == ("Having trouble logging in?",) and "217 68 68" in b.text for b in blocks)


def test_clean_inline_strips_markup_and_spaces_before_punctuation() -> None:
    assert clean_inline('**Bold** [link](http://x "t") admission , or') == "Bold link admission, or"


def test_real_documents_parse_into_sections(settings) -> None:
    for doc in load_documents(settings.documents_dir):
        blocks = parse(doc.shape, doc.text)
        assert len(blocks) >= 5, doc.id
        assert all(b.section for b in blocks), doc.id
        joined = " ".join(b.text + " ".join(b.items) for b in blocks)
        assert "\n•" not in joined and "**" not in joined and "](" not in joined
