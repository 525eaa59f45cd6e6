"""Turn each shape of source text into structured blocks.

The documents arrive in three shapes (see data/documents/documents.yml):

* ``markdown``: HTML converted to Markdown: ``#`` headings (sometimes with the title on
  the following line), bullet lists with bold lead-ins, links, escaped numbers, and
  navigation debris ("Skip navigation", breadcrumbs) from the web page.
* ``pdf-text``: text extracted from a PDF: headings are plain short lines, bullets
  (``•``) are printed as a column of glyphs *before* the item texts, and sentences are
  broken by hard line ends.
* ``plain-text`` / ``faq-text``: help pages: headings as short lines between blank
  lines, a "Frequently asked questions" marker before the answers, ``•`` bullets and
  numbered steps with indented continuation lines.

Every parser returns a flat list of :class:`Block` objects that carry their section
path, so the chunker never needs to know which shape a document had.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Lines of web-page chrome that carry no content.
_DEBRIS = re.compile(r"^(skip navigation|you are here:?|\[home\]\(.*)$", re.IGNORECASE)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)")
_FAQ_MARKER = "frequently asked questions"
_BULLET = "•"
_TERMINAL = (".", ";", ":", ",", "!", ")", "”", '"', "?")


@dataclass
class Block:
    """A paragraph, or a list with the sentence that introduces it.

    ``kind`` is "paragraph", "answer" (an FAQ answer: always a passage of its own) or
    "list"; for lists ``text`` is the introducing sentence (may be empty) and ``items``
    the list items in order.
    """

    section: tuple[str, ...]
    kind: str
    text: str
    items: list[str] = field(default_factory=list)


def clean_inline(text: str) -> str:
    """Strip Markdown emphasis and links down to their words and normalise spaces."""
    text = _MD_LINK.sub(lambda m: m.group(1), text)
    text = text.replace("**", "").replace("__", "")
    text = re.sub(r"(?<!\w)\*(\S[^*]*\S|\S)\*(?!\w)", r"\1", text)
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!])", r"\1", text)
    text = text.replace("\u00a0", " ")
    text = re.sub(r'"\s+([^"]+?)\s+"', r"“\1”", text)  # '" **Term** "' -> '“Term”'
    text = re.sub(r"\s+", " ", text)
    # PDF and HTML conversion leave spaces before punctuation ("admission , or").
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return text.strip()


def join_lines(lines: list[str]) -> str:
    """Join hard-wrapped lines into one sentence stream, repairing hyphenation."""
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if not out:
            out = line
        elif out.endswith("-") and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}"
    return clean_inline(out)


# --------------------------------------------------------------------------- markdown


def parse_markdown(text: str) -> list[Block]:
    """Parse Markdown converted from HTML (see the module docstring)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    h2: str | None = None
    h3: str | None = None
    para: list[str] = []
    items: list[str] = []
    intro = ""
    pending_heading: int | None = None

    def section() -> tuple[str, ...]:
        # The h2 is the page's own title: a subsection needs no more than its h3.
        return (h3,) if h3 else ((h2,) if h2 else ())

    def flush_para() -> None:
        nonlocal para
        if para:
            joined = ", ".join(clean_inline(p) for p in para if clean_inline(p))
            if joined:
                blocks.append(Block(section(), "paragraph", joined))
        para = []

    def flush_list() -> None:
        nonlocal items, intro
        if items:
            blocks.append(Block(section(), "list", intro, [clean_inline(i) for i in items]))
        items, intro = [], ""

    for raw in lines:
        line = raw.rstrip()
        stripped = line.strip().replace("\u00a0", "").strip()
        if stripped.startswith(">"):  # archive provenance note, not policy text
            continue
        if pending_heading is not None:
            if not stripped:
                continue
            level, pending_heading = pending_heading, None
            line = "#" * level + " " + stripped
            stripped = line
        m = re.match(r"^(#{1,6})\s*(.*)$", stripped)
        if m:
            flush_para()
            flush_list()
            level, title = len(m.group(1)), clean_inline(m.group(2))
            if not title:
                pending_heading = level
                continue
            title = re.sub(r"^\d+\.\s*", "", title) if level >= 3 else title
            if level == 1:
                continue  # the page title; h2 carries the document's own title
            if level == 2:
                h2, h3 = (title.title() if title.isupper() else title), None
            else:
                h3 = title
            continue
        if not stripped:
            flush_para()
            continue
        if _DEBRIS.match(stripped):
            continue
        bullet = re.match(r"^\s*[*\-+]\s+(.*)$", line)
        if bullet:
            if not items:
                flush_para()  # attach_intros() links it to the list afterwards
            items.append(bullet.group(1))
            continue
        if items and line.startswith("    "):  # continuation of a list item
            items[-1] += " " + stripped
            continue
        flush_list()
        # A hard line break (two trailing spaces) keeps address lines apart.
        para.append(stripped)
        if not raw.endswith("  "):
            para[-1:] = [" ".join(para[-1:])]
            if len(para) > 1 and not lines_were_hard_broken(para):
                para = [" ".join(para)]
    flush_para()
    flush_list()
    return blocks


def lines_were_hard_broken(para: list[str]) -> bool:
    """Whether a Markdown paragraph is an address-like run of short hard-broken lines."""
    return len(para) > 1 and all(len(p) < 60 for p in para)


# --------------------------------------------------------------------------- pdf text


def _looks_like_heading(line: str, prev: str, after_heading: bool = False) -> bool:
    """A PDF heading: a short, title-cased line with no final punctuation after a
    line that closed a sentence (or a blank line)."""
    s = line.strip()
    if not s or s.startswith(_BULLET) or len(s) > 70 or s.endswith(_TERMINAL) or ";" in s:
        return False
    if not s[0].isupper() or s.startswith("("):
        return False
    p = prev.strip()
    if p and not p.endswith((".", ":", ";", "”", '"', ")")) and p != _BULLET and not after_heading:
        return False
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z’']*", s) if len(w) > 3]
    if not words:
        return False
    capitalised = sum(1 for w in words if w[0].isupper())
    return capitalised / len(words) >= 0.6


def _split_items(lines: list[str]) -> list[str]:
    """Split the hard-wrapped text of a PDF bullet list into items.

    A new item starts on a line that begins with a capital letter (or a bullet glyph)
    after a line that ended an item (``;``, ``.``, ``; and``); lines starting with
    ``(a)``-style markers stay with the item that announces them.
    """
    items: list[list[str]] = []
    for raw in lines:
        s = raw.strip()
        if not s:
            continue
        starts_item = s.startswith(_BULLET)
        s = s.lstrip(_BULLET).strip()
        if not items:
            items.append([s])
            continue
        prev = items[-1][-1]
        ended = prev.endswith((";", ".", "; and", "; or")) or prev.endswith(("and", "or")) and prev.endswith(";")
        if starts_item or (ended and s[:1].isupper() and not re.match(r"^\([a-z]\)", s)):
            items.append([s])
        else:
            items[-1].append(s)
    return [join_lines(i) for i in items]


def parse_pdf_text(text: str) -> list[Block]:
    """Parse text extracted from a PDF (see the module docstring)."""
    lines = [ln.replace("\u00a0", " ") for ln in text.splitlines()]
    blocks: list[Block] = []
    path: list[str] = []
    buf: list[str] = []
    i = 0
    prev = ""
    prev_heading = False
    seen_title = False

    def flush() -> None:
        nonlocal buf
        if buf:
            joined = join_lines(buf)
            if joined:
                blocks.append(Block(tuple(path), "paragraph", joined))
        buf = []

    def add_list(item_lines: list[str]) -> str:
        """Append a list block of these item lines; return the last line (the next ``prev``)."""
        blocks.append(Block(tuple(path), "list", "", _split_items(item_lines)))
        return item_lines[-1] if item_lines else ""

    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if not s:
            flush()
            prev = ""
            i += 1
            continue
        if s == _BULLET or s.startswith(_BULLET + " "):
            prev_heading = False
        if s == _BULLET:
            # A column of bullet glyphs; the item texts follow after the glyphs.
            flush()
            while i < len(lines) and lines[i].strip() in {_BULLET, ""}:
                i += 1
            item_lines: list[str] = []
            while i < len(lines) and lines[i].strip() and lines[i].strip() != _BULLET:
                if item_lines and _looks_like_heading(lines[i], item_lines[-1]) and _is_known_heading_context(lines, i):
                    break
                item_lines.append(lines[i])
                i += 1
            prev = add_list(item_lines)
            continue
        if s.startswith(_BULLET + " "):
            # Inline bullets ("• text"), possibly wrapped onto following lines.
            flush()
            item_lines = []
            while (
                i < len(lines)
                and lines[i].strip()
                and (lines[i].strip().startswith(_BULLET + " ") or not _looks_like_heading(lines[i], lines[i - 1]))
            ):
                if lines[i].strip() == _BULLET:
                    break
                item_lines.append(lines[i])
                i += 1
            prev = add_list(item_lines)
            continue
        if not seen_title:
            seen_title = True  # the first line is the document's own title
            prev = line
            i += 1
            continue
        if _looks_like_heading(line, prev, prev_heading) and i + 1 < len(lines) and lines[i + 1].strip() != "":
            flush()
            title = clean_inline(s)
            # Two headings in a row: the second is a subsection of the first.
            path = [path[-1], title] if prev_heading and path else [title]
            prev, prev_heading = line, True
            i += 1
            continue
        prev_heading = False
        buf.append(line)
        prev = line
        i += 1
    flush()
    return blocks


def _is_known_heading_context(lines: list[str], i: int) -> bool:
    """Inside a bullet run, only treat a line as a heading if it is followed by text."""
    return i + 1 < len(lines) and bool(lines[i + 1].strip())


# --------------------------------------------------------------------------- plain text


def parse_plain_text(text: str) -> list[Block]:
    """Parse plain-text help pages and policies (see the module docstring)."""
    paragraphs: list[list[str]] = []
    cur: list[str] = []
    for raw in text.splitlines():
        if raw.strip():
            cur.append(raw.rstrip())
        elif cur:
            paragraphs.append(cur)
            cur = []
    if cur:
        paragraphs.append(cur)

    blocks: list[Block] = []
    section: tuple[str, ...] = ()
    in_faq = False
    for n, para in enumerate(paragraphs):
        first = para[0].strip()
        is_last = n == len(paragraphs) - 1
        if len(para) == 1 and first.lower() == _FAQ_MARKER:
            in_faq = True
            continue
        if len(para) == 1 and len(first) <= 70 and not first.endswith((".", ":", ";", ",")) and not is_last:
            section = (clean_inline(first),)
            in_faq = False
            continue
        if len(para) == 1 and is_last and not first.endswith((".", ":", ";")):
            continue  # a closing call to action ("Download the app"), not content
        blocks.extend(_plain_paragraph_blocks(para, section, in_faq))
    return blocks


def _plain_paragraph_blocks(para: list[str], section: tuple[str, ...], in_faq: bool) -> list[Block]:
    """One blank-line-separated paragraph: prose, `•` bullets or numbered steps."""
    if para and para[0].strip().lower() == _FAQ_MARKER:
        para, in_faq = para[1:], True
    kind = "answer" if in_faq else "paragraph"
    out: list[Block] = []
    intro: list[str] = []
    items: list[list[str]] = []
    for raw in para:
        s = raw.strip()
        marker = re.match(rf"^(?:{_BULLET}|\d+\.)\s+(.*)$", s)
        if marker:
            items.append([marker.group(1)])
        elif items:
            items[-1].append(s)  # indented continuation of a step
        else:
            intro.append(s)
    if items:
        intro_text = join_lines(intro)
        out.append(Block(section, "list", intro_text, [join_lines(i) for i in items]))
    else:
        out.append(Block(section, kind, join_lines(intro)))
    return out


PARSERS = {
    "markdown": parse_markdown,
    "pdf-text": parse_pdf_text,
    "plain-text": parse_plain_text,
    "faq-text": parse_plain_text,
}


def attach_intros(blocks: list[Block]) -> list[Block]:
    """Give each list the sentence that introduces it.

    In every shape the introducing sentence arrives as the paragraph just before the
    list, ending with ":" or left open ("the following rights ... about you"). Keeping it
    with the items means a passage cut from the middle of a long list still says what
    the items are.
    """
    out: list[Block] = []
    for b in blocks:
        prev = out[-1] if out else None
        if (
            b.kind == "list"
            and not b.text
            and prev is not None
            and prev.kind in {"paragraph", "answer"}
            and prev.section == b.section
            and (prev.text.endswith(":") or not prev.text.endswith((".", "!", "?", "”", '"')))
        ):
            out.pop()
            b.text = prev.text
        out.append(b)
    return out


def parse(shape: str, text: str) -> list[Block]:
    """Parse ``text`` with the parser for ``shape`` and link lists to their intros."""
    return attach_intros(PARSERS[shape](text))
