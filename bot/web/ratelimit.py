"""Rate limiting per client and per conversation: in-process token buckets.

Why in process: one web app serves a few hundred members at most and each process can
protect Rasa and the database behind it on its own; behind a load balancer every
process keeps its own buckets, so a client's allowance is per process, which is what
keeps a single process from being overwhelmed.

Who is a client: the peer address of the connection, except when the peer is one of the
configured ``trusted_proxies`` (nginx in the scaled-out set-up): then the right-most
address in ``X-Forwarded-For`` that is not itself a trusted proxy. Addresses a client
writes into that header itself sit further left and are never believed. IPv6 clients are
keyed by their /64, the block one household or device normally gets.

Memory is bounded: buckets live in an LRU-ordered dict; a bucket that has refilled
completely carries no information and is dropped, and beyond ``max_keys`` the least
recently used bucket is dropped even if it is not full (that client gets a fresh
allowance, which only ever errs on the member's side).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Member-facing text of a 429 on the chat; ``{wait}`` is "a few seconds" or "N seconds".
CHAT_SLOW_DOWN = (
    "You're sending messages faster than I can answer. Please wait {wait} and then send your message again."
)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per key: ``per_minute`` tokens a minute, at most ``burst`` at once.

    ``per_minute`` or ``burst`` of 0 switches the limiter off (every call is allowed).
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = max(0.0, float(per_minute)) / 60.0  # tokens per second
        self.burst = max(0, int(burst))
        self.max_keys = max(1, int(max_keys))
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """False when configured with a zero rate or burst."""
        return self.rate > 0 and self.burst > 0

    def _level(self, bucket: _Bucket, now: float) -> float:
        return min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)

    def _evict(self, now: float) -> None:
        # Oldest first: drop buckets that have refilled (they hold no information), and
        # beyond max_keys the least recently used ones whatever their level.
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            if self._level(bucket, now) >= self.burst or len(self._buckets) > self.max_keys:
                del self._buckets[key]
            else:
                break

    def hit(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when allowed, else the seconds until one is free."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        bucket = self._buckets.pop(key, None)
        level = float(self.burst) if bucket is None else self._level(bucket, now)
        if level >= 1.0:
            self._buckets[key] = _Bucket(level - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = _Bucket(level, now)
            wait = (1.0 - level) / self.rate
        self._evict(now)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDR networks (``trusted_proxies``); ValueError names a bad one."""
    networks = []
    for raw in (value or "").replace("\n", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"trusted_proxies: {item!r} is not an IP address or network") from exc
    return tuple(networks)


def _address(value: str | None) -> IPAddress | None:
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Iterable[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def peer_is_trusted(peer: str | None, proxies: tuple[IPNetwork, ...]) -> bool:
    """Whether the connection comes from one of the trusted proxies.

    The one test that decides whether any ``X-Forwarded-*`` header of a request is
    believed (For here, Proto and Host in :mod:`bot.web.security`): any client can
    write those headers, only a proxy we run overwrites them with what it saw.
    """
    address = _address(peer)
    return address is not None and _trusted(address, proxies)


def client_ip(peer: str | None, forwarded_for: str | None, proxies: tuple[IPNetwork, ...]) -> str:
    """The client's address as a bucket key (see the module docstring)."""
    client = _address(peer)
    if client is None:
        return peer or "-"
    if forwarded_for and peer_is_trusted(peer, proxies):
        for hop in reversed(forwarded_for.split(",")):
            address = _address(hop)
            if address is None:  # garbage in the header: stop at the last hop we can name
                break
            client = address
            if not _trusted(address, proxies):
                break
    if isinstance(client, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((client, 64), strict=False))
    return str(client)


def request_client(request: web.Request, proxies: tuple[IPNetwork, ...]) -> str:
    """:func:`client_ip` of an aiohttp request."""
    return client_ip(request.remote, request.headers.get("X-Forwarded-For"), proxies)


@dataclass
class RateLimits:
    """The app's limiters: per client address (chat and API) and per conversation (chat)."""

    per_client: RateLimiter
    per_conversation: RateLimiter
    trusted_proxies: tuple[IPNetwork, ...] = ()


def retry_after_seconds(wait: float) -> int:
    """Whole seconds for the ``Retry-After`` header (at least 1)."""
    return max(1, math.ceil(wait))


def too_many_requests(wait: float, *, chat: bool) -> web.Response:
    """HTTP 429 with ``Retry-After``; on the chat, a polite bot message the widget shows."""
    seconds = retry_after_seconds(wait)
    headers = {"Retry-After": str(seconds)}
    if chat:
        text = CHAT_SLOW_DOWN.format(wait="a few seconds" if seconds <= 5 else f"{seconds} seconds")
        body = {
            "error": "rate_limited",
            "message": text,
            "retry_after": seconds,
            "messages": [{"text": text, "custom": {"type": "rate_limited", "retry_after": seconds}}],
        }
    else:
        body = {
            "error": "rate_limited",
            "message": f"Too many requests from this client. Try again in {seconds} second(s).",
            "retry_after": seconds,
        }
    return web.json_response(body, status=429, headers=headers)
