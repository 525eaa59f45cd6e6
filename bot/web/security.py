"""Request guards and response headers: origins, rate limits, agent sessions, CSRF, headers.

All guards are middlewares keyed on the path, so no handler can forget to check:

* :func:`cors_guard`: first, a request must be addressed to a host we serve
  (``allowed_hosts``; 400 otherwise), so a page on another name that resolves to us (DNS
  rebinding) cannot pass for this site. Then requests from other web sites (``Origin``,
  or ``Referer`` when a state-changing request has no ``Origin``; scheme, host and port
  compared) may use only the member API and only from configured origins
  (:mod:`bot.web.cors`); other cross-site state-changing requests are refused (403),
  which stops CSRF by form post.
* :func:`rate_limit`: token buckets per client address on the chat and API endpoints
  (:mod:`bot.web.ratelimit`); over the limit is 429 with ``Retry-After``.
* :func:`agent_guard`: every ``/agent/...`` page (except the login page) and every agent
  API call needs a live agent session; anonymous callers get a redirect to the login
  page (pages) or 401 (API), and state-changing requests also need the session's CSRF
  token (form field ``csrf_token`` or header ``X-CSRF-Token``).

``X-Forwarded-For``, ``-Proto`` and ``-Host`` are believed only from a peer in
``trusted_proxies`` (:func:`from_trusted_proxy`); from anyone else they are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import hdrs, web

from bot.web.auth import AgentSession, csrf_matches
from bot.web.cors import MEMBER_API_PATHS, host_allowed, normalise_origin, parse_allowed_hosts, same_origin, url_origin
from bot.web.html import error_page
from bot.web.jsonio import BadRequest, json_error, read_form, shorten
from bot.web.keys import AUTH, CORS, RATE_LIMITS, SETTINGS
from bot.web.ratelimit import peer_is_trusted, request_client, too_many_requests

log = logging.getLogger(__name__)

SESSION_COOKIE = "agent_session"
LOGIN_CSRF_COOKIE = "login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
#: request[AGENT_KEY]: the AgentSession of a guarded request.
AGENT_KEY = web.RequestKey("agent", AgentSession)

#: Paths anyone may use under /agent (the login form itself).
PUBLIC_AGENT_PATHS = {"/agent/login"}
#: JSON endpoints that belong to agents.
AGENT_API_PREFIXES = ("/api/suggest", "/api/requests")
#: Endpoints behind the per-client rate limit (everything that reaches Rasa or the database).
RATE_LIMITED_PREFIXES = ("/api/chat", "/api/feedback", *AGENT_API_PREFIXES)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def from_trusted_proxy(request: web.Request) -> bool:
    """Whether this request's ``X-Forwarded-*`` headers are believed: its peer is one of
    ``trusted_proxies`` (:func:`bot.web.ratelimit.peer_is_trusted` decides, for all of them)."""
    limits = request.app.get(RATE_LIMITS)
    return limits is not None and peer_is_trusted(request.remote, limits.trusted_proxies)


def forwarded(request: web.Request, name: str) -> str:
    """``X-Forwarded-<name>`` as the nearest trusted proxy set it; "" from anyone else.

    The last value counts: a proxy that appends rather than overwrites puts what it saw
    last, and anything before it may have been written by the client.
    """
    if not from_trusted_proxy(request):
        return ""
    values = ",".join(request.headers.getall(f"X-Forwarded-{name}", []))
    return values.rsplit(",", 1)[-1].strip()


def client_address(request: web.Request) -> str:
    """The client's address (``X-Forwarded-For`` only from a trusted proxy), for limits and logs."""
    limits = request.app.get(RATE_LIMITS)
    return request_client(request, limits.trusted_proxies if limits is not None else ())


def is_https(request: web.Request) -> bool:
    """True when the browser talks HTTPS to us (directly, or through a trusted proxy that says so)."""
    return request.secure or forwarded(request, "Proto").lower() == "https"


def is_agent_page(path: str) -> bool:
    """Agent HTML pages (the login page is not one: anyone may see it)."""
    return (path == "/agent" or path.startswith("/agent/")) and path not in PUBLIC_AGENT_PATHS


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def is_agent_api(path: str) -> bool:
    """Agent JSON endpoints."""
    return _under(path, AGENT_API_PREFIXES)


def is_rate_limited(path: str) -> bool:
    """Endpoints counted against a client's rate limit."""
    return _under(path, RATE_LIMITED_PREFIXES)


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, path: str) -> None:
    """A session-type cookie: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    response.set_cookie(name, value, path=path, httponly=True, samesite="Strict", secure=is_https(request))


def clear_cookie(response: web.StreamResponse, request: web.Request, name: str, path: str) -> None:
    """Expire a cookie set by :func:`set_cookie`."""
    response.del_cookie(name, path=path, httponly=True, samesite="Strict", secure=is_https(request))


def current_agent(request: web.Request) -> AgentSession | None:
    """The agent session of this request's cookie, or None."""
    return request.app[AUTH].sessions.get(request.cookies.get(SESSION_COOKIE))


def login_redirect(request: web.Request) -> web.HTTPFound:
    """Send an anonymous browser to the login page, remembering where it wanted to go."""
    target = request.path_qs if request.method == "GET" else "/agent"
    return web.HTTPFound(f"/agent/login?next={quote(target, safe='/')}")


def safe_next(value: str | None) -> str:
    """A post-login destination: only our own agent pages (no open redirect)."""
    if value and is_agent_page(value) and "//" not in value and "\\" not in value and value.isprintable():
        return value
    return "/agent"


async def _csrf_token_given(request: web.Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await read_form(request)
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


@web.middleware
async def agent_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require an agent session (and CSRF token for changes) on agent pages and APIs."""
    path = request.path
    page, api = is_agent_page(path), is_agent_api(path)
    if not (page or api):
        return await handler(request)
    session = current_agent(request)
    if session is None:
        if api:
            return json_error(401, "unauthenticated", "Sign in as an agent to use this endpoint.")
        raise login_redirect(request)
    if request.match_info.http_exception is not None:  # no such route/method: let aiohttp say 404/405
        return await handler(request)
    if request.method in UNSAFE_METHODS and not csrf_matches(session.csrf_token, await _csrf_token_given(request)):
        log.warning("CSRF token missing or wrong for %s %s (agent %s)", request.method, path, session.name)
        if api:
            return json_error(403, "csrf", f"Missing or wrong {CSRF_HEADER} header.")
        return error_page(
            403,
            "Request refused",
            "This form has expired or did not come from this site. Reload the page and try again.",
            link=("/agent", "Back to the agent console"),
        )
    request[AGENT_KEY] = session
    return await handler(request)


def public_host(request: web.Request) -> str:
    """The host the browser addressed: ``Host``, or ``X-Forwarded-Host`` from a trusted proxy."""
    return forwarded(request, "Host") or request.headers.get(hdrs.HOST, "").strip()


def public_origin(request: web.Request) -> str | None:
    """This site's origin as the browser sees it: scheme, host and port (None for a bad Host)."""
    return normalise_origin(f"{'https' if is_https(request) else 'http'}://{public_host(request)}")


def _refuse_host(request: web.Request, host: str) -> web.Response:
    log.warning("refused %s %s for unknown host %.100r", request.method, request.path, host)
    if _wants_json(request):
        return json_error(
            400, "unknown_host", f"This server does not answer to the host name {shorten(host) if host else '(none)'}."
        )
    return error_page(
        400,
        "Unknown address",
        "This site is not served under the address you used. Please check the address and try again.",
    )


def _refuse_origin(request: web.Request, origin: str) -> web.Response:
    log.warning("refused %s %s from another site (Origin %.100r)", request.method, request.path, origin)
    if _wants_json(request):
        return json_error(403, "origin_not_allowed", "Requests from other web sites are not allowed on this endpoint.")
    return error_page(
        403,
        "Request refused",
        "This form did not come from this site. Open the page on this site and try again.",
    )


@web.middleware
async def cors_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse unknown hosts (400); answer preflights for allowed origins; refuse other
    cross-site preflights and changes (403)."""
    host = public_host(request)
    if not host_allowed(host, parse_allowed_hosts(request.app[SETTINGS].allowed_hosts)):
        return _refuse_host(request, host)
    origin = request.headers.get("Origin")
    unsafe = request.method in UNSAFE_METHODS
    policy = request.app[CORS]
    ours = public_origin(request)
    if origin is None:
        if not unsafe:
            return await handler(request)
        # Browsers send Origin on cross-site POSTs; Sec-Fetch-Site covers any that do not,
        # and a Referer from another site the rest.
        if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
            return _refuse_origin(request, "(none; Sec-Fetch-Site: cross-site)")
        referer = request.headers.get("Referer")
        if referer is not None:
            source = url_origin(referer)
            if source is None or not (same_origin(source, ours) or policy.allows(source, request.path)):
                return _refuse_origin(request, f"(none; Referer {source or 'unreadable'})")
        return await handler(request)
    if same_origin(origin, ours):
        return await handler(request)
    allowed = policy.allows(origin, request.path)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if not allowed:
            return _refuse_origin(request, origin)
        return web.Response(status=204, headers=policy.preflight_headers(origin))
    if unsafe and not allowed:
        return _refuse_origin(request, origin)
    return await handler(request)


async def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: CORS headers on member API answers to an allowed origin.

    A signal rather than the middleware, so error answers (400, 413, 429, 502) get them
    too and the embedding page can show their messages.
    """
    if request.path not in MEMBER_API_PATHS:
        return
    vary = response.headers.get("Vary", "")
    if "origin" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
    origin = request.headers.get("Origin")
    if origin is None or request.method == "OPTIONS" or same_origin(origin, public_origin(request)):
        return
    if request.app[CORS].allows(origin, request.path):
        response.headers.update(request.app[CORS].response_headers(origin))


@web.middleware
async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Per-client token bucket on the chat and API endpoints (429 with Retry-After over it)."""
    if request.method == "OPTIONS" or not is_rate_limited(request.path):
        return await handler(request)
    wait = request.app[RATE_LIMITS].per_client.hit(client_address(request))
    if wait:
        log.warning("rate limit reached: %s %s", request.method, request.path)
        return too_many_requests(wait, chat=request.path == "/api/chat" and request.method == "POST")
    return await handler(request)


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """JSON errors for the API, friendly pages for people, never a traceback."""
    try:
        return await handler(request)
    except BadRequest as exc:
        if _wants_json(request):
            return json_error(exc.status, exc.code, exc.message, **exc.extra)
        return error_page(exc.status, "Something is wrong with this request", exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if _wants_json(request):
            message = {
                404: "There is no such endpoint.",
                405: "This method is not allowed on this endpoint.",
                413: "The request body is too large.",
            }.get(exc.status, exc.reason)
            return json_error(exc.status, exc.reason.lower().replace(" ", "_"), message)
        if exc.status == 404:
            return error_page(404, "Page not found", "We could not find the page you asked for.")
        if exc.status == 413:
            return error_page(413, "Too much data", "What you sent is too large. Please shorten it and try again.")
        return error_page(exc.status, exc.reason, "This request could not be handled.")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json(request):
            return json_error(500, "internal_error", "Something went wrong on our side. Please try again later.")
        return error_page(500, "Something went wrong", "Something went wrong on our side. Please try again later.")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: security headers on every response, no caching of private data."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if is_https(request):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    path = request.path
    if path.startswith(("/agent", "/api/")) or path == "/healthz":
        response.headers["Cache-Control"] = "no-store"
