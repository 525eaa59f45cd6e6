"""The aiohttp application: ``create_app(settings)``.

Built the way aiohttp's documentation describes: an app factory, typed ``web.AppKey``
state, ``cleanup_ctx`` generators that create the long-lived objects at start-up and
release them at shutdown (the retriever and request store via
:class:`bot.services.Services`, one ``aiohttp.ClientSession`` to Rasa), middlewares for
error pages, the cross-origin guard, rate limits and the agent guard (outermost first:
errors of every guard become clean answers; refused origins cost no tokens), and
``on_response_prepare`` signals for security and CORS headers. Handlers live in
member.py, documents.py, agent.py and api.py and only parse, call and respond; the
review pages are a sub-app (review.py) mounted at ``/agent/review``.

:class:`AccessLog` is the access log ``python -m bot.web`` serves with: aiohttp's
default line holds the query string, where a member's conversation id may be.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.services import Services
from bot.settings import Settings
from bot.web import agent, api, documents, live, member, review
from bot.web.agent_sessions import SharedSessionStore
from bot.web.auth import ADDRESS_FACTOR, AgentAuth, LoginLimiter, load_accounts
from bot.web.cors import CorsPolicy, parse_allowed_hosts
from bot.web.keys import AUTH, CORS, DOCUMENTS, RASA, RATE_LIMITS, RETRIEVER_POOL, SERVICES, SETTINGS
from bot.web.library import DocumentLibrary
from bot.web.rasa import RasaClient
from bot.web.ratelimit import RateLimiter, RateLimits, parse_networks
from bot.web.security import agent_guard, cors_guard, cors_headers, error_pages, rate_limit, security_headers

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the retriever and open the request store (unless the caller passed Services)."""
    owned = SERVICES not in app
    if owned:
        loop = asyncio.get_running_loop()
        app[SERVICES] = await loop.run_in_executor(None, Services.create, app[SETTINGS])
    services = app[SERVICES]
    app[DOCUMENTS] = DocumentLibrary(services.retriever.passages, app[SETTINGS].documents_dir)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retriever")
    app[RETRIEVER_POOL] = pool
    yield
    pool.shutdown(wait=False, cancel_futures=True)
    if owned:
        services.store.close()


async def rasa_ctx(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client session to the Rasa server and the action server."""
    settings = app[SETTINGS]
    async with aiohttp.ClientSession(headers={"User-Agent": "member-assistant-web"}) as session:
        app[RASA] = RasaClient(
            session,
            settings.rasa_url,
            settings.action_server_url,
            timeout=settings.rasa_timeout,
            health_timeout=settings.health_timeout,
            parse_timeout=settings.parse_timeout,
            max_in_flight=settings.rasa_max_in_flight,
            max_waiting=settings.rasa_max_waiting,
            token=settings.rasa_token,
        )
        yield


def rate_limits(settings: Settings) -> RateLimits:
    """The app's token buckets from the settings (ValueError for bad trusted_proxies)."""
    size = settings.rate_limit_max_clients
    return RateLimits(
        per_client=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst, max_keys=size),
        per_conversation=RateLimiter(
            settings.chat_rate_limit_per_minute, settings.chat_rate_limit_burst, max_keys=size
        ),
        trusted_proxies=parse_networks(settings.trusted_proxies),
    )


def referring_path(referer: str | None) -> str:
    """The path of a ``Referer`` (``-`` when there is none): no query, fragment or host."""
    if not referer:
        return "-"
    try:
        return urlsplit(referer).path or "/"
    except ValueError:
        return "?"


class AccessLog(AbstractAccessLogger):
    """One line per request: client, method, path, status, size, seconds, referring page,
    user agent; never a query string or a cookie.

    A member's conversation id opens their transcript, so it must not reach the log:
    the widget sends it only in its cookie, but older pages and other clients may still
    put it in ``?sender=``, and a referring URL may carry anything.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %s %.3fs "%s" "%s"',
            request.remote or "-",
            request.method,
            request.rel_url.raw_path,  # as sent, percent-encoded: no line breaks from %0A
            response.status,
            response.body_length,
            time,
            referring_path(request.headers.get("Referer")),
            request.headers.get("User-Agent", "-"),
        )


def with_session_secret(settings: Settings) -> Settings:
    """``settings`` with a key for members' conversation ids: a random one for this
    process (and a warning) when BOT_SESSION_SECRET is not set.

    Ids signed with a random key are as safe as any, so the app can still serve; but
    they stop working when the process restarts, and several web apps behind one proxy
    would refuse each other's, so production sets the variable (deploy/ requires it,
    ``make run`` and the test stacks write one).
    """
    if settings.session_secret:
        return settings
    log.warning(
        "BOT_SESSION_SECRET is not set: members' conversation ids are signed with a random key for this "
        "process only, so conversations do not survive a restart and other web app processes refuse them"
    )
    return dataclasses.replace(settings, session_secret=secrets.token_hex(32))


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> web.Application:
    """The web application for ``settings`` (from the environment when None).

    ``services`` lets tests pass an already loaded retriever and a store of their own;
    otherwise they are created at start-up (and the store closed at shutdown).
    """
    settings = with_session_secret(settings or Settings.from_env())
    app = web.Application(
        middlewares=[error_pages, cors_guard, rate_limit, agent_guard], client_max_size=settings.max_body_bytes
    )
    app[SETTINGS] = settings
    app[RATE_LIMITS] = rate_limits(settings)
    app[CORS] = CorsPolicy.from_config(settings.cors_origins)
    parse_allowed_hosts(settings.allowed_hosts)  # a malformed BOT_ALLOWED_HOSTS stops start-up
    if services is not None:
        app[SERVICES] = services
    accounts = load_accounts(settings.agent_accounts, settings.accounts_file)
    if not accounts:
        log.warning("no agent accounts configured: set BOT_AGENT_ACCOUNTS or run `python -m bot.web.accounts NAME`")
    app[AUTH] = AgentAuth(
        accounts=accounts,
        # In the database: every web process behind the load balancer knows every agent.
        sessions=SharedSessionStore(
            lambda: app[SERVICES].store.engine, settings.agent_session_hours * 3600, settings.agent_idle_minutes * 60
        ),
        limiter=LoginLimiter(settings.login_max_failures, settings.login_window_seconds),
        address_limiter=LoginLimiter(settings.login_max_failures * ADDRESS_FACTOR, settings.login_window_seconds),
    )
    app.cleanup_ctx.append(services_ctx)
    app.cleanup_ctx.append(rasa_ctx)
    app.on_response_prepare.append(security_headers)
    app.on_response_prepare.append(cors_headers)
    member.setup(app)
    documents.setup(app)
    agent.setup(app)
    api.setup(app)
    review.setup(app)
    live.setup(app)
    app.router.add_static("/static", STATIC_DIR, name="static")
    return app
