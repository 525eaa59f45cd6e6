"""The agent console's pages: the inbox with deadlines, a request's detail with its
transcript, and the status and note forms; members' text is always escaped.
"""

from __future__ import annotations

import re

from bot.web.html import markdown_lite
from bot.web.keys import SERVICES
from tests.web.helpers import INJECTION, LONG, MARKUP, SENDER, login, no_traceback, parse, submit


async def test_inbox_shows_deadlines_and_escapes_markup(client, agent, services):
    record = submit(services, full_name=MARKUP, details=MARKUP)
    services.store.submit("guarantee_of_payment", {"member_id": "AB123456", "treatment": MARKUP})
    response = await client.get("/agent/requests")
    html = await response.text()
    assert response.status == 200
    assert "<script>alert" not in html and "<img src=x" not in html
    assert record.reference in html and "Data rights" in html and "Guarantee of payment" in html
    assert re.search(r"(29|30) days left", html)
    page = parse(html)
    assert not page.script_bodies and not [a for a in page.attributes if a[1].startswith("on")]
    filtered = await (await client.get("/agent/requests", params={"kind": "guarantee_of_payment"})).text()
    assert record.reference not in filtered
    assert (await client.get("/agent/requests", params={"status": "bogus"})).status == 400


async def test_request_detail_escapes_everything(client, agent, services):
    record = submit(services, full_name=MARKUP, details=MARKUP, email='"><svg onload=alert(1)>@example.com')
    headers = {"X-CSRF-Token": agent}
    await client.patch(f"/api/requests/{record.reference}", json={"note": MARKUP}, headers=headers)
    response = await client.get(f"/agent/requests/{record.reference}")
    html = await response.text()
    assert response.status == 200
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "AB123456" in html  # full details for the signed-in agent
    assert "The transcript cannot be loaded right now" in html
    page = parse(html)
    assert not page.script_bodies and not [a for a in page.attributes if a[1].startswith("on")]
    assert page.inputs["csrf_token"] == agent


async def test_request_detail_shows_the_transcript_escaped(rasa_client):
    await login(rasa_client)
    store = rasa_client.app[SERVICES].store
    record = store.submit("handoff", {"reason": "talk to a person"}, conversation_id=SENDER)
    html = await (await rasa_client.get(f"/agent/requests/{record.reference}")).text()
    transcript_html = html[html.index('class="transcript"') :]
    assert "Make a request" in transcript_html and "Talk to a person" in transcript_html
    assert "Ref <strong>HO-1234-5678</strong>" in transcript_html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in transcript_html
    assert 'href="/documents/faq#a-1"' in transcript_html and 'href="javascript' not in html
    assert "[this](javascript:alert(1))" in transcript_html  # shown as text, not as a link
    api = await (await rasa_client.get(f"/api/requests/{record.reference}/transcript")).json()
    assert api["conversation_id"] == SENDER
    assert api["messages"][0] == {"role": "user", "text": "hello", "timestamp": 1.0}


def test_markdown_lite_escapes_before_formatting():
    html = markdown_lite('**bold** <b>x</b> [a](/documents/d#p) [b](javascript:x) [c](/x" onclick="y)')
    assert html.startswith("<strong>bold</strong> &lt;b&gt;x&lt;/b&gt; ")
    assert '<a href="/documents/d#p" rel="noopener noreferrer">a</a>' in html
    assert "[b](javascript:x)" in html and 'onclick="' not in html
    masked = markdown_lite("Email: j***@e***.com, born **/**/1985, ref **DR-1234-5678**")
    assert masked == "Email: j***@e***.com, born **/**/1985, ref <strong>DR-1234-5678</strong>"


async def test_request_detail_forms_change_status_and_add_notes(client, agent, services):
    record = submit(services)
    response = await client.post(
        f"/agent/requests/{record.reference}/status",
        data={"csrf_token": agent, "status": "in_progress"},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"].endswith("?done=status")
    response = await client.post(
        f"/agent/requests/{record.reference}/notes", data={"csrf_token": agent, "note": "Sent the form"}
    )
    html = await response.text()
    assert "Your note was added." in html and "Sent the form" in html
    updated = services.store.get(record.reference)
    assert updated.status == "in_progress" and updated.notes[0].author == "alice"
    forged = await client.post(
        f"/agent/requests/{record.reference}/status", data={"csrf_token": "x", "status": "done"}, allow_redirects=False
    )
    assert forged.status == 403
    bad = await client.post(f"/agent/requests/{record.reference}/status", data={"csrf_token": agent, "status": "gone"})
    assert bad.status == 400
    assert services.store.get(record.reference).status == "in_progress"


async def test_agent_note_and_status_forms_refuse_bad_input(agent_session):
    client, csrf, reference = agent_session
    form = f"/agent/requests/{reference}"
    cases = [
        (f"{form}/notes", {"note": ""}, 400, "The note is empty."),
        (f"{form}/notes", {"note": " \x00 "}, 400, "The note is empty."),
        (f"{form}/notes", {"note": LONG}, 413, "at most 10,000 characters"),
        (f"{form}/status", {"status": "<b>gone</b>"}, 400, "Unknown status"),
        (f"{form}/status", {"status": ""}, 400, "Unknown status"),
    ]
    for path, data, status, says in cases:
        response = await client.post(path, data={**data, "csrf_token": csrf}, allow_redirects=False)
        html = await response.text()
        assert response.status == status, (path, data, html)
        assert says in html and "<b>gone</b>" not in html
        no_traceback(html)
    response = await client.post(
        f"{form}/notes",
        data=b"note=\xff&csrf_token=" + csrf.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 400 and "not valid UTF-8" in await response.text()


async def test_agent_forms_store_markup_inert(agent_session):
    client, csrf, reference = agent_session
    response = await client.post(
        f"/agent/requests/{reference}/notes", data={"note": INJECTION, "csrf_token": csrf}, allow_redirects=False
    )
    assert response.status == 303
    html = await (await client.get(f"/agent/requests/{reference}")).text()
    assert "<script>window" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;" in html
    response = await client.post("/agent/suggest", data={"message": INJECTION, "csrf_token": csrf})
    html = await response.text()
    assert response.status == 200 and "<script>window" not in html and "&lt;script&gt;" in html
    response = await client.post("/agent/suggest", data={"message": LONG, "csrf_token": csrf})
    assert response.status == 413 and "2,000 characters" in await response.text()


async def test_unknown_request_page_is_404(client, agent):
    response = await client.get("/agent/requests/DR-0000-0000")
    assert response.status == 404
    assert "Request not found" in await response.text()
