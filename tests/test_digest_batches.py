"""A digest pass in batches (issue 17 item 4, issue 12): due schedules reserved by disjoint
batches, claimed and recorded in one trip per batch, on both backends.

What the batches must keep: every claim answers as the single claim would (won, held, done,
stale, in the caller's order); processes reserving at once never get the same schedule; a
pass over many channels makes a few trips per batch rather than several per channel; and
three schedulers on one database still post each digest once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import digest_kit
from bot.digests.rules import DailyTime, following_occurrence, next_occurrence
from bot.digests.scheduler import CLAIM_BATCH, DigestScheduler, batch_size
from bot.engine import BriefingEngine
from bot.models import ArticleDraft
from bot.publish import RecordingPublisher
from bot.store.ports import ClaimState, DigestClaimRequest, DigestFinish, Store
from tests.conftest import FixedClock

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RULE = DailyTime(hour=8, minute=0, timezone="UTC")
FIRST = next_occurrence(RULE, after=NOW - timedelta(minutes=1))
FOLLOWING = following_occurrence(RULE, FIRST.local_date)


async def schedule(store: Store, *channels: str) -> None:
    for channel in channels:
        await store.digests.set_digest_schedule(platform="console", channel_id=channel,
                                                rule=RULE, first=FIRST, by="U1",
                                                now=NOW - timedelta(hours=1))


def request(channel: str) -> DigestClaimRequest:
    return DigestClaimRequest(platform="console", channel_id=channel,
                              local_date=FIRST.local_date, due_at=FIRST.due_at,
                              next_local_date=FOLLOWING.local_date,
                              next_due_at=FOLLOWING.due_at)


def finish(run_id: int, *, sent: bool = True) -> DigestFinish:
    return DigestFinish(run_id=run_id, sent=sent, period_start=None, period_end=NOW,
                        through_article_id=0, items=1 if sent else 0, late=False, now=NOW,
                        following=FOLLOWING)


async def test_a_claim_batch_answers_each_request_as_a_single_claim_would(
        engine: BriefingEngine) -> None:
    store = engine.store
    await schedule(store, "C1", "C2", "C3", "C4")
    lease = NOW + timedelta(minutes=5)
    # C4: another process holds it; C3: another process posted it (schedule left on the day)
    held, = await store.digests.claim_digests([request("C4")], owner="x", now=NOW,
                                              lease_until=lease)
    done, = await store.digests.claim_digests([request("C3")], owner="x", now=NOW,
                                              lease_until=lease)
    assert held.run_id is not None and done.run_id is not None
    assert await store.digests.finish_digest(
        run_id=done.run_id, owner="x", sent=True, period_start=None, period_end=NOW,
        through_article_id=0, items=1, late=False, now=NOW)
    # C2: turned off since the pass read it
    assert await store.digests.disable_digest(platform="console", channel_id="C2", reason="off",
                                              by="U1", now=NOW)
    claims = await store.digests.claim_digests(
        [request("C4"), request("C1"), request("C3"), request("C2")], owner="me", now=NOW,
        lease_until=lease)
    assert [c.state for c in claims] == [ClaimState.HELD, ClaimState.WON, ClaimState.DONE,
                                         ClaimState.STALE]
    won = claims[1]
    assert won.run_id is not None and won.attempts == 1 and won.last is None
    # the done one moved on to its next occurrence, as a single claim moves it
    moved = await store.digests.get_digest_schedule(platform="console", channel_id="C3")
    assert moved is not None and moved.next_local_date == FOLLOWING.local_date

    # finishes: in order; one whose claim this owner does not hold is refused
    assert await store.digests.finish_digests([finish(held.run_id), finish(won.run_id)],
                                              owner="me") == [False, True]
    after = await store.digests.get_digest_schedule(platform="console", channel_id="C1")
    assert after is not None and after.next_local_date == FOLLOWING.local_date
    assert after.not_before is None
    last = await store.digests.last_digest(platform="console", channel_id="C1")
    assert last is not None and last.run_id == won.run_id and last.status == "sent"
    assert await store.digests.claim_digests([], owner="me", now=NOW, lease_until=lease) == []
    assert await store.digests.finish_digests([], owner="me") == []


async def test_reservations_made_at_once_never_overlap(
        make_engine: Callable[..., Any], clock: FixedClock) -> None:
    clock.now = NOW
    engines = [await make_engine() for _ in range(3)]  # three processes, one database
    channels = [f"C{i:02d}" for i in range(10)]
    await schedule(engines[0].store, *channels)
    until = NOW + timedelta(minutes=1)
    taken = await asyncio.gather(*(e.store.digests.reserve_due_digests(
        now=NOW, until=until, limit=4) for e in engines))
    got = [s.channel_id for batch in taken for s in batch]
    # disjoint, all of them, none over the limit (4 + 4 + 2 in turn; scans at the same
    # instant on PostgreSQL skip each other's rows and may split 4 + 3 + 3)
    assert sorted(got) == channels
    assert max(len(batch) for batch in taken) == 4
    for batch in taken:  # earliest due first, then by channel
        assert [s.channel_id for s in batch] == sorted(s.channel_id for s in batch)
    # reserved: hidden from every due list until ``until``, then due again
    assert await engines[0].store.digests.reserve_due_digests(now=NOW, until=until,
                                                              limit=4) == []
    assert await engines[1].store.digests.due_digest_schedules(now=NOW) == []
    later = await engines[2].store.digests.due_digest_schedules(now=until)
    assert len(later) == len(channels)
    assert await engines[0].store.digests.reserve_due_digests(
        now=NOW, until=until, limit=4, platforms=["slack"]) == []


def count_trips(engine: BriefingEngine, trips: dict[str, list[int]],
                asked: set[str]) -> None:
    """Count the batch calls this engine's scheduler makes (each is one trip), and the
    channels it asked to claim: a spy around the real store methods, which still do the
    work."""
    digests = engine.store.digests
    for name in ("reserve_due_digests", "claim_digests", "finish_digests"):
        real = getattr(digests, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            trips.setdefault(_name, []).append(len(args[0]) if args else kwargs["limit"])
            if _name == "claim_digests":
                asked.update(r.channel_id for r in args[0])
            return _real(*args, **kwargs)

        setattr(digests, name, spy)


async def test_three_schedulers_take_disjoint_batches_and_post_each_digest_once(
        make_engine: Callable[..., Any], clock: FixedClock) -> None:
    clock.now = NOW - timedelta(hours=1)
    engines = [await make_engine() for _ in range(3)]
    channels = [f"C{i:02d}" for i in range(60)]
    assert engines[0].config.digest.concurrency == 8
    assert batch_size(len(channels), 8) == 8  # few due: small batches, shared
    await schedule(engines[0].store, *channels)
    await engines[0].store.articles.add_article(
        ArticleDraft(text="Rocket systems were sent.", title="Rockets", source="Wire"),
        title="Rockets", summary=("Rocket systems were sent.",), content_hash="r",
        canonical_url=None, ingested_at=NOW - timedelta(minutes=30))
    trips: dict[str, list[int]] = {}
    asked: list[set[str]] = [set(), set(), set()]
    for e, channels_asked in zip(engines, asked, strict=True):
        count_trips(e, trips, channels_asked)
    clock.now = NOW
    results = await asyncio.gather(*(DigestScheduler(digest_kit(e), owner=f"p{i}").run_due()
                                     for i, e in enumerate(engines)))
    posted = []
    for e in engines:
        publisher = e.publishers["console"]
        assert isinstance(publisher, RecordingPublisher)
        posted += [d.channel_id for d, _ in publisher.sent]
    assert sorted(posted) == channels
    assert sorted(c for r in results for c in r.sent) == [f"console:{c}" for c in channels]
    # no process asked to claim a channel another had reserved
    assert sum(len(a) for a in asked) == len(set().union(*asked)) == len(channels)
    # about one claim trip per batch of 8 (a process's last batch may be short; a claim
    # found "held" for an instant is asked again), not one a channel
    assert len(trips["claim_digests"]) <= len(channels) // 4
    # records of posted digests go together, not one trip a channel
    assert sum(trips["finish_digests"]) == len(channels)
    assert len(trips["finish_digests"]) <= len(channels) // 4
    # the next pass, a minute later in any process, finds nothing due
    clock.now = NOW + timedelta(minutes=1)
    assert (await DigestScheduler(digest_kit(engines[1]), owner="p9").run_due()).sent == ()


def test_a_big_pass_takes_big_batches_a_small_one_shares() -> None:
    assert batch_size(10_000, 8) == CLAIM_BATCH == 64  # 10,000 channels: 157 batches
    assert batch_size(45, 8) == 8  # 45 due in three processes: each gets some
    assert batch_size(200, 4) == 12
    assert batch_size(3, 1) == 1
    assert batch_size(10, 300) == 300  # never below what the posters can post at once


async def test_a_reserved_channel_locked_for_an_instant_is_still_posted_in_the_pass(
        make_engine: Callable[..., Any], clock: FixedClock, backend: str,
        database_url: str) -> None:
    """On PostgreSQL the claim skips a schedule row another transaction holds ("held"):
    another process's reservation scan can hold a row this process reserved for an instant.
    The pass asks again shortly instead of leaving the channel until its reservation ends
    (bench_backends: 56 of 10,000 channels were left so)."""
    if backend != "postgres":
        pytest.skip("SQLite has one writer: no row is ever held by another transaction")
    import asyncpg

    clock.now = NOW - timedelta(hours=1)
    engine = await make_engine()
    channels = [f"C{i:02d}" for i in range(6)]
    await schedule(engine.store, *channels)
    other = await asyncpg.connect(database_url)
    locked = asyncio.Event()
    digests = engine.store.digests
    real = digests.claim_digests

    async def release_soon(tx: Any) -> None:
        await asyncio.sleep(0.2)
        await tx.rollback()

    async def racing_claim(requests: Any, **kwargs: Any) -> Any:
        if not locked.is_set():  # the first batch: another transaction holds two of its rows
            locked.set()
            tx = other.transaction()
            await tx.start()
            await other.execute("SELECT 1 FROM digest_schedules WHERE channel_id IN"
                                " ('C01', 'C04') FOR UPDATE")
            asyncio.get_running_loop().create_task(release_soon(tx))
        return await real(requests, **kwargs)

    digests.claim_digests = racing_claim  # type: ignore[method-assign]
    try:
        clock.now = NOW
        result = await DigestScheduler(digest_kit(engine), owner="p").run_due()
    finally:
        await other.close()
    assert locked.is_set()
    assert sorted(result.sent + result.empty) == [f"console:{c}" for c in channels]


async def test_claims_taken_together_answer_each_channel_as_its_history_says(
        engine: BriefingEngine) -> None:
    """One batch meeting every kind of history: a won claim carries the channel's last
    digest and the occurrences skipped since it (in date order), a lapsed or retryable claim
    is won again (attempts counted), a live one or one backing off is held (the schedule then
    shows until when), a posted occurrence is done (the schedule moves on), no schedule is
    stale."""
    store = engine.store
    digests = store.digests
    days = [next_occurrence(RULE, after=NOW - timedelta(days=k, minutes=1)) for k in (3, 2, 1)]
    lease = NOW + timedelta(minutes=5)
    await store.digests.set_digest_schedule(platform="console", channel_id="C1", rule=RULE,
                                            first=days[0], by="U1", now=NOW - timedelta(days=4))
    await schedule(store, "C2", "C3", "C4", "C5", "C7", "C8")
    # C1: posted three days ago, then two days skipped
    first = await digests.claim_digest(
        platform="console", channel_id="C1", local_date=days[0].local_date,
        due_at=days[0].due_at, owner="x", now=days[0].due_at,
        lease_until=days[0].due_at + timedelta(minutes=5),
        next_local_date=days[1].local_date, next_due_at=days[1].due_at)
    assert first.state is ClaimState.WON and first.run_id is not None
    assert await digests.finish_digest(
        run_id=first.run_id, owner="x", sent=True, period_start=None, period_end=days[0].due_at,
        through_article_id=7, items=3, late=False, now=days[0].due_at, following=days[1])
    assert await digests.skip_digests(
        platform="console", channel_id="C1", expected_local_date=days[1].local_date,
        local_dates=[(d.local_date, d.due_at) for d in days[1:]], reason="down",
        next_local_date=FIRST.local_date, next_due_at=FIRST.due_at, now=NOW)
    earlier = NOW - timedelta(minutes=10)

    async def claimed(channel: str, until: datetime) -> int:
        c, = await digests.claim_digests([request(channel)], owner="x", now=earlier,
                                         lease_until=until)
        assert c.state is ClaimState.WON and c.run_id is not None
        return c.run_id

    await claimed("C2", NOW - timedelta(minutes=1))  # its process died: the lease lapsed
    await digests.fail_digest(run_id=await claimed("C3", lease), owner="x", error="503",
                              retry_at=NOW + timedelta(minutes=10), now=earlier)
    await digests.fail_digest(run_id=await claimed("C4", lease), owner="x", error="503",
                              retry_at=NOW - timedelta(minutes=1), now=earlier)
    assert await digests.finish_digest(  # posted, the schedule left on the day
        run_id=await claimed("C7", lease), owner="x", sent=True, period_start=None,
        period_end=earlier, through_article_id=0, items=1, late=False, now=earlier)
    await claimed("C8", lease)  # another process is posting it
    channels = ["C8", "C1", "C6", "C2", "C3", "C4", "C5", "C7"]
    claims = await digests.claim_digests([request(c) for c in channels], owner="me", now=NOW,
                                         lease_until=lease + timedelta(minutes=1))
    got = dict(zip(channels, claims, strict=True))
    assert {c: got[c].state for c in channels} == {
        "C8": ClaimState.HELD, "C1": ClaimState.WON, "C6": ClaimState.STALE,
        "C2": ClaimState.WON, "C3": ClaimState.HELD, "C4": ClaimState.WON,
        "C5": ClaimState.WON, "C7": ClaimState.DONE}
    c1 = got["C1"]
    assert c1.attempts == 1 and c1.last is not None and c1.last.run_id == first.run_id
    assert (c1.last.through_article_id, c1.last.items, c1.last.status) == (7, 3, "sent")
    assert [(m.local_date, m.due_at, m.error) for m in c1.missed] == [
        (d.local_date, d.due_at, "down") for d in days[1:]]
    assert [(got[c].attempts, got[c].last, got[c].missed) for c in ("C2", "C4", "C5")] == [
        (2, None, ()), (2, None, ()), (1, None, ())]
    assert len({got[c].run_id for c in ("C1", "C2", "C4", "C5")}) == 4
    shown = {c: await digests.get_digest_schedule(platform="console", channel_id=c)
             for c in ("C1", "C3", "C7")}
    assert shown["C1"] is not None and shown["C1"].not_before == lease + timedelta(minutes=1)
    assert shown["C3"] is not None and shown["C3"].not_before == NOW + timedelta(minutes=10)
    assert shown["C7"] is not None and shown["C7"].next_local_date == FOLLOWING.local_date
    # asked again at once: every claim is now someone's, or done
    again = await digests.claim_digests([request(c) for c in channels], owner="other",
                                        now=NOW, lease_until=lease)
    assert [c.state for c in again] == [
        ClaimState.HELD, ClaimState.HELD, ClaimState.STALE, ClaimState.HELD, ClaimState.HELD,
        ClaimState.HELD, ClaimState.HELD, ClaimState.STALE]
