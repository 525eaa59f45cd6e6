"""Escaping-by-default HTML templates.

Templates are files in ``templates/`` using :class:`string.Template` placeholders
(``$name``). Every value substituted into a template or fragment is HTML-escaped unless
it is :class:`Markup` (the output of another render), so request data, form data and
Rasa text can never inject markup: forgetting to escape is not possible, only
deliberately marking something as already safe.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable
from functools import cache
from pathlib import Path
from string import Template

from aiohttp import web

TEMPLATE_DIR = Path(__file__).parent / "templates"


class Markup(str):
    """A string that is already safe HTML (it is not escaped again)."""

    __slots__ = ()


def esc(value: object) -> Markup:
    """``value`` as HTML text: escaped (quotes too), unless it is Markup already."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def fragment(template: str, /, **values: object) -> Markup:
    """Fill an inline ``$name`` template with escaped values."""
    return Markup(Template(template).substitute({k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[object], sep: str = "\n") -> Markup:
    """Concatenate fragments (escaping any plain strings among them)."""
    return Markup(sep.join(esc(p) for p in parts))


# Bold needs a letter or digit inside, so masked values ("**/**/1985") stay as they are.
_BOLD = re.compile(r"(?<![\w*])\*\*(?=[^\s*])([^*\n]*?[^\W_][^*\n]*?)(?<=[^\s*])\*\*(?![\w*])")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
#: Our own copies of the documents: ``/documents``, ``/documents/<id>``, with an anchor.
_DOCUMENT_PATH = re.compile(r"/documents(?:/\w[\w.~%-]*)?(?:#[\w.~%-]*)?", re.ASCII)


def document_link(url: str, document_urls: Collection[str] = ()) -> bool:
    """Whether bot text may link to ``url``: one of our /documents pages, or the https
    address of one of our source documents (``document_urls``, any anchor)."""
    if _DOCUMENT_PATH.fullmatch(url):
        return True
    return url.startswith("https://") and url.split("#", 1)[0] in document_urls


def markdown_lite(text: str, document_urls: Collection[str] = ()) -> Markup:
    """Bot text for agents: escaped first, then **bold** and [links](to our documents) only.

    The patterns run on the escaped text, so nothing they produce can contain markup
    from the message itself. A link becomes one only when it points to our documents
    (:func:`document_link`); any other stays as the text that was written, target and
    all, so an agent sees where it would have gone. Never use this on what a member typed:
    that is plain text (:func:`esc`).
    """

    def link(match: re.Match[str]) -> str:
        url = html.unescape(match[2])
        if not document_link(url, document_urls):
            return match[0]
        return f'<a href="{esc(url)}" rel="noopener noreferrer">{match[1]}</a>'

    escaped = esc(text)
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return Markup(_LINK.sub(link, escaped))


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATE_DIR / name).read_text(encoding="utf-8"))


def render(template_name: str, /, **values: object) -> Markup:
    """Fill the template file ``template_name`` with escaped values."""
    return Markup(_template(template_name).substitute({k: esc(v) for k, v in values.items()}))


def page(
    title: str,
    body: Markup,
    *,
    status: int = 200,
    header: Markup | None = None,
    scripts: Iterable[str] = (),
    csrf_token: str = "",
    body_class: str = "",
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A complete HTML page in the shared layout."""
    script_tags = join(fragment('<script type="module" src="$src"></script>', src=src) for src in scripts)
    csrf_meta = fragment('<meta name="csrf-token" content="$token">', token=csrf_token) if csrf_token else Markup("")
    text = render(
        "layout.html",
        title=title,
        body=body,
        header=header if header is not None else render("member_header.html"),
        scripts=script_tags,
        csrf_meta=csrf_meta,
        body_class=body_class,
    )
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=headers)


def error_page(
    status: int, title: str, message: str, *, link: tuple[str, str] = ("/", "Back to member help")
) -> web.Response:
    """A plain error page (404, 400, 500) in the member layout."""
    body = render("error.html", title=title, message=message, href=link[0], label=link[1])
    return page(title, body, status=status)
