"""The web app's pages, static files, documents and health check through aiohttp's test
client (Rasa down unless a test says otherwise).
"""

from __future__ import annotations

from bot.web import create_app
from tests.web.helpers import parse

# --------------------------------------------------------------------------- pages


async def test_member_page_has_chat_widget_and_no_inline_script(client):
    response = await client.get("/")
    assert response.status == 200
    html = await response.text()
    page = parse(html)
    assert "Automated assistant" in html and "not a person" in html
    assert 'href="/documents/cigna-ihs-data-protection-notice"' in html  # privacy notice before the first message
    assert 'aria-live="polite"' in html and 'role="log"' in html
    assert {"chat-log", "chat-input", "chat-handoff", "chat-restart", "chat-typing"} <= set(page.ids)
    assert 'for="chat-input"' in html  # the input has a label
    assert page.scripts and all(s.get("src", "").startswith("/static/") for s in page.scripts)
    assert not page.script_bodies  # no inline script
    assert not [a for a in page.attributes if a[1].startswith("on")]  # no inline event handlers
    assert not [a for a in page.attributes if a[1] in ("src", "href") and "//" in (a[2] or "")]  # no CDN


async def test_static_assets_are_served_by_us(client):
    for path, kind in (
        ("/static/chat.js", "javascript"),
        ("/static/markdown.js", "javascript"),
        ("/static/agent.js", "javascript"),
        ("/static/style.css", "css"),
        ("/static/favicon.svg", "svg"),
    ):
        response = await client.get(path)
        assert response.status == 200, path
        assert kind in response.headers["Content-Type"], path
        body = await response.text()
        assert "http://" not in body.replace("http://www.w3.org", "") and "https://" not in body, path


async def test_unknown_page_is_a_friendly_404(client):
    response = await client.get("/no/such/page")
    assert response.status == 404
    assert "text/html" in response.headers["Content-Type"]
    assert "Page not found" in await response.text()


async def test_unknown_api_route_and_method_are_json(client, agent):
    response = await client.get("/api/nothing-here")
    assert response.status == 404 and (await response.json())["error"] == "not_found"
    response = await client.delete("/api/requests")
    assert response.status == 405 and "error" in await response.json()


def test_openapi_documents_every_api_route(web_settings, services):
    import yaml

    from bot.settings import ROOT

    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
    assert spec["openapi"].startswith("3.0")
    app = create_app(web_settings, services=services)
    routes = {
        (r.resource.canonical, r.method.lower())
        for r in app.router.routes()
        if r.resource is not None and (r.resource.canonical.startswith("/api/") or r.resource.canonical == "/healthz")
        and r.method != "HEAD"
    }
    documented = {(path, method) for path, item in spec["paths"].items() for method in item if method != "parameters"}
    assert routes == documented


# --------------------------------------------------------------------------- documents


async def test_documents_page_has_an_anchor_for_every_passage(client, retriever):
    by_doc: dict[str, list] = {}
    for p in retriever.passages:
        by_doc.setdefault(p.doc_id, []).append(p)
    for doc_id, passages in by_doc.items():
        response = await client.get(f"/documents/{doc_id}")
        assert response.status == 200, doc_id
        page = parse(await response.text())
        assert len(page.ids) == len(set(page.ids)), f"duplicate ids on {doc_id}"
        assert {p.anchor for p in passages} <= set(page.ids), doc_id
        assert page.passage_ids == [p.id for p in passages], f"{doc_id}: passages missing or out of order"
        for p in passages:
            path, _, anchor = p.local_url.partition("#")
            assert path == f"/documents/{doc_id}" and anchor == p.anchor


async def test_documents_index_and_unknown_document(client, retriever):
    html = await (await client.get("/documents")).text()
    for doc_id in {p.doc_id for p in retriever.passages}:
        assert f'href="/documents/{doc_id}"' in html
    missing = await client.get("/documents/no-such-document")
    assert missing.status == 404
    assert "Document not found" in await missing.text()


async def test_document_text_is_escaped(client, retriever):
    html = await (await client.get("/documents/cigna-health-benefits-member-faq")).text()
    assert "<li>" in html  # "• " items are a list
    faq = next(p for p in retriever.passages if p.doc_id == "cigna-health-benefits-member-faq" and "’" in p.text)
    assert faq.anchor in html


# --------------------------------------------------------------------------- health


async def test_healthz_reports_components_and_stays_200(client):
    response = await client.get("/healthz")
    assert response.status == 200
    data = await response.json()
    assert data == {
        "status": "degraded",
        "web": "ok",
        "rasa": "error",
        "action_server": "error",
        "index": "ok",
        "database": "ok",
    }


async def test_healthz_all_ok_with_rasa_up(rasa_client):
    data = await (await rasa_client.get("/healthz")).json()
    assert data == {"status": "ok", "web": "ok", "rasa": "ok", "action_server": "ok", "index": "ok", "database": "ok"}
