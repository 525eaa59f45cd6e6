"""Service hours: when people answer live chats (``BOT_LIVE_SERVICE_HOURS``).

The setting lists opening spells separated by commas, each a day or range of days and a
time range in ``BOT_LIVE_TIMEZONE``: ``"mon-fri 08:00-18:00, sat 09:00-12:00"``. Empty
means at every hour (agents' presence alone decides). ``24:00`` ends a spell at midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPELL = re.compile(r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class Spell:
    """Opening on some weekdays (0 = Monday) between two times of day (minutes)."""

    days: frozenset[int]
    start: int
    end: int


def _minutes(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 24 * 60:
        raise ValueError(f"{text!r} is not a time of day")
    return hours * 60 + minutes


def parse_hours(text: str) -> tuple[Spell, ...]:
    """The spells of a service-hours setting (empty: always open); ValueError naming a bad one."""
    spells = []
    for raw in (text or "").split(","):
        part = " ".join(raw.lower().split())
        if not part:
            continue
        match = _SPELL.match(part)
        if not match or match["first"] not in DAYS or (match["last"] and match["last"] not in DAYS):
            raise ValueError(f"BOT_LIVE_SERVICE_HOURS: {raw.strip()!r} is not like 'mon-fri 08:00-18:00'")
        first = DAYS.index(match["first"])
        last = DAYS.index(match["last"]) if match["last"] else first
        days = frozenset(range(first, last + 1)) if first <= last else frozenset([*range(first, 7), *range(last + 1)])
        start, end = _minutes(match["start"]), _minutes(match["end"])
        if end <= start:
            raise ValueError(f"BOT_LIVE_SERVICE_HOURS: {raw.strip()!r} ends before it starts")
        spells.append(Spell(days, start, end))
    return tuple(spells)


def is_open(hours: str, timezone: str, now: datetime) -> bool:
    """Whether ``now`` (aware) falls in the service hours."""
    spells = parse_hours(hours)
    if not spells:
        return True
    local = now.astimezone(ZoneInfo(timezone))
    minute = local.hour * 60 + local.minute
    return any(local.weekday() in s.days and s.start <= minute < s.end for s in spells)
