"""Time-zone advice: what a person typed for a zone -> the IANA zone they mean, or why not.

People type ``PST``, ``CET``, ``UTC+2``, ``Z`` or ``New York`` as often as ``Europe/Berlin``.
A fuzzy match over IANA names gets these wrong in ways that cost a digest hours (``PST`` is
close to ``MST``, ``Z`` to ``NZ``, and ``GMT+2`` to ``Etc/GMT+2``, which is UTC−2), so this
module answers them first from what the words mean, and only then looks for a close spelling.

Pure and offline (the zone database ships in ``tzdata``): used by ``/brief digest`` and by
the config check of ``[digest] default_timezone``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = ["ZoneAdvice", "advise_zone", "city_zones", "zone_names"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneAdvice:
    """``zone``: the IANA name to use (None: refused). ``note``: a sentence to say with it.
    ``reason``: why refused; ``suggestions``: zones to offer instead."""

    zone: str | None
    note: str = ""
    reason: str = ""
    suggestions: tuple[str, ...] = ()


# In the zone database but no place's time: "localtime" is whatever zone the server runs in,
# "Factory" is no zone at all, "right/..." counts leap seconds (a digest 27 s off).
_NOT_ZONES = frozenset({"localtime", "factory", "posixrules"})


@lru_cache(maxsize=1)
def zone_names() -> dict[str, str]:
    """Lower-cased IANA name -> its canonical spelling (places' zones only)."""
    names = available_timezones() | {"UTC"}
    return {n.lower(): n for n in names
            if n.lower() not in _NOT_ZONES and not n.startswith(("right/", "posix/"))}


# Abbreviations people use for a region's clock -> the zone that keeps that clock through
# the year (with its daylight saving), and the region's name. EST, MST and HST are IANA names
# of fixed offsets and stay what they are (a note says so); the others are not IANA names, or
# (CET, EET, WET, MET) are legacy ones best replaced by a place.
_REGIONS: dict[str, tuple[str, str]] = {
    "pst": ("America/Los_Angeles", "US Pacific"), "pdt": ("America/Los_Angeles", "US Pacific"),
    "pt": ("America/Los_Angeles", "US Pacific"),
    "mdt": ("America/Denver", "US Mountain"), "mt": ("America/Denver", "US Mountain"),
    "cst": ("America/Chicago", "US Central"), "cdt": ("America/Chicago", "US Central"),
    "ct": ("America/Chicago", "US Central"),
    "edt": ("America/New_York", "US Eastern"), "et": ("America/New_York", "US Eastern"),
    "akst": ("America/Anchorage", "Alaska"), "akdt": ("America/Anchorage", "Alaska"),
    "ast": ("America/Halifax", "Atlantic"), "adt": ("America/Halifax", "Atlantic"),
    "nst": ("America/St_Johns", "Newfoundland"), "ndt": ("America/St_Johns", "Newfoundland"),
    "bst": ("Europe/London", "UK"),
    "wet": ("Europe/Lisbon", "Western European"), "west": ("Europe/Lisbon", "Western European"),
    "cet": ("Europe/Paris", "Central European"), "cest": ("Europe/Paris", "Central European"),
    "met": ("Europe/Paris", "Central European"), "mest": ("Europe/Paris", "Central European"),
    "eet": ("Europe/Athens", "Eastern European"), "eest": ("Europe/Athens", "Eastern European"),
    "aest": ("Australia/Sydney", "Australian Eastern"),
    "aedt": ("Australia/Sydney", "Australian Eastern"),
    "acst": ("Australia/Adelaide", "Australian Central"),
    "acdt": ("Australia/Adelaide", "Australian Central"),
    "nzst": ("Pacific/Auckland", "New Zealand"), "nzdt": ("Pacific/Auckland", "New Zealand"),
}
# ... and those whose region keeps one offset all year (no daylight saving to mention).
_STEADY: dict[str, tuple[str, str]] = {
    "msk": ("Europe/Moscow", "Moscow"), "jst": ("Asia/Tokyo", "Japan"),
    "kst": ("Asia/Seoul", "Korea"), "hkt": ("Asia/Hong_Kong", "Hong Kong"),
    "sgt": ("Asia/Singapore", "Singapore"), "awst": ("Australia/Perth", "Australian Western"),
    "wib": ("Asia/Jakarta", "Western Indonesia"), "pht": ("Asia/Manila", "Philippine"),
}
_UTC_WORDS = frozenset({"z", "zulu", "utc", "gmt", "uct", "universal", "greenwich"})
_AMBIGUOUS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ist": ("IST is India, Israel or Irish Standard Time",
            ("Asia/Kolkata", "Asia/Jerusalem", "Europe/Dublin")),
}
# Fixed offsets that are not whole hours have no Etc/ zone: the places that keep them.
_PART_HOUR_PLACES: dict[tuple[int, int], tuple[str, ...]] = {
    (-9, 30): ("Pacific/Marquesas",), (-3, 30): ("America/St_Johns",),
    (3, 30): ("Asia/Tehran",), (4, 30): ("Asia/Kabul",), (5, 30): ("Asia/Kolkata",),
    (5, 45): ("Asia/Kathmandu",), (6, 30): ("Asia/Yangon",), (8, 45): ("Australia/Eucla",),
    (9, 30): ("Australia/Darwin", "Australia/Adelaide"), (10, 30): ("Australia/Lord_Howe",),
    (12, 45): ("Pacific/Chatham",),
}
_OFFSET = re.compile(r"(?:utc|gmt|z)?\s*([+\-−])\s*(\d{1,2})(?:(?::|h)?(\d{2}))?", re.IGNORECASE)


def _valid(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _offset_advice(text: str, sign: str, hours: int, minutes: int) -> ZoneAdvice:
    east = sign == "+"
    shown = f"UTC{'+' if east else '−'}{hours:02d}:{minutes:02d}"
    if minutes:
        places = _PART_HOUR_PLACES.get((hours if east else -hours, minutes), ())
        where = (f" use the place's zone, e.g. {places[0]}" if places else
                 " use the place's zone (an IANA name such as Asia/Kolkata)")
        return ZoneAdvice(zone=None, reason=f" There is no fixed zone for {shown}:{where}.",
                          suggestions=places)
    if hours == 0:
        return ZoneAdvice(zone="UTC")
    if hours > (14 if east else 12):
        return ZoneAdvice(zone=None, reason=f" {shown} is no offset any clock keeps.")
    # Etc/GMT names are POSIX-style: the sign is reversed (Etc/GMT-2 is UTC+02:00)
    zone = f"Etc/GMT{'-' if east else '+'}{hours}"
    return ZoneAdvice(
        zone=zone,
        note=(f" Note: `{text}` was read as {zone}, which is {shown} all year (the sign in "
              "these names is reversed); for a place's time, which may follow daylight "
              "saving, use its zone (e.g. Europe/Berlin)."),
    )


def city_zones(text: str) -> tuple[str, ...]:
    """The zones named after the city ``text`` (``New York`` -> America/New_York), at most 3."""
    key = " ".join(text.split()).lower()
    if not key or "/" in key:
        return ()
    city = re.sub(r"[\s-]+", "_", key)
    names = zone_names()
    return tuple(names[n] for n in sorted(n for n in names if n.rpartition("/")[2] == city)[:3])


def _spelling_suggestions(key: str) -> tuple[str, ...]:
    names = zone_names()
    close = [c.lower() for c in city_zones(key)]  # a city: "new york", "berlin", "sao paulo"
    if not close:
        close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.6)
    if not close and "/" not in key:  # "berln" -> Europe/Berlin
        city = re.sub(r"[\s-]+", "_", key)
        cities: dict[str, list[str]] = {}
        for n in names:
            if "/" in n:
                cities.setdefault(n.rpartition("/")[2], []).append(n)
        for match in difflib.get_close_matches(city, list(cities), n=3, cutoff=0.75):
            close.extend(sorted(cities[match]))
        close = close[:3]
    return tuple(names[c] for c in close)


def advise_zone(text: str) -> ZoneAdvice:
    """What ``text`` (as a person typed it) means as an IANA zone.

    ``advise_zone("pst")`` -> America/Los_Angeles with a note that it follows daylight saving;
    ``advise_zone("UTC+2")`` -> Etc/GMT-2 (UTC+02:00) with a note on the reversed sign;
    ``advise_zone("New York")`` -> refused, suggesting America/New_York.
    """
    typed = " ".join(text.split())
    key = typed.lower()
    if not key:
        return ZoneAdvice(zone=None, reason=" No zone given.")
    if key in _UTC_WORDS:
        return ZoneAdvice(zone="UTC")
    if key in _REGIONS:
        zone, region = _REGIONS[key]
        return ZoneAdvice(zone=zone, note=(
            f" Note: {typed.upper()} was read as {zone} ({region} time), which follows "
            "daylight saving: the digest keeps its local time all year."))
    if key in _STEADY:
        zone, region = _STEADY[key]
        return ZoneAdvice(zone=zone, note=f" Note: {typed.upper()} was read as {zone} "
                                          f"({region} time).")
    if key in _AMBIGUOUS:
        reason, options = _AMBIGUOUS[key]
        return ZoneAdvice(zone=None, reason=f" {reason}: name the place.",
                          suggestions=options)
    if m := _OFFSET.fullmatch(key):
        sign = "+" if m.group(1) == "+" else "-"
        return _offset_advice(typed, sign, int(m.group(2)), int(m.group(3) or 0))
    canonical = zone_names().get(key)
    if canonical is not None and _valid(canonical):
        return ZoneAdvice(zone=canonical)
    return ZoneAdvice(zone=None, suggestions=_spelling_suggestions(key))
