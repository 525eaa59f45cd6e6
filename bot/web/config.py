"""Web-app configuration on top of :class:`bot.settings.Settings`.

The web app needs a few values the shared settings object does not (yet) have: the agent
accounts, session lifetimes, timeouts towards Rasa. Each is looked up, in order, in
``settings.extra`` (explicit overrides, e.g. in tests), as a ``Settings`` field of the
same name (so adding the field there makes it an ordinary setting), in the environment
as ``BOT_<NAME>``, and finally its default here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
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
    #: How long a member waits for Rasa before getting the "try again" message.
    rasa_timeout: float = 30.0
    #: Health checks and intent look-ups must be quick.
    health_timeout: float = 3.0
    parse_timeout: float = 5.0
    #: The privacy notice the chat links before the first message.
    privacy_notice_url: str = "/documents/cigna-ihs-data-protection-notice"
    #: Largest request body we read (JSON or form), in bytes.
    max_body_bytes: int = 128 * 1024

    @classmethod
    def from_settings(cls, settings: Settings, env: dict[str, str] | None = None) -> WebConfig:
        """Resolve every field as described in the module docstring."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw: object | None = settings.extra.get(f.name)
            if raw in (None, ""):
                raw = getattr(settings, f.name, None)
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


def accounts_file(settings: Settings) -> Path:
    """Where ``python -m bot.web.accounts`` appends and the app reads agent accounts."""
    return Path(settings.var_dir) / ACCOUNTS_FILE
