"""The requests API agents use (/api/requests): listing with filters, one request, status
changes and notes, its transcript, and bad input refused without echoing it.
"""

from __future__ import annotations

import pytest

from tests.web.helpers import INJECTION, LONG, SENDER, SQL, error_json, submit

# --------------------------------------------------------------------------- reading


async def test_list_requests_with_filters(client, agent, services):
    dr = submit(services)
    cb = services.store.submit("callback", {"full_name": "Sam Roe", "phone_number": "+32 470 12 34 56"})
    services.store.update_status(cb.reference, "done", "bob")
    data = await (await client.get("/api/requests")).json()
    assert [r["reference"] for r in data["requests"]] == [cb.reference, dr.reference]
    first = data["requests"][1]
    assert first["kind"] == "data_rights" and first["status"] == "new"
    assert first["days_left"] in (29, 30) and first["due_text"].endswith("days left")
    assert "data" not in first and "jane.doe@example.com" not in str(first)  # lists show the masked summary
    only = await (await client.get("/api/requests", params={"kind": "data_rights"})).json()
    assert [r["reference"] for r in only["requests"]] == [dr.reference]
    done = await (await client.get("/api/requests", params={"status": "done"})).json()
    assert [r["reference"] for r in done["requests"]] == [cb.reference]
    page = await (await client.get("/api/requests", params={"limit": 1, "offset": 1})).json()
    assert [r["reference"] for r in page["requests"]] == [dr.reference] and page["count"] == 1


@pytest.mark.parametrize(
    "params",
    [{"kind": "pizza"}, {"status": "lost"}, {"limit": "ten"}, {"limit": "0"}, {"limit": "501"}, {"offset": "-1"}],
)
async def test_list_requests_rejects_bad_filters(client, agent, params):
    response = await client.get("/api/requests", params=params)
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_query"


async def test_get_request_and_unknown_reference(client, agent, services):
    record = submit(services)
    data = (await (await client.get(f"/api/requests/{record.reference}")).json())["request"]
    assert data["data"]["email"] == "jane.doe@example.com" and data["conversation_id"] == SENDER
    assert data["events"][0]["to_status"] == "new"
    lower = await client.get(f"/api/requests/{record.reference.lower()}")
    assert lower.status == 200  # references are normalised
    missing = await client.get("/api/requests/DR-0000-0000")
    assert missing.status == 404 and (await missing.json())["error"] == "not_found"


async def test_transcript_with_rasa_down_is_a_502(client, agent, services):
    record = submit(services)
    response = await client.get(f"/api/requests/{record.reference}/transcript")
    assert response.status == 502
    assert (await response.json())["error"] == "rasa_unavailable"


# --------------------------------------------------------------------------- changing


async def test_patch_request_status_and_note(client, agent, services):
    record = submit(services)
    headers = {"X-CSRF-Token": agent}
    response = await client.patch(f"/api/requests/{record.reference}", json={"status": "in_progress"}, headers=headers)
    assert response.status == 200
    data = (await response.json())["request"]
    assert data["status"] == "in_progress"
    last = data["events"][-1]
    assert (last["author"], last["from_status"], last["to_status"]) == ("alice", "new", "in_progress")
    response = await client.patch(
        f"/api/requests/{record.reference}", json={"note": "Called the member", "status": "done"}, headers=headers
    )
    data = (await response.json())["request"]
    assert data["status"] == "done" and data["notes"][0]["text"] == "Called the member"
    assert data["notes"][0]["author"] == "alice" and data["due_text"] == "closed"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"status": "archived"}, 400, "invalid_status"),
        ({}, 400, "missing_field"),
        ({"note": "  "}, 400, "empty_note"),
        ({"note": "x" * 10_001}, 413, "note_too_long"),
        ({"status": "done", "owner": "me"}, 400, "unknown_field"),
        ({"status": 3}, 400, "invalid_field"),
    ],
)
async def test_patch_request_rejects_bad_input(client, agent, services, body, status, code):
    record = submit(services)
    response = await client.patch(f"/api/requests/{record.reference}", json=body, headers={"X-CSRF-Token": agent})
    assert response.status == status
    assert (await response.json())["error"] == code
    assert services.store.get(record.reference).status == "new"


async def test_patch_request_errors(client, agent, services):
    record = submit(services)
    headers = {"X-CSRF-Token": agent}
    missing = await client.patch("/api/requests/DR-0000-0000", json={"status": "done"}, headers=headers)
    assert missing.status == 404
    malformed = await client.patch(
        f"/api/requests/{record.reference}", data=b"{status", headers={**headers, "Content-Type": "application/json"}
    )
    assert malformed.status == 400
    no_csrf = await client.patch(f"/api/requests/{record.reference}", json={"status": "done"})
    assert no_csrf.status == 403 and (await no_csrf.json())["error"] == "csrf"
    assert services.store.get(record.reference).status == "new"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"note": ""}, 400, "empty_note"),
        ({"note": "   "}, 400, "empty_note"),
        ({"note": "\x00\x1f"}, 400, "empty_note"),
        ({"note": LONG}, 413, "note_too_long"),
        ({"status": "<script>alert(1)</script>"}, 400, "invalid_status"),
        ({"status": LONG}, 400, "invalid_status"),
        ({"status": SQL}, 400, "invalid_status"),
        ({"status": ["done"]}, 400, "invalid_field"),
        ({"<img src=x>": 1}, 400, "unknown_field"),
        ({}, 400, "missing_field"),
    ],
)
async def test_patch_refuses_bad_fields(agent_session, body, status, code):
    client, csrf, reference = agent_session
    response = await client.patch(f"/api/requests/{reference}", json=body, headers={"X-CSRF-Token": csrf})
    data = await error_json(response, status, code)
    assert len(data["message"]) < 300  # what the client sent is never echoed whole


@pytest.mark.parametrize(
    ("raw", "code"), [(b"{,}", "malformed_json"), (b"[]", "not_an_object"), (b"\xc3\x28", "malformed_json")]
)
async def test_patch_refuses_malformed_bodies(agent_session, raw, code):
    client, csrf, reference = agent_session
    response = await client.patch(
        f"/api/requests/{reference}", data=raw, headers={"Content-Type": "application/json", "X-CSRF-Token": csrf}
    )
    await error_json(response, 400, code)


async def test_patch_of_an_unknown_or_sql_reference_is_404(agent_session):
    client, csrf, _ = agent_session
    for ref in ("DR-0000-0000", "' OR 1=1 --", "%FF%FE", "😀"):
        response = await client.patch(f"/api/requests/{ref}", json={"note": "x"}, headers={"X-CSRF-Token": csrf})
        await error_json(response, 404, "not_found")


async def test_notes_keep_markup_sql_and_scripts_as_plain_text(agent_session):
    client, csrf, reference = agent_session
    for note in (INJECTION, SQL, "Rückruf 📞 — 電話してください", "tab\there\x00NUL gone"):
        response = await client.patch(f"/api/requests/{reference}", json={"note": note}, headers={"X-CSRF-Token": csrf})
        assert response.status == 200, await response.text()
    notes = [n["text"] for n in (await response.json())["request"]["notes"]]
    assert notes == [INJECTION, SQL, "Rückruf 📞 — 電話してください", "tab hereNUL gone"]
    html = await (await client.get(f"/agent/requests/{reference}")).text()
    assert INJECTION not in html and "<script>window" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&#x27;; DROP TABLE requests; --" in html
