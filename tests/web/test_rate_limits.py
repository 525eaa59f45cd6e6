"""Rate limits: token buckets per client address and per conversation, polite 429s, and
X-Forwarded-For believed only from trusted proxies.
"""

from __future__ import annotations

import pytest

from bot.web.keys import RATE_LIMITS
from bot.web.ratelimit import RateLimiter, client_ip, parse_networks
from tests.web.helpers import error_json, new_conversation


async def test_too_many_chat_messages_from_one_client_get_a_polite_429(make_client, fake_rasa):
    client = await make_client(rate_limit_per_minute=6, rate_limit_burst=3, chat_rate_limit_per_minute=0)
    for _ in range(3):  # each message in a conversation of its own: the client's bucket still counts them
        client.session.cookie_jar.clear()
        assert (await client.post("/api/chat", json={"message": "hi"})).status == 200
    client.session.cookie_jar.clear()
    response = await client.post("/api/chat", json={"message": "hi"})
    data = await error_json(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 10 and data["retry_after"] == int(
        response.headers["Retry-After"]
    )
    [message] = data["messages"]  # the widget shows it as the assistant's reply
    assert message["text"].startswith("You're sending messages faster than I can answer. Please wait")
    assert message["custom"]["type"] == "rate_limited"
    assert len(fake_rasa.received) == 3
    for header in ("Content-Security-Policy", "X-Content-Type-Options"):
        assert header in response.headers


async def test_api_endpoints_share_the_client_bucket_and_answer_json(make_client):
    client = await make_client(rate_limit_per_minute=60, rate_limit_burst=2)
    assert (await client.get("/api/chat/history")).status == 200
    assert (await client.get("/api/requests")).status == 401  # counted even before authentication
    for method, path in (
        ("GET", "/api/requests"),
        ("POST", "/api/suggest"),
        ("POST", "/api/feedback"),
        ("GET", "/api/chat/history"),
        ("POST", "/api/chat/session"),
        ("PATCH", "/api/requests/DR-0000-0000"),
    ):
        response = await client.request(method, path, json={})
        data = await error_json(response, 429, "rate_limited")
        assert "Try again in" in data["message"] and "messages" not in data
        assert int(response.headers["Retry-After"]) >= 1
    for path in ("/", "/documents", "/healthz", "/static/chat.js", "/agent/login"):  # pages are not limited
        assert (await client.get(path)).status == 200, path


async def test_one_conversation_has_its_own_limit(make_client):
    client = await make_client(
        rate_limit_per_minute=600, rate_limit_burst=100, chat_rate_limit_per_minute=10, chat_rate_limit_burst=2
    )
    for _ in range(2):
        assert (await client.post("/api/chat", json={"message": "hi"})).status == 200
    response = await client.post("/api/chat", json={"message": "hi"})
    assert response.status == 429 and int(response.headers["Retry-After"]) == 6  # one token per 6 s
    await new_conversation(client)
    assert (await client.post("/api/chat", json={"message": "hi"})).status == 200


async def test_zero_switches_the_limits_off(make_client):
    client = await make_client(rate_limit_per_minute=0, rate_limit_burst=1, chat_rate_limit_burst=0)
    for _ in range(40):
        assert (await client.post("/api/chat", json={"message": "hi"})).status == 200
    assert len(client.app[RATE_LIMITS].per_client) == 0


async def test_forwarded_for_is_believed_only_from_trusted_proxies(make_client):
    direct = await make_client(rate_limit_per_minute=1, rate_limit_burst=1)
    for i, expected in ((1, 200), (2, 429)):  # spoofed headers do not give a fresh allowance
        response = await direct.get("/api/chat/history", headers={"X-Forwarded-For": f"203.0.113.{i}"})
        assert response.status == expected
    proxied = await make_client(
        rate_limit_per_minute=1, rate_limit_burst=1, trusted_proxies="127.0.0.1, ::1, 10.0.0.0/8"
    )
    statuses = []
    for forwarded in ("203.0.113.1", "203.0.113.2", "198.51.100.7, 203.0.113.1", "203.0.113.3, 10.1.2.3"):
        response = await proxied.get("/api/chat/history", headers={"X-Forwarded-For": forwarded})
        statuses.append(response.status)
    # Two members behind the proxy each have their own bucket; a client-written left-most
    # address does not hide 203.0.113.1; a second trusted proxy hop is looked through.
    assert statuses == [200, 200, 429, 200]


def test_token_bucket_refills_and_tells_how_long_to_wait():
    now = [0.0]
    limiter = RateLimiter(per_minute=30, burst=3, clock=lambda: now[0])
    assert [limiter.hit("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.hit("a") == pytest.approx(2.0)  # 30 a minute: one every 2 s
    now[0] = 1.0
    assert limiter.hit("a") == pytest.approx(1.0)
    now[0] = 2.0
    assert limiter.hit("a") == 0.0
    assert limiter.hit("b") == 0.0  # another client is not affected
    assert not RateLimiter(per_minute=0, burst=5).enabled and RateLimiter(per_minute=0, burst=5).hit("x") == 0.0


def test_bucket_memory_is_bounded_and_idle_clients_are_forgotten():
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=5, max_keys=100, clock=lambda: now[0])
    for i in range(10_000):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
        assert len(limiter) <= 100
    now[0] = 1_000.0  # every bucket has refilled: no information left to keep
    limiter.hit("fresh")
    assert len(limiter) == 1


def test_client_address_rules():
    proxies = parse_networks("10.0.0.0/8, 127.0.0.1, fd00::/8")
    assert client_ip("192.0.2.5", "6.6.6.6", proxies) == "192.0.2.5"  # not from a proxy: header ignored
    assert client_ip("10.0.0.2", "6.6.6.6, 192.0.2.9", proxies) == "192.0.2.9"
    assert client_ip("10.0.0.2", "192.0.2.9, 10.0.0.3", proxies) == "192.0.2.9"
    assert client_ip("10.0.0.2", "garbage, 192.0.2.9", proxies) == "192.0.2.9"
    assert client_ip("10.0.0.2", "192.0.2.9, garbage", proxies) == "10.0.0.2"
    assert client_ip("10.0.0.2", "", proxies) == "10.0.0.2"
    assert client_ip("2001:db8:1:2:3:4:5:6", None, proxies) == "2001:db8:1:2::/64"
    assert client_ip("::ffff:192.0.2.1", None, ()) == "192.0.2.1"
    assert client_ip(None, "192.0.2.1", proxies) == "-"
    with pytest.raises(ValueError, match="trusted_proxies"):
        parse_networks("10.0.0.0/8, nginx")
