"""Time-zone advice as people type zones, and the config keys a newcomer gets wrong (issue 16)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.config import config_from_mapping
from bot.engine import BriefingEngine
from bot.errors import ConfigError
from bot.models import Caller
from bot.zones import advise_zone


@pytest.mark.parametrize(("typed", "zone", "note"), [
    ("PST", "America/Los_Angeles", "follows daylight saving"),
    ("pdt", "America/Los_Angeles", "PDT was read as America/Los_Angeles (US Pacific time)"),
    ("CET", "Europe/Paris", "Central European time"),
    ("CEST", "Europe/Paris", "follows daylight saving"),
    ("EDT", "America/New_York", "US Eastern"),
    ("BST", "Europe/London", "UK time"),
    ("AEST", "Australia/Sydney", "daylight saving"),
    ("JST", "Asia/Tokyo", "Japan time"),
    ("Z", "UTC", ""), ("utc", "UTC", ""), ("GMT", "UTC", ""), ("Zulu", "UTC", ""),
    ("UTC+0", "UTC", ""), ("europe/berlin", "Europe/Berlin", ""),
    # Etc/GMT names have the sign reversed: UTC+2 is Etc/GMT-2
    ("UTC+2", "Etc/GMT-2", "UTC+02:00 all year (the sign in these names is reversed)"),
    ("GMT+2", "Etc/GMT-2", "UTC+02:00"),
    ("utc-05:00", "Etc/GMT+5", "UTC−05:00"),
    ("+03", "Etc/GMT-3", "UTC+03:00"),
    ("UTC+14", "Etc/GMT-14", "UTC+14:00"),
])
def test_zones_people_type_map_to_the_zone_they_mean(typed: str, zone: str, note: str) -> None:
    advice = advise_zone(typed)
    assert advice.zone == zone
    assert (note in advice.note) and bool(advice.note) is bool(note), advice.note
    ZoneInfo(zone)


def test_etc_gmt_offsets_really_are_the_offset_asked_for() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 7, 1, 12, tzinfo=UTC)
    for typed, hours in (("UTC+2", 2), ("GMT-7", -7), ("UTC+5:00", 5)):
        zone = advise_zone(typed).zone
        assert zone is not None
        offset = when.astimezone(ZoneInfo(zone)).utcoffset()
        assert offset is not None and offset.total_seconds() == hours * 3600


@pytest.mark.parametrize(("typed", "reason", "suggestion"), [
    ("UTC+5:30", "no fixed zone for UTC+05:30", "Asia/Kolkata"),
    ("UTC+05:45", "no fixed zone", "Asia/Kathmandu"),
    ("UTC+15", "no offset any clock keeps", None),
    ("IST", "India, Israel or Irish", "Asia/Kolkata"),
    ("New York", "", "America/New_York"),
    ("new-york", "", "America/New_York"),
    ("Berln", "", "Europe/Berlin"),
    ("Europe/Berln", "", "Europe/Berlin"),
    ("localtime", "", None),
])
def test_zones_refused_with_the_right_suggestion(typed: str, reason: str,
                                                 suggestion: str | None) -> None:
    advice = advise_zone(typed)
    assert advice.zone is None
    assert reason in advice.reason
    if suggestion is None:
        assert "localtime" not in advice.suggestions
    else:
        assert advice.suggestions[0] == suggestion, advice.suggestions


def test_pst_never_suggests_mst_and_z_never_nz() -> None:
    assert advise_zone("PST").zone != "MST"
    assert advise_zone("Z").zone == "UTC"


@pytest.mark.parametrize(("typed", "said"), [
    ("PST", "(did you mean America/Los_Angeles?)"),
    ("UTC+2", "(did you mean Etc/GMT-2?)"),
    ("europe/berlin", "(did you mean Europe/Berlin?)"),
    ("New York", "(did you mean America/New_York?)"),
    ("Z", "(did you mean UTC?)"),
    ("Mars/Olympus", "is not an IANA time zone; write one"),
])
def test_config_default_timezone_gets_the_same_did_you_mean(typed: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_mapping({"digest": {"default_timezone": typed}})
    assert "[digest] default_timezone" in str(err.value) and said in str(err.value), err.value


def test_config_algorithm_did_you_mean() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_mapping({"summarizer": {"algorithm": "lexrnk"}})
    assert "(did you mean lexrank?)" in str(err.value)


@pytest.mark.parametrize("level", ["info", "Debug", "WARNING", "error"])
def test_logging_level_any_case(level: str) -> None:
    config = config_from_mapping({"logging": {"level": level}})
    assert config.logging.level == level.upper()


def test_logging_format_text_or_json() -> None:
    assert config_from_mapping({}).logging.format == "text"
    assert config_from_mapping({"logging": {"format": "JSON"}}).logging.format == "json"
    with pytest.raises(ConfigError) as err:
        config_from_mapping({"logging": {"format": "xml"}})
    assert "[logging] format must be one of text, json" in str(err.value)


ADMIN = Caller(platform="console", user_id="U1", channel_id="C1", is_admin=True)


@pytest.mark.parametrize(("words", "set_text", "note"), [
    ("08:30 PST weekdays", "weekdays (Mon–Fri) at 08:30 America/Los_Angeles",
     "PST was read as America/Los_Angeles"),
    ("08:30 UTC+2", "every day at 08:30 Etc/GMT-2", "UTC+02:00 all year"),
    ("8am Z", "every day at 08:00 UTC", ""),
    ("08:30 cet mon,wed", "Mon, Wed at 08:30 Europe/Paris", "follows daylight saving"),
])
async def test_brief_digest_reads_zones_as_people_type_them(
        engine: BriefingEngine, words: str, set_text: str, note: str) -> None:
    reply = await engine.handle_command(f"digest {words}", ADMIN)
    assert not reply.is_error, reply.text
    assert reply.text.startswith(f"Digest set: {set_text}.")
    assert note in reply.text and ("Note:" in reply.text) is bool(note)


@pytest.mark.parametrize(("words", "said"), [
    ("08:30 New York weekdays", "`New York` is not an IANA time zone. Did you mean "
                                "America/New_York?"),
    ("08:30 GMT+5:30", "no fixed zone for UTC+05:30: use the place's zone, e.g. Asia/Kolkata"),
    ("08:30 IST", "Did you mean Asia/Kolkata (or Asia/Jerusalem, Europe/Dublin)?"),
])
async def test_brief_digest_refuses_with_the_right_suggestion(
        engine: BriefingEngine, words: str, said: str) -> None:
    reply = await engine.handle_command(f"digest {words}", ADMIN)
    assert reply.is_error and said in reply.text, reply.text
    assert await engine.store.digests.get_digest_schedule(platform="console",
                                                          channel_id="C1") is None
