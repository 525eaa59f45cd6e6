"""Fixtures of the web app's tests: the app (bot/web) through aiohttp's test client, on
the session's real retriever and a SQLite request store of its own in tmp_path.

``client`` is the app with Rasa down (its URL is a closed port) and the default rate
limits, so the member chat's 502 path is what it sees. ``make_client`` builds the app in
front of ``fake_rasa`` (or another URL) with any settings changed; ``rasa_client`` and
``echo_client`` are two such apps the tests use often.
"""

from __future__ import annotations

import dataclasses
import itertools
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.services import Services
from bot.settings import Settings
from bot.web import create_app
from bot.web.auth import make_entry
from bot.web.keys import SERVICES
from tests.web.helpers import (
    AGENT,
    CANNED_ANSWER,
    CANNED_EVENTS,
    NO_LIMITS,
    PASSWORD,
    SENDER,
    SESSION_SECRET,
    FakeRasa,
    login,
    parse,
    sign_in,
)

MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture(scope="session")
def agent_entry() -> str:
    """The test agent's account entry (``alice`` with PASSWORD)."""
    return make_entry(AGENT, PASSWORD)


@pytest.fixture(scope="session")
def closed_port() -> Iterator[int]:
    """A port bound but never listened on: connections are refused, and no other server
    (such as the aiohttp test server picking an ephemeral port) can take it meanwhile,
    which a port that was merely free a moment ago does not guarantee."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def make_web_settings(settings: Settings, tmp_path: Path, agent_entry: str) -> Callable[..., Settings]:
    """``make_web_settings(rasa_url, **overrides)``: the session's settings with Rasa and
    the action server at ``rasa_url``, a fresh SQLite request store and var folder in
    tmp_path, the test agent's account, SESSION_SECRET, and ``overrides`` on top."""
    numbers = itertools.count()

    def make(rasa_url: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path}/requests-{next(numbers)}.db",
            "rasa_url": rasa_url,
            "action_server_url": rasa_url,
            "var_dir": tmp_path / "var",
            "agent_accounts": agent_entry,
            "session_secret": SESSION_SECRET,
        }
        return dataclasses.replace(settings, **{**values, **overrides})

    return make


@pytest.fixture
def web_settings(make_web_settings: Callable[..., Settings], closed_port: int) -> Settings:
    """Settings whose Rasa and action server URLs point at a closed port."""
    return make_web_settings(f"http://127.0.0.1:{closed_port}")


@pytest.fixture
def services(web_settings: Settings, make_services: Callable[..., Services]) -> Services:
    """The services ``client`` uses (its request store, the session's retriever)."""
    return make_services(web_settings)


@pytest.fixture
async def client(aiohttp_client: Any, web_settings: Settings, services: Services) -> TestClient:
    """The app with Rasa down and the default rate limits."""
    return await aiohttp_client(create_app(web_settings, services=services))


@pytest.fixture
async def agent(client: TestClient) -> str:
    """Log in as alice on ``client``; the session's CSRF token."""
    response = await login(client)
    assert response.status == 303, await response.text()
    page = await client.get("/agent")
    return parse(await page.text()).meta["csrf-token"]


@pytest.fixture
def fake_rasa() -> FakeRasa:
    """The fake Rasa's behaviour; change its attributes to change its answers."""
    return FakeRasa()


@pytest.fixture
async def fake_rasa_url(aiohttp_server: Any, fake_rasa: FakeRasa) -> str:
    """The fake Rasa, running; its base URL. It keeps no access log, so the web app's
    lines are the only ones on ``aiohttp.access``."""
    server = await aiohttp_server(fake_rasa.app(), access_log=None)
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def make_client(
    aiohttp_client: Any,
    fake_rasa_url: str,
    make_web_settings: Callable[..., Settings],
    make_services: Callable[..., Services],
) -> MakeClient:
    """A factory of test clients: ``make_client(rasa_url=<the fake Rasa>, routes=(),
    **settings)``, each app with its own request store and any settings changed."""

    async def make(
        rasa_url: str = fake_rasa_url, routes: tuple[web.RouteDef, ...] = (), **overrides: Any
    ) -> TestClient:
        settings = make_web_settings(rasa_url, **overrides)
        app = create_app(settings, services=make_services(settings))
        app.router.add_routes(routes)
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def rasa_client(make_client: MakeClient, fake_rasa: FakeRasa) -> TestClient:
    """The app with the default rate limits in front of a fake Rasa that answers with
    CANNED_ANSWER, replays CANNED_EVENTS and finds ``claim_submit`` at 0.93."""
    fake_rasa.answer = CANNED_ANSWER
    fake_rasa.events = CANNED_EVENTS
    fake_rasa.intent = {"name": "claim_submit", "confidence": 0.93}
    return await make_client()


@pytest.fixture
async def echo_client(make_client: MakeClient) -> TestClient:
    """The app in front of the echoing fake Rasa, rate limits off, so each bad-input
    case is judged on its own."""
    return await make_client(**NO_LIMITS)


@pytest.fixture
async def agent_session(echo_client: TestClient) -> tuple[TestClient, str, str]:
    """(echo_client, CSRF token, reference of a stored request) for a signed-in agent."""
    csrf = await sign_in(echo_client)
    record = echo_client.app[SERVICES].store.submit(
        "callback", {"full_name": "Jane Doe", "phone": "+44 20 7946 0000", "topic": "claims"}, conversation_id=SENDER
    )
    return echo_client, csrf, record.reference


@pytest.fixture(autouse=True)
def no_unhandled_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No input may reach the catch-all error handler (it logs a traceback)."""
    yield
    crashes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("unhandled error")]
    assert not crashes, crashes
