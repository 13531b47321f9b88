"""Digest time arithmetic: parsing what users type, and occurrences through DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.digests.rules import (
    EVERY_DAY,
    WEEKDAYS,
    WEEKENDS,
    DailyTime,
    following_occurrence,
    local_due,
    next_occurrence,
    parse_time,
    parse_weekdays,
    resolve_timezone,
)
from bot.errors import InputError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(("text", "expected"), [
    ("8:30", (8, 30)), ("08:30", (8, 30)), ("8.30", (8, 30)), ("8h30", (8, 30)),
    ("0:00", (0, 0)), ("23:59", (23, 59)), ("8am", (8, 0)), ("8:30pm", (20, 30)),
    ("12am", (0, 0)), ("12pm", (12, 0)), ("5:45PM", (17, 45)), ("7 a.m.", (7, 0)),
])
def test_parse_time_accepts_common_forms(text: str, expected: tuple[int, int]) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["24:00", "8:60", "830", "8", "13pm", "0am", "noon", "8:5"])
def test_parse_time_refuses_with_the_right_form(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_time(text)
    message = str(err.value)
    assert f"`{text}` is not a time of day" in message
    assert "HH:MM" in message and "/brief digest 08:30" in message


@pytest.mark.parametrize(("text", "mask"), [
    ("weekdays", WEEKDAYS), ("weekends", WEEKENDS), ("daily", EVERY_DAY),
    ("mon,wed,fri", 0b0010101), ("Mon-Fri", WEEKDAYS), ("fri-mon", 0b1110001),
    ("sunday", 0b1000000), ("tues,thurs", 0b0001010),
])
def test_parse_weekdays(text: str, mask: int) -> None:
    assert parse_weekdays(text) == mask


@pytest.mark.parametrize("text", ["Europe/Berlin", "mon,xyz", "", "8:30"])
def test_parse_weekdays_none_for_other_words(text: str) -> None:
    assert parse_weekdays(text) is None


def test_time_zones_are_case_insensitive_and_typos_get_suggestions() -> None:
    assert resolve_timezone("europe/berlin") == "Europe/Berlin"
    assert resolve_timezone("utc") == "UTC"
    with pytest.raises(InputError) as err:
        resolve_timezone("Europe/Berln")
    assert "Did you mean Europe/Berlin" in str(err.value)
    with pytest.raises(InputError) as err:
        resolve_timezone("Berlin")
    assert "Europe/Berlin" in str(err.value)
    with pytest.raises(InputError) as err:
        resolve_timezone("Mars/Olympus")
    assert "IANA time zone" in str(err.value) and "America/New_York" in str(err.value)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("day", "hour", "minute", "zone", "expected"), [
    # ordinary days either side of the changes: 08:00 local both times
    (date(2026, 3, 28), 8, 0, BERLIN, utc(2026, 3, 28, 7, 0)),
    (date(2026, 3, 29), 8, 0, BERLIN, utc(2026, 3, 29, 6, 0)),
    (date(2026, 10, 24), 8, 0, BERLIN, utc(2026, 10, 24, 6, 0)),
    (date(2026, 10, 25), 8, 0, BERLIN, utc(2026, 10, 25, 7, 0)),
    # 02:30 does not exist on 29 March in Berlin: the first valid minute after it is 03:00 CEST
    (date(2026, 3, 29), 2, 30, BERLIN, utc(2026, 3, 29, 1, 0)),
    (date(2026, 3, 29), 2, 0, BERLIN, utc(2026, 3, 29, 1, 0)),
    # 02:30 happens twice on 25 October: the first one (CEST)
    (date(2026, 10, 25), 2, 30, BERLIN, utc(2026, 10, 25, 0, 30)),
    (date(2026, 3, 8), 2, 30, NEW_YORK, utc(2026, 3, 8, 7, 0)),
    (date(2026, 3, 8), 8, 0, NEW_YORK, utc(2026, 3, 8, 12, 0)),
    (date(2026, 3, 7), 8, 0, NEW_YORK, utc(2026, 3, 7, 13, 0)),
    (date(2026, 11, 1), 1, 30, NEW_YORK, utc(2026, 11, 1, 5, 30)),
    (date(2026, 11, 1), 8, 0, NEW_YORK, utc(2026, 11, 1, 13, 0)),
])
def test_local_due_through_dst(day: date, hour: int, minute: int, zone: ZoneInfo,
                               expected: datetime) -> None:
    assert local_due(day, hour, minute, zone) == expected


def test_next_occurrence_skips_days_not_in_the_mask() -> None:
    rule = DailyTime(hour=8, minute=30, timezone="Europe/Berlin", weekdays=WEEKDAYS)
    friday_evening = utc(2026, 3, 27, 18, 0)
    occ = next_occurrence(rule, after=friday_evening)
    assert occ.local_date == date(2026, 3, 30)  # Monday, and already summer time
    assert occ.due_at == utc(2026, 3, 30, 6, 30)
    assert following_occurrence(rule, occ.local_date).local_date == date(2026, 3, 31)
    # exactly at the due time, the next one is the following day's
    assert next_occurrence(rule, after=occ.due_at).local_date == date(2026, 3, 31)
    assert next_occurrence(rule, after=occ.due_at.replace(second=0, minute=29)) == occ
