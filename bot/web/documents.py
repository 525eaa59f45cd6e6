"""``/documents`` and ``/documents/<doc_id>``: our own copy of every source document.

Each document is rendered from the retriever's passages (the very text the assistant
quotes), grouped by section in document order, and every passage is an element whose
id is the passage's anchor, so each citation link (``local_url``) lands on exactly
the passage it cites; CSS highlights the ``:target`` passage.
"""

from __future__ import annotations

from aiohttp import web

from bot.knowledge.chunker import Passage
from bot.web.html import Markup, error_page, fragment, join, page, render
from bot.web.keys import DOCUMENTS
from bot.web.library import DocumentView


def passage_html(passage: Passage) -> Markup:
    """A passage's text: "• " lines become a list, other lines paragraphs."""
    blocks: list[Markup] = []
    items: list[Markup] = []
    for line in passage.text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if line.startswith("•"):
            items.append(fragment("<li>$t</li>", t=line.lstrip("•").strip()))
            continue
        if items:
            blocks.append(fragment("<ul>$i</ul>", i=join(items)))
            items = []
        blocks.append(fragment("<p>$t</p>", t=line))
    if items:
        blocks.append(fragment("<ul>$i</ul>", i=join(items)))
    return join(blocks)


def _section_id(index: int) -> str:
    # Numbered and prefixed so it can never equal a passage anchor ("<slug>-<n>").
    return f"section-{index}"


def document_body(doc: DocumentView) -> Markup:
    """The article: metadata, contents, sections with their passages."""
    meta = []
    if doc.organisation:
        meta.append(fragment("<dt>Published by</dt><dd>$v</dd>", v=doc.organisation))
    if doc.effective_date:
        meta.append(fragment("<dt>Effective</dt><dd>$v</dd>", v=doc.effective_date))
    if doc.url:
        meta.append(
            fragment('<dt>Original</dt><dd><a href="$u" rel="noopener noreferrer">$u</a></dd>', u=doc.url)
            if doc.url.startswith(("https://", "http://"))
            else fragment("<dt>Original</dt><dd>$u</dd>", u=doc.url)
        )
    meta.append(fragment("<dt>Passages</dt><dd>$n</dd>", n=len(doc.passages)))

    toc: list[Markup] = []
    sections: list[Markup] = []
    current: tuple[str, ...] | None = None
    shown: tuple[str, ...] = ()
    body: list[Markup] = []

    def close() -> None:
        if body:
            sections.append(join(body))
            body.clear()

    for passage in doc.passages:
        if passage.section != current:
            close()
            current = passage.section
            # Headings for the parts of the section path that changed (h2, h3, h4).
            common = 0
            while common < min(len(shown), len(current)) and shown[common] == current[common]:
                common += 1
            for depth in range(common, len(current)):
                sid = _section_id(len(toc) + 1)
                level = min(2 + depth, 4)
                body.append(
                    fragment(f'<h{level} id="$sid" class="section-title">$t</h{level}>', sid=sid, t=current[depth])
                )
                toc.append(
                    fragment('<li class="toc-$d"><a href="#$sid">$t</a></li>', d=depth, sid=sid, t=current[depth])
                )
            shown = current
        body.append(
            fragment(
                '<div class="passage" id="$anchor" data-passage-id="$pid">$text'
                '<a class="permalink" href="#$anchor" aria-label="Link to this passage">#</a></div>',
                anchor=passage.anchor,
                pid=passage.id,
                text=passage_html(passage),
            )
        )
    close()
    return render(
        "document.html",
        title=doc.title,
        meta=join(meta),
        toc=join(toc),
        sections=join(fragment('<section class="doc-section">$s</section>', s=s) for s in sections),
    )


async def documents_index(request: web.Request) -> web.Response:
    """``GET /documents``: the list of documents."""
    library = request.app[DOCUMENTS]
    items = [
        fragment(
            '<li><a href="/documents/$id">$title</a> <span class="muted">$org · $n passages</span></li>',
            id=doc.id,
            title=doc.title,
            org=doc.organisation or doc.kind,
            n=len(doc.passages),
        )
        for doc in library.documents.values()
    ]
    return page("Our documents", render("documents.html", items=join(items)))


async def document_page(request: web.Request) -> web.Response:
    """``GET /documents/{doc_id}``: one document, every passage addressable by its anchor."""
    doc = request.app[DOCUMENTS].get(request.match_info["doc_id"])
    if doc is None:
        return error_page(
            404,
            "Document not found",
            "We have no document at this address. It may have been renamed or withdrawn.",
            link=("/documents", "See all documents"),
        )
    return page(doc.title, document_body(doc), body_class="document-page")


def setup(app: web.Application) -> None:
    """Register the document routes."""
    app.router.add_get("/documents", documents_index, name="documents")
    app.router.add_get("/documents/{doc_id}", document_page, name="document")
