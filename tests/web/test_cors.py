"""Cross-origin use of the member API: preflights, allowed origins, cross-site posts and the
agent endpoints that never allow another origin.
"""

from __future__ import annotations

import dataclasses

import pytest

from bot.web import create_app
from bot.web.cors import CorsPolicy, normalise_origin, parse_origins, same_origin
from tests.web.helpers import (
    AGENT,
    ALLOWED_ORIGIN,
    EVIL_ORIGIN,
    NO_LIMITS,
    PASSWORD,
    error_json,
    login_form_token,
    sign_in,
)


async def test_preflight_is_answered_only_for_configured_origins(make_client):
    client = await make_client(cors_origins=f"{ALLOWED_ORIGIN}, https://help.example.org:8443")
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    response = await client.options("/api/chat", headers={"Origin": ALLOWED_ORIGIN, **ask})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Origin" in response.headers["Vary"]
    assert "Content-Security-Policy" in response.headers
    ok = await client.options("/api/feedback", headers={"Origin": "https://help.example.org:8443", **ask})
    assert ok.status == 204
    for origin, path in (
        (EVIL_ORIGIN, "/api/chat"),
        ("null", "/api/chat"),
        ("https://www.example.org.evil.example.net", "/api/chat"),
        ("http://www.example.org", "/api/chat"),  # another scheme is another origin
        (ALLOWED_ORIGIN, "/api/suggest"),  # agent endpoints: never
        (ALLOWED_ORIGIN, "/api/requests/DR-0000-0000"),
    ):
        response = await client.options(path, headers={"Origin": origin, **ask})
        assert response.status == 403, (origin, path)
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_responses_carry_the_origin_only_for_configured_origins(make_client):
    client = await make_client(cors_origins=ALLOWED_ORIGIN, **NO_LIMITS)
    response = await client.post("/api/chat", json={"message": "hi"}, headers={"Origin": ALLOWED_ORIGIN})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    assert response.headers["Vary"] == "Origin"
    bad = await client.post("/api/chat", json={"message": ""}, headers={"Origin": ALLOWED_ORIGIN})
    assert bad.status == 400 and bad.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN  # errors readable too
    read = await client.get("/api/chat/history", headers={"Origin": EVIL_ORIGIN})
    assert read.status == 200 and "Access-Control-Allow-Origin" not in read.headers  # the browser hides it
    assert read.headers["Vary"] == "Origin"
    same = await client.post(
        "/api/chat", json={"message": "hi"}, headers={"Origin": str(client.make_url("")).rstrip("/")}
    )
    assert same.status == 200 and "Access-Control-Allow-Origin" not in same.headers


async def test_cross_site_posts_are_refused(make_client, fake_rasa):
    client = await make_client(cors_origins=ALLOWED_ORIGIN, **NO_LIMITS)
    for path, body in (
        ("/api/chat", {"message": "hi"}),
        ("/api/feedback", {"answer_id": 1, "helpful": True}),
    ):
        data = await error_json(await client.post(path, json=body, headers={"Origin": EVIL_ORIGIN}), 403)
        assert data["error"] == "origin_not_allowed"
    # A form on another site posting to the chat (text/plain needs no preflight).
    response = await client.post(
        "/api/chat",
        data='{"message": "hi"}',
        headers={"Origin": "null", "Content-Type": "text/plain"},
    )
    assert response.status == 403
    # Without Origin but marked cross-site by the browser.
    response = await client.post("/api/chat", json={"message": "hi"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status == 403
    assert not fake_rasa.received
    # Agent forms never accept another site, even a configured one.
    token = await login_form_token(client)
    response = await client.post(
        "/agent/login",
        data={"name": AGENT, "password": PASSWORD, "csrf_token": token},
        headers={"Origin": ALLOWED_ORIGIN},
        allow_redirects=False,
    )
    html = await response.text()
    assert response.status == 403 and "did not come from this site" in html and "Set-Cookie" not in response.headers


async def test_agent_api_refuses_configured_origins_even_with_a_session(make_client):
    client = await make_client(cors_origins=ALLOWED_ORIGIN, **NO_LIMITS)
    csrf = await sign_in(client)
    response = await client.post(
        "/api/suggest", json={"message": "hi"}, headers={"X-CSRF-Token": csrf, "Origin": ALLOWED_ORIGIN}
    )
    await error_json(response, 403, "origin_not_allowed")
    response = await client.get("/api/requests", headers={"Origin": ALLOWED_ORIGIN})
    assert response.status == 200 and "Access-Control-Allow-Origin" not in response.headers


async def test_rate_limited_answers_are_readable_by_an_allowed_origin(make_client):
    client = await make_client(cors_origins=ALLOWED_ORIGIN, rate_limit_per_minute=1, rate_limit_burst=1)
    headers = {"Origin": ALLOWED_ORIGIN}
    await client.post("/api/chat", json={"message": "hi"}, headers=headers)
    response = await client.post("/api/chat", json={"message": "hi"}, headers=headers)
    assert response.status == 429 and response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_cors_configuration_is_checked(settings):
    assert parse_origins(" https://WWW.Example.org/ ,http://localhost:8080 ") == {
        "https://www.example.org",
        "http://localhost:8080",
    }
    assert normalise_origin("https://example.org:443") == "https://example.org"
    for bad in ("*", "example.org", "https://example.org/path", "ftp://example.org", "https://user@example.org"):
        with pytest.raises(ValueError, match="cors_origins"):
            parse_origins(bad)
    with pytest.raises(ValueError, match="cors_origins"):
        create_app(dataclasses.replace(settings, cors_origins="*"))
    with pytest.raises(ValueError, match="trusted_proxies"):
        create_app(dataclasses.replace(settings, trusted_proxies="proxy.local"))
    assert same_origin("http://127.0.0.1:8080", "http://127.0.0.1:8080") and same_origin(
        "https://Help.Example.org", "https://help.example.org:443"
    )
    assert not same_origin("https://help.example.org.evil.net", "https://help.example.org")
    assert not same_origin("null", "http://x")
    assert not CorsPolicy(frozenset({ALLOWED_ORIGIN})).allows(ALLOWED_ORIGIN, "/api/requests")
