"""Which host names this site answers to, and which other web sites may use the member
API from a browser (CORS), and which not.

Hosts: a request must name one of ``allowed_hosts`` (``host`` for any port, or
``host:port``) in ``Host`` (or, from a trusted proxy, ``X-Forwarded-Host``). A page on
some other name that resolves to this server (DNS rebinding) is then refused instead of
passing for this site, whose origin checks compare against that very name.

Origins: by default no other site may use the API: the widget is served by this app,
so its calls are same-origin. An operator who embeds the widget on another site of ours
lists that site's origin in ``cors_origins``. Only the member endpoints can ever be
opened up; agent endpoints and pages never answer another origin, whatever is
configured, because they act with an agent's session.

A browser sends ``Origin`` with every cross-origin request and with same-origin POSTs;
a form posted from a foreign site arrives as a "simple" request without a preflight,
so state-changing requests from an origin we do not allow are refused outright (403)
instead of merely having their answer hidden from the other site.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

#: Endpoints a configured origin may call. Their conversation cookie is SameSite=Strict,
#: so a page on another site that calls them starts a new conversation with each call;
#: widgets embedded on other sites use Rasa's socket.io channel instead.
MEMBER_API_PATHS = frozenset({"/api/chat", "/api/chat/history", "/api/feedback", "/api/chat/session"})
ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Content-Type"
EXPOSED_HEADERS = "Retry-After"
PREFLIGHT_MAX_AGE = "600"


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, without a default port; None when not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _parse_list(value: str, setting: str, parse: Callable[[str], T | None], expected: str) -> frozenset[T]:
    """The comma- or newline-separated items of a setting, each through ``parse``;
    ValueError names the setting and the first item ``parse`` refuses (None)."""
    items = set()
    for raw in (value or "").replace("\n", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        parsed = parse(item)
        if parsed is None:
            raise ValueError(f"{setting}: {item!r} is not {expected}")
        items.add(parsed)
    return frozenset(items)


def parse_origins(value: str) -> frozenset[str]:
    """Comma-separated origins (``cors_origins``); ValueError names one that is not an origin."""
    return _parse_list(value, "cors_origins", normalise_origin, "an origin like https://www.example.org")


# A Host header: a DNS name or an IPv4 address, or an IPv6 address in brackets, and a port.
_HOST = re.compile(r"(?P<name>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")

#: A host name and its port (None: any port, in an allowed_hosts entry).
Host = tuple[str, int | None]


def split_host(value: str) -> Host | None:
    """(host name in lower case without a final dot, port or None) of ``host[:port]``; None when malformed."""
    match = _HOST.fullmatch(value.strip())
    if match is None:
        return None
    name = match["name"].lower().rstrip(".").strip("[]")
    port = int(match["port"]) if match["port"] else None
    if not name or (port is not None and not 0 < port < 65536):
        return None
    return name, port


@functools.lru_cache(maxsize=8)
def parse_allowed_hosts(value: str) -> frozenset[Host]:
    """The ``allowed_hosts`` setting: comma-separated ``host`` (any port) or ``host:port``
    entries, IPv6 addresses in brackets; ValueError names a malformed entry."""
    return _parse_list(value, "allowed_hosts", split_host, "a host name or host:port such as help.example.org")


def host_allowed(host: str, allowed: frozenset[Host]) -> bool:
    """Whether a ``Host`` value names one of the allowed hosts (a bare allowed host: any port)."""
    parsed = split_host(host)
    return parsed is not None and (parsed in allowed or (parsed[0], None) in allowed)


def url_origin(url: str) -> str | None:
    """The normalised origin of a full URL such as a ``Referer`` (None when it has none)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return normalise_origin(f"{parts.scheme}://{parts.netloc}") if parts.netloc else None


def same_origin(origin: str, ours: str | None) -> bool:
    """Whether ``Origin`` is this site's origin ``ours``: scheme, host and port all equal.

    A page on another port or scheme of the same host name is another origin to a
    browser (another program may serve it), so it is as foreign as another host.
    """
    theirs = normalise_origin(origin)
    return theirs is not None and ours is not None and theirs == normalise_origin(ours)


@dataclass(frozen=True)
class CorsPolicy:
    """The configured origins and the rules of the module docstring."""

    origins: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, value: str) -> CorsPolicy:
        """From the ``cors_origins`` setting."""
        return cls(parse_origins(value))

    def allows(self, origin: str, path: str) -> bool:
        """Whether ``origin`` (a foreign one) may call ``path`` from a browser."""
        return path in MEMBER_API_PATHS and normalise_origin(origin) in self.origins

    def response_headers(self, origin: str) -> dict[str, str]:
        """Headers on an actual response to an allowed origin (echoed as the browser sent it)."""
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSED_HEADERS}

    def preflight_headers(self, origin: str) -> dict[str, str]:
        """Headers on the answer to an allowed preflight."""
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            "Vary": "Origin",
        }
