"""``/brief digest``: set, show, stop or post now this channel's daily digest.

Forms::

    /brief digest                              the setting, the next due time, why it is off
    /brief digest 08:30 [Europe/Berlin] [weekdays|weekends|mon,wed,fri|mon-fri]
    /brief digest off
    /brief digest now                          post one here now (the next one starts after it);
                                               for a member who is no admin, a private preview

Times are ``8:30``, ``08:30``, ``8.30``, ``8h30`` on a 24-hour clock, or ``8am`` / ``5:45pm``;
zones are IANA names, case-insensitive (``europe/berlin``); the zone and the days may come in
either order. Who may change it is :mod:`bot.digests.settings`' rule.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from bot.clock import Clock
from bot.commands.router import Commands, Context
from bot.config import DigestConfig
from bot.digests import settings
from bot.digests.build import BuiltDigest
from bot.digests.rules import (
    DIGEST_USAGE,
    DailyTime,
    format_local,
    looks_like_time,
    parse_time,
    parse_weekdays,
    resolve_timezone,
    weekdays_code,
    zone_note,
)
from bot.errors import DeliveryError, InputError, inert
from bot.models import Reply
from bot.store.ports import DigestStore
from bot.zones import advise_zone, city_zones

# bot.digests.build.digest_now bound to the app's engine: (destination=, post=, owner=)
DigestNow = Callable[..., Awaitable[tuple[Reply | None, BuiltDigest]]]


@dataclass(frozen=True, slots=True)
class DigestDesk:
    """What the digest verb uses: the schedules repository, ``[digest]``, the clock and
    the digest feature's "build (and post) one now"."""

    digests: DigestStore
    settings: DigestConfig
    clock: Clock
    digest_now: DigestNow

USAGE = "/brief digest [HH:MM [zone] [weekdays] | off | now]"
_MERIDIEM = re.compile(r"[ap]\.?m\.?", re.IGNORECASE)
_DAYS_LIKE = re.compile(r"[a-z]+(?:[,+-][a-z]*)+,?", re.IGNORECASE)  # mon,xyz  mon-fry


def _zone_phrase(rest: list[str], i: int) -> int:
    """How many words from ``rest[i]`` name one zone: 3 or 2 for a city written in words
    (``New York``, ``Salt Lake City``) or an abbreviation the phrase spells, else 1."""
    for n in (3, 2):
        phrase = " ".join(rest[i:i + n])
        if len(rest) - i >= n and (city_zones(phrase) or advise_zone(phrase).zone):
            return n
    return 1


def parse_digest_setting(words: list[str], *, default_timezone: str) -> tuple[DailyTime, str]:
    """The DailyTime of ``words`` and a note on the zone (``PST`` read as
    America/Los_Angeles, ``UTC+2`` as Etc/GMT-2, ``EST`` without daylight saving), or ""."""
    words = [w.rstrip(",;") for w in words if w.rstrip(",;")]  # "08:30, Europe/Berlin"
    if not words:
        raise InputError(f"Give a time of day: `{DIGEST_USAGE}`.")
    time_text, *rest = words
    if rest and _MERIDIEM.fullmatch(rest[0]):  # "8:30 pm", "7 a.m."
        time_text = f"{time_text} {rest.pop(0)}"
    if not looks_like_time(time_text) and resolve_or_none(time_text):
        raise InputError(f"Give the time first: `/brief digest 08:30 {time_text}`.")
    hour, minute = parse_time(time_text)
    zone: str | None = None
    note = ""
    days: int | None = None
    i = 0
    while i < len(rest):
        word = rest[i]
        i += 1
        mask = parse_weekdays(word)
        if mask is not None:
            days = mask if days is None else days | mask
            continue
        if zone is None and (n := _zone_phrase(rest, i - 1)) > 1:
            word = " ".join(rest[i - 1:i - 1 + n])
            i += n - 1
        if zone is not None and resolve_or_none(word):
            raise InputError(f"Give one time zone, not two (`{inert(zone)}` and `{inert(word)}`). "
                             f"Example: `{DIGEST_USAGE}`.")
        if zone is not None:
            raise InputError(
                f"`{inert(word)}` is neither a time zone nor days (weekdays, weekends, daily, "
                f"mon,wed,fri, mon-fri). Example: `{DIGEST_USAGE}`."
            )
        if _DAYS_LIKE.fullmatch(word) and not resolve_or_none(word):
            raise InputError(
                f"`{inert(word)}` is not a list of days: use day names or their first three "
                f"letters separated by commas (mon,wed,fri), a range (mon-fri), or weekdays, "
                f"weekends, daily. Example: `{DIGEST_USAGE}`."
            )
        zone = resolve_timezone(word)
        note = advise_zone(word).note or zone_note(zone)
    rule = DailyTime(hour=hour, minute=minute, timezone=zone or default_timezone,
                     weekdays=days if days is not None else 0b1111111)
    return rule, note if zone is not None else zone_note(default_timezone)


def resolve_or_none(text: str) -> str | None:
    try:
        return resolve_timezone(text)
    except InputError:
        return None


def register(commands: Commands, *, desk: DigestDesk) -> None:
    commands.add_verb("digest", partial(digest_verb, desk), usage=USAGE,
                      summary="this channel's daily digest: set, show, off, now")


async def digest_verb(desk: DigestDesk, ctx: Context, args: str) -> Reply:
    words = args.split()
    first = words[0].lower() if words else ""
    if not words:
        return await _show(desk, ctx)
    if first in {"off", "stop", "disable"} and len(words) == 1:
        return await _off(desk, ctx)
    if first == "now" and len(words) == 1:
        return await _now(desk, ctx)
    if first in {"show", "status"} and len(words) == 1:
        return await _show(desk, ctx)
    return await _set(desk, ctx, words)


async def _set(desk: DigestDesk, ctx: Context, words: list[str]) -> Reply:
    settings.may_change(ctx.caller, "set a daily digest")  # refused before the words are read
    rule, note = parse_digest_setting(words, default_timezone=desk.settings.default_timezone)
    first = await settings.set_digest(desk.digests, ctx.caller, rule, now=desk.clock())
    return ctx.answer(
        f"Digest set: {rule.describe()}. The next one is due "
        f"{format_local(first.due_at, rule.zone)}. `/brief digest off` stops it."
        f"{note}"
    )


async def _off(desk: DigestDesk, ctx: Context) -> Reply:
    if not await settings.stop_digest(desk.digests, ctx.caller, now=desk.clock()):
        return ctx.answer("This channel has no digest to stop.")
    return ctx.answer("Digest off. `/brief digest 08:30` sets it again.")


async def _show(desk: DigestDesk, ctx: Context) -> Reply:
    channel = ctx.require_channel("see the daily digest")
    schedule = await desk.digests.get_digest_schedule(platform=ctx.caller.platform,
                                                      channel_id=channel)
    if schedule is None:
        zone = desk.settings.default_timezone
        return ctx.answer(
            f"This channel has no daily digest. Set one with `/brief digest 08:30 {zone}` "
            "(add `weekdays` for Monday to Friday)."
        )
    rule = DailyTime.of(schedule)
    setting = (f"`/brief digest {rule.clock_text} {rule.timezone} "
               f"{weekdays_code(rule.weekdays)}`")
    last = await desk.digests.last_digest(platform=ctx.caller.platform, channel_id=channel)
    last_line = ""
    if last is not None and last.finished_at is not None and last.status == "sent":
        last_line = (f" Last posted: {format_local(last.finished_at, rule.zone)}"
                     f" ({last.items} {'story' if last.items == 1 else 'stories'}).")
    if not schedule.enabled:
        when = (f" since {format_local(schedule.disabled_at, rule.zone)}"
                if schedule.disabled_at else "")
        return ctx.answer(
            f"This channel's digest is off{when}: {schedule.disabled_reason or 'turned off'}."
            f" It was {rule.describe()}; {setting} turns it on again.{last_line}"
        )
    due = max(schedule.next_due_at, schedule.not_before or schedule.next_due_at)
    pending = ""
    if schedule.not_before is not None and schedule.not_before > schedule.next_due_at:
        pending = " (retrying after a failed post)"
    return ctx.answer(
        f"Digest: {rule.describe()}. Next: {format_local(due, rule.zone)}{pending}."
        f"{last_line}"
    )


async def _now(desk: DigestDesk, ctx: Context) -> Reply:
    channel = ctx.require_channel("post a digest")
    destination = ctx.caller.channel
    assert destination is not None and destination.channel_id == channel
    if not settings.may_post_now(ctx.caller):
        # Posting moves where the next scheduled digest starts, so it is an admin's call; a
        # member still sees what is new, privately, and nothing is recorded.
        preview, built = await desk.digest_now(destination=destination, post=False)
        if preview is None:
            return ctx.answer("Nothing new since this channel's last digest.", ephemeral=True)
        return Reply(
            text=f"{preview.text}\n(A preview only you can see: {ctx.caller.admin_hint} can "
            "post it here with `/brief digest now`.)",
            items=preview.items,
            footer=preview.footer,
            ephemeral=True,
        )
    try:
        reply, built = await desk.digest_now(destination=destination, post=True,
                                             owner=f"now:{ctx.caller.user_id}")
    except DeliveryError as exc:
        return ctx.answer(f"Could not post the digest here: {exc}.")
    if reply is None:
        since = ""
        if built.period_start is not None:
            since = f" since {built.period_start.strftime('%Y-%m-%d %H:%M UTC')}"
        return ctx.answer(f"Nothing new{since}: no digest posted.")
    n = len(built.items)
    return ctx.answer(f"Posted a digest here: {n} {'story' if n == 1 else 'stories'}.")
