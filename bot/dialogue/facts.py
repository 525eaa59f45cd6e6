"""Facts the assistant states in its own messages, quoted from the documents.

Phone numbers, deadlines and contact channels in bot messages must come from the source
documents with a citation, never from text typed into a response template. Each fact
here is found by a phrase that must occur in exactly the passage we mean; the sentence
containing it is quoted, with the passage's citation. A test resolves every fact, so a
changed document fails loudly instead of the bot quoting a stale number.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.knowledge.chunker import Passage, split_sentences

#: fact name -> (document id, phrase that identifies the sentence)
FACTS: dict[str, tuple[str, str]] = {
    "contact_channels": ("cigna-health-benefits-member-faq", "You can contact us by email, by post, or by phone"),
    "response_time": ("cigna-health-benefits-member-faq", "We usually respond to enquiries within two days"),
    "phone_location": ("cigna-health-benefits-member-faq", "You can find our phone number on your personal webpages"),
    "urgent_access_phone": ("cigna-health-benefits-member-faq", "please call us at + 32 3 217 68 68"),
    "login_help_phone": ("cigna-health-benefits-member-faq", "Visit our technical support page or call us at"),
    "gop_turnaround": ("cigna-health-benefits-member-faq", "within 48 hours"),
    "gop_details": ("cigna-health-benefits-member-faq", "We need to know the diagnosis, the planned treatment"),
    "gop_urgent": ("cigna-health-benefits-member-faq", "In case of an urgent admission, please call us"),
    "identity_verification": ("cigna-online-and-mobile-privacy-notice", "we may need to verify your identity"),
    "data_rights_response": (
        "cigna-online-and-mobile-privacy-notice", "We will respond to your request consistent with applicable law"
    ),
    "privacy_email": ("cigna-ihs-data-protection-notice", "send us an email at privacy.europe@cigna.com"),
}


@dataclass(frozen=True)
class Fact:
    """A sentence quoted from a passage, with where it comes from."""

    name: str
    text: str
    passage: Passage

    @property
    def source(self) -> str:
        """Markdown source line: "Source: [Document › Section](url)"."""
        return f"Source: [{self.passage.doc_title} › {self.passage.section_title}]({self.passage.local_url})"

    def citation(self) -> dict:
        """The citation object used in custom payloads for the web chat."""
        return self.passage.citation(self.text)


class FactNotFoundError(LookupError):
    """A fact's phrase no longer occurs in its document: update FACTS."""


class FactBook:
    """Resolves the FACTS table against the loaded passages once, at start-up."""

    def __init__(self, passages: list[Passage]) -> None:
        self.facts: dict[str, Fact] = {}
        for name, (doc_id, phrase) in FACTS.items():
            matches = [p for p in passages if p.doc_id == doc_id and phrase in p.text.replace("\n", " ")]
            if len(matches) != 1:
                raise FactNotFoundError(
                    f"fact {name!r}: phrase {phrase!r} occurs in {len(matches)} passages of {doc_id}, expected 1"
                )
            passage = matches[0]
            sentence = next(
                s.lstrip("• ").strip()
                for s in split_sentences(passage.text)
                if phrase in s.replace("\n", " ")
            )
            self.facts[name] = Fact(name, sentence, passage)

    def __getitem__(self, name: str) -> Fact:
        return self.facts[name]
