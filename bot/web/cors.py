"""Which other web sites may use the member API from a browser (CORS), and which not.

By default none may: the widget is served by this app, so its calls are same-origin. An
operator who embeds the widget on another site of ours lists that site's origin in
``cors_origins``. Only the member endpoints can ever be opened up; agent endpoints and
pages never answer another origin, whatever is configured, because they act with an
agent's session.

A browser sends ``Origin`` with every cross-origin request and with same-origin POSTs;
a form posted from a foreign site arrives as a "simple" request without a preflight,
so state-changing requests from an origin we do not allow are refused outright (403)
instead of merely having their answer hidden from the other site.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

#: Endpoints a configured origin may call (no cookies involved: the member API is anonymous).
MEMBER_API_PATHS = frozenset({"/api/chat", "/api/chat/history", "/api/feedback"})
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


def parse_origins(value: str) -> frozenset[str]:
    """Comma-separated origins (``cors_origins``); ValueError names one that is not an origin."""
    origins = set()
    for raw in (value or "").replace("\n", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        origin = normalise_origin(item)
        if origin is None:
            raise ValueError(f"cors_origins: {item!r} is not an origin like https://www.example.org")
        origins.add(origin)
    return frozenset(origins)


def origin_host(origin: str) -> str | None:
    """The host name of an ``Origin`` header value (None for ``null`` or garbage)."""
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return None


def same_host(origin: str, host: str) -> bool:
    """Whether ``Origin`` names the host this request was sent to.

    Only host names are compared: a proxy may change scheme and port on the way in
    (TLS ends at nginx, ``Host`` may lose the port), and a different port or scheme on
    the same host is the same site to a browser anyway; another host is what makes a
    request cross-site.
    """
    name = origin_host(origin)
    if not name or not host:
        return False
    try:
        ours = urlsplit(f"//{host}").hostname
    except ValueError:
        return False
    return ours is not None and name.lower() == ours.lower()


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
