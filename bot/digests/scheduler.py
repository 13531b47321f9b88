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

Batches (issue 17): a pass takes the due schedules a batch at a time (:func:`batch_size`:
up to :data:`CLAIM_BATCH`, smaller when few are due so that processes share them)
(``reserve_due_digests``: processes on one database take disjoint batches, none waits for
another), claims a batch in one trip to the database (``claim_digests``), builds and posts
each digest (``[digest] concurrency`` at a time), and records the posted ones together
(``finish_digests``), when a batch's worth is waiting, when no post is under way, or
when the oldest has waited a quarter of the lease. A posted digest whose record is still
waiting is safe: its parts are recorded as they are accepted (:mod:`bot.outbox`), so if the
process dies, the claim's retry after the lease posts nothing again and records it.

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
    from bot.store.ports import DigestClaim, DigestFinish, DigestSchedule

log = logging.getLogger(__name__)

# Skipped occurrences recorded for one outage (older ones are summarised by the count).
MAX_SKIPPED_RECORDED = 31
# Due digests reserved, claimed and recorded as sent together (one trip to the database each).
CLAIM_BATCH = 64
# How long a reserved batch is hidden from other processes' due lists before it is claimed.
RESERVE_SECONDS = 60.0
# Pauses before a reserved schedule whose claim came back "held" is asked again (None: done).
HELD_RETRIES: tuple[float | None, ...] = (0.05, 0.5, None)

def batch_size(due: int, concurrency: int) -> int:
    """How many due digests a pass reserves at once: :data:`CLAIM_BATCH` for a big pass (a
    few trips per batch instead of several per channel), down to ``[digest] concurrency`` for
    a small one, so that processes starting together each get a share of a few dozen."""
    return max(1, concurrency, min(CLAIM_BATCH, due // 16))


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


@dataclass(frozen=True, slots=True)
class _Planned:
    """A due schedule's occurrence to claim now (and the one after it)."""

    schedule: DigestSchedule
    rule: DailyTime
    current: Occurrence
    following: Occurrence


@dataclass(slots=True)
class _Job:
    """A won claim's digest, built (or taken from an earlier attempt) and begun: what a
    poster delivers. ``reply`` None: nothing to post (recorded as empty)."""

    planned: _Planned
    claim: DigestClaim
    late: bool
    destination: Destination
    reply: Reply | None
    note: _Note


@dataclass(frozen=True, slots=True)
class _Posted:
    """A digest posted (or found empty) whose run waits to be recorded (``finish_digests``)."""

    planned: _Planned
    finish: DigestFinish
    since: float  # loop time it started waiting
    outcomes: dict[str, list[str]]  # its pass's (PassResult)


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
        # posted digests whose runs wait to be recorded together (_flush)
        self._posted: list[_Posted] = []
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
        if self._posted:  # posted already: record them rather than give them back
            try:
                await self._flush()
            except Exception:  # the database may be what failed; the lease still runs out
                log.exception("digest scheduler %s: could not record %d posted digest(s)",
                              self.owner, len(self._posted))
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
        digests = self.store.digests
        platforms = self._platforms()
        due = await digests.due_digest_schedules(now=now, platforms=platforms)
        if not due:
            return PassResult()
        log.debug("digest pass %d: %d schedules due", self.passes, len(due))
        digest_pass = DigestPass(self.kit, now=now, channels=len(due))
        await digest_pass.prepare(platforms=platforms,
                                  channels=[(s.platform, s.channel_id) for s in due])
        outcomes: dict[str, list[str]] = {k: [] for k in PassResult.__slots__}
        batch = batch_size(len(due), cfg.concurrency)
        queue: asyncio.Queue[_Job | None] = asyncio.Queue(batch)
        busy = [0]

        async def poster() -> None:
            while (job := await queue.get()) is not None:
                busy[0] += 1
                try:
                    await self._post_one(job, now=now, outcomes=outcomes)
                finally:
                    busy[0] -= 1
                # record what waits when no post is under way, or enough or long enough
                if self._posted and (
                        len(self._posted) >= batch or (busy[0] == 0 and queue.empty())
                        or self._loop_time() - self._posted[0].since > cfg.lease_seconds / 4):
                    await self._flush_logged()

        # a reservation only covers planning and claiming the batch (the claim holds a lease)
        reserve = timedelta(seconds=min(cfg.lease_seconds, RESERVE_SECONDS))
        failure: Exception | None = None
        async with asyncio.TaskGroup() as group:  # a poster's BaseException ends the pass
            for _ in range(cfg.concurrency):
                group.create_task(poster())
            try:
                # a few batches more than a whole pass would take, should schedules reappear
                for _ in range(len(due) // batch * 3 + 3):
                    if self._stopping:  # draining: what is not claimed is left to the next start
                        break
                    taken = await digests.reserve_due_digests(
                        now=now, until=self.clock() + reserve, platforms=platforms,
                        limit=batch)
                    if not taken:
                        break
                    won = await self._claim(taken, now=now, outcomes=outcomes)
                    for job in await self._begin(won, now=now, digest_pass=digest_pass,
                                                 outcomes=outcomes):
                        await queue.put(job)
            except Exception as exc:  # the database failed: post what is claimed, then raise
                failure = exc
            for _ in range(cfg.concurrency):
                await queue.put(None)
        if failure is not None:
            await self._flush_logged()
            raise failure
        await self._flush_logged()
        return PassResult(**{k: tuple(sorted(v)) for k, v in outcomes.items()})

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    async def _claim(self, taken: list[DigestSchedule], *, now: datetime,
                     outcomes: dict[str, list[str]]) -> list[tuple[_Planned, DigestClaim]]:
        """Plan each reserved schedule (record what was missed) and claim the occurrences due
        now in one trip; the won claims are held from here until recorded or given back."""
        from bot.store.ports import ClaimState, DigestClaimRequest

        planned: list[_Planned] = []
        for schedule in taken:
            try:
                plan = await self._plan(schedule, now=now)
            except Exception:  # one channel's trouble never holds up the others
                log.exception("digest for %s:%s: pass failed", schedule.platform,
                              schedule.channel_id)
                await self._defer(schedule, now=now)
                continue
            if isinstance(plan, _Planned):
                planned.append(plan)
            elif plan:
                outcomes[plan].append(f"{schedule.platform}:{schedule.channel_id}")
        if not planned or self._stopping:
            return []
        won: list[tuple[_Planned, DigestClaim]] = []
        for pause in HELD_RETRIES:
            claimed_at = self.clock()
            claims = await self.store.digests.claim_digests(
                [DigestClaimRequest(platform=p.schedule.platform,
                                    channel_id=p.schedule.channel_id,
                                    local_date=p.current.local_date, due_at=p.current.due_at,
                                    next_local_date=p.following.local_date,
                                    next_due_at=p.following.due_at) for p in planned],
                owner=self.owner, now=claimed_at,
                lease_until=claimed_at + timedelta(seconds=self.kit.settings.lease_seconds))
            held: list[_Planned] = []
            for plan, claim in zip(planned, claims, strict=True):
                if claim.state is ClaimState.WON:
                    assert claim.run_id is not None
                    self._held[claim.run_id] = now
                    won.append((plan, claim))
                    continue
                log.debug("digest for %s:%s on %s not claimed: %s", plan.schedule.platform,
                          plan.schedule.channel_id, plan.current.local_date, claim.state.value)
                if claim.state is ClaimState.HELD:
                    held.append(plan)
            # This process reserved these schedules: "held" is then mostly another process's
            # reservation scan holding the row for an instant (PostgreSQL: SKIP LOCKED in the
            # claim); asked again shortly, rather than left until the reservation runs out.
            if not held or pause is None or self._stopping:
                break
            planned = held
            await asyncio.sleep(pause)
        return won

    async def _plan(self, schedule: DigestSchedule, *, now: datetime) -> _Planned | str | None:
        """The occurrence of ``schedule`` to claim now; those missed past the grace period
        are recorded as skipped first ("skipped": nothing left to post now; None: another
        process or a command moved the schedule meanwhile)."""
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
        return _Planned(schedule, rule, current, following_occurrence(rule, current.local_date))

    async def _begin(self, won: list[tuple[_Planned, DigestClaim]], *, now: datetime,
                     digest_pass: DigestPass, outcomes: dict[str, list[str]]) -> list[_Job]:
        """Build each won claim's digest, or take the message an earlier attempt began (kept
        in the database with what it covers, :mod:`bot.outbox`), and begin the batch's
        messages in one trip: a retry (in this process or another) thus posts the same
        message, and the platform adapter posts only the parts not yet recorded as
        accepted."""
        from bot.outbox import begin_many, reply_from_json

        store = self.store
        jobs: list[_Job] = []
        for planned, claim in won:
            schedule = planned.schedule
            late = now - planned.current.due_at > ON_TIME
            try:
                earlier = (await store.platform.get_delivery(f"digest:{claim.run_id}")
                           if claim.attempts > 1 else None)
                if earlier is not None and earlier.reply:
                    job = _Job(planned, claim, late,
                               Destination(platform=schedule.platform,
                                           channel_id=schedule.channel_id),
                               reply_from_json(earlier.reply), _Note.parse(earlier.note))
                else:
                    reply, built = await digest_pass.build(
                        platform=schedule.platform, channel_id=schedule.channel_id,
                        last=claim.last, rule=planned.rule, occurrence=planned.current,
                        late=late, missed=claim.missed, delivery_key=f"digest:{claim.run_id}",
                    )
                    job = _Job(planned, claim, late, built.destination, reply, _Note.of(built))
            except Exception as exc:
                outcomes[await self._broken(planned, claim, exc, now=now)].append(
                    f"{schedule.platform}:{schedule.channel_id}")
                continue
            jobs.append(job)
        posting = [j for j in jobs if j.reply is not None]
        if not posting:
            return jobs
        try:
            begun = await begin_many(
                store.platform,
                [(f"digest:{j.claim.run_id}", j.destination, j.reply, j.note.dumps())
                 for j in posting if j.reply is not None], now=now)
        except Exception as exc:
            for j in posting:
                outcomes[await self._broken(j.planned, j.claim, exc, now=now)].append(
                    f"{j.planned.schedule.platform}:{j.planned.schedule.channel_id}")
            return [j for j in jobs if j.reply is None]
        for j, b in zip(posting, begun, strict=True):
            j.reply = b.reply
            if b.resumed:
                j.note = _Note.parse(b.note)
        return jobs

    async def _broken(self, planned: _Planned, claim: DigestClaim, exc: Exception, *,
                      now: datetime) -> str:
        """A won claim whose digest could not be built or begun: retried with backoff."""
        assert claim.run_id is not None
        schedule = planned.schedule
        try:
            metrics.DIGEST_POSTS.labels("retry").inc()
            retry = self._backoff(claim.attempts)
            log.error("digest for %s:%s on %s could not be built (attempt %d)",
                      schedule.platform, schedule.channel_id, planned.current.local_date,
                      claim.attempts, exc_info=exc)
            await self.store.digests.fail_digest(
                run_id=claim.run_id, owner=self.owner,
                error=f"internal error: {type(exc).__name__}", retry_at=now + retry, now=now)
        except Exception:  # the database may be what failed; the lease still runs out
            log.exception("digest for %s:%s: pass failed", schedule.platform,
                          schedule.channel_id)
        finally:
            self._done(claim.run_id)
        return "failed"

    async def _post_one(self, job: _Job, *, now: datetime,
                        outcomes: dict[str, list[str]]) -> None:
        """Post one begun digest; a posted one waits in ``_posted`` to be recorded."""
        claim, schedule = job.claim, job.planned.schedule
        assert claim.run_id is not None
        if self._stopping:  # draining: a claim not yet posted is given back at once
            await self._release(claim.run_id, "released: the process stopped before posting it")
            return
        outcome: str | None = None
        cancelled = False
        try:
            outcome = await self._deliver(job, now=now, outcomes=outcomes)
        except asyncio.CancelledError:
            cancelled = True  # a stop cut it short: still held, released by run()
            raise
        except Exception:  # one channel's trouble never holds up the others
            log.exception("digest for %s:%s: pass failed", schedule.platform,
                          schedule.channel_id)
            outcome = "failed"
        finally:
            if not cancelled and outcome is not None:  # None: waits in _posted
                self._done(claim.run_id)
        if outcome:
            outcomes[outcome].append(f"{schedule.platform}:{schedule.channel_id}")

    def _done(self, run_id: int) -> None:
        self._held.pop(run_id, None)
        if not self._held and self._stopping:
            self._idle.set()

    async def _release(self, run_id: int, why: str) -> None:
        now = self.clock()
        try:
            await self.store.digests.fail_digest(run_id=run_id, owner=self.owner,
                                                        retry_at=now, now=now, error=why)
        except Exception:  # the database may be what failed; the lease still runs out
            log.exception("digest run %d: could not release the claim", run_id)
        finally:
            self._done(run_id)

    async def _flush_logged(self) -> None:
        try:
            await self._flush()
        except Exception:  # the runs stay claimed; their retry after the lease posts nothing
            log.exception("digest scheduler %s: could not record posted digests", self.owner)

    async def _flush(self) -> None:
        """Record the posted digests waiting in ``_posted``, in one trip."""
        waiting, self._posted = self._posted, []
        if not waiting:
            return
        try:
            kept = await self.store.digests.finish_digests(
                [p.finish for p in waiting], owner=self.owner)
        finally:
            for p in waiting:
                self._done(p.finish.run_id)
        for p, ok in zip(waiting, kept, strict=True):
            schedule, day = p.planned.schedule, p.planned.current.local_date
            if not ok:
                log.warning("digest for %s:%s on %s was posted after its lease expired",
                            schedule.platform, schedule.channel_id, day)
            outcome = "sent" if p.finish.sent else "empty"
            if p.finish.sent:
                metrics.DIGEST_POSTS.labels("delivered").inc()
                log.info("digest for %s:%s on %s posted: %d items%s", schedule.platform,
                         schedule.channel_id, day, p.finish.items,
                         " (late)" if p.finish.late else "")
            p.outcomes[outcome].append(f"{schedule.platform}:{schedule.channel_id}")

    async def _deliver(self, job: _Job, *, now: datetime,
                       outcomes: dict[str, list[str]]) -> str | None:
        """Hand a begun digest to the platform. Returns how it ended ("failed", "disabled"),
        or None: posted (or empty), waiting in ``_posted`` to be recorded."""
        from bot.store.ports import DigestFinish

        store = self.store
        claim, schedule, current = job.claim, job.planned.schedule, job.planned.current
        assert claim.run_id is not None
        try:
            if job.reply is not None:
                await self.deliver(job.destination, job.reply)
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
            log.exception("digest for %s:%s on %s could not be posted (attempt %d)",
                          schedule.platform, schedule.channel_id, current.local_date,
                          claim.attempts)
            return "failed"
        note = job.note
        self._posted.append(_Posted(
            job.planned,
            DigestFinish(run_id=claim.run_id, sent=job.reply is not None,
                         period_start=note.period_start, period_end=note.period_end,
                         through_article_id=note.through_article_id, items=note.items,
                         late=job.late, now=self.clock(),
                         following=job.planned.following),
            self._loop_time(), outcomes))
        return None

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
