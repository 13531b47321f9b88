"""Exactly-once delivery pieces on both backends: the message a claim posts and its parts
posted, kept in the database (bot/outbox.py, adapters/delivery.py); alerts delivered together
stay together on a retry; a graceful stop drains the posts under way and releases the claims it
still holds (digests, alerts, feeds). The platform halves (Discord nonce, Slack metadata) are in
the adapter tests; real processes killed and stopped in tests/test_exactly_once.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import alerts_of

from adapters.delivery import part_nonce, post_parts
from bot.alerts.service import AlertService
from bot.app import alert_kit, digest_kit, feed_kit
from bot.digests.scheduler import DigestScheduler
from bot.engine import BriefingEngine
from bot.ingest.poller import FeedPoller
from bot.models import ArticleDraft, Caller, Destination, Item, Reply, ReplyKind
from bot.outbox import begin, reply_from_json, reply_to_json
from bot.publish import RecordingPublisher
from tests.conftest import FixedClock, run_sql

ADMIN = Caller(platform="console", user_id="carol", channel_id="C1", is_admin=True)
ALICE = Caller(platform="console", user_id="alice", channel_id="news")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


async def add_article(engine: BriefingEngine, title: str) -> None:
    await engine.store.articles.add_article(
        ArticleDraft(text=title, title=title, source="Wire"), title=title,
        summary=("A summary sentence.",), content_hash=title, canonical_url=None,
        ingested_at=engine.clock())


# -- the store -------------------------------------------------------------------------------


async def test_a_delivery_keeps_its_first_message_and_counts_parts_and_attempts(
        engine: BriefingEngine, clock: FixedClock) -> None:
    ledger = engine.store.platform
    assert await ledger.get_delivery("digest:1") is None
    first = await ledger.begin_delivery("digest:1", platform="slack", destination="channel:C1",
                                        reply='{"v": 1}', note="n1", now=clock())
    assert (first.reply, first.note, first.posted, first.total, first.attempts) == (
        '{"v": 1}', "n1", 0, None, 1)
    assert not first.resumed and first.began_at == clock()
    await ledger.record_posted_part("digest:1", part=0, total=3, now=clock())
    await ledger.record_posted_part("digest:1", part=1, total=3, now=clock())
    await ledger.record_posted_part("digest:1", part=0, total=3, now=clock())  # never back
    clock.advance(seconds=60)
    again = await ledger.begin_delivery("digest:1", platform="slack", destination="channel:C1",
                                        reply='{"v": 2}', note="n2", now=clock())
    assert (again.reply, again.note, again.posted, again.total, again.attempts) == (
        '{"v": 1}', "n1", 2, 3, 2)
    assert again.resumed and again.began_at == clock() - timedelta(seconds=60)
    # parts recorded for a key nobody began: remembered; a later begin stores its message
    await ledger.record_posted_part("alerts:x", part=0, total=1, now=clock())
    assert (await ledger.get_delivery("alerts:x")).posted == 1  # type: ignore[union-attr]
    late = await ledger.begin_delivery("alerts:x", platform="slack", destination="user:U1",
                                       reply='{"v": 3}', note="", now=clock())
    assert (late.reply, late.posted) == ('{"v": 3}', 1)
    # old deliveries go: a begin days later removes them on the way
    clock.advance(days=4)
    await ledger.begin_delivery("digest:2", platform="slack", destination="channel:C2",
                                reply="{}", note="", now=clock())
    assert await ledger.get_delivery("digest:1") is None
    assert await ledger.get_delivery("digest:2") is not None


async def test_a_reply_survives_its_stored_form() -> None:
    reply = Reply(text="Daily digest", kind=ReplyKind.DIGEST, ephemeral=False, footer="Next",
                  items=(Item(title="Rockets", url="https://x.example/1", source="Wire",
                              published_at=utc(2026, 3, 2, 8, 30), summary=("One.", "Two."),
                              article_id=7, note="matched: rocket"),
                         Item(title="Plain")))
    assert reply_from_json(reply_to_json(reply)) == reply
    keyed = replace(reply, delivery_key="digest:3")
    assert reply_from_json(reply_to_json(keyed)) == reply  # the key is the row's, not stored


async def test_begin_hands_a_retry_the_message_first_begun(
        engine: BriefingEngine, clock: FixedClock) -> None:
    where = Destination(platform="console", channel_id="C1")
    one = Reply(text="first", kind=ReplyKind.DIGEST, ephemeral=False)
    begun = await begin(engine.store.platform, key="digest:5", destination=where, reply=one,
                        note="a", now=clock())
    assert begun.reply == replace(one, delivery_key="digest:5") and not begun.resumed
    later = await begin(engine.store.platform, key="digest:5", destination=where,
                        reply=replace(one, text="rebuilt"), note="b", now=clock())
    assert (later.reply.text, later.note, later.resumed) == ("first", "a", True)
    assert later.reply.delivery_key == "digest:5"


async def test_post_parts_posts_only_what_is_missing_and_asks_the_platform_on_resume(
        engine: BriefingEngine, clock: FixedClock) -> None:
    ledger = engine.store.platform
    posted: list[int] = []
    asked: list[int] = []

    async def post(index: int, message: str) -> None:
        if message == "boom":
            raise RuntimeError("refused")
        posted.append(index)

    async def find(delivery: Any) -> set[int]:
        asked.append(delivery.posted)
        return {2}

    parts = ["a", "b", "c", "d"]
    await ledger.begin_delivery("k", platform="x", destination="d", reply="{}", note="",
                                now=clock())
    with pytest.raises(RuntimeError):
        await post_parts(["a", "boom", "c", "d"], key="k", ledger=ledger, post=post,
                         clock=clock, find_posted=find)
    assert posted == [0] and asked == []  # a first attempt never asks the platform
    await ledger.begin_delivery("k", platform="x", destination="d", reply="{}", note="",
                                now=clock())
    assert await post_parts(parts, key="k", ledger=ledger, post=post, clock=clock,
                            find_posted=find) == 2
    assert posted == [0, 1, 3] and asked == [1]  # part 3 ("c") the platform already shows
    assert (await ledger.get_delivery("k")).posted == 4  # type: ignore[union-attr]
    assert await post_parts(parts, key="k", ledger=ledger, post=post, clock=clock) == 0
    assert await post_parts(parts, key=None, ledger=ledger, post=post, clock=clock) == 4


def test_nonces_differ_by_part_key_and_place_and_fit_discord() -> None:
    n = part_nonce("digest:1", "channel:5", 0)
    assert n == part_nonce("digest:1", "channel:5", 0) and len(n) <= 25 and n.isdigit()
    assert len({n, part_nonce("digest:1", "channel:5", 1), part_nonce("digest:2", "channel:5", 0),
                part_nonce("digest:1", "channel:6", 0)}) == 4


async def test_alerts_delivered_together_keep_their_key(
        engine: BriefingEngine, clock: FixedClock) -> None:
    store = engine.store
    _, sub = await store.alerts.add_subscription(
        platform="console", owner_kind="user", owner_id="alice", created_by="alice",
        query="rocket", query_key="rocket", language="english", now=clock(), limit=5)
    assert sub is not None
    ids = []
    for n in range(3):
        article = await store.articles.add_article(
            ArticleDraft(text=f"rocket {n}", title=f"Rocket {n}"), title=f"Rocket {n}",
            summary=("s",), content_hash=f"h{n}", canonical_url=None, ingested_at=clock())
        assert article is not None
        await store.alerts.record_alerts(article_id=article.id, matches=[(sub.id, ["rocket"])],
                                         now=clock(), due=clock())
        [state] = await store.alerts.alerts_for_article(article.id)
        ids.append(state.id)
    assert await store.alerts.assign_delivery_keys(ids[:2], key="alerts:one") == {
        ids[0]: "alerts:one", ids[1]: "alerts:one"}
    assert await store.alerts.assign_delivery_keys(ids, key="alerts:two") == {
        ids[0]: "alerts:one", ids[1]: "alerts:one", ids[2]: "alerts:two"}
    assert await store.alerts.assign_delivery_keys([], key="alerts:none") == {}
    # claimed (an attempt, a lease) then released by a stopping process: due now, the
    # attempt not counted
    [batch] = await store.alerts.claim_due_alerts(now=clock(), window_seconds=0,
                                                  lease_seconds=300, max_per_destination=10)
    assert all(a.attempts == 1 for a in batch.alerts)
    assert await store.alerts.claim_due_alerts(now=clock(), window_seconds=0,
                                               lease_seconds=300, max_per_destination=10) == []
    await store.alerts.release_alerts(ids, now=clock())
    [again] = await store.alerts.claim_due_alerts(now=clock(), window_seconds=0,
                                                  lease_seconds=300, max_per_destination=10)
    assert sorted(a.id for a in again.alerts) == sorted(ids)
    assert all(a.attempts == 1 for a in again.alerts)


async def test_released_feed_claims_are_due_at_once_unless_polled(
        engine: BriefingEngine, clock: FixedClock) -> None:
    feeds = engine.store.feeds
    a, _ = await feeds.add_feed("https://a.example/feed", now=clock(), next_poll_at=clock())
    b, _ = await feeds.add_feed("https://b.example/feed", now=clock(), next_poll_at=clock())
    lease = clock() + timedelta(minutes=15)
    claimed = await feeds.claim_due_feeds(now=clock(), lease_until=lease)
    assert {f.id for f in claimed} == {a.id, b.id}
    later = clock() + timedelta(hours=1)
    await feeds.record_feed_success(b.id, now=clock(), next_poll_at=later, etag=None,
                                    last_modified=None, body_hash=None, result="ok")
    clock.advance(seconds=5)
    assert await feeds.release_feed_claims([a.id, b.id], lease_until=lease, now=clock()) == 1
    assert [f.id for f in await feeds.claim_due_feeds(now=clock(), lease_until=lease)] == [a.id]
    assert (await feeds.get_feed(b.id)).next_poll_at == later  # type: ignore[union-attr]


# -- graceful stop: drain, then release --------------------------------------------------------


class GatedPublisher(RecordingPublisher):
    """Holds every delivery until ``gate`` is set (a platform that answers slowly)."""

    def __init__(self) -> None:
        super().__init__(platform="console")
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        self.entered.set()
        await self.gate.wait()
        await super().deliver(destination, reply)


async def test_a_stopping_scheduler_lets_its_posts_finish_then_claims_nothing(
        make_engine: Callable[..., Any], clock: FixedClock) -> None:
    clock.now = utc(2026, 3, 2, 7)
    engine = await make_engine()
    gated = GatedPublisher()
    engine.add_publisher(gated)
    assert not (await engine.handle_command("digest 08:00 UTC", ADMIN)).is_error
    assert not (await engine.handle_command(
        "digest 08:00 UTC", replace(ADMIN, channel_id="C2"))).is_error
    await add_article(engine, "Rocket systems sent")
    clock.now = utc(2026, 3, 2, 8)
    scheduler = DigestScheduler(digest_kit(engine), owner="a")
    cfg = engine.config.digest
    assert cfg.concurrency >= 2
    running = asyncio.create_task(scheduler.run_due())
    await asyncio.wait_for(gated.entered.wait(), 10)
    draining = asyncio.create_task(scheduler.drain(10))
    await asyncio.sleep(0.05)
    assert not draining.done()  # waits for the posts under way
    gated.gate.set()
    assert await draining is True
    result = await running
    assert sorted(result.sent) == ["console:C1", "console:C2"]  # both were claimed first
    rows = await run_sql(engine.store, "SELECT status FROM digest_runs ORDER BY channel_id")
    assert rows == [("sent",), ("sent",)]
    # drained: claims nothing more
    assert not (await engine.handle_command(
        "digest 08:00 UTC", replace(ADMIN, channel_id="C3"))).is_error
    assert (await scheduler.run_due()).handled == 0


async def test_a_stop_past_the_drain_releases_the_digest_claim_for_anyone_at_once(
        make_engine: Callable[..., Any], config: Any, clock: FixedClock) -> None:
    clock.now = utc(2026, 3, 2, 7)
    cfg = replace(config, digest=replace(config.digest, lease_seconds=3600))
    engine = await make_engine(cfg)
    gated = GatedPublisher()
    engine.add_publisher(gated)
    assert not (await engine.handle_command("digest 08:00 UTC", ADMIN)).is_error
    await add_article(engine, "Rocket systems sent")
    clock.now = utc(2026, 3, 2, 8)
    stopping = DigestScheduler(digest_kit(engine), owner="stopping", max_sleep=0.05)
    service = asyncio.create_task(stopping.run())
    await asyncio.wait_for(gated.entered.wait(), 10)
    assert await stopping.drain(0.1) is False  # the platform is slow: the drain gives up
    service.cancel()
    with pytest.raises(asyncio.CancelledError):
        await service
    [(status, claimed_by)] = await run_sql(engine.store,
                                           "SELECT status, claimed_by FROM digest_runs")
    assert (status, claimed_by) == ("failed", "stopping")  # released, not leased for an hour
    # another process takes it over at once and posts the message the first one began
    other = await make_engine(cfg)
    clock.advance(seconds=1)
    result = await DigestScheduler(digest_kit(other), owner="other").run_due()
    assert result.sent == ("console:C1",)
    [(_, reply)] = other.publishers["console"].sent  # type: ignore[attr-defined]
    assert reply.delivery_key == "digest:1" and reply.items[0].title == "Rocket systems sent"


async def test_a_stopping_alert_service_drains_then_releases_what_it_holds(
        engine: BriefingEngine, clock: FixedClock) -> None:
    alerts = alerts_of(engine)
    gated = GatedPublisher()
    engine.add_publisher(gated)
    assert not (await engine.handle_command("subscribe rocket", ALICE)).is_error
    result = await engine.ingest(ArticleDraft(
        title="Rocket launch", text="The rocket launch is set for Friday morning, the agency "
        "said. Engineers completed the final checks overnight.", url="https://n.example/1"))
    assert result.created
    clock.advance(seconds=engine.config.alerts.batch_seconds)
    service = asyncio.create_task(alerts.run())
    await asyncio.wait_for(gated.entered.wait(), 10)
    assert await alerts.drain(0.1) is False
    service.cancel()
    with pytest.raises(asyncio.CancelledError):
        await service
    [state] = await engine.store.alerts.alerts_for_article(result.article.id)
    assert (state.state, state.attempts) == ("pending", 0)  # released: due now, not leased
    assert await engine.store.alerts.next_alert_due() == clock()
    # a restarted service delivers it: the message begun before, under the same key
    gated.gate.set()
    assert await AlertService(alert_kit(engine)).dispatch_due() == 1
    [(_, reply)] = gated.sent
    assert reply.delivery_key is not None and reply.delivery_key.startswith("alerts:")
    [state] = await engine.store.alerts.alerts_for_article(result.article.id)
    assert state.state == "sent"


async def test_a_stopping_poller_gives_its_feeds_back(
        engine: BriefingEngine, clock: FixedClock) -> None:
    feed, _ = await engine.store.feeds.add_feed("https://feeds.example/rss", now=clock(),
                                             next_poll_at=clock())
    poller = FeedPoller(feed_kit(engine))
    lease = clock() + timedelta(minutes=15)
    poller._claimed = ([feed.id], lease)  # what _round holds while a poll is under way
    await engine.store.feeds.claim_due_feeds(now=clock(), lease_until=lease)
    assert await poller.release_claims() == 1
    assert (await engine.store.feeds.get_feed(feed.id)).next_poll_at == clock()  # type: ignore[union-attr]
    assert await poller.release_claims() == 0
