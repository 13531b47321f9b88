"""When a digest is due: pure time rules over :mod:`zoneinfo` (no I/O, no service).

A schedule is a wall-clock time (``08:30``) in an IANA zone on some weekdays. Its occurrence on
a local date is that wall time in that zone, so 08:00 stays 08:00 local through daylight-saving
changes. A wall time that does not exist on the spring-forward day (02:30 in Berlin on the last
Sunday of March) runs at the first valid minute after it (03:00); a wall time that happens twice
in autumn runs once, at its first occurrence (``fold=0``), because there is one occurrence per
local date.

Also here: parsing what users type (times, weekdays, zone names with did-you-mean). The store
and the ``/brief digest`` verbs import this module; it imports nothing of the services.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.errors import InputError, inert
from bot.zones import advise_zone


class TimeRule(Protocol):
    """The four values a stored schedule keeps (``bot.store.ports.TimeRule`` says the same for
    the store: rules sit below the store, so they do not import it)."""

    @property
    def hour(self) -> int: ...

    @property
    def minute(self) -> int: ...

    @property
    def timezone(self) -> str: ...

    @property
    def weekdays(self) -> int: ...

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EVERY_DAY = 0b1111111
WEEKDAYS = 0b0011111
WEEKENDS = 0b1100000
# A digest posted later than this after its due time is marked late.
ON_TIME = timedelta(minutes=5)

TIME_HELP = "use HH:MM on a 24-hour clock (8:30, 08:30, 17:45) or 8am / 5:45pm"
DIGEST_USAGE = "/brief digest 08:30 Europe/Berlin weekdays"


# -- parsing what users type --------------------------------------------------------------

_TIME_24 = re.compile(r"^(\d{1,2})[:.h](\d{2})$")
_TIME_12 = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?m\.?$", re.IGNORECASE)


def parse_time(text: str) -> tuple[int, int]:
    """``8:30``, ``08:30``, ``8.30``, ``8h30``, ``8am``, ``8:30pm``, ``12am`` -> (hour, minute)."""
    t = text.strip()
    m24 = _TIME_24.match(t)
    if m24:
        hour, minute = int(m24.group(1)), int(m24.group(2))
        if hour <= 23 and minute <= 59:
            return hour, minute
    m12 = _TIME_12.match(t)
    if m12:
        hour, minute = int(m12.group(1)), int(m12.group(2) or 0)
        if 1 <= hour <= 12 and minute <= 59:
            hour = hour % 12 + (12 if m12.group(3).lower() == "p" else 0)
            return hour, minute
    raise InputError(f"`{inert(text)}` is not a time of day: {TIME_HELP}, e.g. `{DIGEST_USAGE}`.")


def looks_like_time(text: str) -> bool:
    return bool(_TIME_24.match(text.strip()) or _TIME_12.match(text.strip())
                or re.fullmatch(r"\d{1,4}(?::\d*)?", text.strip()))


_DAY_ALIASES = {
    **{name.lower(): i for i, name in enumerate(DAY_NAMES)},
    **{name: i for i, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))},
    "tues": 1, "weds": 2, "thur": 3, "thurs": 3,
}
_DAY_SETS = {
    "daily": EVERY_DAY, "everyday": EVERY_DAY, "every-day": EVERY_DAY, "all": EVERY_DAY,
    "weekdays": WEEKDAYS, "weekday": WEEKDAYS, "workdays": WEEKDAYS,
    "weekends": WEEKENDS, "weekend": WEEKENDS,
}


def parse_weekdays(text: str) -> int | None:
    """``weekdays``, ``weekends``, ``daily``, ``mon,wed,fri``, ``mon-fri`` -> a bit mask
    (bit 0 = Monday); None when ``text`` is not a weekday expression at all."""
    t = text.strip().lower()
    if t in _DAY_SETS:
        return _DAY_SETS[t]
    mask = 0
    for part in filter(None, re.split(r"[,+/]", t)):
        first, dash, last = part.partition("-")
        if first not in _DAY_ALIASES or (dash and last not in _DAY_ALIASES):
            return None
        a = _DAY_ALIASES[first]
        b = _DAY_ALIASES[last] if dash else a
        day = a
        while True:  # a range may wrap around the week: fri-mon
            mask |= 1 << day
            if day == b:
                break
            day = (day + 1) % 7
    return mask or None


def describe_weekdays(mask: int) -> str:
    if mask == EVERY_DAY:
        return "every day"
    if mask == WEEKDAYS:
        return "weekdays (Mon–Fri)"
    if mask == WEEKENDS:
        return "weekends (Sat, Sun)"
    return ", ".join(name for i, name in enumerate(DAY_NAMES) if mask >> i & 1)


def weekdays_code(mask: int) -> str:
    """The shortest form of ``mask`` that :func:`parse_weekdays` reads back."""
    if mask == EVERY_DAY:
        return "daily"
    if mask == WEEKDAYS:
        return "weekdays"
    if mask == WEEKENDS:
        return "weekends"
    return ",".join(name.lower() for i, name in enumerate(DAY_NAMES) if mask >> i & 1)


def resolve_timezone(name: str) -> str:
    """The canonical IANA name for ``name`` as a person typed it (``europe/berlin``, ``PST``,
    ``UTC+2``: see :func:`bot.zones.advise_zone`); InputError with suggestions when there is
    none (``Europe/Berln`` -> ``Europe/Berlin``, ``New York`` -> ``America/New_York``)."""
    advice = advise_zone(name)
    if advice.zone is not None:
        return advice.zone
    shown = advice.suggestions
    hint = ""
    if shown:
        also = f" (or {', '.join(shown[1:])})" if len(shown) > 1 else ""
        hint = f" Did you mean {shown[0]}{also}?"
    raise InputError(
        f"`{inert(name)}` is not an IANA time zone.{advice.reason}{hint} Use a name like "
        f"Europe/Berlin, America/New_York or UTC, e.g. `{DIGEST_USAGE}`."
    )


# IANA names people type for a region's time that are in fact fixed offsets all year.
_FIXED_ABBREVIATIONS = {"EST": ("−05:00", "America/New_York", "US Eastern"),
                        "MST": ("−07:00", "America/Denver", "US Mountain")}


def zone_note(name: str) -> str:
    """A warning for zone names that do not mean what people expect, else ``""``."""
    if name in _FIXED_ABBREVIATIONS:
        offset, zone, region = _FIXED_ABBREVIATIONS[name]
        return (f" Note: {name} is UTC{offset} all year, without daylight saving; for "
                f"{region} time, which has it, use {zone}.")
    m = re.fullmatch(r"Etc/GMT([+-])(\d{1,2})", name)
    if m and m.group(2) != "0":
        sign = "−" if m.group(1) == "+" else "+"
        return (f" Note: {name} is UTC{sign}{int(m.group(2)):02d}:00 (these names have the "
                "sign reversed).")
    return ""


# -- occurrences -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyTime:
    """A digest schedule's time rule: ``hour:minute`` in ``timezone`` on ``weekdays``."""

    hour: int
    minute: int
    timezone: str
    weekdays: int = EVERY_DAY

    def __post_init__(self) -> None:
        if not (0 <= self.hour <= 23 and 0 <= self.minute <= 59):
            raise ValueError(f"no such time of day {self.hour}:{self.minute}")
        if not 1 <= self.weekdays <= EVERY_DAY:
            raise ValueError(f"weekday mask out of range: {self.weekdays}")

    @classmethod
    def of(cls, schedule: TimeRule) -> DailyTime:
        """The rule a stored schedule keeps (the store holds the values, never the rule)."""
        return cls(hour=schedule.hour, minute=schedule.minute, timezone=schedule.timezone,
                   weekdays=schedule.weekdays)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def clock_text(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"

    def describe(self) -> str:
        days = describe_weekdays(self.weekdays)
        return f"{days} at {self.clock_text} {self.timezone}"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One due digest: the schedule's local date and the UTC instant it is due."""

    local_date: date
    due_at: datetime


def local_due(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``hour:minute`` on ``day`` in ``zone``.

    Ambiguous (autumn) wall times take their first occurrence. Nonexistent (spring-forward)
    wall times give the first valid minute after them: the instant of the transition.
    """
    wall = datetime(day.year, day.month, day.day, hour, minute)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=1 maps with the offset after the transition (an earlier instant, shown
    # before the gap), fold=0 with the offset before (a later instant, shown after the gap).
    # Bisect, by whole minutes, for the first instant whose local time is at or past ``wall``.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = 0, int((first - low).total_seconds() // 60)
    while lo < hi:
        mid = (lo + hi) // 2
        shown = (low + timedelta(minutes=mid)).astimezone(zone).replace(tzinfo=None)
        if shown >= wall:
            hi = mid
        else:
            lo = mid + 1
    return low + timedelta(minutes=lo)


def occurrence_on(rule: DailyTime, day: date) -> Occurrence | None:
    if not rule.weekdays >> day.weekday() & 1:
        return None
    return Occurrence(day, local_due(day, rule.hour, rule.minute, rule.zone))


def next_occurrence(rule: DailyTime, *, after: datetime) -> Occurrence:
    """The first occurrence due strictly after ``after``."""
    start = after.astimezone(rule.zone).date() - timedelta(days=1)
    for offset in range(10):
        occ = occurrence_on(rule, start + timedelta(days=offset))
        if occ is not None and occ.due_at > after:
            return occ
    raise AssertionError("a non-empty weekday mask always has an occurrence within a week")


def following_occurrence(rule: DailyTime, local_date: date) -> Occurrence:
    """The first occurrence on a local date after ``local_date``."""
    for offset in range(1, 8):
        occ = occurrence_on(rule, local_date + timedelta(days=offset))
        if occ is not None:
            return occ
    raise AssertionError("a non-empty weekday mask always has an occurrence within a week")


def format_local(when: datetime, zone: ZoneInfo, *, with_date: bool = True) -> str:
    """``Tue 31 Mar 2026 08:30 CEST`` (or ``08:30 CEST``)."""
    local = when.astimezone(zone)
    text = local.strftime("%a %d %b %Y %H:%M" if with_date else "%H:%M")
    return f"{text} {local.tzname()}"
