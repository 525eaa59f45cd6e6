"""Answer suggestions for agents (/api/suggest and the console form without JavaScript):
the top passages, the intent when Rasa is up, and bad input refused.
"""

from __future__ import annotations

import pytest

from tests.web.helpers import LONG, VALID_MESSAGES, error_json, login, parse


async def test_suggest_returns_top_passages(client, agent):
    response = await client.post(
        "/api/suggest",
        json={"message": "How do I submit a claim for my medical expenses?"},
        headers={"X-CSRF-Token": agent},
    )
    assert response.status == 200
    data = await response.json()
    assert data["intent"] is None  # Rasa is down here
    suggestions = data["suggestions"]
    assert 3 <= len(suggestions) <= 5
    for s in suggestions:
        assert set(s) >= {"passage_id", "title", "section", "url", "local_url", "text", "score", "confidence"}
        assert 0.0 <= s["confidence"] <= 1.0
        assert s["local_url"].startswith("/documents/")
    assert suggestions[0]["passage_id"].startswith("cigna-health-benefits-member-faq#")
    # Most confident first: the percentage agents read goes down the list.
    assert [s["confidence"] for s in suggestions] == sorted((s["confidence"] for s in suggestions), reverse=True)
    assert {s["band"] for s in suggestions} <= {"answer", "clarify", "abstain"}


async def test_suggest_shows_the_intent_when_rasa_is_up(rasa_client):
    await login(rasa_client)
    csrf = parse(await (await rasa_client.get("/agent")).text()).meta["csrf-token"]
    response = await rasa_client.post(
        "/api/suggest", json={"message": "how do I claim"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status == 200
    assert (await response.json())["intent"] == {"name": "claim_submit", "confidence": 0.93}


@pytest.mark.parametrize("text", VALID_MESSAGES)
async def test_suggest_handles_emoji_other_scripts_markup_and_sql(agent_session, text):
    client, csrf, _ = agent_session
    response = await client.post("/api/suggest", json={"message": text}, headers={"X-CSRF-Token": csrf})
    assert response.status == 200
    data = await response.json()
    assert data["intent"] == {"name": "claim_submit", "confidence": 0.9}
    assert isinstance(data["suggestions"], list)


async def test_suggest_needs_csrf_and_valid_input(client, agent):
    assert (await client.post("/api/suggest", json={"message": "claims"})).status == 403
    headers = {"X-CSRF-Token": agent}
    assert (await client.post("/api/suggest", json={"message": " "}, headers=headers)).status == 400
    assert (await client.post("/api/suggest", json={"message": "x" * 2001}, headers=headers)).status == 413
    assert (await client.post("/api/suggest", json={}, headers=headers)).status == 400
    response = await client.post("/api/suggest", data=b"{", headers={**headers, "Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["error"] == "malformed_json"
    wrong = await client.post("/api/suggest", json={"message": "claims"}, headers={"X-CSRF-Token": "nope"})
    assert wrong.status == 403 and (await wrong.json())["error"] == "csrf"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": ""}, 400, "empty_message"),
        ({"message": " \n\t "}, 400, "empty_message"),
        ({"message": "\x00\x01\x02"}, 400, "empty_message"),
        ({"message": LONG}, 413, "message_too_long"),
        ({"message": 12}, 400, "invalid_field"),
        ({}, 400, "missing_field"),
    ],
)
async def test_suggest_refuses_bad_messages(agent_session, body, status, code):
    client, csrf, _ = agent_session
    await error_json(await client.post("/api/suggest", json=body, headers={"X-CSRF-Token": csrf}), status, code)


@pytest.mark.parametrize(("raw", "code"), [(b"{", "malformed_json"), (b'["hi"]', "not_an_object")])
async def test_suggest_refuses_malformed_bodies(agent_session, raw, code):
    client, csrf, _ = agent_session
    response = await client.post(
        "/api/suggest", data=raw, headers={"Content-Type": "application/json", "X-CSRF-Token": csrf}
    )
    await error_json(response, 400, code)


async def test_console_suggestions_without_javascript(client, agent):
    response = await client.post("/agent/suggest", data={"csrf_token": agent, "message": "I forgot my password"})
    assert response.status == 200
    html = await response.text()
    assert html.count('class="suggestion ') >= 3
    assert "data-copy-text=" in html and "Copy answer" in html
    assert "Intent unavailable" in html
    refused = await client.post("/agent/suggest", data={"message": "I forgot my password"})
    assert refused.status == 403
