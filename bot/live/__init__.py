"""Live hand-off to a person: the queue, agents' presence, service hours, and the bus that
carries live events between web processes.

What is shared by the web app (:mod:`bot.web.live`) and the action server (which decides,
when a member asks for a person, whether a live agent can take the conversation or the
request form applies): :func:`live_available`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.live.hours import is_open
from bot.live.store import LiveStore, LiveStoreError
from bot.settings import Settings

__all__ = ["LiveStore", "LiveStoreError", "live_available"]


def live_available(store: LiveStore, settings: Settings, now: datetime | None = None) -> bool:
    """Whether a member asking for a person now can be put through to one: within service
    hours, with at least one agent available whose console is connected. Any failure to
    tell (the database is down) counts as no: the request form still works then."""
    if not settings.live_enabled:
        return False
    try:
        if not is_open(settings.live_service_hours, settings.live_timezone, now or datetime.now(UTC)):
            return False
        return bool(store.available_agents(settings.live_presence_seconds))
    except (LiveStoreError, ValueError):
        return False
