"""Cut parsed blocks into passages: the unit we embed, retrieve and cite.

Passages follow the documents' own structure: an FAQ answer, a paragraph (short
neighbours merged, so an address line stays with the sentence that announces it), or a
coherent run of list items with the sentence that introduces the list. Each must fit
all-MiniLM-L6-v2's 256 word-piece window together with the section title we embed with
it, so anything longer is cut at sentence or item boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from bot.knowledge.documents import Document
from bot.knowledge.parsers import Block, parse

_WORD = re.compile(r"\w+|[^\w\s]")
#: A sentence ends at ". ", "! " or "? " before a capital, quote, bracket or list bullet,
#: and at a line break (list items stand on their own lines).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z“\"(•])|\n")

#: Paragraphs shorter than this are merged with their neighbour in the same section.
MIN_PASSAGE_TOKENS = 40


def approx_tokens(text: str) -> int:
    """A deterministic, slightly pessimistic estimate of the word-piece count.

    Passage ids must not depend on whether the tokenizer is installed, so the chunker
    uses this estimate; a test checks it against the real tokenizer.
    """
    return sum(1 + len(tok) // 7 for tok in _WORD.findall(text))


def slugify(text: str) -> str:
    """URL anchor for a section title ("Your Individual Rights" -> "your-individual-rights")."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(slug) > 48:  # long question-style headings: keep whole words only
        slug = slug[:48].rsplit("-", 1)[0]
    return slug or "section"


@dataclass(frozen=True)
class Passage:
    """A retrievable, citable piece of a document."""

    id: str  # "<document id>#<anchor>": stable while the document does not change
    doc_id: str
    doc_title: str
    kind: str  # policy or faq (the document's kind)
    section: tuple[str, ...]
    anchor: str  # section anchor + passage number, used on /documents/<doc>
    url: str  # the original page plus anchor, or our own /documents page
    text: str  # clean text for people (list items on their own "• " lines)

    @property
    def section_title(self) -> str:
        """The section as people read it: "Parent › Child"."""
        return " › ".join(self.section)

    @property
    def local_url(self) -> str:
        """Our own copy of the document, which always resolves."""
        return f"/documents/{self.doc_id}#{self.anchor}"

    def embedding_text(self) -> str:
        """What we embed: the section title gives short passages their context."""
        return f"{self.section_title}. {self.text}" if self.section else self.text

    def citation(self, text: str | None = None, score: float | None = None) -> dict:
        """The citation object every reply, `bot ask --jsonl` and the agents' suggestions
        carry: where the quoted ``text`` (default: the whole passage) comes from."""
        cited = {
            "id": self.id,
            "title": self.doc_title,
            "section": self.section_title,
            "url": self.url,
            "local_url": self.local_url,
            "text": self.text if text is None else text,
        }
        if score is not None:
            cited["score"] = round(float(score), 4)
        return cited

    def to_dict(self) -> dict:
        """JSON-ready form for the passage store."""
        data = asdict(self)
        data["section"] = list(self.section)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Passage:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "section": tuple(data["section"])})


def split_sentences(text: str) -> list[str]:
    """The sentences (and list items) of ``text``, stripped, in order."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _split_long(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """Split a long paragraph into runs of whole sentences within ``budget``."""
    if count(text) <= budget:
        return [text]
    parts: list[str] = []
    cur = ""
    for sentence in split_sentences(text):
        candidate = f"{cur} {sentence}".strip()
        if cur and count(candidate) > budget:
            parts.append(cur)
            cur = sentence
        else:
            cur = candidate
    if cur:
        parts.append(cur)
    # A single sentence longer than the budget is cut at word boundaries.
    out: list[str] = []
    for part in parts:
        while count(part) > budget:
            words = part.split()
            cut = max(1, len(words) * budget // max(count(part), 1))
            out.append(" ".join(words[:cut]))
            part = " ".join(words[cut:])
        if part:
            out.append(part)
    return out


def _list_texts(block: Block, budget: int, count: Callable[[str], int]) -> list[str]:
    """Pack list items into runs that fit, each run led by the introducing sentence."""
    intro = block.text
    room = budget - (count(intro) if intro else 0)
    runs: list[list[str]] = [[]]
    for item in block.items:
        for piece in _split_long(item, max(room - 2, 20), count):
            line = f"• {piece}"
            trial = runs[-1] + [line]
            if runs[-1] and count("\n".join(trial)) > room:
                runs.append([line])
            else:
                runs[-1] = trial
    return ["\n".join(([intro] if intro else []) + run) for run in runs if run]


def chunk_blocks(
    doc: Document, blocks: Iterable[Block], max_tokens: int, count: Callable[[str], int] = approx_tokens
) -> list[Passage]:
    """Turn one document's blocks into passages (see the module docstring)."""
    # (section, text, mergeable) in document order.
    pieces: list[tuple[tuple[str, ...], str, bool]] = []
    for block in blocks:
        budget = max_tokens - count(" › ".join(block.section)) - 2
        if block.kind == "list":
            pieces.extend((block.section, t, False) for t in _list_texts(block, budget, count))
            continue
        texts = _split_long(block.text, budget, count)
        mergeable = block.kind == "paragraph" and len(texts) == 1
        pieces.extend((block.section, t, mergeable) for t in texts)

    merged: list[tuple[tuple[str, ...], str]] = []
    last_mergeable = False
    for section, text, mergeable in pieces:
        if merged and mergeable and last_mergeable and merged[-1][0] == section:
            prev = merged[-1][1]
            budget = max_tokens - count(" › ".join(section)) - 2
            if (count(text) < MIN_PASSAGE_TOKENS or count(prev) < MIN_PASSAGE_TOKENS) and count(
                f"{prev}\n{text}"
            ) <= budget:
                merged[-1] = (section, f"{prev}\n{text}")
                continue
        merged.append((section, text))
        last_mergeable = mergeable

    passages: list[Passage] = []
    section_slugs: dict[tuple[str, ...], str] = {}
    used_slugs: set[str] = set()
    counters: dict[str, int] = {}
    for section, text in merged:
        if section not in section_slugs:
            base = slugify(section[-1]) if section else "introduction"
            slug, n = base, 2
            while slug in used_slugs:
                slug, n = f"{base}-{n}", n + 1
            section_slugs[section] = slug
            used_slugs.add(slug)
        slug = section_slugs[section]
        counters[slug] = counters.get(slug, 0) + 1
        anchor = f"{slug}-{counters[slug]}"
        url = f"{doc.url}#{anchor}" if doc.url else f"/documents/{doc.id}#{anchor}"
        passages.append(
            Passage(
                id=f"{doc.id}#{anchor}",
                doc_id=doc.id,
                doc_title=doc.title,
                kind=doc.kind,
                section=section,
                anchor=anchor,
                url=url,
                text=text,
            )
        )
    return passages


def chunk_document(doc: Document, max_tokens: int, count: Callable[[str], int] = approx_tokens) -> list[Passage]:
    """Parse and chunk one document."""
    return chunk_blocks(doc, parse(doc.shape, doc.text), max_tokens, count)


def chunk_documents(docs: Iterable[Document], max_tokens: int) -> list[Passage]:
    """Parse and chunk every document, in order."""
    return [p for doc in docs for p in chunk_document(doc, max_tokens)]
