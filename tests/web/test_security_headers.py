"""Security headers (CSP, nosniff, frame and referrer policies) on every page, API answer,
static file and error page, including the crash page.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from tests.web.helpers import EVIL_ORIGIN, login_form_token, no_traceback


async def test_security_headers_on_pages_api_and_static(client):
    for path in ("/", "/documents", "/agent/login", "/healthz", "/static/style.css", "/nope"):
        response = await client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "same-origin", path
        assert response.headers["X-Frame-Options"] == "DENY", path
    assert (await client.get("/healthz")).headers["Cache-Control"] == "no-store"


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("a bug")


async def test_every_page_and_error_page_carries_the_security_headers(make_client, caplog):
    client = await make_client(rate_limit_per_minute=1, rate_limit_burst=3, routes=(web.get("/boom", _boom),))
    csrf_form = await login_form_token(client)
    checks: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", "/", {}, 200),
        ("GET", "/documents", {}, 200),
        ("GET", "/documents/cigna-health-benefits-member-faq", {}, 200),
        ("GET", "/documents/nope", {}, 404),
        ("GET", "/nope", {}, 404),
        ("GET", "/static/chat.js", {}, 200),
        ("GET", "/static/nope.js", {}, 404),
        ("GET", "/healthz", {}, 200),
        ("GET", "/agent", {"allow_redirects": False}, 302),
        ("POST", "/agent/login", {"data": {"name": "x", "password": "y", "csrf_token": csrf_form}}, 401),
        ("GET", "/agent/login", {}, 200),
        ("POST", "/agent/login", {"data": {"name": "x", "password": "y"}}, 403),
        (
            "POST",
            "/agent/login",
            {"data": b"n=\xff", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            400,
        ),
        (
            "POST",
            "/agent/login",
            {"data": b"n=" + b"a" * 200_000, "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            413,
        ),
        ("POST", "/agent/login", {"data": {"name": "x"}, "headers": {"Origin": EVIL_ORIGIN}}, 403),
        ("GET", "/api/chat", {}, 405),
        ("GET", "/api/nope", {}, 404),
        ("POST", "/api/chat", {"data": b"{", "headers": {"Content-Type": "application/json"}}, 400),
        ("GET", "/api/requests", {}, 401),
        ("GET", "/api/requests", {}, 429),
        ("OPTIONS", "/api/chat", {"headers": {"Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "POST"}}, 403),
        ("GET", "/boom", {}, 500),
    ]
    for method, path, kwargs, status in checks:
        response = await client.request(method, path, **kwargs)
        text = await response.text()
        assert response.status == status, (method, path, response.status, text[:200])
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert response.headers["Referrer-Policy"] == "same-origin", path
        no_traceback(text)
        if response.content_type == "text/html":
            assert "<script>" not in text  # no inline script on any page
    # The crash is logged with its traceback (as exc_info, or as masked exc_text once
    # the process-wide log masking has rendered it).
    crashes = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert [r.getMessage() for r in crashes] == ["unhandled error on GET /boom"]
    assert "RuntimeError" in (crashes[0].exc_text or logging.Formatter().formatException(crashes[0].exc_info))
    caplog.clear()  # that crash was the point
