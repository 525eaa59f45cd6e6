"""Web-app configuration on top of :class:`bot.settings.Settings`.

The web app needs a few values the shared settings object does not (yet) have: the agent
accounts, session lifetimes, timeouts towards Rasa. Each is looked up, in order, in
``settings.extra`` (explicit overrides, e.g. in tests), as a ``Settings`` field of the
same name unless it still has that field's default (so adding the field there makes it
an ordinary setting), in the environment as ``BOT_<NAME>``, and finally its default here.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

from bot.settings import Settings

#: Agent account file under the var directory: one ``name:salt:hash`` entry per line.
ACCOUNTS_FILE = "agents.txt"


@dataclass(frozen=True)
class WebConfig:
    """What the web app reads beyond the shared settings."""

    #: Comma- or newline-separated ``name:salt:hash`` entries (see bot.web.accounts).
    agent_accounts: str = ""
    #: An agent session ends this long after login, or after this long without use.
    agent_session_hours: float = 8.0
    agent_idle_minutes: float = 60.0
    #: Failed logins allowed per client address (and per account name) in the window.
    login_max_failures: int = 5
    login_window_seconds: float = 900.0
    #: How long a member waits for Rasa before getting the apology with our contact
    #: channels. Bounded so a hung action server (Rasa itself waits minutes for it) still
    #: gives the member an answer; a normal turn, even the first one, takes a few seconds.
    rasa_timeout: float = 15.0
    #: Calls to Rasa under way at once; later ones queue, first come first served, within
    #: their timeout. Rasa is one CPU-bound event loop: a few in flight keep it and the
    #: action server busy, more only make the unlucky wait longer (see bot.web.rasa).
    #: Measured with 50 members on 2 cores: 4 cost 15% of the throughput, 8 and 12 none;
    #: any of them cut p99 from 6-7 s to 2.5 s. Multiply by the Rasa servers behind a
    #: load balancer.
    rasa_max_in_flight: int = 8
    #: Calls that may queue for a slot; one more is answered "busy, send it again" (503)
    #: at once. About ten seconds of messages at the throughput of one Rasa server.
    rasa_max_waiting: int = 200
    #: Health checks and intent look-ups must be quick.
    health_timeout: float = 3.0
    parse_timeout: float = 5.0
    #: The privacy notice the chat links before the first message.
    privacy_notice_url: str = "/documents/cigna-ihs-data-protection-notice"
    #: Largest request body we read (JSON or form), in bytes.
    max_body_bytes: int = 128 * 1024
    #: Requests per minute per client address on the chat and API endpoints, and how many
    #: may arrive at once (token bucket; 0 in either switches the limit off). A member
    #: typing and clicking stays far below; a script hammering Rasa does not.
    rate_limit_per_minute: int = 60
    rate_limit_burst: int = 30
    #: Messages per minute per conversation on /api/chat (0 switches it off): one
    #: conversation cannot monopolise Rasa even from many addresses.
    chat_rate_limit_per_minute: int = 20
    chat_rate_limit_burst: int = 8
    #: Clients (and conversations) whose buckets are remembered at most; idle ones go first.
    rate_limit_max_clients: int = 10_000
    #: Proxies whose X-Forwarded-For is believed (comma-separated addresses or networks,
    #: e.g. the nginx in front of several web apps); empty: the peer address is the client.
    trusted_proxies: str = ""
    #: Other origins (e.g. ``https://www.example.org``, comma-separated) whose pages may call
    #: the member API; empty: same-origin only. Agent endpoints never allow other origins.
    cors_origins: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, env: dict[str, str] | None = None) -> WebConfig:
        """Resolve every field as described in the module docstring."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw: object | None = settings.extra.get(f.name)
            if raw in (None, ""):
                raw = _configured(settings, f.name)
            if raw in (None, ""):
                raw = env.get(f"BOT_{f.name.upper()}")
            if raw in (None, ""):
                continue
            default = f.default
            if isinstance(default, bool):
                values[f.name] = str(raw).lower() in {"1", "true", "yes", "on"}
            elif isinstance(default, int):
                values[f.name] = int(raw)  # type: ignore[arg-type]
            elif isinstance(default, float):
                values[f.name] = float(raw)  # type: ignore[arg-type]
            else:
                values[f.name] = str(raw)
        return cls(**values)  # type: ignore[arg-type]


def _configured(settings: Settings, name: str) -> object | None:
    """A Settings field's value, or None when it is just that field's own default.

    Settings repeats some of these fields with defaults of its own; an unchanged one
    must not hide a default here that was changed on purpose (``rasa_timeout``). A value
    set through ``BOT_<NAME>`` is still found, in the environment, by the caller.
    """
    if name not in _SETTINGS_DEFAULTS:
        return None
    value = getattr(settings, name)
    return None if value == _SETTINGS_DEFAULTS[name] else value


_SETTINGS_DEFAULTS = {f.name: f.default for f in fields(Settings) if f.default is not MISSING}


def accounts_file(settings: Settings) -> Path:
    """Where ``python -m bot.web.accounts`` appends and the app reads agent accounts."""
    return Path(settings.var_dir) / ACCOUNTS_FILE
