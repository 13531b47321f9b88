"""The digest scheduler against a real SQLite file and a fixed clock: firing through DST,
weekdays, exactly once under races and crashes, retries, catch-up and permanent failures."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import app_of

from bot.app import digest_kit, open_app
from bot.config import Config
from bot.digests.scheduler import DigestScheduler
from bot.engine import BriefingEngine
from bot.errors import DeliveryError
from bot.models import ArticleDraft, Caller, Destination, Reply, ReplyKind
from bot.publish import RecordingPublisher
from tests import processes
from tests.conftest import FixedClock, run_sql

ADMIN = Caller(platform="console", user_id="U1", channel_id="C1", is_admin=True)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def with_digest(config: Config, **changes: Any) -> Config:
    return replace(config, digest=replace(config.digest, **changes))


@pytest.fixture
def chatty(config: Config) -> Config:
    """Post even when nothing is new, so every occurrence shows up in the publisher."""
    return with_digest(config, empty_message="Nothing new.")


async def set_digest(engine: BriefingEngine, spec: str, channel: str = "C1") -> None:
    reply = await engine.handle_command(f"digest {spec}", replace(ADMIN, channel_id=channel))
    assert not reply.is_error, reply.text


async def add_article(engine: BriefingEngine, title: str, *, source: str = "Wire",
                      summary: tuple[str, ...] = ("A summary sentence.",)) -> None:
    digest = hashlib.sha256(title.encode()).hexdigest()
    await engine.store.articles.add_article(
        ArticleDraft(text=title, title=title, source=source), title=title, summary=summary,
        content_hash=digest, canonical_url=None, ingested_at=engine.clock(),
    )


def pub(engine: BriefingEngine) -> RecordingPublisher:
    publisher = engine.publishers["console"]
    assert isinstance(publisher, RecordingPublisher)
    return publisher


async def follow_schedule(engine: BriefingEngine, clock: FixedClock, scheduler: DigestScheduler,
                          until: datetime) -> list[datetime]:
    """Do what the service does: wake at the store's next due time and run a pass. Checks
    that nothing is posted one second early. Returns the times a digest was posted."""
    posted: list[datetime] = []
    while True:
        wake = await engine.store.digests.next_digest_wake()
        assert wake is not None
        if wake > until:
            return posted
        clock.now = wake - timedelta(seconds=1)
        assert (await scheduler.run_due()).sent == ()
        clock.now = wake
        result = await scheduler.run_due()
        assert result.sent, f"woke at {wake} for nothing"
        posted.extend(wake for _ in result.sent)


@pytest.mark.parametrize(("zone", "start", "days"), [
    ("Europe/Berlin", utc(2026, 3, 26, 12), 6),     # spring forward on Sun 29 March
    ("Europe/Berlin", utc(2026, 10, 22, 12), 6),    # fall back on Sun 25 October
    ("America/New_York", utc(2026, 3, 5, 18), 6),   # spring forward on Sun 8 March
    ("America/New_York", utc(2026, 10, 29, 18), 6),  # fall back on Sun 1 November
])
async def test_daily_0800_stays_0800_local_across_dst(
    make_engine: Callable[..., Any], chatty: Config, clock: FixedClock, zone: str,
    start: datetime, days: int,
) -> None:
    clock.now = start
    engine = await make_engine(chatty)
    await set_digest(engine, f"08:00 {zone}")
    posted = await follow_schedule(engine, clock, DigestScheduler(digest_kit(engine)),
                                   until=start + timedelta(days=days))
    local = [t.astimezone(ZoneInfo(zone)) for t in posted]
    assert len(posted) == days
    assert {(t.hour, t.minute) for t in local} == {(8, 0)}
    assert len({t.date() for t in local}) == days
    offsets = {t.utcoffset() for t in local}
    assert len(offsets) == 2  # the UTC time really moved with the change
    assert len(pub(engine).sent) == days
    assert all(r.kind is ReplyKind.DIGEST and not r.ephemeral for _, r in pub(engine).sent)


async def test_nonexistent_and_ambiguous_times(make_engine: Callable[..., Any], chatty: Config,
                                               clock: FixedClock) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    clock.now = utc(2026, 3, 27, 12)
    engine = await make_engine(chatty)
    await set_digest(engine, "02:30 Europe/Berlin")
    posted = await follow_schedule(engine, clock, DigestScheduler(digest_kit(engine)),
                                   until=utc(2026, 3, 31, 12))
    assert [t.astimezone(berlin).strftime("%d %H:%M") for t in posted] == [
        "28 02:30", "29 03:00", "30 02:30", "31 02:30"]  # 02:30 did not exist on the 29th

    clock.now = utc(2026, 10, 23, 12)
    await set_digest(engine, "02:30 Europe/Berlin")
    posted = await follow_schedule(engine, clock, DigestScheduler(digest_kit(engine)),
                                   until=utc(2026, 10, 26, 12))
    shown = [t.astimezone(berlin).strftime("%d %H:%M %Z") for t in posted]
    assert shown == ["24 02:30 CEST", "25 02:30 CEST", "26 02:30 CET"]  # the 25th once


async def test_weekdays_only(make_engine: Callable[..., Any], chatty: Config,
                             clock: FixedClock) -> None:
    clock.now = utc(2026, 3, 1, 12)  # a Sunday
    engine = await make_engine(chatty)
    await set_digest(engine, "08:30 UTC weekdays")
    posted = await follow_schedule(engine, clock, DigestScheduler(digest_kit(engine)),
                                   until=utc(2026, 3, 15, 12))
    assert [t.strftime("%a %d") for t in posted] == [
        "Mon 02", "Tue 03", "Wed 04", "Thu 05", "Fri 06",
        "Mon 09", "Tue 10", "Wed 11", "Thu 12", "Fri 13"]


async def test_two_schedulers_racing_on_one_database_post_once(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    clock.now = utc(2026, 3, 2, 7)
    first = await make_engine()
    second = await make_engine()  # another process on the same SQLite file
    channels = [f"C{i}" for i in range(12)]
    for channel in channels:
        await set_digest(first, "08:00 UTC", channel)
    await add_article(first, "Rocket systems sent to Ukraine")
    a = DigestScheduler(digest_kit(first), owner="a")
    b = DigestScheduler(digest_kit(second), owner="b")
    clock.now = utc(2026, 3, 2, 8)
    results = await asyncio.gather(a.run_due(), b.run_due(), a.run_due(), b.run_due())
    posted = [d.channel_id for d, _ in pub(first).sent + pub(second).sent]
    assert sorted(posted) == sorted(channels)
    assert sum(len(r.sent) for r in results) == len(channels)
    # a restart (a third engine) finds nothing left to post today
    third = await make_engine()
    assert (await DigestScheduler(digest_kit(third), owner="c").run_due()).sent == ()
    clock.now = utc(2026, 3, 2, 20)
    assert (await DigestScheduler(digest_kit(third), owner="c").run_due()).sent == ()
    assert len(pub(first).sent) + len(pub(second).sent) + len(pub(third).sent) == 12


class ProcessDied(BaseException):
    """Stands for the process being killed while the platform call is in flight."""


class DyingPublisher(RecordingPublisher):
    async def deliver(self, destination: Destination, reply: Reply) -> None:
        raise ProcessDied


async def test_crash_between_claim_and_post_is_retried_after_the_lease(
    make_engine: Callable[..., Any], config: Config, clock: FixedClock,
) -> None:
    cfg = with_digest(config, lease_seconds=600)
    clock.now = utc(2026, 3, 2, 7)
    crashed = await make_engine(cfg)
    await set_digest(crashed, "08:00 UTC")
    await add_article(crashed, "Rocket systems sent to Ukraine")
    crashed.add_publisher(DyingPublisher(platform="console"))
    clock.now = utc(2026, 3, 2, 8)
    with pytest.raises(BaseExceptionGroup) as died:
        await DigestScheduler(digest_kit(crashed), owner="crashed").run_due()
    assert died.group_contains(ProcessDied)

    restarted = await make_engine(cfg)
    scheduler = DigestScheduler(digest_kit(restarted), owner="restarted")
    clock.now = utc(2026, 3, 2, 8, 5)  # the claim's lease still runs: hands off
    await add_article(restarted, "Second story after the crash")
    assert (await scheduler.run_due()).sent == ()
    wake = await restarted.store.digests.next_digest_wake()
    assert wake == utc(2026, 3, 2, 8, 10)  # sleeps until the lease ends, no busy loop
    clock.now = wake
    assert (await scheduler.run_due()).sent == ("console:C1",)
    (_, reply), = pub(restarted).sent
    # the message the crashed attempt began, as it was built then (kept in the database: a
    # part of it may have reached the platform), not a rebuilt "late" one with a new story
    assert reply.delivery_key == "digest:1"
    assert "late" not in reply.text
    assert [i.title for i in reply.items] == ["Rocket systems sent to Ukraine"]
    clock.now = utc(2026, 3, 2, 9)
    assert (await scheduler.run_due()).sent == ()
    assert len(pub(restarted).sent) == 1
    # what it covered is what was recorded: the story that came later is in tomorrow's
    clock.now = utc(2026, 3, 3, 8)
    assert (await scheduler.run_due()).sent == ("console:C1",)
    assert [i.title for i in pub(restarted).sent[-1][1].items] == [
        "Second story after the crash"]


async def test_failed_post_is_retried_with_backoff(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    clock.now = utc(2026, 3, 2, 7)
    engine = await make_engine()
    await set_digest(engine, "08:00 UTC")
    await add_article(engine, "Rocket systems sent to Ukraine")
    scheduler = DigestScheduler(digest_kit(engine))
    publisher = pub(engine)
    before = {o: posts(o) for o in ("delivered", "retry", "failed")}
    publisher.fail_with = DeliveryError("Slack answered 500", permanent=False)
    clock.now = utc(2026, 3, 2, 8)
    assert (await scheduler.run_due()).failed == ("console:C1",)
    assert (await scheduler.run_due()).failed == ()  # backing off, not hammering
    assert await engine.store.digests.next_digest_wake() == utc(2026, 3, 2, 8, 1)
    clock.now = utc(2026, 3, 2, 8, 1)
    assert (await scheduler.run_due()).failed == ("console:C1",)
    assert await engine.store.digests.next_digest_wake() == utc(2026, 3, 2, 8, 3)  # doubled
    shown = await engine.handle_command("digest", ADMIN)
    assert "retrying after a failed post" in shown.text
    publisher.fail_with = None
    clock.now = utc(2026, 3, 2, 8, 3)
    assert (await scheduler.run_due()).sent == ("console:C1",)
    clock.now = utc(2026, 3, 2, 8, 30)
    assert (await scheduler.run_due()).sent == ()
    assert len(publisher.sent) == 1
    # GET /metrics: two posts to retry, one delivered, none given up
    assert {o: posts(o) - n for o, n in before.items()} == {"delivered": 1, "retry": 2,
                                                            "failed": 0}


def posts(outcome: str) -> float:
    from bot.metrics import REGISTRY

    return REGISTRY.get_sample_value("briefbot_digest_posts_total", {"outcome": outcome}) or 0.0


async def test_permanent_failure_disables_the_digest_with_its_reason(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    clock.now = utc(2026, 3, 2, 7)
    engine = await make_engine()
    await set_digest(engine, "08:00 UTC")
    await add_article(engine, "Rocket systems sent to Ukraine")
    publisher = pub(engine)
    publisher.fail_with = DeliveryError("channel_not_found", permanent=True)
    scheduler = DigestScheduler(digest_kit(engine))
    clock.now = utc(2026, 3, 2, 8)
    failed = posts("failed")
    assert (await scheduler.run_due()).disabled == ("console:C1",)
    assert posts("failed") == failed + 1
    assert await engine.store.digests.next_digest_wake() is None
    publisher.fail_with = None
    clock.now = utc(2026, 3, 3, 8)
    assert (await scheduler.run_due()).sent == ()
    shown = await engine.handle_command("digest", ADMIN)
    assert "off" in shown.text and "channel_not_found" in shown.text
    assert "/brief digest 08:00 UTC daily" in shown.text


async def test_catch_up_within_the_grace_period_posts_once_marked_late(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    clock.now = utc(2026, 3, 2, 6)
    engine = await make_engine()
    await set_digest(engine, "08:00 Europe/Berlin")
    await add_article(engine, "Rocket systems sent to Ukraine")
    # the bot was down at 08:00 CET (07:00 UTC) and comes back at 09:40 CET
    clock.now = utc(2026, 3, 2, 8, 40)
    scheduler = DigestScheduler(digest_kit(engine))
    assert (await scheduler.run_due()).sent == ("console:C1",)
    (_, reply), = pub(engine).sent
    assert "late: it was due at 08:00 CET" in reply.text
    assert "Mon 02 Mar 2026" in reply.text
    assert (await scheduler.run_due()).sent == ()
    assert await engine.store.digests.next_digest_wake() == utc(2026, 3, 3, 7)


async def test_past_the_grace_period_skips_and_says_so_next_time(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    clock.now = utc(2026, 3, 2, 7)
    engine = await make_engine()
    await set_digest(engine, "08:00 UTC")
    await add_article(engine, "Rocket systems sent to Ukraine")
    scheduler = DigestScheduler(digest_kit(engine))
    clock.now = utc(2026, 3, 2, 8)
    assert (await scheduler.run_due()).sent == ("console:C1",)
    clock.now = utc(2026, 3, 2, 12)
    await add_article(engine, "Severodonetsk battle continues")
    clock.now = utc(2026, 3, 5, 11, 30)  # down since Monday; Thursday 08:00 + 3h has passed
    assert (await scheduler.run_due()).skipped == ("console:C1",)
    assert len(pub(engine).sent) == 1
    assert await engine.store.digests.next_digest_wake() == utc(2026, 3, 6, 8)
    clock.now = utc(2026, 3, 6, 8)
    assert (await scheduler.run_due()).sent == ("console:C1",)
    _, reply = pub(engine).sent[-1]
    assert "late" not in reply.text
    assert "Missed: the digests due Tue 03 Mar, Wed 04 Mar, Thu 05 Mar were skipped" \
        in reply.footer
    # nothing was lost: what came in after Monday's digest is in this one, and only that
    assert [i.title for i in reply.items] == ["Severodonetsk battle continues"]
    assert "Next digest: Sat 07 Mar 2026 08:00 UTC" in reply.footer
    clock.now = utc(2026, 3, 7, 8)
    await add_article(engine, "Another day")
    assert (await scheduler.run_due()).sent == ("console:C1",)
    assert "Missed" not in pub(engine).sent[-1][1].footer  # said once


async def test_service_sleeps_until_due_in_bounded_slices(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    clock.now = utc(2026, 3, 2, 6)
    engine = await make_engine()
    await set_digest(engine, "08:00 UTC")
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds=seconds)

    scheduler = DigestScheduler(digest_kit(engine), max_sleep=3600, sleep=fake_sleep)
    await scheduler.sleep_until_due()
    assert slept == [3600, 3600]  # two long sleeps for two hours, no polling
    assert clock.now == utc(2026, 3, 2, 8)

    # The machine's clock jumps forward by a day during a slice: the next slice notices.
    slept.clear()
    clock.now = utc(2026, 3, 2, 9)
    await set_digest(engine, "08:00 UTC")  # due tomorrow 08:00

    async def jumping_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now = utc(2026, 3, 3, 8, 0, 30)

    scheduler = DigestScheduler(digest_kit(engine), max_sleep=3600, sleep=jumping_sleep)
    await scheduler.sleep_until_due()
    assert slept == [3600]


async def test_running_service_wakes_after_a_clock_jump(
    make_engine: Callable[..., Any], chatty: Config, clock: FixedClock,
) -> None:
    clock.now = utc(2026, 3, 2, 7, 59)
    engine = await make_engine(chatty)
    await set_digest(engine, "08:00 UTC")
    scheduler = DigestScheduler(digest_kit(engine), max_sleep=0.01)
    task = asyncio.create_task(scheduler.run())
    try:
        await asyncio.sleep(0.1)
        assert pub(engine).sent == []
        clock.now = utc(2026, 3, 2, 8, 0, 30)  # the wall clock jumps
        for _ in range(200):
            if pub(engine).sent:
                break
            await asyncio.sleep(0.01)
        assert len(pub(engine).sent) == 1
        await asyncio.sleep(0.05)
        assert len(pub(engine).sent) == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_engine_installs_the_scheduler_service(engine: BriefingEngine) -> None:
    app = app_of(engine)
    assert isinstance(app.digests, DigestScheduler) and app.digests in app.services


async def test_changing_the_time_the_same_day_does_not_post_twice(
    make_engine: Callable[..., Any], chatty: Config, clock: FixedClock,
) -> None:
    clock.now = utc(2026, 3, 2, 7)
    engine = await make_engine(chatty)
    await set_digest(engine, "08:00 UTC")
    scheduler = DigestScheduler(digest_kit(engine))
    clock.now = utc(2026, 3, 2, 8)
    assert (await scheduler.run_due()).sent == ("console:C1",)
    clock.now = utc(2026, 3, 2, 8, 10)
    await set_digest(engine, "09:00 UTC")  # today's digest was already posted
    clock.now = utc(2026, 3, 2, 9)
    assert (await scheduler.run_due()).sent == ()
    assert await engine.store.digests.next_digest_wake() == utc(2026, 3, 3, 9)
    runs = await run_sql(engine.store, "SELECT local_date, status FROM digest_runs ORDER BY id")
    assert [tuple(r) for r in runs] == [(date(2026, 3, 2).isoformat(), "sent")]


async def test_a_process_claims_only_platforms_it_can_post_to(
    make_engine: Callable[..., Any], chatty: Config, clock: FixedClock,
) -> None:
    clock.now = utc(2026, 3, 2, 7)
    engine = await make_engine(chatty)
    slack_admin = replace(ADMIN, platform="slack")
    reply = await engine.handle_command("digest 08:00 UTC", slack_admin)
    assert not reply.is_error
    await set_digest(engine, "09:00 UTC")  # console:C1
    scheduler = DigestScheduler(digest_kit(engine))
    # only a console publisher here: the Slack channel's digest is left to a Slack process
    assert await engine.store.digests.next_digest_wake(platforms=("console",)) == utc(2026, 3, 2, 9)
    clock.now = utc(2026, 3, 2, 8, 30)
    assert (await scheduler.run_due()).handled == 0
    slack = RecordingPublisher(platform="slack")
    engine.add_publisher(slack)
    assert (await scheduler.run_due()).sent == ("slack:C1",)
    assert [d.platform for d, _ in slack.sent] == ["slack"]


RACER = """
import asyncio, json, os, sys
from dataclasses import replace
from datetime import UTC, datetime
from bot.config import default_config
from bot.app import digest_kit, open_app
from bot.publish import RecordingPublisher
from bot.digests.scheduler import DigestScheduler

async def main() -> None:
    cfg = default_config()
    cfg = replace(cfg, storage=replace(cfg.storage, url=sys.argv[1]),
                  digest=replace(cfg.digest, empty_message="Nothing new."))
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    app = await open_app(cfg, clock=lambda: now)
    engine = app.engine
    publisher = RecordingPublisher(platform="console")
    engine.add_publisher(publisher)
    open(sys.argv[2] + "." + sys.argv[3], "w").close()  # ready
    while not os.path.exists(sys.argv[2]):  # both processes start their pass together
        await asyncio.sleep(0.002)
    await DigestScheduler(digest_kit(engine), owner=sys.argv[3]).run_due()
    print(json.dumps([d.channel_id for d, _ in publisher.sent]))
    await app.close()

asyncio.run(main())
"""


def test_two_bot_processes_on_one_database_post_each_digest_once(  # on both backends
    config: Config, tmp_path: Path,
) -> None:
    channels = [f"C{i:03d}" for i in range(80)]

    async def prepare() -> None:
        app = await open_app(config, clock=lambda: utc(2026, 3, 2, 7))
        try:
            for channel in channels:
                await set_digest(app.engine, "08:00 UTC", channel)
        finally:
            await app.close()

    asyncio.run(prepare())
    go = tmp_path / "go"
    racers = [
        processes.Popen([sys.executable, "-c", RACER, config.storage.database, str(go), name],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        cwd=Path(__file__).resolve().parent.parent)
        for name in ("one", "two")
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"go.{name}").exists() for name in ("one", "two")):
        assert time.monotonic() < deadline and all(r.poll() is None for r in racers)
        time.sleep(0.01)
    go.touch()
    posted: list[str] = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        posted.extend(json.loads(out.strip().splitlines()[-1]))
    assert sorted(posted) == channels  # every channel once, none twice


class FlakyPublisher:
    """A console publisher that refuses its first ``failures`` deliveries for now, keeping
    every Reply it was handed (what a platform adapter would have split and posted)."""

    platform = "console"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: list[Reply] = []

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        self.attempts.append(reply)
        if len(self.attempts) <= self.failures:
            raise DeliveryError("part 2 of 3 failed: Slack answered 500", permanent=False)


async def test_a_retry_hands_the_platform_the_same_digest_it_failed(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    # Part 1 of a long digest may already be in the channel when part 2 fails. The retry must
    # repeat the very same message (the adapter then skips the parts it posted), not a rebuilt
    # one that now says "late" or holds other stories.
    clock.now = utc(2026, 3, 2, 7)
    engine = await make_engine()
    flaky = FlakyPublisher(failures=3)
    engine.add_publisher(flaky)
    await set_digest(engine, "08:00 UTC")
    await add_article(engine, "Rocket systems sent to Ukraine")
    scheduler = DigestScheduler(digest_kit(engine))
    clock.now = utc(2026, 3, 2, 8)
    assert (await scheduler.run_due()).failed == ("console:C1",)
    await add_article(engine, "A story that came in after the first attempt")
    for retry_at in (utc(2026, 3, 2, 8, 1), utc(2026, 3, 2, 8, 3), utc(2026, 3, 2, 8, 7)):
        clock.now = retry_at  # the last retry is more than 5 minutes late
        await scheduler.run_due()
    assert len(flaky.attempts) == 4
    assert all(r == flaky.attempts[0] for r in flaky.attempts)
    assert "late" not in flaky.attempts[-1].text
    assert [i.title for i in flaky.attempts[-1].items] == ["Rocket systems sent to Ukraine"]
    # the story that missed this digest is in the next one, not lost
    clock.now = utc(2026, 3, 3, 8)
    assert (await scheduler.run_due()).sent == ("console:C1",)
    assert [i.title for i in flaky.attempts[-1].items] == [
        "A story that came in after the first attempt"]


async def test_a_retry_after_the_time_was_changed_posts_the_message_it_began(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    # Part 1 of the digest may be in the channel: the retry finishes that message (its footer
    # names the old time), and the next digest follows the new time.
    clock.now = utc(2026, 3, 2, 7)
    engine = await make_engine()
    flaky = FlakyPublisher(failures=1)
    engine.add_publisher(flaky)
    await set_digest(engine, "08:00 UTC")
    await add_article(engine, "Rocket systems sent to Ukraine")
    scheduler = DigestScheduler(digest_kit(engine))
    clock.now = utc(2026, 3, 2, 8)
    assert (await scheduler.run_due()).failed == ("console:C1",)
    await set_digest(engine, "09:00 UTC")  # later the same day: the same local date
    clock.now = utc(2026, 3, 2, 9)
    assert (await scheduler.run_due()).sent == ("console:C1",)
    assert flaky.attempts[-1] == flaky.attempts[0]
    assert "Next digest: Tue 03 Mar 2026 08:00 UTC" in flaky.attempts[-1].footer
    clock.now = utc(2026, 3, 3, 8)
    assert (await scheduler.run_due()).sent == ()
    await add_article(engine, "Tomorrow's story")
    clock.now = utc(2026, 3, 3, 9)
    assert (await scheduler.run_due()).sent == ("console:C1",)
    assert "Next digest: Wed 04 Mar 2026 09:00 UTC" in flaky.attempts[-1].footer


async def test_a_schedule_that_breaks_a_pass_is_retried_later_not_on_every_pass(
    make_engine: Callable[..., Any], chatty: Config, clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock.now = utc(2026, 3, 2, 7, 59)
    engine = await make_engine(chatty)
    await set_digest(engine, "08:00 UTC", channel="CBROKEN")
    await set_digest(engine, "08:00 UTC", channel="C1")
    # a zone this machine's time zone database does not have (moved between machines)
    await run_sql(engine.store, "UPDATE digest_schedules SET timezone = 'Mars/Olympus'"
                  " WHERE channel_id = 'CBROKEN'")
    passes = 0

    async def fake_sleep(seconds: float) -> None:
        clock.advance(seconds=max(seconds, 0.001))

    scheduler = DigestScheduler(digest_kit(engine), max_sleep=60, sleep=fake_sleep)
    real_run_due = scheduler.run_due

    async def counting_run_due() -> Any:
        nonlocal passes
        passes += 1
        if clock.now >= utc(2026, 3, 2, 8, 10):
            raise asyncio.CancelledError
        return await real_run_due()

    scheduler.run_due = counting_run_due  # type: ignore[method-assign]
    with (caplog.at_level("ERROR", logger="bot.digests.scheduler"),
          pytest.raises(asyncio.CancelledError)):
        await scheduler.run()
    assert [d.channel_id for d, _ in pub(engine).sent] == ["C1"]  # the other channel is fine
    assert passes < 30  # about one pass a minute, not one a second
    failures = [r for r in caplog.records if "pass failed" in r.getMessage()]
    assert 5 <= len(failures) <= 12
