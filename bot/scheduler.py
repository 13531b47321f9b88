"""When each channel's digest is due, and the service that posts it exactly once.

Two halves:

* Pure time arithmetic over :mod:`zoneinfo`. A schedule is a wall-clock time (``08:30``) in an
  IANA zone on some weekdays. Its occurrence on a local date is that wall time in that zone, so
  08:00 stays 08:00 local through daylight-saving changes. A wall time that does not exist on
  the spring-forward day (02:30 in Berlin on the last Sunday of March) runs at the first valid
  minute after it (03:00); a wall time that happens twice in autumn runs once, at its first
  occurrence (``fold=0``), because there is one occurrence per local date.

* :class:`DigestScheduler`, the background service ``briefbot run`` starts. Each pass it asks
  the store which schedules are due, claims each occurrence atomically (a UNIQUE row per
  channel and local date, with a lease), builds the digest, posts it and only then marks it
  sent. Everything that must survive a restart lives in the store, so two processes on one
  database, or a crash between claim and post, never post a digest twice; an occurrence whose
  lease expired is claimed again and retried (a retry in the same process hands the platform
  the very Reply that failed, so an adapter can skip the parts of it already posted). Between
  passes it sleeps until the next due time, in bounded slices that re-read the clock, so a
  jump of the machine's clock is noticed within one slice rather than after a long ``sleep``
  computed from the old time.

Catch-up: an occurrence that is due is posted while ``now <= due + grace`` (``[digest]
grace_hours``, at least :data:`ON_TIME`); later than :data:`ON_TIME` it is marked late. An
occurrence past its grace period is recorded as skipped, the schedule moves to the next one,
and the next digest says what was skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.errors import DeliveryError, InputError
from bot.zones import advise_zone

if TYPE_CHECKING:
    from bot.digest import BuiltDigest, DigestPass
    from bot.engine import BriefingEngine
    from bot.models import Reply
    from bot.store.digests import DigestSchedule

log = logging.getLogger(__name__)

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EVERY_DAY = 0b1111111
WEEKDAYS = 0b0011111
WEEKENDS = 0b1100000
# A digest posted later than this after its due time is marked late.
ON_TIME = timedelta(minutes=5)
# Skipped occurrences recorded for one outage (older ones are summarised by the count).
MAX_SKIPPED_RECORDED = 31
# Failed digests kept in memory for their retry (see DigestScheduler._unsent).
MAX_UNSENT_KEPT = 1000

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
    raise InputError(f"`{text}` is not a time of day: {TIME_HELP}, e.g. `{DIGEST_USAGE}`.")


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
        f"`{name}` is not an IANA time zone.{advice.reason}{hint} Use a name like "
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


# -- the service -----------------------------------------------------------------------------

Sleeper = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class PassResult:
    """What one scheduler pass did, by channel key ``platform:channel``."""

    sent: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()

    @property
    def handled(self) -> int:
        return sum(len(getattr(self, name)) for name in PassResult.__slots__)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Unsent:
    """A digest built and handed to the platform, which failed it for now."""

    reply: Reply
    built: BuiltDigest
    last_run_id: int | None  # the channel's last digest when it was built
    rule: DailyTime  # the schedule it was built for (its footer names the next one)


class DigestScheduler:
    """Posts every due digest exactly once; see the module docstring."""

    name = "digest-scheduler"

    def __init__(
        self,
        engine: BriefingEngine,
        *,
        owner: str | None = None,
        max_sleep: float | None = None,
        sleep: Sleeper | None = None,
    ) -> None:
        self.engine = engine
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        cfg = engine.config.digest
        self.max_sleep = cfg.wake_interval_seconds if max_sleep is None else max_sleep
        self._sleep: Sleeper = sleep or asyncio.sleep
        self.passes = 0
        # Digests whose post failed for now, by (platform, channel, local date): the retry
        # posts this same Reply rather than a rebuilt one (which may differ: "late", new
        # stories, another order), so an adapter can skip the parts it already delivered.
        self._unsent: dict[tuple[str, str, date], _Unsent] = {}

    async def run(self) -> None:
        """Until cancelled: post what is due, then sleep until the next due time."""
        log.info("digest scheduler %s started", self.owner)
        while True:
            try:
                result = await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad pass (database busy...) must not end the service
                log.exception("digest scheduler %s: pass failed", self.owner)
                await self._sleep(min(self.max_sleep, 5.0))
                continue
            # A pass that handled nothing while something is still due must not spin.
            await self.sleep_until_due(
                min_sleep=0.0 if result.handled else min(self.max_sleep, 1.0))

    def _platforms(self) -> tuple[str, ...]:
        return tuple(sorted(self.engine.publishers))

    async def sleep_until_due(self, *, min_sleep: float = 0.0) -> None:
        """Sleep until the earliest due time in the store, in slices of at most
        ``max_sleep`` seconds: each slice re-reads the wall clock (a jump of the machine's
        clock is noticed) and the store (a schedule set by another process is noticed).
        Only platforms this process can post to count."""
        while True:
            now = self.engine.clock()
            wake = await self.engine.store.next_digest_wake(platforms=self._platforms())
            if wake is not None and wake <= now:
                if min_sleep > 0:
                    await self._sleep(min_sleep)
                return
            remaining = self.max_sleep if wake is None else (wake - now).total_seconds()
            await self._sleep(max(0.0, min(remaining, self.max_sleep)))
            min_sleep = 0.0

    async def run_due(self) -> PassResult:
        """One pass: handle every schedule due now; return what happened."""
        from bot.digest import DigestPass

        self.passes += 1
        now = self.engine.clock()
        cfg = self.engine.config.digest
        due = await self.engine.store.due_digest_schedules(now=now, platforms=self._platforms())
        if not due:
            return PassResult()
        log.debug("digest pass %d: %d schedules due", self.passes, len(due))
        digest_pass = DigestPass(self.engine, now=now, channels=len(due))
        await digest_pass.prepare(platforms=self._platforms())
        outcomes: dict[str, list[str]] = {k: [] for k in PassResult.__slots__}
        limit = asyncio.Semaphore(cfg.concurrency)

        async def one(schedule: DigestSchedule) -> None:
            async with limit:
                try:
                    outcome = await self._handle(schedule, now=now, digest_pass=digest_pass)
                except Exception:  # one channel's trouble never holds up the others
                    log.exception("digest for %s:%s: pass failed", schedule.platform,
                                  schedule.channel_id)
                    await self._defer(schedule, now=now)
                    return
            if outcome:
                outcomes[outcome].append(f"{schedule.platform}:{schedule.channel_id}")

        async with asyncio.TaskGroup() as group:
            for schedule in due:
                group.create_task(one(schedule))
        return PassResult(**{k: tuple(sorted(v)) for k, v in outcomes.items()})

    async def _handle(self, schedule: DigestSchedule, *, now: datetime,
                      digest_pass: DigestPass) -> str | None:
        from bot.store.digests import ClaimState

        store = self.engine.store
        cfg = self.engine.config.digest
        rule = schedule.rule
        grace = max(timedelta(hours=cfg.grace_hours), ON_TIME)
        # Walk to the latest occurrence that is due; the ones before it were missed.
        occ = Occurrence(schedule.next_local_date, schedule.next_due_at)
        missed: list[Occurrence] = []
        following = following_occurrence(rule, occ.local_date)
        while following.due_at <= now:
            missed.append(occ)
            occ, following = following, following_occurrence(rule, following.local_date)
        current: Occurrence | None = occ
        if now > occ.due_at + grace:
            missed.append(occ)
            current = None
        if missed:
            target = current or following
            moved = await store.skip_digests(
                platform=schedule.platform, channel_id=schedule.channel_id,
                expected_local_date=schedule.next_local_date,
                local_dates=[(m.local_date, m.due_at) for m in missed[-MAX_SKIPPED_RECORDED:]],
                reason=f"not posted within the {cfg.grace_hours:g}-hour grace period "
                       "(the bot was not running or the platform refused it)",
                next_local_date=target.local_date, next_due_at=target.due_at, now=now,
            )
            if not moved:
                return None
            log.warning(
                "digest for %s:%s skipped %d occurrence(s) up to %s (past the grace period)",
                schedule.platform, schedule.channel_id, len(missed), missed[-1].local_date,
            )
            if current is None:
                return "skipped"
        assert current is not None
        nxt = following_occurrence(rule, current.local_date)
        claim = await store.claim_digest(
            platform=schedule.platform, channel_id=schedule.channel_id,
            local_date=current.local_date, due_at=current.due_at, owner=self.owner, now=now,
            lease_until=now + timedelta(seconds=cfg.lease_seconds),
            next_local_date=nxt.local_date, next_due_at=nxt.due_at,
        )
        if claim.state is not ClaimState.WON:
            log.debug("digest for %s:%s on %s not claimed: %s", schedule.platform,
                      schedule.channel_id, current.local_date, claim.state.value)
            return None
        assert claim.run_id is not None
        late = now - current.due_at > ON_TIME
        unsent_key = (schedule.platform, schedule.channel_id, current.local_date)
        last_run_id = claim.last.run_id if claim.last is not None else None
        unsent = self._unsent.pop(unsent_key, None)
        reply: Reply | None
        try:
            if (unsent is not None and unsent.last_run_id == last_run_id
                    and unsent.rule == rule):
                reply, built = unsent.reply, unsent.built  # its header as first posted
            else:
                reply, built = await digest_pass.build(
                    platform=schedule.platform, channel_id=schedule.channel_id,
                    last=claim.last, rule=rule, occurrence=current, late=late,
                    missed=claim.missed,
                )
            if reply is not None:
                try:
                    await self.engine.deliver(built.destination, reply)
                except DeliveryError as exc:
                    if not exc.permanent:
                        self._remember_unsent(unsent_key, _Unsent(
                            reply=reply, built=built, last_run_id=last_run_id,
                            rule=rule))
                    raise
        except DeliveryError as exc:
            if exc.permanent:
                await store.disable_digest_after_failure(
                    run_id=claim.run_id, owner=self.owner, platform=schedule.platform,
                    channel_id=schedule.channel_id, reason=str(exc), now=now,
                )
                log.warning("digest for %s:%s disabled: the platform refused it for good: %s",
                            schedule.platform, schedule.channel_id, exc)
                return "disabled"
            retry = self._backoff(claim.attempts)
            await store.fail_digest(run_id=claim.run_id, owner=self.owner, error=str(exc),
                                    retry_at=now + retry, now=now)
            log.warning("digest for %s:%s on %s failed (attempt %d), retrying in %ds: %s",
                        schedule.platform, schedule.channel_id, current.local_date,
                        claim.attempts, retry.total_seconds(), exc)
            return "failed"
        except Exception as exc:
            retry = self._backoff(claim.attempts)
            await store.fail_digest(run_id=claim.run_id, owner=self.owner,
                                    error=f"internal error: {type(exc).__name__}",
                                    retry_at=now + retry, now=now)
            log.exception("digest for %s:%s on %s could not be built (attempt %d)",
                          schedule.platform, schedule.channel_id, current.local_date,
                          claim.attempts)
            return "failed"
        kept = await store.finish_digest(
            run_id=claim.run_id, owner=self.owner, sent=reply is not None,
            period_start=built.period_start, period_end=built.period_end,
            through_article_id=built.through_article_id, items=len(built.items),
            late=late, now=self.engine.clock(), following=nxt,
        )
        if not kept:
            log.warning("digest for %s:%s on %s was posted after its lease expired",
                        schedule.platform, schedule.channel_id, current.local_date)
        if reply is None:
            return "empty"
        log.info("digest for %s:%s on %s posted: %d items%s", schedule.platform,
                 schedule.channel_id, current.local_date, len(built.items),
                 " (late)" if late else "")
        return "sent"

    async def _defer(self, schedule: DigestSchedule, *, now: datetime) -> None:
        """A schedule that broke a pass before it was claimed (a time zone this machine does
        not know, say) is looked at again after ``retry_seconds``, not on every pass."""
        until = now + timedelta(seconds=max(self.engine.config.digest.retry_seconds, 1.0))
        try:
            await self.engine.store.defer_digest_schedule(
                platform=schedule.platform, channel_id=schedule.channel_id,
                expected_local_date=schedule.next_local_date, until=until)
        except Exception:
            log.exception("digest for %s:%s: could not defer it", schedule.platform,
                          schedule.channel_id)

    def _remember_unsent(self, key: tuple[str, str, date], unsent: _Unsent) -> None:
        self._unsent[key] = unsent
        while len(self._unsent) > MAX_UNSENT_KEPT:
            del self._unsent[next(iter(self._unsent))]

    def _backoff(self, attempts: int) -> timedelta:
        base = self.engine.config.digest.retry_seconds
        return timedelta(seconds=min(base * 2 ** max(0, attempts - 1), 1800.0))


def install(engine: BriefingEngine) -> None:
    """Run the digest scheduler under ``briefbot run``."""
    engine.add_service(DigestScheduler(engine))
