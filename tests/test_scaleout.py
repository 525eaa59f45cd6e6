"""Scale-out on loopback: 2 Rasa servers on a shared PostgreSQL tracker store and Redis
lock store, 2 action servers, nginx in front (bot/devtools/scaleout.py, the layout of deploy/).

Many members talk at once and nginx spreads each member's turns over both Rasa servers;
every turn must still get its own reply, in order, and every conversation must be stored
complete (no lost or doubled turn), as a member and an agent reading the transcript
later depend on. The deploy/ files are checked against what this test runs.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from bot.devtools.liveload import run_live_load
from bot.devtools.scaleout import DEPLOY, ENDPOINTS, Postgres, Redis, ScaledStack, find_nginx, render_nginx_conf
from bot.rasa_plugins.server import api_url
from bot.settings import ROOT, Settings
from bot.web.auth import make_entry
from tests.helpers import port

CONVERSATIONS = 30
LIVE_AGENTS = {"scale.agent1": "scale-out agent password", "scale.agent2": "scale-out agent password"}
#: Conversations that send their turns alternately to each Rasa server directly, so
#: alternation is certain whatever nginx's round robin does under concurrency.
DIRECT_CONVERSATIONS = 4
FAQ_DOC = "cigna-health-benefits-member-faq"

#: (message, check of the reply): each reply is known, so a reply meant for another turn
#: or another member shows.
TURNS: list[tuple[str, dict]] = [
    ("hello", {"says": "assistant"}),
    ("how do I send you a claim for my doctor's bill?", {"cites": FAQ_DOC}),
    ('/start_data_rights_request{"request_type":"deletion"}', {"says": "full name"}),
    ("Jane Doe", {"says": "email address"}),
    ("jane.doe@example.com", {"says": "member id"}),
    ("AB123456", {"says": "date of birth"}),
]
SUBMIT_TURNS = TURNS + [
    ("12/03/1985", {"says": "describe your request"}),
    ("please delete my old address and phone number", {"says": "shall i submit it?"}),
    ("yes", {"says": "DR-"}),
]


@dataclass
class Turn:
    """One message and what came back."""

    message: str
    expect: dict
    upstream: str = ""
    status: int = 0
    replies: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    ended: float = 0.0

    @property
    def text(self) -> str:
        return " \n".join(m.get("text") or "" for m in self.replies)

    def problems(self) -> list[str]:
        """What is wrong with the reply to this turn (empty: nothing)."""
        if self.status != 200:
            return [f"HTTP {self.status}"]
        if not any(m.get("text") or m.get("custom") for m in self.replies):
            return ["empty reply"]
        out = []
        if "says" in self.expect and self.expect["says"].lower() not in self.text.lower():
            out.append(f"expected {self.expect['says']!r}, got {self.text[:120]!r}")
        if "cites" in self.expect:
            cited = [
                c.get("id", "").split("#")[0]
                for m in self.replies
                if isinstance(m.get("custom"), dict)
                for c in m["custom"].get("citations", [])[:1]
            ]
            if self.expect["cites"] not in cited:
                out.append(f"expected a citation of {self.expect['cites']}, cited {cited}")
        return out


@dataclass
class Conversation:
    """A member's conversation: its sender id and its turns in the order sent."""

    sender: str
    turns: list[Turn]
    #: None: every turn through nginx; else the Rasa servers' URLs to cycle through.
    direct: list[str] | None = None

    @property
    def upstreams(self) -> set[str]:
        return {t.upstream for t in self.turns}


def _services_or_skip() -> None:
    """Skip (as the other PostgreSQL and browser tests do) when a service is missing here."""
    if not find_nginx():
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    settings = Settings.from_env()
    try:
        Redis.from_url(settings.scaleout_redis_url).command("PING")
    except OSError as exc:
        pytest.skip(f"Redis is unreachable: {exc}")
    try:
        Postgres.from_url(settings.scaleout_postgres_url).connect().close()
    except Exception as exc:  # noqa: BLE001 - psycopg2.OperationalError
        pytest.skip(f"PostgreSQL is unreachable: {exc}")


@pytest.fixture(scope="module")
def scaled(retriever) -> Iterator[ScaledStack]:  # retriever: the test index
    """The scaled-out stack on ports 5805/5806 (Rasa), 5855/5856 (actions), 5880 (nginx),
    and two web apps (8806, 8807) behind nginx on 5881 with live agents' accounts; all
    moved by TEST_PORT_OFFSET."""
    _services_or_skip()
    started = time.monotonic()
    accounts = ",".join(make_entry(name, password) for name, password in LIVE_AGENTS.items())
    stack = ScaledStack(
        rasa_ports=(port(5805), port(5806)),
        action_ports=(port(5855), port(5856)),
        proxy_port=port(5880),
        web_ports=(port(8806), port(8807)),
        web_proxy_port=port(5881),
        env={"BOT_AGENT_ACCOUNTS": accounts, "BOT_LIVE_RATE_LIMIT_PER_MINUTE": "0", "BOT_RATE_LIMIT_PER_MINUTE": "0"},
    ).start()
    print(f"\nscaled-out stack started in {time.monotonic() - started:.0f} s {stack.timings} (logs {stack.var_dir})")
    try:
        yield stack
    finally:
        stack.stop()


async def _post(session, url: str, sender: str, turn: Turn) -> None:  # session: aiohttp.ClientSession
    started = time.perf_counter()
    async with session.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": turn.message}) as r:
        turn.status = r.status
        # Direct to a server there is no nginx header: the port is the server.
        turn.upstream = r.headers.get("X-Upstream", url.rsplit("//", 1)[-1])
        turn.replies = await r.json() if r.status == 200 else []
    turn.ended = time.perf_counter()
    turn.seconds = turn.ended - started


async def _converse(session, proxy: str, conversation: Conversation) -> None:
    """Send the turns one after another, each after the previous reply, like a member."""
    for n, turn in enumerate(conversation.turns):
        url = conversation.direct[n % len(conversation.direct)] if conversation.direct else proxy
        await _post(session, url, conversation.sender, turn)
        await asyncio.sleep(random.uniform(0, 0.2))  # members type at different speeds


def _tracker_events(url: str, sender: str) -> list[dict]:
    import urllib.request

    tracker = api_url(url, f"/conversations/{sender}/tracker", Settings.from_env().rasa_token)
    with urllib.request.urlopen(tracker, timeout=30) as response:
        return json.loads(response.read())["events"]


def _user_texts(events: list[dict]) -> list[str]:
    return [e.get("text") for e in events if e.get("event") == "user"]


def _stored_user_texts(stack: ScaledStack) -> dict[str, list[str]]:
    """The user turns in the tracker store's events table, per conversation, in stored order."""
    conn = stack.postgres.connect(stack.tracker_db)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id")
            rows = cursor.fetchall()
    finally:
        conn.close()
    out: dict[str, list[str]] = {}
    for sender, data in rows:
        out.setdefault(sender, []).append(json.loads(data).get("text"))
    return out


@pytest.mark.stack
@pytest.mark.postgres
async def test_concurrent_conversations_alternate_between_servers_and_stay_complete(scaled: ScaledStack) -> None:
    import aiohttp

    run = uuid.uuid4().hex[:6]
    conversations = [
        Conversation(f"scale-{run}-{i:02d}", [Turn(m, e) for m, e in TURNS]) for i in range(CONVERSATIONS)
    ]
    conversations += [
        Conversation(f"scale-{run}-direct-{i}", [Turn(m, e) for m, e in TURNS], direct=scaled.rasa_urls)
        for i in range(DIRECT_CONVERSATIONS)
    ]
    submitter = Conversation(f"scale-{run}-submit", [Turn(m, e) for m, e in SUBMIT_TURNS])
    conversations.append(submitter)

    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(_converse(session, scaled.rasa_url, c) for c in conversations))
    elapsed = time.perf_counter() - started
    turns = [t for c in conversations for t in c.turns]
    latencies = sorted(t.seconds for t in turns)
    print(
        f"\n{len(conversations)} conversations, {len(turns)} turns in {elapsed:.1f} s; "
        f"latency p50 {latencies[len(turns) // 2]:.2f} s, max {latencies[-1]:.2f} s"
    )

    # Every message got its own reply, in order.
    problems = [
        f"{c.sender} turn {n} ({t.message[:30]!r}) via {t.upstream}: {p}"
        for c in conversations
        for n, t in enumerate(c.turns, 1)
        for p in t.problems()
    ]
    assert not problems, "\n".join(problems[:20])

    # The turns of a conversation were spread over both Rasa servers.
    servers = {f"127.0.0.1:{port}" for port in scaled.rasa_ports}
    assert {t.upstream for t in turns} == servers, Counter(t.upstream for t in turns)
    balanced = [c for c in conversations if c.direct is None]
    mixed = [c for c in balanced if c.upstreams == servers]
    assert len(mixed) >= 0.8 * len(balanced), f"only {len(mixed)} of {len(balanced)} conversations used both servers"
    for c in conversations:
        if c.direct:
            expected = [c.direct[n % len(c.direct)].rsplit("//", 1)[-1] for n in range(len(c.turns))]
            assert [t.upstream for t in c.turns] == expected, c.sender
    per_server = Counter(t.upstream for t in turns)
    assert min(per_server.values()) >= 0.3 * len(turns), per_server

    # nginx balanced the action servers too (Rasa calls them through it).
    log = scaled.nginx_access_log.read_text()
    action_upstreams = Counter(re.findall(r'"POST /actions/webhook [^"]*" 200 \d+ upstream=(\S+)', log))
    assert set(action_upstreams) == {f"127.0.0.1:{port}" for port in scaled.action_ports}, action_upstreams
    assert '" 50' not in log, "nginx answered a 5xx"

    # Every tracker holds every user turn, in order, once: as either server tells it and
    # as the events table holds it.
    stored = _stored_user_texts(scaled)
    for c in conversations:
        sent = [t.message for t in c.turns]
        views = [_user_texts(_tracker_events(url, c.sender)) for url in scaled.rasa_urls]
        assert views[0] == sent, f"{c.sender} on rasa-1: {views[0]}"
        assert views[1] == sent, f"{c.sender} on rasa-2: {views[1]}"
        assert stored.get(c.sender) == sent, f"{c.sender} in PostgreSQL: {stored.get(c.sender)}"
    ours = {sender for sender in stored if sender.startswith(f"scale-{run}-")}
    assert ours == {c.sender for c in conversations}

    # The form submitted through the balanced servers is in the PostgreSQL request store.
    from bot.requests import RequestStore

    reference = re.search(r"DR-[0-9A-Z]{4}-[0-9A-Z]{4}", submitter.turns[-1].text)
    assert reference, submitter.turns[-1].text
    with RequestStore(scaled.request_db_url) as store:
        record = store.get(reference.group(0))
    assert record is not None and record.kind == "data_rights"
    assert record.conversation_id == submitter.sender


@pytest.mark.stack
@pytest.mark.postgres
async def test_overlapping_turns_on_both_servers_are_serialised_by_the_redis_lock(scaled: ScaledStack) -> None:
    """A second message arriving at the other server while the first is handled waits for it.

    Without the shared lock both servers would load the same tracker at once and one
    turn's events would overwrite or split the other's.
    """
    import aiohttp

    first, second = TURNS[1], TURNS[0]  # the slower turn (an answer with retrieval) first
    conversations = [f"scale-lock-{uuid.uuid4().hex[:8]}" for _ in range(5)]

    async def overlap(session, sender: str) -> tuple[Turn, Turn]:
        a, b = Turn(*first), Turn(*second)
        task = asyncio.create_task(_post(session, scaled.rasa_urls[0], sender, a))
        await asyncio.sleep(0.3)
        await _post(session, scaled.rasa_urls[1], sender, b)
        await task
        return a, b

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        results = await asyncio.gather(*(overlap(session, s) for s in conversations))

    for sender, (a, b) in zip(conversations, results, strict=True):
        assert not a.problems() and not b.problems(), (sender, a.problems(), b.problems())
        events = _tracker_events(scaled.rasa_urls[1], sender)
        assert _user_texts(events) == [a.message, b.message], (sender, _user_texts(events))
        # Each turn ran to its end (action_listen) before the next one started.
        kinds = [
            "user" if e["event"] == "user" else "listen"
            for e in events
            if e["event"] == "user" or (e["event"] == "action" and e.get("name") == "action_listen")
        ]
        assert kinds[-4:] == ["user", "listen", "user", "listen"], (sender, kinds)
        # The quick second turn waited for the slow first one on the other server.
        assert b.ended >= a.ended, (sender, a.seconds, b.seconds)


# --------------------------------------------------------------------------- deploy/


def _placeholders(text: str) -> set[str]:
    """The ``${VAR}`` names in a YAML file's values (comments left out)."""
    return {name for line in text.splitlines() for name in re.findall(r"\$\{(\w+)\}", line.split("#")[0])}


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_live_chats_between_members_and_agents_on_two_web_apps_behind_nginx(scaled: ScaledStack) -> None:
    """Members and agents reach either web app through nginx's round robin (and so, at
    times, one app each): the hand-off (Rasa pauses, the queue in PostgreSQL), the accept,
    every message both ways (LISTEN/NOTIFY between the apps) and the end (Rasa resumed
    through nginx) all work, and agents stay signed in whichever app answers."""
    result = run_live_load(scaled.web_url or "", LIVE_AGENTS, members=6, messages=3, pause=0.2, timeout=30)
    assert not result.errors, result.errors
    assert len(result.joined_ms) == 6
    assert len(result.member_to_agent_ms) == len(result.agent_to_member_ms) == 6 * 3
    log = scaled.nginx_access_log.read_text()
    ws_upstreams = set(re.findall(r'"GET /(?:api|agent)/live/ws HTTP/1.1" 101 .*upstream=(\S+)', log))
    assert len(ws_upstreams) == 2, ws_upstreams  # sockets on both web apps
    assert re.search(r'"POST /conversations/[^/ ]+/tracker/events\?token=[^ ]+ HTTP/1.1" 200', log)


def test_endpoints_file_is_filled_in_production_and_on_loopback() -> None:
    endpoints = yaml.safe_load(ENDPOINTS.read_text())
    assert endpoints["tracker_store"]["type"] == "SQL" and endpoints["tracker_store"]["dialect"] == "postgresql"
    assert endpoints["lock_store"]["type"] == "redis"
    needed = _placeholders(ENDPOINTS.read_text())
    stack = ScaledStack()
    assert needed == set(stack._endpoint_env()), "bot/devtools/scaleout.py must set every placeholder"
    compose = _compose()
    for name in ("rasa-1", "rasa-2"):
        env = compose["services"][name]["environment"]
        assert needed <= set(env), f"{name} lacks {needed - set(env)}"
        assert env["ACTION_SERVER_URL"] == "http://nginx:5005/actions"


def test_compose_runs_our_rasa_version_model_and_action_image() -> None:
    rasa_pin = re.search(r"^rasa==(\S+)$", (ROOT / "requirements-rasa.lock").read_text(), re.M)
    assert rasa_pin
    services = _compose()["services"]
    rasa = [s for s in services if s.startswith("rasa-")]
    actions = [s for s in services if s.startswith("actions-")]
    assert len(rasa) >= 2 and len(actions) >= 2
    for name in rasa:
        assert services[name]["image"] == f"rasa/rasa:{rasa_pin.group(1)}-full"
        volumes = " ".join(services[name]["volumes"])
        assert "../models:" in volumes and "./endpoints.scaled.yml:" in volumes
    for name in actions:
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile.actions"
        assert services[name]["environment"]["BOT_DATABASE_URL"].startswith("postgresql+psycopg2://")
    assert (DEPLOY / "Dockerfile.actions").is_file()
    conf = (DEPLOY / "nginx.conf").read_text()
    for group, names in (("rasa", rasa), ("actions", actions)):
        block = re.search(rf"upstream {group} \{{(.*?)\}}", conf, re.S)
        assert block, group
        assert sorted(re.findall(r"server ([\w-]+):", block.group(1))) == sorted(names)


def _server_block(conf: str, listen: str) -> list[str]:
    """The directives of the server block listening on ``listen``, without comments and ``listen``."""
    for match in re.finditer(r"\n\s*server \{", conf):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(conf[i], 0)
            i += 1
        body = conf[match.end() : i - 1]
        if re.search(rf"listen {re.escape(listen)};", body):
            lines = [line.split("#")[0].strip() for line in body.splitlines()]
            return [line for line in lines if line and not line.startswith("listen ")]
    raise AssertionError(f"no server block listening on {listen}")


def test_loopback_nginx_routes_like_the_production_one(tmp_path: Path) -> None:
    production = (DEPLOY / "nginx.conf").read_text()
    loopback = render_nginx_conf(tmp_path, "127.0.0.1:5880", ["127.0.0.1:5805"], ["127.0.0.1:5855"])
    assert _server_block(loopback, "127.0.0.1:5880") == _server_block(production, "5005")
    assert "add_header X-Upstream $upstream_addr always;" in production
    nginx = find_nginx()
    if nginx:  # the production file is valid nginx once its host names resolve
        conf = tmp_path / "nginx.conf"
        conf.write_text(re.sub(r"\b(rasa-\d|actions-\d|web-\d):", "127.0.0.1:", production))
        result = subprocess.run([nginx, "-t", "-q", "-c", str(conf)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def _module_of(dotted: str) -> str | None:
    """The module a dotted name (``bot.pkg.module.Class``) lives in: its longest prefix
    that is a file of ours, or None."""
    parts = dotted.split(".")
    for end in range(len(parts), 1, -1):
        if (ROOT / Path(*parts[:end])).with_suffix(".py").is_file():
            return ".".join(parts[:end])
    return None


def test_compose_mounts_every_module_of_ours_that_rasa_imports() -> None:
    """credentials.yml and rasa-logging.yml name modules of ours; the Rasa image has
    none of our code, so each one, what it imports from bot, and the packages they sit
    in must be mounted (a file, or its folder)."""
    text = (ROOT / "credentials.yml").read_text() + (ROOT / "rasa-logging.yml").read_text()
    named = {m for m in map(_module_of, re.findall(r"\bbot(?:\.\w+)+", text)) if m}
    assert {"bot.rasa_plugins.channels", "bot.privacy.logmask"} <= named
    todo, modules = list(named), set()
    while todo:
        module = todo.pop()
        if module in modules:
            continue
        modules.add(module)
        source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
        todo += re.findall(r"^from (bot(?:\.\w+)+) import", source, re.M)
    files = {m.replace(".", "/") + ".py" for m in modules}
    files |= {str(Path(f).parent / "__init__.py") for f in files}
    files |= {"bot/__init__.py"}
    services = _compose()["services"]
    for service in (s for s in services if s.startswith("rasa-")):
        assert services[service]["environment"]["PYTHONPATH"] == "/app/botlib"
        mounts = {v.split(":")[0].removeprefix("../"): v.split(":")[1] for v in services[service]["volumes"]}
        for name in sorted(files):
            mounted = [src for src in mounts if name == src or name.startswith(src + "/")]
            assert mounted, (service, name)
            assert mounts[mounted[0]] == "/app/botlib/" + mounted[0], (service, name)
