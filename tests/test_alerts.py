"""Keyword alerts end to end on a real SQLite file: subscribe through the /brief grammar,
ingest, match, record once (also across a restart), batch, deliver, retry, give up."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import alerts_of

from adapters.console import ConsoleAdapter
from bot.alerts.service import AlertService
from bot.cli import main as cli_main
from bot.config import Config
from bot.engine import BriefingEngine
from bot.errors import DeliveryError
from bot.models import Article, ArticleDraft, Caller, Destination, Reply, ReplyKind
from bot.publish import RecordingPublisher
from tests.conftest import FixedClock

ALICE = Caller(platform="console", user_id="alice", channel_id="news", is_admin=False)
BOB = Caller(platform="console", user_id="bob", channel_id="news", is_admin=False)
ADMIN = Caller(platform="console", user_id="carol", channel_id="news", is_admin=True)

BODY = (
    "The company said the launch window opens on Friday morning. Engineers completed the "
    "final checks overnight and reported no problems with the vehicle. Weather forecasts "
    "give a seventy percent chance of favourable conditions. The mission carries three "
    "satellites for a weather agency."
)


def draft(title: str, extra: str = "", *, n: int = 0) -> ArticleDraft:
    return ArticleDraft(
        title=title,
        text=f"{extra} {BODY} Story number {n}.".strip(),
        url=f"https://news.example/{n}-{abs(hash(title)) % 10_000}",
        source="Example News",
    )


async def command(engine: BriefingEngine, caller: Caller, text: str) -> Reply:
    return await engine.handle_command(text, caller)


async def subscribe(engine: BriefingEngine, caller: Caller, query: str) -> int:
    reply = await command(engine, caller, f"subscribe {query}")
    assert not reply.is_error, reply.text
    return int(reply.text.split("#", 1)[1].split(":", 1)[0].split(" ", 1)[0])


async def ingest(engine: BriefingEngine, d: ArticleDraft) -> Article:
    result = await engine.ingest(d)
    assert result.created
    return result.article


@pytest.fixture
def alerts(engine: BriefingEngine) -> AlertService:
    return alerts_of(engine)


async def test_matching_article_alerts_once_by_direct_message(
    engine: BriefingEngine, alerts: AlertService, publisher: RecordingPublisher,
    clock: FixedClock,
) -> None:
    sub = await subscribe(engine, ALICE, '("rocket launch" OR satellites) -opinion')
    article = await ingest(engine, draft("Rocket launch set for Friday", n=1))
    await ingest(engine, draft("Opinion: rocket launch costs too much", n=2))
    await ingest(engine, ArticleDraft(
        title="Bakery opens", text="Fresh bread and cakes every morning in the old town.",
        url="https://news.example/bakery"))
    states = await engine.store.alerts.alerts_for_article(article.id)
    assert [(s.subscription_id, s.state, s.matched) for s in states] == [
        (sub, "pending", ('"rocket launch"', "satellites"))]

    assert await alerts.dispatch_due() == 0  # batching window still open
    clock.advance(seconds=engine.config.alerts.batch_seconds)
    assert await alerts.dispatch_due() == 1
    [(destination, reply)] = publisher.sent
    assert destination == Destination(platform="console", user_id="alice")
    assert reply.kind is ReplyKind.ALERT and not reply.ephemeral
    assert f"#{sub}" in reply.text and "your subscription" in reply.text
    [item] = reply.items
    assert item.title == "Rocket launch set for Friday"
    assert item.url == article.url and item.source == "Example News"
    assert item.note == 'matched: "rocket launch", satellites'
    assert 1 <= len(item.summary) <= engine.config.alerts.summary_sentences
    assert f"/brief unsubscribe {sub}" in reply.footer

    clock.advance(hours=2)
    assert await alerts.dispatch_due() == 0
    assert len(publisher.sent) == 1
    assert [s.state for s in await engine.store.alerts.alerts_for_article(article.id)] == ["sent"]


async def test_markup_and_substrings_do_not_alert(
    engine: BriefingEngine, alerts: AlertService, clock: FixedClock,
) -> None:
    await subscribe(engine, ALICE, "center")
    html_article = await ingest(engine, ArticleDraft(
        title="Weather update",
        text='<div class="text-center"><p>Rain moves through the epicentre of the '
             "storm.</p><p>The city focuses on recovery.</p></div>",
        url="https://news.example/weather"))
    assert await engine.store.alerts.alerts_for_article(html_article.id) == []
    real = await ingest(engine, draft("New community center opens", n=9))
    assert len(await engine.store.alerts.alerts_for_article(real.id)) == 1


async def test_once_only_across_a_restart_and_between_processes(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    first: BriefingEngine = await make_engine()
    sub = await subscribe(first, ALICE, "rocket")
    d = draft("Rocket test fired", n=1)
    article = await ingest(first, d)
    clock.advance(minutes=1)
    assert await alerts_of(first).dispatch_due() == 1
    await first.close()

    second: BriefingEngine = await make_engine()  # a restart on the same database file
    again = alerts_of(second)
    assert await again.match_article(article) == 0  # told twice about the same article
    assert not (await second.ingest(d)).created  # re-ingest: known, nobody is told
    clock.advance(minutes=1)
    assert await again.dispatch_due() == 0
    states = await second.store.alerts.alerts_for_article(article.id)
    assert [(s.subscription_id, s.state) for s in states] == [(sub, "sent")]

    # A third process sees subscriptions the others add and remove.
    third: BriefingEngine = await make_engine()
    newer = await ingest(third, draft("Another rocket story", n=2))
    assert [s.subscription_id for s in await third.store.alerts.alerts_for_article(
        newer.id)] == [sub]
    sub2 = await subscribe(second, BOB, "satellites")
    await command(second, ALICE, f"unsubscribe {sub}")
    third_article = await ingest(third, draft("Rocket and satellites", n=3))
    assert [s.subscription_id for s in await third.store.alerts.alerts_for_article(
        third_article.id)] == [sub2]


async def test_a_burst_of_matches_is_one_message_per_destination(
    engine: BriefingEngine, alerts: AlertService, publisher: RecordingPublisher,
    clock: FixedClock,
) -> None:
    rocket = await subscribe(engine, ALICE, "rocket")
    launch = await subscribe(engine, ALICE, "title:launch")
    await subscribe(engine, BOB, "rocket")
    for n in range(3):
        await ingest(engine, draft(f"Rocket launch {n}", n=n))
        clock.advance(seconds=1)
    await ingest(engine, draft("Rocket news, no title word", n=7))
    clock.advance(seconds=engine.config.alerts.batch_seconds)
    assert await alerts.dispatch_due() == 2
    by_user = {dest.user_id: reply for dest, reply in publisher.sent}
    alice = by_user["alice"]
    assert len(alice.items) == 4  # one item per article, though two subscriptions matched
    assert f"#{rocket}" in alice.text and f"#{launch}" in alice.text
    assert alice.items[0].note == f"matched: rocket (#{rocket}); title:launch (#{launch})"
    assert alice.items[3].note == f"matched: rocket (#{rocket})"
    assert alice.text.startswith("Alert: 4 new articles match your subscriptions")
    assert len(by_user["bob"].items) == 4


async def test_long_bursts_are_split_at_max_per_message(
    make_engine: Callable[..., Any], config: Config, clock: FixedClock,
) -> None:
    engine: BriefingEngine = await make_engine(
        replace(config, alerts=replace(config.alerts, max_per_message=2)))
    await subscribe(engine, ALICE, "rocket")
    for n in range(5):
        await ingest(engine, draft(f"Rocket {n}", n=n))
    clock.advance(minutes=1)
    assert await alerts_of(engine).dispatch_due() == 3
    publisher = engine.publishers["console"]
    assert isinstance(publisher, RecordingPublisher)
    assert [len(r.items) for _, r in publisher.sent] == [2, 2, 1]
    titles = [i.title for _, r in publisher.sent for i in r.items]
    assert titles == [f"Rocket {n}" for n in range(5)]  # oldest first, none lost


async def test_failed_delivery_is_retried_with_backoff_then_given_up(
    make_engine: Callable[..., Any], config: Config, clock: FixedClock,
) -> None:
    engine: BriefingEngine = await make_engine(replace(config, alerts=replace(
        config.alerts, batch_seconds=0, retry_base_seconds=30, max_attempts=3)))
    alerts = alerts_of(engine)
    publisher = engine.publishers["console"]
    assert isinstance(publisher, RecordingPublisher)
    publisher.fail_with = DeliveryError("platform is down", permanent=False)
    await subscribe(engine, ALICE, "rocket")
    article = await ingest(engine, draft("Rocket", n=1))

    async def state() -> tuple[str, int, str | None]:
        [s] = await engine.store.alerts.alerts_for_article(article.id)
        return s.state, s.attempts, s.last_error

    assert await alerts.dispatch_due() == 0
    assert await state() == ("pending", 1, "platform is down")
    clock.advance(seconds=29)
    await alerts.dispatch_due()
    assert (await state())[1] == 1  # not yet: first retry after 30 s
    clock.advance(seconds=1)
    await alerts.dispatch_due()
    assert await state() == ("pending", 2, "platform is down")
    clock.advance(seconds=59)
    await alerts.dispatch_due()
    assert (await state())[1] == 2  # the second wait doubles: 60 s
    clock.advance(seconds=1)
    await alerts.dispatch_due()
    assert await state() == ("failed", 3, "platform is down")
    publisher.fail_with = None
    clock.advance(days=1)
    assert await alerts.dispatch_due() == 0
    assert publisher.sent == []


async def test_retry_succeeds_once_the_platform_is_back(
    engine: BriefingEngine, alerts: AlertService, publisher: RecordingPublisher,
    clock: FixedClock,
) -> None:
    await subscribe(engine, ALICE, "rocket")
    article = await ingest(engine, draft("Rocket", n=1))
    publisher.fail_with = DeliveryError("timeout", permanent=False)
    clock.advance(minutes=1)
    await alerts.dispatch_due()
    publisher.fail_with = None
    clock.advance(seconds=engine.config.alerts.retry_base_seconds)
    assert await alerts.dispatch_due() == 1
    [s] = await engine.store.alerts.alerts_for_article(article.id)
    assert (s.state, s.attempts, s.last_error) == ("sent", 2, None)


class BrokenPublisher:
    """A publisher with a bug: raises something that is not a DeliveryError."""

    platform = "discord"

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        raise RuntimeError("adapter bug")


async def test_one_failing_destination_never_blocks_the_others(
    engine: BriefingEngine, alerts: AlertService, publisher: RecordingPublisher,
    clock: FixedClock,
) -> None:
    gone = RecordingPublisher(platform="slack",
                              fail_with=DeliveryError("channel_not_found", permanent=True))
    engine.add_publisher(gone)
    engine.add_publisher(BrokenPublisher())
    slack_admin = Caller(platform="slack", user_id="U1", channel_id="C1", is_admin=True)
    discord_user = Caller(platform="discord", user_id="D1", channel_id="G1")
    slack_sub = await subscribe(engine, slack_admin, "channel rocket")
    discord_sub = await subscribe(engine, discord_user, "rocket")
    console_sub = await subscribe(engine, ALICE, "rocket")
    article = await ingest(engine, draft("Rocket", n=1))
    clock.advance(minutes=1)
    assert await alerts.dispatch_due() == 1
    assert [d.user_id for d, _ in publisher.sent] == ["alice"]
    states = {s.subscription_id: (s.state, s.last_error)
              for s in await engine.store.alerts.alerts_for_article(article.id)}
    assert states == {
        slack_sub: ("skipped", "channel_not_found"),  # permanent: never retried
        discord_sub: ("pending", "internal error while delivering"),
        console_sub: ("sent", None),
    }
    clock.advance(days=1)
    await alerts.dispatch_due()
    states2 = {s.subscription_id: s.attempts
               for s in await engine.store.alerts.alerts_for_article(article.id)}
    assert states2[slack_sub] == 1 and states2[discord_sub] == 2


async def test_delivery_through_the_console_adapter(
    engine: BriefingEngine, alerts: AlertService, clock: FixedClock,
) -> None:
    out = io.StringIO()
    engine.add_publisher(ConsoleAdapter(engine, stdin=io.StringIO(), stdout=out))
    await subscribe(engine, ALICE, "title:rocket")
    await command(engine, ADMIN, "subscribe channel satellites")
    article = await ingest(engine, draft("Rocket launch set for Friday", n=1))
    clock.advance(minutes=1)
    assert await alerts.dispatch_due() == 2
    printed = out.getvalue()
    assert "--- alert for @alice ---" in printed
    assert "--- alert for #news ---" in printed
    assert "Rocket launch set for Friday" in printed
    assert article.url is not None and article.url in printed
    assert "matched: title:rocket" in printed and "matched: satellites" in printed


class SignallingPublisher(RecordingPublisher):
    """A RecordingPublisher that also says when something arrived."""

    def __init__(self) -> None:
        super().__init__(platform="console")
        self.arrived = asyncio.Event()

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        await super().deliver(destination, reply)
        self.arrived.set()


async def test_the_dispatcher_service_delivers_on_its_own(
    make_engine: Callable[..., Any], config: Config,
) -> None:
    engine: BriefingEngine = await make_engine(
        replace(config, alerts=replace(config.alerts, batch_seconds=0)),
        clock_=lambda: datetime.now(UTC))
    publisher = SignallingPublisher()
    engine.add_publisher(publisher)
    await subscribe(engine, ALICE, "rocket")
    task = asyncio.create_task(alerts_of(engine).run())
    try:
        await ingest(engine, draft("Rocket", n=1))
        async with asyncio.timeout(10):
            await publisher.arrived.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert publisher.sent[0][1].kind is ReplyKind.ALERT


async def test_subscribe_errors_limits_and_duplicates(
    make_engine: Callable[..., Any], config: Config,
) -> None:
    engine: BriefingEngine = await make_engine(
        replace(config, alerts=replace(config.alerts, max_per_owner=2)))
    bad = await command(engine, ALICE, 'subscribe rocket "launch')
    assert bad.is_error and "never closed" in bad.text and "^" in bad.text
    empty = await command(engine, ALICE, "subscribe")
    assert empty.is_error and "Subscribe to what?" in empty.text
    only_not = await command(engine, ALICE, "subscribe -rocket")
    assert only_not.is_error and "only excludes" in only_not.text
    first = await subscribe(engine, ALICE, "Rocket  Launch")
    dup = await command(engine, ALICE, "subscribe rocket launch")
    assert not dup.is_error and f"Already subscribed: #{first}" in dup.text
    await subscribe(engine, ALICE, "satellites")
    full = await command(engine, ALICE, "subscribe weather")
    assert full.is_error and "2 subscriptions" in full.text
    await subscribe(engine, BOB, "weather")  # the limit is per owner
    pinged = await command(engine, BOB, "subscribe <!channel> @everyone rocket")
    assert "<!channel>" not in pinged.text and "@everyone" not in pinged.text


async def test_channel_subscriptions_need_an_admin(engine: BriefingEngine) -> None:
    refused = await command(engine, ALICE, "subscribe channel rocket")
    assert refused.is_error and "channel admin" in refused.text
    no_channel = await command(
        engine, Caller(platform="console", user_id="alice", is_admin=True),
        "subscribe channel rocket")
    assert no_channel.is_error and "in a channel" in no_channel.text
    sub = await subscribe(engine, ADMIN, "channel rocket OR missile")
    assert await engine.store.alerts.channel_subscription_queries(
        platform="console", channel_id="news") == ["rocket OR missile"]
    not_admin = await command(engine, ALICE, f"unsubscribe {sub}")
    assert not_admin.is_error and "channel admin" in not_admin.text
    elsewhere = await command(engine, replace(ADMIN, channel_id="other"), f"unsubscribe {sub}")
    assert elsewhere.is_error and f"no subscription #{sub}" in elsewhere.text
    done = await command(engine, ADMIN, f"unsubscribe #{sub}")
    assert not done.is_error and f"Unsubscribed #{sub}" in done.text
    assert await engine.store.alerts.channel_subscription_queries(
        platform="console", channel_id="news") == []


async def test_unsubscribe_only_your_own(engine: BriefingEngine) -> None:
    sub = await subscribe(engine, ALICE, "rocket")
    theirs = await command(engine, BOB, f"unsubscribe {sub}")
    assert theirs.is_error and f"no subscription #{sub}" in theirs.text
    other_platform = await command(engine, replace(ALICE, platform="slack"),
                                   f"unsubscribe {sub}")
    assert other_platform.is_error
    assert (await command(engine, ALICE, "unsubscribe rocket")).is_error
    assert not (await command(engine, ALICE, f"unsubscribe {sub}")).is_error
    assert (await command(engine, ALICE, f"unsubscribe {sub}")).is_error


async def test_alerts_lists_yours_and_the_channels_with_ids(
    engine: BriefingEngine, alerts: AlertService, clock: FixedClock,
) -> None:
    empty = await command(engine, ALICE, "alerts")
    assert "No alerts here yet" in empty.text
    mine = await subscribe(engine, ALICE, "rocket launch OR landing")
    chan = await subscribe(engine, ADMIN, "channel title:weather")
    await subscribe(engine, BOB, "bob-only")
    await ingest(engine, draft("Rocket launch", n=1))
    clock.advance(minutes=1)
    await alerts.dispatch_due()
    listing = (await command(engine, ALICE, "alerts")).text
    assert f"#{mine} `(rocket launch) OR landing` · 1 alert sent" in listing
    assert f"#{chan} `title:weather` · no alerts yet" in listing
    assert "bob" not in listing
    assert listing.index("Your alerts") < listing.index("This channel's alerts")


async def test_alerts_test_shows_stored_matches_newest_first(
    engine: BriefingEngine, clock: FixedClock,
) -> None:
    assert "Nothing is stored" in (await command(engine, ALICE, "alerts test rocket")).text
    for n, title in enumerate(["Rocket one", "Missile two", "Rocket three", "Bakery four"]):
        await ingest(engine, draft(title, n=n))
        clock.advance(minutes=5)
    reply = await command(engine, ALICE, "alerts test title:(rocket OR missile)")
    assert not reply.is_error
    assert "matches 3 of the newest 4 stored articles" in reply.text
    assert [i.title for i in reply.items] == ["Rocket three", "Missile two", "Rocket one"]
    assert [i.note for i in reply.items] == [
        "matched: title:rocket", "matched: title:missile", "matched: title:rocket"]
    none = await command(engine, ALICE, "alerts test zeppelin")
    assert "No stored article matches `zeppelin`" in none.text
    bad = await command(engine, ALICE, "alerts test rocket OR")
    assert bad.is_error and "OR needs" in bad.text
    # testing stores nothing
    assert await engine.store.alerts.subscriptions_of(
        platform="console", owner_kind="user", owner_id="alice") == []


def test_the_same_verbs_work_in_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sample_path: Path,
) -> None:
    db = str(tmp_path / "cli.db")
    assert cli_main(["--db", db, "ingest", str(sample_path)]) == 0
    assert cli_main(["--db", db, "brief", "subscribe", '"rocket systems"', "-opinion"]) == 0
    assert "Subscribed #1" in capsys.readouterr().out
    assert cli_main(["--db", db, "brief", "alerts", "test", "rocket", "Ukraine"]) == 0
    out = capsys.readouterr().out
    assert "matches 1 of the newest 1" in out and "matched: rocket, Ukraine" in out
    assert cli_main(["--db", db, "brief", "alerts"]) == 0
    assert '#1 `"rocket systems" -opinion`' in capsys.readouterr().out
    assert cli_main(["--db", db, "brief", "subscribe", "rocket", "-"]) == 2
    assert "followed by" in capsys.readouterr().out
    assert cli_main(["--db", db, "brief", "unsubscribe", "1"]) == 0
    assert "Unsubscribed #1" in capsys.readouterr().out


async def test_backlog_ingest_records_no_alerts(
    engine: BriefingEngine, clock: FixedClock,
) -> None:
    await subscribe(engine, ALICE, "rocket")
    result = await engine.ingest(draft("Rocket backlog", n=1), notify=False)
    assert await engine.store.alerts.alerts_for_article(result.article.id) == []


class HangingPublisher:
    """A platform that never answers."""

    platform = "slack"

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        await asyncio.Event().wait()


async def test_a_hung_platform_is_a_failed_attempt_not_a_stall(
    engine: BriefingEngine, alerts: AlertService, publisher: RecordingPublisher,
    clock: FixedClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.alerts.service.DELIVERY_TIMEOUT_SECONDS", 0.05)
    engine.add_publisher(HangingPublisher())
    hung = await subscribe(engine, Caller(platform="slack", user_id="U1"), "rocket")
    await subscribe(engine, ALICE, "rocket")
    article = await ingest(engine, draft("Rocket", n=1))
    clock.advance(minutes=1)
    assert await alerts.dispatch_due() == 1
    assert [d.user_id for d, _ in publisher.sent] == ["alice"]
    states = {s.subscription_id: s for s in await engine.store.alerts.alerts_for_article(
        article.id)}
    assert states[hung].state == "pending"
    assert states[hung].last_error == "the platform did not answer in time"


async def test_a_stored_query_that_no_longer_compiles_is_ignored(
    engine: BriefingEngine, alerts: AlertService, clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    status, broken = await engine.store.alerts.add_subscription(
        platform="console", owner_kind="user", owner_id="alice", created_by="alice",
        query="rocket OR", query_key="rocket or", language="english", now=clock(), limit=10)
    assert status == "added" and broken is not None
    good = await subscribe(engine, ALICE, "rocket")
    article = await ingest(engine, draft("Rocket", n=1))
    assert [s.subscription_id for s in await engine.store.alerts.alerts_for_article(
        article.id)] == [
        good]
    assert f"subscription {broken.id} no longer compiles" in caplog.text
    assert len(alerts.index) == 1
    listing = (await command(engine, ALICE, "alerts")).text
    assert f"#{broken.id} `(query no longer valid)`" in listing


async def test_two_dispatchers_never_send_the_same_alert(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    first: BriefingEngine = await make_engine()
    second: BriefingEngine = await make_engine()
    await subscribe(first, ALICE, "rocket")
    await subscribe(first, BOB, "rocket")
    for n in range(3):
        await ingest(first, draft(f"Rocket {n}", n=n))
    clock.advance(minutes=1)
    sent = await asyncio.gather(alerts_of(first).dispatch_due(),
                                alerts_of(second).dispatch_due())
    assert sum(sent) == 2
    delivered = [
        (dest.user_id, item.title)
        for eng in (first, second)
        for dest, reply in eng.publishers["console"].sent  # type: ignore[attr-defined]
        for item in reply.items
    ]
    assert sorted(delivered) == sorted(
        (user, f"Rocket {n}") for user in ("alice", "bob") for n in range(3))


async def test_an_alert_claimed_by_a_process_that_died_is_sent_after_the_lease(
    engine: BriefingEngine, alerts: AlertService, publisher: RecordingPublisher,
    clock: FixedClock,
) -> None:
    lease = engine.config.alerts.lease_seconds  # [alerts] lease_seconds, as the service uses

    await subscribe(engine, ALICE, "rocket")
    article = await ingest(engine, draft("Rocket", n=1))
    clock.advance(minutes=1)
    claimed = await engine.store.alerts.claim_due_alerts(
        now=clock(), window_seconds=0, lease_seconds=lease, max_per_destination=10)
    assert len(claimed) == 1  # ...and then that process died before delivering
    clock.advance(seconds=lease - 1)
    assert await alerts.dispatch_due() == 0
    clock.advance(seconds=1)
    assert await alerts.dispatch_due() == 1
    [state] = await engine.store.alerts.alerts_for_article(article.id)
    assert (state.state, state.attempts) == ("sent", 2)
    assert len(publisher.sent) == 1


class GonePublisher(RecordingPublisher):
    """A platform on which some destinations are gone for good (DMs closed, bot removed)."""

    def __init__(self, gone: set[Destination]) -> None:
        super().__init__(platform="console")
        self.gone = gone

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        if destination in self.gone:
            raise DeliveryError("the user does not accept direct messages", permanent=True)
        await super().deliver(destination, reply)


async def test_a_destination_gone_for_good_pauses_its_subscriptions_until_resumed(
    engine: BriefingEngine, alerts: AlertService, clock: FixedClock,
) -> None:
    alice_dm = Destination(platform="console", user_id="alice")
    pub = GonePublisher({alice_dm})
    engine.add_publisher(pub)
    rocket = await subscribe(engine, ALICE, "rocket")
    launch = await subscribe(engine, ALICE, "launch")
    bobs = await subscribe(engine, BOB, "rocket")
    await ingest(engine, draft("Rocket launch one", n=1))
    clock.advance(minutes=1)
    assert await alerts.dispatch_due() == 1  # bob's; alice's DM refused for good
    assert [d.user_id for d, _ in pub.sent] == ["bob"]

    # alice's subscriptions are paused with the reason; bob's is not
    subs = {s.id: s for s in await engine.store.alerts.subscriptions_of(
        platform="console", owner_kind="user", owner_id="alice")}
    assert {i: s.paused for i, s in subs.items()} == {rocket: True, launch: True}
    assert subs[rocket].paused_reason == "the user does not accept direct messages"
    assert not (await engine.store.alerts.get_subscription(bobs)).paused  # type: ignore[union-attr]

    # paused: no longer matched, nothing recorded, nothing due
    second = await ingest(engine, draft("Rocket launch two", n=2))
    assert [s.subscription_id for s in await engine.store.alerts.alerts_for_article(second.id)] == [
        bobs]
    assert rocket not in alerts.index and launch not in alerts.index
    clock.advance(minutes=1)
    assert await alerts.dispatch_due() == 1 and len(pub.sent) == 2
    assert await engine.store.alerts.next_alert_due() is None

    # a new subscription to the same place says the others are paused
    extra = await command(engine, ALICE, "subscribe zeppelin")
    assert f"Note: #{rocket}, #{launch} are paused because alerts to you by direct message " \
        "could not be delivered (the user does not accept direct messages)" in extra.text
    await command(engine, ALICE, f"unsubscribe {extra.text.split('#')[1].split(':')[0]}")
    # /brief alerts shows why, and how to resume
    listing = (await command(engine, ALICE, "alerts")).text
    assert f"#{rocket} `rocket` · PAUSED since" in listing
    assert "the user does not accept direct messages" in listing
    assert "/brief alerts resume" in listing

    # bob cannot resume alice's; alice resumes one by id, then the rest
    assert (await command(engine, BOB, f"alerts resume {rocket}")).is_error
    assert "Nothing to resume" in (await command(engine, BOB, "alerts resume")).text
    pub.gone.clear()
    one = await command(engine, ALICE, f"alerts resume {rocket}")
    assert not one.is_error and f"Resumed #{rocket}" in one.text
    third = await ingest(engine, draft("Rocket launch three", n=3))
    assert {s.subscription_id for s in await engine.store.alerts.alerts_for_article(third.id)} == {
        rocket, bobs}
    rest = await command(engine, ALICE, "alerts resume")
    assert f"Resumed #{launch}" in rest.text
    assert "PAUSED" not in (await command(engine, ALICE, "alerts")).text
    fourth = await ingest(engine, draft("Rocket launch four", n=4))
    assert {s.subscription_id for s in await engine.store.alerts.alerts_for_article(fourth.id)} == {
        rocket, launch, bobs}
    clock.advance(minutes=1)
    await alerts.dispatch_due()
    assert [d.user_id for d, _ in pub.sent].count("alice") == 1  # third and fourth, batched


async def test_subscribing_again_resumes_a_paused_channel_subscription(
    engine: BriefingEngine, alerts: AlertService, clock: FixedClock,
    make_engine: Callable[..., Any],
) -> None:
    channel = Destination(platform="console", channel_id="news")
    pub = GonePublisher({channel})
    engine.add_publisher(pub)
    sub = await subscribe(engine, ADMIN, "channel rocket")
    await ingest(engine, draft("Rocket one", n=1))
    clock.advance(minutes=1)
    assert await alerts.dispatch_due() == 0
    assert (await engine.store.alerts.get_subscription(sub)).paused  # type: ignore[union-attr]
    # a member who is no channel admin cannot resume the channel's alerts
    assert "Nothing to resume" in (await command(engine, ALICE, "alerts resume")).text
    assert (await command(engine, ALICE, f"alerts resume {sub}")).is_error
    # another process sees the pause: its index drops the subscription
    other = alerts_of(await make_engine())
    await other.sync_index()
    assert sub not in other.index
    pub.gone.clear()
    again = await command(engine, ADMIN, "subscribe channel ROCKET")
    assert not again.is_error and f"Resumed #{sub}" in again.text
    await other.sync_index()
    assert sub in other.index
    await ingest(engine, draft("Rocket two", n=2))
    clock.advance(minutes=1)
    assert await alerts.dispatch_due() == 1
    assert [d.channel_id for d, _ in pub.sent] == ["news"]


async def test_operators_not_in_capitals_get_a_note(engine: BriefingEngine) -> None:
    await ingest(engine, draft("Rocket launch", n=1))
    reply = await command(engine, ALICE, "subscribe tesla or spacex")
    assert not reply.is_error
    assert "Note: `or` not in capitals is looked for as a word" in reply.text
    trial = await command(engine, ALICE, "alerts test rocket Or (moon and -not)")
    assert "Note: `Or`, `and` not in capitals" in trial.text
    for fine in ('subscribe rocket OR missile', 'subscribe "rock or roll" band',
                 "subscribe orbit android knots"):
        assert "Note:" not in (await command(engine, ALICE, fine)).text, fine


async def test_the_service_never_lets_a_hung_platform_hold_up_other_alerts(
    make_engine: Callable[..., Any], config: Config,
) -> None:
    engine: BriefingEngine = await make_engine(
        replace(config, alerts=replace(config.alerts, batch_seconds=0)),
        clock_=lambda: datetime.now(UTC))
    publisher = SignallingPublisher()
    engine.add_publisher(publisher)
    engine.add_publisher(HangingPublisher())  # DELIVERY_TIMEOUT_SECONDS: two minutes
    await subscribe(engine, Caller(platform="slack", user_id="U1"), "rocket")
    await subscribe(engine, ALICE, "zeppelin")
    task = asyncio.create_task(alerts_of(engine).run())
    try:
        await ingest(engine, draft("Rocket", n=1))  # to the platform that hangs
        await asyncio.sleep(0.2)  # its delivery is under way (and hangs)
        await ingest(engine, draft("Zeppelin", n=2))  # then one for alice, on another
        async with asyncio.timeout(5):
            await publisher.arrived.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [d.user_id for d, _ in publisher.sent] == ["alice"]


async def test_articles_stored_but_never_matched_are_matched_at_start(
    make_engine: Callable[..., Any], clock: FixedClock,
) -> None:
    """A process that dies between storing an article and matching it loses no alert: the
    next start matches what was left unmatched (recent, never a feed backlog)."""
    first = await make_engine()
    sub = await subscribe(first, ALICE, "satellites")
    stored = await ingest(first, draft("Matched at once", n=1))
    assert len(await first.store.alerts.alerts_for_article(stored.id)) == 1

    # stored with the matching step skipped, as when the process stops right after the insert
    async def store_only(d: ArticleDraft, *, backlog: bool = False) -> Article:
        article = await first.store.articles.add_article(
            d, title=d.title or "", summary=("One.",), content_hash=str(hash(d.url)),
            canonical_url=d.url, ingested_at=clock(), backlog=backlog)
        assert article is not None
        return article

    lost = await store_only(draft("Stored, then the process stopped", n=2))
    quiet = await store_only(draft("A feed's backlog item", n=3), backlog=True)
    clock.advance(hours=100)
    stale = await store_only(draft("Old and unmatched", n=4))
    clock.advance(hours=first.config.alerts.catch_up_hours + 1)
    fresh = await store_only(draft("Recent and unmatched", n=5))

    second = await make_engine()
    assert await alerts_of(second).catch_up() == 1
    assert [s.subscription_id for s in await second.store.alerts.alerts_for_article(
        fresh.id)] == [sub]
    for article in (lost, quiet, stale):  # outside the window, or a backlog
        assert await second.store.alerts.alerts_for_article(article.id) == []
    assert await alerts_of(second).catch_up() == 0  # matched once, never again
    assert len(await second.store.alerts.alerts_for_article(stored.id)) == 1


async def test_matches_prepared_with_the_summary_hold_only_for_the_index_they_saw(
    engine: BriefingEngine, alerts: AlertService,
) -> None:
    first = (await engine.ingest(draft("Rocket and missile tests", n=40), notify=False)).article
    before = alerts.prepare(first.title, first.text)  # no subscription yet: nothing analysed
    assert before.doc is None and before.matches == []
    rocket = await subscribe(engine, ALICE, "rocket")
    assert await alerts.match_article(first, before) == 1  # the index changed: matched now

    article = (await engine.ingest(draft("Rocket and missile tests", n=41),
                                   notify=False)).article
    prepared = alerts.prepare(article.title, article.text)  # as the engine does in the worker
    assert [m[0] for m in prepared.matches] == [rocket]
    missile = await subscribe(engine, BOB, "missile")  # the index changes meanwhile
    assert await alerts.match_article(article, prepared) == 2  # matched again, not reused
    states = await engine.store.alerts.alerts_for_article(article.id)
    assert sorted(s.subscription_id for s in states) == [rocket, missile]

    # unchanged index: the prepared matches are recorded as they are (no second matching)
    other = (await engine.ingest(draft("Rocket fired again", n=42), notify=False)).article
    prepared = alerts.prepare(other.title, other.text)

    def no_second_matching(*args: object, **kwargs: object) -> object:
        raise AssertionError("matched twice")

    alerts.index.match = no_second_matching  # type: ignore[method-assign,assignment]
    alerts.index.match_document = no_second_matching  # type: ignore[method-assign,assignment]
    assert await alerts.match_article(other, prepared) == 1


async def test_an_ingest_matches_in_the_summary_trip(engine: BriefingEngine) -> None:
    sub = await subscribe(engine, ALICE, "rocket")
    trips = 0
    real_run = engine.summarizer.run

    async def counted(func: Any, /, *args: Any) -> Any:
        nonlocal trips
        trips += 1
        return await real_run(func, *args)

    engine.summarizer.run = counted  # type: ignore[method-assign]
    article = await ingest(engine, draft("Rocket launch moved", n=43))
    assert trips == 1
    states = await engine.store.alerts.alerts_for_article(article.id)
    assert [s.subscription_id for s in states] == [sub]
