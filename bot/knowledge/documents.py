"""The source documents and their metadata (data/documents/documents.yml)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

METADATA_FILE = "documents.yml"
SHAPES = ("markdown", "pdf-text", "plain-text", "faq-text")


@dataclass(frozen=True)
class Document:
    """One source document: where it is, what it is, and its raw text."""

    id: str
    file: str
    title: str
    organisation: str
    url: str
    effective_date: str
    kind: str  # "policy" or "faq"
    shape: str  # one of SHAPES: which parser reads it
    text: str
    names: tuple[str, ...] = ()  # what members call its organisation ("isos"), lower case

    @property
    def sha256(self) -> str:
        """Hash of the raw text, recorded in the index manifest."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


class DocumentError(ValueError):
    """The documents folder or its metadata file is not usable."""


def load_documents(documents_dir: Path) -> list[Document]:
    """Read the metadata file and every document it lists.

    Fails with a DocumentError naming the problem (missing file, unknown shape) rather
    than silently indexing fewer documents than the operator expects.
    """
    meta_path = documents_dir / METADATA_FILE
    if not meta_path.is_file():
        raise DocumentError(f"{meta_path} is missing: it lists the documents to index")
    meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
    docs: list[Document] = []
    seen: set[str] = set()
    for entry in meta.get("documents", []):
        path = documents_dir / entry["file"]
        if not path.is_file():
            raise DocumentError(f"{path} is listed in {METADATA_FILE} but does not exist")
        if entry["shape"] not in SHAPES:
            raise DocumentError(f"{entry['id']}: unknown shape {entry['shape']!r}, expected one of {SHAPES}")
        if entry["id"] in seen:
            raise DocumentError(f"duplicate document id {entry['id']!r}")
        seen.add(entry["id"])
        docs.append(
            Document(
                id=entry["id"],
                file=entry["file"],
                title=entry["title"],
                organisation=entry.get("organisation", ""),
                url=entry.get("url") or "",
                effective_date=str(entry.get("effective_date") or ""),
                kind=entry.get("kind", "policy"),
                shape=entry["shape"],
                text=path.read_text(encoding="utf-8"),
                names=tuple(str(n).lower() for n in entry.get("names") or ()),
            )
        )
    if not docs:
        raise DocumentError(f"{meta_path} lists no documents")
    return docs


def metadata_sha256(documents_dir: Path) -> str:
    """Hash of the metadata file (titles and links end up in every citation)."""
    return hashlib.sha256((documents_dir / METADATA_FILE).read_bytes()).hexdigest()
