"""What goes into a digest: period, feeds, clustering, ranking, limits, splitting; the
/brief digest commands and the ``briefbot digest`` CLI."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import app_of

from adapters.discord_render import (
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    EMBEDS_TOTAL_LIMIT,
    embed_size,
    render_messages,
)
from adapters.slack_blocks import (
    MAX_BLOCKS,
    MAX_MESSAGE_CHARS,
    MAX_SECTION_CHARS,
    block_chars,
    render_reply,
)
from bot import cli
from bot.app import digest_kit
from bot.config import Config
from bot.digests.build import (
    DigestPass,
    cluster_articles,
    digest_now,
    rank_stories,
)
from bot.engine import BriefingEngine
from bot.errors import DeliveryError, InputError
from bot.models import ArticleDraft, Caller, Destination, Item, Reply, ReplyKind
from bot.publish import RecordingPublisher
from bot.store.ports import DigestArticle
from tests.conftest import FixedClock

ADMIN = Caller(platform="console", user_id="U1", channel_id="C1", is_admin=True)
MEMBER = Caller(platform="console", user_id="U2", channel_id="C1", is_admin=False,
                admin_hint="a channel manager")
HERE = Destination(platform="console", channel_id="C1")

ROCKETS_AP = (
    "US to send Ukraine advanced rocket systems, Biden says",
    ("President Joe Biden said the United States will provide Ukraine with more advanced "
     "rocket systems and munitions.",
     "The M142 HIMARS launchers can strike targets up to 80 km away, officials said."),
)
ROCKETS_BBC = (
    "Biden agrees to give Kyiv HIMARS rocket launchers",
    ("The White House will send Ukraine HIMARS rocket systems able to hit targets 80 "
     "kilometres away.",
     "Biden said the advanced rocket systems would help Kyiv defend itself."),
)
MACBOOK = (
    "Apple unveils new MacBook Air with M2 chip",
    ("Apple announced a redesigned MacBook Air powered by its new M2 chip at its developer "
     "conference.", "The laptop goes on sale next month."),
)
OIL = (
    "EU leaders agree to ban most Russian oil imports",
    ("European Union leaders agreed to cut 90% of Russian oil imports by the end of the year.",
     "Hungary won an exemption for pipeline oil."),
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def add(engine: BriefingEngine, story: tuple[str, tuple[str, ...]], *, source: str,
              feed_id: int | None = None, published: datetime | None = None) -> int:
    title, summary = story
    key = f"{source}:{title}"
    article = await engine.store.articles.add_article(
        ArticleDraft(text=" ".join(summary), title=title, source=source, feed_id=feed_id,
                     url=f"https://{source.lower()}.example/{abs(hash(key))}",
                     published_at=published),
        title=title, summary=summary, content_hash=hashlib.sha256(key.encode()).hexdigest(),
        canonical_url=None, ingested_at=engine.clock(),
    )
    assert article is not None
    return article.id


async def add_feed(engine: BriefingEngine, url: str) -> int:
    feed, _ = await engine.store.feeds.add_feed(url, now=engine.clock(),
                                                next_poll_at=engine.clock())
    return feed.id


def pub(engine: BriefingEngine) -> RecordingPublisher:
    publisher = engine.publishers["console"]
    assert isinstance(publisher, RecordingPublisher)
    return publisher


async def test_same_story_from_two_feeds_is_one_item_with_sources(
    engine: BriefingEngine, clock: FixedClock,
) -> None:
    ap = await add_feed(engine, "https://ap.example/rss")
    bbc = await add_feed(engine, "https://bbc.example/rss")
    first = await add(engine, ROCKETS_AP, source="AP", feed_id=ap)
    clock.advance(minutes=20)
    await add(engine, ROCKETS_BBC, source="BBC", feed_id=bbc)
    await add(engine, MACBOOK, source="BBC", feed_id=bbc)
    reply, built = await digest_now(digest_kit(engine), destination=HERE, post=False)
    assert reply is not None
    assert len(reply.items) == 2
    rockets = next(i for i in reply.items if "rocket" in i.title)
    assert rockets.article_id == first  # the first report is shown
    assert rockets.note == "+1 source"
    assert rockets.summary == ROCKETS_AP[1]  # the stored summary, untouched
    assert rockets.source == "AP" and rockets.url and rockets.published_at
    assert reply.items[0] is rockets  # two sources rank above one
    macbook = next(i for i in reply.items if "MacBook" in i.title)
    assert macbook.note == ""
    assert built.considered == 3


def test_clustering_keeps_different_stories_apart() -> None:
    now = utc(2026, 3, 2, 12)

    def art(i: int, story: tuple[str, tuple[str, ...]], source: str) -> DigestArticle:
        return DigestArticle(id=i, title=story[0], summary=story[1], url=None, source=source,
                             published_at=None, ingested_at=now, feed_id=None)

    articles = [art(1, ROCKETS_AP, "AP"), art(2, OIL, "AP"), art(3, MACBOOK, "Verge"),
                art(4, ROCKETS_BBC, "BBC"), art(5, OIL, "Reuters")]
    clusters = cluster_articles(articles, threshold=0.3, language="english")
    assert sorted(sorted(a.id for a in c) for c in clusters) == [[1, 4], [2, 5], [3]]


async def test_digest_is_restricted_to_the_channels_feeds(
    engine: BriefingEngine, clock: FixedClock,
) -> None:
    ap = await add_feed(engine, "https://ap.example/rss")
    verge = await add_feed(engine, "https://verge.example/rss")
    await add(engine, ROCKETS_AP, source="AP", feed_id=ap)
    await add(engine, MACBOOK, source="Verge", feed_id=verge)
    await add(engine, OIL, source="Pasted link")  # no feed
    everything, _ = await digest_now(digest_kit(engine), destination=HERE, post=False)
    assert everything is not None and len(everything.items) == 3
    await engine.store.feeds.link_channel_feed(platform="console", channel_id="C1", feed_id=verge)
    only_verge, _ = await digest_now(digest_kit(engine), destination=HERE, post=False)
    assert only_verge is not None
    assert [i.title for i in only_verge.items] == [MACBOOK[0]]


async def test_period_first_24_hours_then_since_previous_digest(
    engine: BriefingEngine, clock: FixedClock,
) -> None:
    await add(engine, OIL, source="AP")
    clock.advance(hours=30)
    await add(engine, MACBOOK, source="Verge")
    reply, _ = await digest_now(digest_kit(engine), destination=HERE, post=True)
    assert reply is not None and [i.title for i in reply.items] == [MACBOOK[0]]
    assert pub(engine).sent == [(HERE, reply)]
    clock.advance(hours=1)
    await add(engine, ROCKETS_AP, source="AP")
    reply, _ = await digest_now(digest_kit(engine), destination=HERE, post=True)
    assert reply is not None and [i.title for i in reply.items] == [ROCKETS_AP[0]]
    clock.advance(hours=1)
    nothing, built = await digest_now(digest_kit(engine), destination=HERE, post=True)
    assert nothing is None and built.items == ()
    assert len(pub(engine).sent) == 2


async def test_empty_message_is_posted_when_configured(
    make_engine: Callable[..., Any], config: Config,
) -> None:
    engine = await make_engine(replace(config, digest=replace(config.digest,
                                                              empty_message="All quiet.")))
    reply, _ = await digest_now(digest_kit(engine), destination=HERE, post=True)
    assert reply is not None and reply.items == () and "All quiet." in reply.text
    assert reply.kind is ReplyKind.DIGEST and reply.ephemeral is False


async def test_ranking_prefers_subscription_matches_then_recency(
    engine: BriefingEngine, clock: FixedClock,
) -> None:
    old = utc(2026, 3, 1, 0)
    clock.now = old
    await add(engine, OIL, source="AP")
    clock.now = old + timedelta(hours=10)
    await add(engine, MACBOOK, source="Verge")
    clock.now = old + timedelta(hours=12)
    reply, _ = await digest_now(digest_kit(engine), destination=HERE, post=False)
    assert reply is not None and [i.title for i in reply.items] == [MACBOOK[0], OIL[0]]
    subscribed = await engine.handle_command("subscribe channel oil imports", ADMIN)
    assert not subscribed.is_error, subscribed.text
    reply, _ = await digest_now(digest_kit(engine), destination=HERE, post=False)
    assert reply is not None and [i.title for i in reply.items] == [OIL[0], MACBOOK[0]]
    assert "matched: oil imports" in reply.items[0].note


def test_rank_stories_score_terms() -> None:
    now = utc(2026, 3, 2, 12)

    def art(i: int, source: str, hours_ago: float) -> DigestArticle:
        return DigestArticle(id=i, title=f"t{i}", summary=(), url=None, source=source,
                             published_at=now - timedelta(hours=hours_ago),
                             ingested_at=now, feed_id=None)

    fresh = [art(1, "A", 0)]
    older_three_sources = [art(2, "A", 6), art(3, "B", 6), art(4, "C", 7)]
    stale = [art(5, "A", 48)]
    ranked = rank_stories([stale, fresh, older_three_sources], now=now)
    assert [s.lead.id for s in ranked] == [2, 1, 5]
    assert ranked[0].sources == 3 and ranked[0].to_item(sentences=2).note == "+2 sources"
    assert ranked[1].score == pytest.approx(1.0)
    assert ranked[2].score == pytest.approx(0.5 ** 4)


async def test_at_most_max_items(make_engine: Callable[..., Any], config: Config) -> None:
    engine = await make_engine(replace(config, digest=replace(config.digest, max_items=3)))
    for i in range(8):
        await add(engine, (f"Unrelated headline number {i} about topic{i}",
                           (f"Sentence about subject{i} and thing{i}.",)), source=f"S{i}")
    reply, _ = await digest_now(digest_kit(engine), destination=HERE, post=False)
    assert reply is not None and len(reply.items) == 3
    assert "3 stories since" in reply.text and "(the top 3 of 8)" in reply.text


def long_items(n: int) -> list[Item]:
    sentence = ("Officials said on Tuesday that the <deliveries> & talks would continue for "
                "several weeks while negotiators tried to settle the remaining questions about "
                "inspections, financing and the timetable, which several members still dispute"
                " in public, according to three people familiar with the discussions. ")
    return [
        Item(title=f"Story {i}: " + "Headline words & more <b>words</b> " * 8,
             url=f"https://news.example/{i}?a=1&b=2", source="Example News & Co",
             published_at=utc(2026, 3, 2, 8, i % 60), summary=(sentence * 2,) * 3,
             article_id=i, note="+3 sources")
        for i in range(n)
    ]


def test_split_60_items_within_slack_limits() -> None:
    """The Slack adapter's rendering of a 60-item digest stays within every limit, in order,
    nothing cut or lost."""
    items = long_items(60)
    header, footer = "Daily digest · Mon 02 Mar 2026 · 60 stories", "Next digest: Tue."
    reply = Reply(text=header, items=tuple(items), kind=ReplyKind.DIGEST, ephemeral=False,
                  footer=footer)
    messages = render_reply(reply)
    assert len(messages) > 1
    for message in messages:
        assert len(message.blocks) <= MAX_BLOCKS
        assert message.chars <= MAX_MESSAGE_CHARS
        assert all(block_chars(b) <= MAX_SECTION_CHARS for b in message.blocks)
    rendered = "".join(str(b) for m in messages for b in m.blocks)
    positions = [rendered.index(f"Story {i}:") for i in range(60)]
    assert positions == sorted(positions)


def test_split_60_items_within_discord_limits() -> None:
    items = long_items(60)
    reply = Reply(text="Daily digest", items=tuple(items), kind=ReplyKind.DIGEST,
                  ephemeral=False, footer="Next digest: Tue.")
    outgoing = render_messages(reply)
    assert len(outgoing) > 1
    for message in outgoing:
        assert len(message.embeds) <= EMBEDS_PER_MESSAGE
        assert all(len(e.description or "") <= DESCRIPTION_LIMIT for e in message.embeds)
        assert sum(embed_size(e) for e in message.embeds) <= EMBEDS_TOTAL_LIMIT
    titles = [e.title or "" for m in outgoing for e in m.embeds]
    assert [t.split(":")[0] for t in titles if t.startswith("Story ")] == [
        f"Story {i}" for i in range(60)]


# -- commands ------------------------------------------------------------------------------


async def test_set_show_off_and_errors(engine: BriefingEngine, clock: FixedClock) -> None:
    clock.now = utc(2026, 3, 27, 12)
    reply = await engine.handle_command("digest 8:30 europe/berlin weekdays", ADMIN)
    assert not reply.is_error
    assert reply.text.startswith("Digest set: weekdays (Mon–Fri) at 08:30 Europe/Berlin.")
    assert "Mon 30 Mar 2026 08:30 CEST" in reply.text
    shown = await engine.handle_command("digest", MEMBER)
    assert "Next: Mon 30 Mar 2026 08:30 CEST" in shown.text

    refused = await engine.handle_command("digest 9:00", MEMBER)
    assert refused.is_error
    assert refused.text == "Only a channel manager may change this channel's digest."
    refused = await engine.handle_command("digest off", MEMBER)
    assert refused.is_error

    bad = await engine.handle_command("digest 8:30 Europe/Berln", ADMIN)
    assert bad.is_error and "Did you mean Europe/Berlin" in bad.text
    bad = await engine.handle_command("digest 25:00", ADMIN)
    assert bad.is_error and "HH:MM" in bad.text
    bad = await engine.handle_command("digest Europe/Berlin", ADMIN)
    assert bad.is_error and "`/brief digest 08:30 Europe/Berlin`" in bad.text
    bad = await engine.handle_command("digest 8:30 UTC Europe/Berlin", ADMIN)
    assert bad.is_error and "Give one time zone, not two" in bad.text
    bad = await engine.handle_command("digest 8:30 UTC fortnightly", ADMIN)
    assert bad.is_error and "neither a time zone nor days" in bad.text
    # a refused change loses nothing stored
    shown = await engine.handle_command("digest", ADMIN)
    assert "08:30 Europe/Berlin" in shown.text

    off = await engine.handle_command("digest off", ADMIN)
    assert off.text.startswith("Digest off.")
    shown = await engine.handle_command("digest", ADMIN)
    assert "off" in shown.text and "turned off by U1" in shown.text
    assert await engine.store.digests.next_digest_wake() is None
    again = await engine.handle_command("digest off", ADMIN)
    assert "no digest to stop" in again.text


async def test_default_zone_from_config(make_engine: Callable[..., Any], config: Config,
                                        clock: FixedClock) -> None:
    clock.now = utc(2026, 3, 2, 12)
    engine = await make_engine(replace(config, digest=replace(
        config.digest, default_timezone="America/New_York")))
    reply = await engine.handle_command("digest 7am", ADMIN)
    assert "every day at 07:00 America/New_York" in reply.text
    assert "Tue 03 Mar 2026 07:00 EST" in reply.text


@pytest.mark.parametrize(("words", "expected"), [
    ("8:30 pm", "every day at 20:30 UTC"),
    ("7 a.m. europe/berlin", "every day at 07:00 Europe/Berlin"),
    ("8:30 PM weekdays ETC/GMT+5", "weekdays (Mon–Fri) at 20:30 Etc/GMT+5"),
    ("08:30 mon,wed,fri america/new_york", "Mon, Wed, Fri at 08:30 America/New_York"),
    ("08:30 weekends", "weekends (Sat, Sun) at 08:30 UTC"),
    ("08:30, Europe/Berlin, mon, wed", "Mon, Wed at 08:30 Europe/Berlin"),
])
async def test_times_and_zones_as_people_type_them(engine: BriefingEngine, clock: FixedClock,
                                                   words: str, expected: str) -> None:
    clock.now = utc(2026, 3, 2, 12)
    reply = await engine.handle_command(f"digest {words}", ADMIN)
    assert not reply.is_error, reply.text
    assert reply.text.startswith(f"Digest set: {expected}.")


@pytest.mark.parametrize(("zone", "note"), [
    ("EST", "Note: EST is UTC−05:00 all year, without daylight saving; for US Eastern time, "
            "which has it, use America/New_York."),
    ("etc/gmt+5", "Note: Etc/GMT+5 is UTC−05:00 (these names have the sign reversed)."),
    ("Etc/GMT-3", "Note: Etc/GMT-3 is UTC+03:00"),
    ("Europe/Berlin", ""), ("Etc/GMT0", ""),
])
async def test_zones_that_surprise_people_get_a_note(engine: BriefingEngine, zone: str,
                                                     note: str) -> None:
    reply = await engine.handle_command(f"digest 08:30 {zone}", ADMIN)
    assert not reply.is_error
    assert ("Note:" in reply.text) is bool(note) and note in reply.text


@pytest.mark.parametrize(("words", "said"), [
    # not a place's time: the server's own zone, or no zone at all
    ("08:30 localtime", "`localtime` is not an IANA time zone"),
    ("08:30 Factory", "`Factory` is not an IANA time zone"),
    ("08:30 Berln", "Did you mean Europe/Berlin?"),
    ("08:30 newyork", "Did you mean America/New_York?"),
    ("08:30 mon,xyz", "`mon,xyz` is not a list of days"),
    ("08:30 Europe/Berlin Europe/Paris", "Give one time zone, not two (`Europe/Berlin` and"),
    ("08:30 mon-fry", "(mon,wed,fri), a range (mon-fri)"),
    ("24:00", "`24:00` is not a time of day"),
    ("7:60", "`7:60` is not a time of day"),
    (", ,", "Give a time of day"),
])
async def test_mistyped_times_zones_and_days_say_the_right_form(
        engine: BriefingEngine, words: str, said: str) -> None:
    reply = await engine.handle_command(f"digest {words}", ADMIN)
    assert reply.is_error and said in reply.text, reply.text
    assert "/brief digest 08:30 Europe/Berlin" in reply.text
    assert await engine.store.digests.get_digest_schedule(platform="console",
                                                          channel_id="C1") is None


async def test_digest_now_posts_to_the_callers_channel(engine: BriefingEngine) -> None:
    await add(engine, ROCKETS_AP, source="AP")
    reply = await engine.handle_command("digest now", ADMIN)
    assert reply.text == "Posted a digest here: 1 story." and reply.ephemeral
    (destination, digest), = pub(engine).sent
    assert destination == HERE
    assert digest.kind is ReplyKind.DIGEST and not digest.ephemeral
    assert digest.text.startswith("Digest on request")
    again = await engine.handle_command("digest now", ADMIN)
    assert again.text.startswith("Nothing new since")
    dm = await engine.handle_command("digest now", replace(ADMIN, channel_id=None))
    assert dm.is_error and "Run this in a channel" in dm.text


async def test_digest_now_from_a_member_is_a_private_preview(engine: BriefingEngine) -> None:
    await add(engine, ROCKETS_AP, source="AP")
    preview = await engine.handle_command("digest now", MEMBER)
    assert preview.ephemeral and not preview.is_error
    assert "A preview only you can see" in preview.text
    assert [i.title for i in preview.items] and pub(engine).sent == []
    # nothing was recorded: the admin's post still holds the story
    posted = await engine.handle_command("digest now", ADMIN)
    assert posted.text == "Posted a digest here: 1 story."
    nothing = await engine.handle_command("digest now", MEMBER)
    assert nothing.text == "Nothing new since this channel's last digest."


async def test_digest_now_failure_is_reported(engine: BriefingEngine) -> None:
    await add(engine, ROCKETS_AP, source="AP")
    pub(engine).fail_with = DeliveryError("the channel is archived", permanent=True)
    reply = await engine.handle_command("digest now", ADMIN)
    assert "Could not post the digest here: the channel is archived" in reply.text
    pub(engine).fail_with = None
    # the failed attempt did not swallow the article
    reply = await engine.handle_command("digest now", ADMIN)
    assert reply.text == "Posted a digest here: 1 story."


async def test_pass_shares_articles_between_many_channels(
    make_engine: Callable[..., Any], config: Config, clock: FixedClock,
) -> None:
    engine = await make_engine()
    ap = await add_feed(engine, "https://ap.example/rss")
    await add(engine, ROCKETS_AP, source="AP", feed_id=ap)
    await add(engine, OIL, source="Reuters")
    await engine.store.feeds.link_channel_feed(platform="console", channel_id="C0", feed_id=ap)
    digest_pass = DigestPass(digest_kit(engine), now=clock(), channels=50)
    assert digest_pass.use_pool
    only_ap, _ = await digest_pass.build(platform="console", channel_id="C0", last=None,
                                         rule=None)
    everything, _ = await digest_pass.build(platform="console", channel_id="C1", last=None,
                                            rule=None)
    assert only_ap is not None and [i.title for i in only_ap.items] == [ROCKETS_AP[0]]
    assert everything is not None and len(everything.items) == 2


# -- CLI -------------------------------------------------------------------------------------


async def test_cli_digest_prints_and_records_only_with_now(
    engine: BriefingEngine, capsys: pytest.CaptureFixture[str],
) -> None:
    await add(engine, ROCKETS_AP, source="AP")
    parser = cli._build_parser()

    async def run(*argv: str) -> int:
        return await cli.cmd_digest(parser.parse_args(["digest", *argv]), app_of(engine))

    assert await run() == 0  # a preview
    out = capsys.readouterr().out
    assert "US to send Ukraine advanced rocket systems" in out
    assert out.startswith("Digest on request")
    assert await run("--now") == 0  # posted by the console adapter, and recorded
    out = capsys.readouterr().out
    assert out.startswith("--- digest for #console ---") and "advanced rocket systems" in out
    assert await run("--now") == 0
    assert capsys.readouterr().out.startswith("Nothing new for the console channel since")
    assert await run("--channel", "slack:C9") == 0  # another channel's preview
    assert "advanced rocket systems" in capsys.readouterr().out
    with pytest.raises(InputError, match="--now posts only to console channels"):
        await run("--channel", "slack:C9", "--now")


def test_cli_digest_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--db", str(tmp_path / "x.db"), "digest", "--channel", "C5"]) == 0
    assert "Nothing new for console channel C5" in capsys.readouterr().out
    assert cli.main(["--db", str(tmp_path / "x.db"), "digest", "--channel", "slack:", "--now"]
                    ) == cli.EXIT_USER
    assert "--channel needs an id" in capsys.readouterr().err


async def test_a_big_pass_clusters_once_and_keeps_each_channels_feeds_and_period(
    engine: BriefingEngine, clock: FixedClock, caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.digests.build import POOL_THRESHOLD
    from bot.digests.scheduler import DigestScheduler

    clock.now = utc(2026, 3, 2, 5)
    channels = [f"C{i}" for i in range(POOL_THRESHOLD + 5)]
    for channel in channels:
        reply = await engine.handle_command("digest 08:00 UTC", replace(ADMIN, channel_id=channel))
        assert not reply.is_error
    ap = await add_feed(engine, "https://ap.example/rss")
    bbc = await add_feed(engine, "https://bbc.example/rss")
    await engine.store.feeds.link_channel_feed(platform="console", channel_id="C0", feed_id=ap)
    for feed in (ap, bbc):
        await engine.store.feeds.link_channel_feed(platform="console", channel_id="C1",
                                                   feed_id=feed)
    await add(engine, OIL, source="Reuters")
    c2 = Destination(platform="console", channel_id="C2")
    await digest_now(digest_kit(engine), destination=c2, post=True)  # C2 already saw the oil story
    clock.advance(minutes=30)
    await add(engine, ROCKETS_AP, source="AP", feed_id=ap)
    await add(engine, ROCKETS_BBC, source="BBC", feed_id=bbc)
    await add(engine, MACBOOK, source="Verge")
    pub(engine).sent.clear()
    clock.now = utc(2026, 3, 2, 8)
    with caplog.at_level(logging.DEBUG, logger="bot.digests.build"):
        result = await DigestScheduler(digest_kit(engine)).run_due()
    assert "digest pass: 4 articles in 3 stories shared by the due channels" in caplog.text
    assert sorted(result.sent) == sorted(f"console:{c}" for c in channels)
    got = {d.channel_id: [(i.title, i.note) for i in r.items] for d, r in pub(engine).sent}
    assert got["C0"] == [(ROCKETS_AP[0], "")]
    assert got["C1"] == [(ROCKETS_AP[0], "+1 source")]
    assert sorted(got["C2"]) == sorted([(ROCKETS_AP[0], "+1 source"), (MACBOOK[0], "")])
    assert sorted(got["C3"]) == sorted([(ROCKETS_AP[0], "+1 source"), (MACBOOK[0], ""),
                                        (OIL[0], "")])


async def test_a_digest_never_reaches_back_past_max_lookback_days(
    make_engine: Callable[..., Any], config: Config, clock: FixedClock,
) -> None:
    engine = await make_engine(replace(config, digest=replace(config.digest,
                                                              max_lookback_days=1.0)))
    clock.now = utc(2026, 3, 1, 8)
    await add(engine, MACBOOK, source="Verge")
    await digest_now(digest_kit(engine), destination=HERE, post=True)
    clock.now = utc(2026, 3, 2, 8)
    await add(engine, OIL, source="AP")  # 3 days before the next digest
    clock.now = utc(2026, 3, 4, 20)
    await add(engine, ROCKETS_AP, source="AP")
    clock.now = utc(2026, 3, 5, 8)
    reply, built = await digest_now(digest_kit(engine), destination=HERE, post=False)
    assert reply is not None and [i.title for i in reply.items] == [ROCKETS_AP[0]]
    assert built.period_start == utc(2026, 3, 4, 8)
    assert "since Wed 04 Mar 2026 08:00 UTC" in reply.text


async def test_a_new_feeds_backlog_is_never_posted_in_a_digest(engine: BriefingEngine) -> None:
    """Adding a feed never floods a channel: its backlog is stored silently, and stays out of
    digests too, while /brief still shows it."""
    backlog = await engine.ingest(
        ArticleDraft(text="An old story that was already in the feed when it was added.",
                     title="Old story", source="AP"), notify=False)
    assert backlog.created and backlog.article.backlog
    nothing = await engine.handle_command("digest now", ADMIN)
    assert nothing.text.startswith("Nothing new") and pub(engine).sent == []
    fresh = await engine.ingest(
        ArticleDraft(text="A story published after the feed was added.", title="New story",
                     source="AP"))
    posted = await engine.handle_command("digest now", ADMIN)
    assert posted.text == "Posted a digest here: 1 story."
    (_, digest), = pub(engine).sent
    assert [item.article_id for item in digest.items] == [fresh.article.id]
    latest = await engine.handle_command("", ADMIN)
    assert backlog.article.id in [item.article_id for item in latest.items]
