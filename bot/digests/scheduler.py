"""The service that posts each channel's digest exactly once (time rules: :mod:`bot.digests.rules`).

:class:`DigestScheduler`, the background service ``briefbot run`` starts. Each pass it asks
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
import socket
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from bot import metrics
from bot.digests.rules import ON_TIME, DailyTime, Occurrence, following_occurrence
from bot.errors import DeliveryError
from bot.loop import Sleeper, run_forever

if TYPE_CHECKING:
    from bot.digests.build import BuiltDigest, DigestPass
    from bot.engine import BriefingEngine
    from bot.models import Reply
    from bot.store.ports import DigestSchedule

log = logging.getLogger(__name__)

# Skipped occurrences recorded for one outage (older ones are summarised by the count).
MAX_SKIPPED_RECORDED = 31
# Failed digests kept in memory for their retry (see DigestScheduler._unsent).
MAX_UNSENT_KEPT = 1000

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
        await run_forever(self._round, name=self.name, log=log,
                          retry=min(self.max_sleep, 5.0), max_retry=self.max_sleep,
                          sleep=self._sleep)

    async def _round(self) -> float:
        result = await self.run_due()
        # A pass that handled nothing while something is still due must not spin.
        await self.sleep_until_due(min_sleep=0.0 if result.handled else min(self.max_sleep, 1.0))
        return 0.0

    def _platforms(self) -> tuple[str, ...]:
        return tuple(sorted(self.engine.publishers))

    async def sleep_until_due(self, *, min_sleep: float = 0.0) -> None:
        """Sleep until the earliest due time in the store, in slices of at most
        ``max_sleep`` seconds: each slice re-reads the wall clock (a jump of the machine's
        clock is noticed) and the store (a schedule set by another process is noticed).
        Only platforms this process can post to count."""
        while True:
            metrics.tick(self.name)
            now = self.engine.clock()
            wake = await self.engine.store.digests.next_digest_wake(platforms=self._platforms())
            if wake is not None and wake <= now:
                if min_sleep > 0:
                    await self._sleep(min_sleep)
                return
            remaining = self.max_sleep if wake is None else (wake - now).total_seconds()
            await self._sleep(max(0.0, min(remaining, self.max_sleep)))
            min_sleep = 0.0

    async def run_due(self) -> PassResult:
        """One pass: handle every schedule due now; return what happened."""
        from bot.digests.build import DigestPass

        self.passes += 1
        now = self.engine.clock()
        cfg = self.engine.config.digest
        due = await self.engine.store.digests.due_digest_schedules(now=now,
                                                                   platforms=self._platforms())
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
        from bot.store.ports import ClaimState

        store = self.engine.store
        cfg = self.engine.config.digest
        rule = DailyTime.of(schedule)
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
            moved = await store.digests.skip_digests(
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
        claim = await store.digests.claim_digest(
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
                await store.digests.disable_digest_after_failure(
                    run_id=claim.run_id, owner=self.owner, platform=schedule.platform,
                    channel_id=schedule.channel_id, reason=str(exc), now=now,
                )
                log.warning("digest for %s:%s disabled: the platform refused it for good: %s",
                            schedule.platform, schedule.channel_id, exc)
                metrics.DIGEST_POSTS.labels("failed").inc()
                return "disabled"
            retry = self._backoff(claim.attempts)
            await store.digests.fail_digest(run_id=claim.run_id, owner=self.owner, error=str(exc),
                                    retry_at=now + retry, now=now)
            metrics.DIGEST_POSTS.labels("retry").inc()
            log.warning("digest for %s:%s on %s failed (attempt %d), retrying in %ds: %s",
                        schedule.platform, schedule.channel_id, current.local_date,
                        claim.attempts, retry.total_seconds(), exc)
            return "failed"
        except Exception as exc:
            metrics.DIGEST_POSTS.labels("retry").inc()
            retry = self._backoff(claim.attempts)
            await store.digests.fail_digest(run_id=claim.run_id, owner=self.owner,
                                    error=f"internal error: {type(exc).__name__}",
                                    retry_at=now + retry, now=now)
            log.exception("digest for %s:%s on %s could not be built (attempt %d)",
                          schedule.platform, schedule.channel_id, current.local_date,
                          claim.attempts)
            return "failed"
        kept = await store.digests.finish_digest(
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
        metrics.DIGEST_POSTS.labels("delivered").inc()
        log.info("digest for %s:%s on %s posted: %d items%s", schedule.platform,
                 schedule.channel_id, current.local_date, len(built.items),
                 " (late)" if late else "")
        return "sent"

    async def _defer(self, schedule: DigestSchedule, *, now: datetime) -> None:
        """A schedule that broke a pass before it was claimed (a time zone this machine does
        not know, say) is looked at again after ``retry_seconds``, not on every pass."""
        until = now + timedelta(seconds=max(self.engine.config.digest.retry_seconds, 1.0))
        try:
            await self.engine.store.digests.defer_digest_schedule(
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
