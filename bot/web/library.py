"""The source documents as the web app shows them: metadata plus passages in order."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from bot.knowledge.chunker import Passage
from bot.knowledge.documents import DocumentError, load_documents

log = logging.getLogger(__name__)


@dataclass
class DocumentView:
    """A document's metadata and its passages in order."""

    id: str
    title: str
    organisation: str = ""
    url: str = ""
    effective_date: str = ""
    kind: str = "policy"
    passages: list[Passage] = field(default_factory=list)


class DocumentLibrary:
    """The documents the index was built from, keyed by id."""

    def __init__(self, passages: list[Passage], documents_dir: Path | None = None) -> None:
        meta = {}
        if documents_dir is not None:
            try:
                meta = {d.id: d for d in load_documents(documents_dir)}
            except (DocumentError, OSError) as exc:  # titles still come from the passages
                log.warning("document metadata unavailable: %s", exc)
        self.documents: dict[str, DocumentView] = {}
        for passage in passages:
            view = self.documents.get(passage.doc_id)
            if view is None:
                doc = meta.get(passage.doc_id)
                view = DocumentView(
                    id=passage.doc_id,
                    title=passage.doc_title,
                    organisation=doc.organisation if doc else "",
                    url=doc.url if doc else "",
                    effective_date=doc.effective_date if doc else "",
                    kind=doc.kind if doc else passage.kind,
                )
                self.documents[passage.doc_id] = view
            view.passages.append(passage)

    def get(self, doc_id: str) -> DocumentView | None:
        """The document with this id, or None."""
        return self.documents.get(doc_id)
