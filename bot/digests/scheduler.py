"""The service that posts each channel's digest exactly once (time rules: :mod:`bot.digests.rules`).

:class:`DigestScheduler`, the background service ``briefbot run`` starts. Each pass it asks
the store which schedules are due, claims each occurrence atomically (a UNIQUE row per
channel and local date, with a lease), builds the digest, posts it and only then marks it
sent. Everything that must survive a restart lives in the store, so two processes on one
database, or a crash between claim and post, never post a digest twice; an occurrence whose
lease expired is claimed again and retried. The message is stored before its first post
(:mod:`bot.outbox`, key ``digest:<run id>``): a retry, in any process, posts that very message
and records what it covered, and the adapter posts only the parts not yet accepted. A graceful
stop (:meth:`DigestScheduler.drain`) claims nothing more and lets the posts under way finish;
claims still held when the service is cancelled are released at once. Between
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
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import metrics
from bot.digests.rules import ON_TIME, DailyTime, Occurrence, following_occurrence
from bot.errors import DeliveryError
from bot.loop import Sleeper, run_forever
from bot.models import Destination

if TYPE_CHECKING:
    from bot.digests.build import BuiltDigest, DigestKit, DigestPass
    from bot.models import Reply
    from bot.store.ports import DigestClaim, DigestSchedule

log = logging.getLogger(__name__)

# Skipped occurrences recorded for one outage (older ones are summarised by the count).
MAX_SKIPPED_RECORDED = 31

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
class _Note:
    """What a digest covers, stored with its message (:mod:`bot.outbox`): a retry that posts
    the stored message records what that message covered, not what a rebuild would."""

    period_start: datetime | None
    period_end: datetime
    through_article_id: int
    items: int

    @classmethod
    def of(cls, built: BuiltDigest) -> _Note:
        return cls(period_start=built.period_start, period_end=built.period_end,
                   through_article_id=built.through_article_id, items=len(built.items))

    def dumps(self) -> str:
        return json.dumps({
            "period_start": None if self.period_start is None else self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "through_article_id": self.through_article_id, "items": self.items})

    @classmethod
    def parse(cls, raw: str) -> _Note:
        data = json.loads(raw)
        start = data.get("period_start")
        return cls(period_start=None if start is None else datetime.fromisoformat(start),
                   period_end=datetime.fromisoformat(data["period_end"]),
                   through_article_id=int(data["through_article_id"]),
                   items=int(data["items"]))


class DigestScheduler:
    """Posts every due digest exactly once; see the module docstring."""

    name = "digest-scheduler"

    def __init__(
        self,
        kit: DigestKit,
        *,
        owner: str | None = None,
        max_sleep: float | None = None,
        sleep: Sleeper | None = None,
    ) -> None:
        self.kit = kit
        self.store = kit.store
        self.clock = kit.clock
        self.deliver = kit.deliver
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        cfg = kit.settings
        self.max_sleep = cfg.wake_interval_seconds if max_sleep is None else max_sleep
        self._sleep: Sleeper = sleep or asyncio.sleep
        self.passes = 0
        # claims this scheduler holds (run id -> when claimed): released if it stops
        self._held: dict[int, datetime] = {}
        self._stopping = False
        self._idle = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled: post what is due, then sleep until the next due time. Claims
        still held when it is cancelled (a stop cut a post short) are released."""
        log.info("digest scheduler %s started", self.owner)
        try:
            await run_forever(self._round, name=self.name, log=log,
                              retry=min(self.max_sleep, 5.0), max_retry=self.max_sleep,
                              sleep=self._sleep)
        finally:
            await self.release_claims()

    async def drain(self, seconds: float) -> bool:
        """Stop claiming, and wait up to ``seconds`` for the digests being posted to
        be posted and recorded; True if none is left in flight."""
        self._stopping = True
        if not self._held:
            return True
        self._idle.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            log.warning("digest scheduler %s: %d digest(s) still posting after %g s; stopping "
                        "them (their claims are released)", self.owner, len(self._held),
                        seconds)
            return False
        return True

    async def release_claims(self) -> int:
        """Give back the claims still held (a stop cut their posts short): another process,
        or this one after a restart, takes them at once instead of after the lease; the
        parts already posted are known to the database (:mod:`bot.outbox`)."""
        held = list(self._held)
        self._held.clear()
        now = self.clock()
        for run_id in held:
            try:
                await self.store.digests.fail_digest(
                    run_id=run_id, owner=self.owner, retry_at=now, now=now,
                    error="released: the process stopped while posting it")
            except Exception:  # the database may be what failed; the lease still runs out
                log.exception("digest run %d: could not release the claim", run_id)
        if held:
            log.info("digest scheduler %s released %d claim(s) on stopping", self.owner,
                     len(held))
        return len(held)

    async def _round(self) -> float:
        result = await self.run_due()
        # A pass that handled nothing while something is still due must not spin.
        await self.sleep_until_due(min_sleep=0.0 if result.handled else min(self.max_sleep, 1.0))
        return 0.0

    def _platforms(self) -> tuple[str, ...]:
        return tuple(sorted(self.kit.platforms()))

    async def sleep_until_due(self, *, min_sleep: float = 0.0) -> None:
        """Sleep until the earliest due time in the store, in slices of at most
        ``max_sleep`` seconds: each slice re-reads the wall clock (a jump of the machine's
        clock is noticed) and the store (a schedule set by another process is noticed).
        Only platforms this process can post to count."""
        while True:
            metrics.tick(self.name)
            now = self.clock()
            wake = await self.store.digests.next_digest_wake(platforms=self._platforms())
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
        now = self.clock()
        cfg = self.kit.settings
        due = await self.store.digests.due_digest_schedules(now=now,
                                                                   platforms=self._platforms())
        if not due:
            return PassResult()
        log.debug("digest pass %d: %d schedules due", self.passes, len(due))
        digest_pass = DigestPass(self.kit, now=now, channels=len(due))
        await digest_pass.prepare(platforms=self._platforms(),
                                  channels=[(s.platform, s.channel_id) for s in due])
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

        store = self.store
        cfg = self.kit.settings
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
        if self._stopping:  # draining: what is not claimed yet is left to the next start
            return None
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
        self._held[claim.run_id] = now
        cancelled = False
        try:
            return await self._post_claimed(schedule, claim, current=current, nxt=nxt,
                                             rule=rule, late=late, now=now,
                                             digest_pass=digest_pass)
        except asyncio.CancelledError:
            cancelled = True  # a stop cut it short: still held, released by run()
            raise
        finally:
            if not cancelled:
                self._held.pop(claim.run_id, None)
                if not self._held and self._stopping:
                    self._idle.set()

    async def _post_claimed(self, schedule: DigestSchedule, claim: DigestClaim, *,
                            current: Occurrence, nxt: Occurrence, rule: DailyTime, late: bool,
                            now: datetime, digest_pass: DigestPass) -> str:
        """Post a won claim's digest: the one an earlier attempt began if there is one (kept
        in the database with what it covers, :mod:`bot.outbox`), else a new one; then record
        it. A retry (in this process or another) thus posts the same message, and the
        platform adapter posts only the parts not yet recorded as accepted."""
        from bot.outbox import begin, reply_from_json

        store = self.store
        assert claim.run_id is not None
        key = f"digest:{claim.run_id}"
        destination = Destination(platform=schedule.platform, channel_id=schedule.channel_id)
        reply: Reply | None = None
        try:
            earlier = (await store.platform.get_delivery(key)
                       if claim.attempts > 1 else None)
            if earlier is not None and earlier.reply:
                reply, note = reply_from_json(earlier.reply), _Note.parse(earlier.note)
            else:
                reply, built = await digest_pass.build(
                    platform=schedule.platform, channel_id=schedule.channel_id,
                    last=claim.last, rule=rule, occurrence=current, late=late,
                    missed=claim.missed,
                )
                destination, note = built.destination, _Note.of(built)
            if reply is not None:
                begun = await begin(store.platform, key=key, destination=destination,
                                    reply=reply, note=note.dumps(), now=now)
                reply = begun.reply
                if begun.resumed:
                    note = _Note.parse(begun.note)
                await self.deliver(destination, reply)
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
            period_start=note.period_start, period_end=note.period_end,
            through_article_id=note.through_article_id, items=note.items,
            late=late, now=self.clock(), following=nxt,
        )
        if not kept:
            log.warning("digest for %s:%s on %s was posted after its lease expired",
                        schedule.platform, schedule.channel_id, current.local_date)
        if reply is None:
            return "empty"
        metrics.DIGEST_POSTS.labels("delivered").inc()
        log.info("digest for %s:%s on %s posted: %d items%s", schedule.platform,
                 schedule.channel_id, current.local_date, note.items,
                 " (late)" if late else "")
        return "sent"

    async def _defer(self, schedule: DigestSchedule, *, now: datetime) -> None:
        """A schedule that broke a pass before it was claimed (a time zone this machine does
        not know, say) is looked at again after ``retry_seconds``, not on every pass."""
        until = now + timedelta(seconds=max(self.kit.settings.retry_seconds, 1.0))
        try:
            await self.store.digests.defer_digest_schedule(
                platform=schedule.platform, channel_id=schedule.channel_id,
                expected_local_date=schedule.next_local_date, until=until)
        except Exception:
            log.exception("digest for %s:%s: could not defer it", schedule.platform,
                          schedule.channel_id)

    def _backoff(self, attempts: int) -> timedelta:
        base = self.kit.settings.retry_seconds
        return timedelta(seconds=min(base * 2 ** max(0, attempts - 1), 1800.0))
