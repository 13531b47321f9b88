"""Feeds end to end against real aiohttp servers on 127.0.0.1: backlog without alerts, items
ingested once, conditional GETs, edits not re-posted, health and backoff for every failure,
the poller service, and the /brief feeds verbs."""

from __future__ import annotations

import asyncio
import gzip
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import FixedClock, app_of
from intake_server import Entry, LocalWeb, article_text, atom, html_page, rss

from bot.app import feed_kit
from bot.config import Config
from bot.engine import BriefingEngine
from bot.ingest.feeds import NotAFeed, html_fragment_text, parse_feed
from bot.ingest.fetch import Fetcher
from bot.ingest.intake import Intake, backoff_delay
from bot.models import Article, ArticleDraft, Caller, ReplyKind
from bot.text import MAX_ARTICLE_CHARS, cap_text

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def server() -> AsyncIterator[LocalWeb]:
    web_ = LocalWeb()
    await web_.start()
    yield web_
    await web_.stop()


@pytest.fixture
def config(config: Config) -> Config:
    return replace(
        config,
        fetch=replace(config.fetch, timeout_seconds=0.5, max_bytes=200_000, max_redirects=3),
        feeds=replace(config.feeds, backlog_items=3, poll_interval_minutes=30,
                      max_backoff_minutes=240),
    )


@pytest.fixture
def alerted(engine: BriefingEngine) -> list[Article]:
    seen: list[Article] = []

    async def record(article: Article) -> None:
        seen.append(article)

    engine.on_new_article(record)
    return seen


@pytest.fixture
async def intake(engine: BriefingEngine) -> AsyncIterator[Intake]:
    async with Fetcher(engine.config.fetch) as fetcher:
        yield Intake(feed_kit(engine), fetcher, rng=random.Random(7))


def entries(n: int, *, start: int = 0, full: bool = True) -> list[Entry]:
    """``n`` items, newest first, each with a full article in the feed (no page fetch)."""
    return [
        Entry(title=f"Story {i}", link=f"http://news.example/story/{i}", guid=f"g{i}",
              text=article_text(f"topic{i}") if full else f"Teaser {i}.",
              published=NOW - timedelta(hours=100 - i))
        for i in range(start + n - 1, start - 1, -1)
    ]


async def feed_of(engine: BriefingEngine, feed_id: int) -> Any:
    feed = await engine.store.feeds.get_feed(feed_id)
    assert feed is not None
    return feed


# -- parsing -----------------------------------------------------------------------------


def test_parse_rss_and_atom_and_keys() -> None:
    items = [Entry(title="A", link="http://x.org/a?utm_source=rss", guid="1", text="Hello"),
             Entry(title="B", link=None, guid="2", text="No link")]
    parsed = parse_feed(rss(items).encode(), url="http://x.org/feed", now=NOW)
    assert [e.key for e in parsed.entries] == ["http://x.org/a", "guid:2"]
    assert parsed.title == "Test Feed" and parsed.malformed is None
    parsed = parse_feed(atom([Entry(title="C", link="/c", guid="urn:c", text="p1\np2")]).encode(),
                        url="http://y.org/atom.xml", now=NOW)
    assert parsed.entries[0].link == "http://y.org/c"
    assert parsed.entries[0].text == "p1\np2"


def test_rss_090_and_rdf() -> None:
    rdf = ('<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
           ' xmlns="http://purl.org/rss/1.0/"><channel rdf:about="http://x.org/"><title>RDF</title>'
           '<link>http://x.org/</link></channel><item rdf:about="http://x.org/1"><title>One'
           "</title><link>http://x.org/1</link><description>Body</description></item></rdf:RDF>")
    parsed = parse_feed(rdf.encode(), url="http://x.org/rdf", now=NOW)
    assert [e.link for e in parsed.entries] == ["http://x.org/1"]
    rss091 = ('<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS '
              '0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91">'
              "<channel><title>Old</title><link>http://x.org/</link><description>d</description>"
              "<item><title>Two</title><link>http://x.org/2</link></item></channel></rss>")
    parsed = parse_feed(rss091.encode(), url="http://x.org/091", now=NOW)
    assert [e.link for e in parsed.entries] == ["http://x.org/2"]


def test_titles_and_authors_with_markup_or_entities_are_plain_text() -> None:
    atom_doc = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        '<title type="html">Atom &lt;b&gt;News&lt;/b&gt;</title><id>urn:f</id>'
        "<updated>2026-03-01T00:00:00Z</updated>"
        '<entry><title type="html">&lt;i&gt;Dune&lt;/i&gt; review &amp;amp; more</title>'
        '<link href="/d"/><id>urn:1</id><updated>2026-03-01T00:00:00Z</updated>'
        "<author><name>Jos&amp;eacute; &lt;b&gt;Ruiz&lt;/b&gt;</name></author></entry>"
        '<entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">X <b>marks</b>'
        '</div></title><link href="/x"/><id>urn:2</id><updated>2026-03-01T00:00:00Z</updated>'
        "</entry></feed>")
    parsed = parse_feed(atom_doc.encode(), url="http://x.org/atom", now=NOW)
    assert parsed.title == "Atom News"
    assert [e.title for e in parsed.entries] == ["Dune review & more", "X marks"]
    assert parsed.entries[0].author == "José Ruiz"
    rss_doc = rss([Entry(title="Caf&eacute; <b>opens</b><script>x()</script>",
                         link="http://x.org/c"),
                   Entry(title="AT&T says x < y", link="http://x.org/d")],
                  title="Fish &amp; Chips")
    parsed = parse_feed(rss_doc.encode(), url="http://x.org/rss", now=NOW)
    assert parsed.title == "Fish & Chips"
    assert [e.title for e in parsed.entries] == ["Café opens", "AT&T says x < y"]
    # an Atom title typed as text is literal text
    literal = atom_doc.replace('<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
                               "X <b>marks</b></div></title>",
                               '<title type="text">Why &lt;blink&gt; is gone</title>')
    parsed = parse_feed(literal.encode(), url="http://x.org/atom", now=NOW)
    assert parsed.entries[1].title == "Why <blink> is gone"


def test_external_and_expanding_entities_refused() -> None:
    xxe = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<rss version="2.0"><channel><title>&x;</title></channel></rss>')
    with pytest.raises(NotAFeed, match="XML entities"):
        parse_feed(xxe.encode(), url="http://x.org/f", now=NOW)
    laughs = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;">'
              ']><rss version="2.0"><channel><title>&b;</title></channel></rss>')
    with pytest.raises(NotAFeed, match="XML entities"):
        parse_feed(laughs.encode(), url="http://x.org/f", now=NOW)


def test_html_and_garbage_are_not_feeds() -> None:
    with pytest.raises(NotAFeed, match="web page, not an RSS") as info:
        parse_feed(html_page("Hi", "Text").encode(), url="http://x.org/", now=NOW)
    assert info.value.is_html
    with pytest.raises(NotAFeed, match="not a readable RSS"):
        parse_feed(b"\x00\x01garbage{", url="http://x.org/", now=NOW)
    with pytest.raises(NotAFeed, match="empty"):
        parse_feed(b"  ", url="http://x.org/", now=NOW)


def test_dates_future_and_unparseable_are_dropped() -> None:
    items = [Entry(title="Future", link="http://x.org/f", published=NOW + timedelta(days=30)),
             Entry(title="Bad", link="http://x.org/b", raw_date="the day after tomorrow"),
             Entry(title="Good", link="http://x.org/g", published=NOW - timedelta(hours=1))]
    parsed = parse_feed(rss(items).encode(), url="http://x.org/feed", now=NOW)
    dates = {e.title: e.published_at for e in parsed.entries}
    assert dates == {"Future": None, "Bad": None, "Good": NOW - timedelta(hours=1)}


def test_truncated_feed_keeps_complete_items() -> None:
    xml = rss(entries(3))
    cut = xml[: xml.rindex("<item>") + 40]  # the last item is cut mid-way
    parsed = parse_feed(cut.encode(), url="http://x.org/feed", now=NOW)
    assert parsed.malformed is not None and "malformed XML" in parsed.malformed
    assert [e.title for e in parsed.entries] == ["Story 2", "Story 1"]


def test_odd_charset_labels_never_crash_the_parser() -> None:
    xml = rss(entries(2))
    for label in ("undefined", "rot13", "base64", "idna"):
        parsed = parse_feed(xml.encode(), url="http://x.org/feed",
                            content_type="application/rss+xml", charset=label, now=NOW)
        assert [e.title for e in parsed.entries] == ["Story 1", "Story 0"], label
    declared = xml.replace('encoding="utf-8"', 'encoding="undefined"')
    with pytest.raises(NotAFeed, match="character encoding briefbot cannot read"):
        parse_feed(declared.encode(), url="http://x.org/feed", now=NOW)


def test_broken_references_and_links_never_crash_the_parser() -> None:
    xml = rss([Entry(title="Bad ref", link="http://x.org/a", guid="a"),
               Entry(title="Bad port", link="http://x.org:b</", guid="b"),
               Entry(title="Bad host", link="http://[::1", guid="c")])
    xml = xml.replace("&lt;", "<").replace("Bad ref", "Bad &#xFFFFFF; ref &#99999999999;")
    xml = xml.replace("<title>Test Feed", "<title>Test Feed <b>")  # not well-formed: lenient
    parsed = parse_feed(xml.encode(), url="http://x.org/feed", now=NOW)
    assert [(e.title, e.link) for e in parsed.entries] == [
        ("Bad \ufffd ref \ufffd", "http://x.org/a"), ("Bad port", None), ("Bad host", None)]
    with pytest.raises(NotAFeed, match="malformed"):
        parse_feed(b'<?xml ver&\x00sion="1.0" encoding="utf-8\x00"?>'
                   + rss(entries(1)).encode()[38:], url="http://x.org/feed", now=NOW)


def test_a_guid_that_is_no_url_is_no_link() -> None:
    xml = ('<?xml version="1.0"?><rss version="2.0"><channel><title>P</title><link>/</link>'
           "<item><title>Numbered</title><guid>12345</guid><description>Text.</description>"
           '</item><item><title>Enclosure</title><guid>ep-2</guid><enclosure url="http://x.org/'
           'ep2.mp3" type="audio/mpeg" length="1"/></item>'
           "<item><title>Permalink</title><guid>http://x.org/p/3</guid></item>"
           "<item><title>Relative</title><link>a4.html</link><guid>g4</guid></item>"
           "</channel></rss>")
    parsed = parse_feed(xml.encode(), url="http://x.org/feeds/rss", now=NOW)
    assert [(e.title, e.link, e.key) for e in parsed.entries] == [
        ("Numbered", None, "guid:12345"), ("Enclosure", None, "guid:ep-2"),
        ("Permalink", "http://x.org/p/3", "http://x.org/p/3"),
        ("Relative", "http://x.org/feeds/a4.html", "http://x.org/feeds/a4.html")]
    assert parsed.site_url == "http://x.org/"


def test_junk_after_a_complete_feed_loses_no_item() -> None:
    xml = rss(entries(3)) + "\n<br />\n<b>Warning</b>: db_close() failed in feed.php<br />\n"
    parsed = parse_feed(xml.encode(), url="http://x.org/feed", now=NOW)
    assert parsed.malformed is not None
    assert [e.title for e in parsed.entries] == ["Story 2", "Story 1", "Story 0"]


def test_fragment_text() -> None:
    assert html_fragment_text("<p>One <b>two</b></p><p>Three</p><script>x()</script>") == \
        "One two\nThree"


# -- adding and polling ----------------------------------------------------------------------


async def test_backlog_stored_without_alerts_then_new_items_alert_once(
        engine: BriefingEngine, intake: Intake, server: LocalWeb, alerted: list[Article],
        clock: FixedClock) -> None:
    server.serve_feed("/feed.xml", rss(entries(5)), etag='"v1"')
    added = await intake.add_feed(server.url("/feed.xml"))
    assert added.created and added.report is not None
    assert added.report.backlog == 3  # [feeds] backlog_items
    assert alerted == []  # the backlog never alerts
    assert await engine.store.articles.count_articles() == 3
    stored = {a.title for a in await engine.store.articles.latest_articles(10)}
    assert stored == {"Story 4", "Story 3", "Story 2"}  # the newest three

    # second poll: conditional GET, 304, nothing new
    clock.advance(minutes=40)
    reports = await intake.poll_due()
    assert len(reports) == 1 and reports[0].not_modified
    assert server.hits("/feed.xml")[-1].headers.get("If-None-Match") == '"v1"'

    # a new item appears: taken in once, with an alert
    server.serve_feed("/feed.xml", rss(entries(6)), etag='"v2"')
    clock.advance(minutes=40)
    [report] = await intake.poll_due()
    assert [a.title for a in report.new] == ["Story 5"] and report.backlog == 0
    assert [a.title for a in alerted] == ["Story 5"]
    # polled again with a changed ETag but the same items: nothing new
    server.serve_feed("/feed.xml", rss(entries(6)), etag='"v3"')
    clock.advance(minutes=40)
    [report] = await intake.poll_due()
    assert report.new == () and len(alerted) == 1
    # the two items older than the backlog were remembered, never stored or alerted
    assert await engine.store.articles.count_articles() == 4


async def test_edited_items_are_not_reposted(engine: BriefingEngine, intake: Intake,
                                             server: LocalWeb, alerted: list[Article],
                                             clock: FixedClock) -> None:
    items = entries(2)
    server.serve_feed("/feed.xml", rss(items))
    await intake.add_feed(server.url("/feed.xml"))
    edited = [
        # same link, new guid, new date and edited text
        replace(items[0], guid="new-guid", published=NOW + timedelta(hours=2),
                text=items[0].text + " Updated with a correction."),
        # same guid, new link (the publisher changed the slug)
        replace(items[1], link="http://news.example/story/0-renamed"),
    ]
    server.serve_feed("/feed.xml", rss(edited))
    clock.advance(hours=1)
    [report] = await intake.poll_due()
    assert report.new == () and report.known == 2
    assert alerted == [] and await engine.store.articles.count_articles() == 2


async def test_downtime_items_ingested_with_alerts_oldest_first(
        engine: BriefingEngine, intake: Intake, server: LocalWeb, alerted: list[Article],
        clock: FixedClock) -> None:
    server.serve_feed("/feed.xml", rss(entries(2)))
    await intake.add_feed(server.url("/feed.xml"))
    # the bot is down for two days; four items are published meanwhile
    clock.advance(days=2)
    server.serve_feed("/feed.xml", rss(entries(6)))
    [report] = await intake.poll_due()
    assert [a.title for a in alerted] == ["Story 2", "Story 3", "Story 4", "Story 5"]
    assert len(report.new) == 4 and report.backlog == 0


async def test_atom_full_content_needs_no_page_fetch(engine: BriefingEngine, intake: Intake,
                                                     server: LocalWeb) -> None:
    items = [Entry(title="Atom story", link=server.url("/a/1"), guid="urn:1",
                   text=article_text("atom"))]
    server.serve_feed("/atom.xml", atom(items), content_type="application/atom+xml")
    added = await intake.add_feed(server.url("/atom.xml"))
    assert added.report is not None and added.report.backlog == 1
    assert server.hits("/a/1") == []
    [article] = await engine.store.articles.latest_articles(5)
    assert article.feed_id == added.feed.id and "atom project" in article.text
    assert added.feed.title == "Atom Feed"


async def test_short_feed_content_fetches_the_linked_page(
        engine: BriefingEngine, intake: Intake, server: LocalWeb) -> None:
    page = html_page("The full story", article_text("canal"),
                     canonical=server.url("/news/canal?utm_source=feed&id=7"))
    server.serve("/news/canal", page)
    server.redirect("/r/canal", "/news/canal")  # feeds often link through a redirect
    items = [Entry(title="Canal", link=server.url("/r/canal"), text="A short teaser.",
                   published=NOW)]
    server.serve_feed("/feed.xml", rss(items))
    added = await intake.add_feed(server.url("/feed.xml"))
    assert added.report is not None and added.report.backlog == 1
    [article] = await engine.store.articles.latest_articles(5)
    assert article.title == "The full story" and "canal project" in article.text
    assert article.canonical_url == server.url("/news/canal?id=7")
    # the redirecting link now leads straight to the stored article
    brief = await intake.brief_link(server.url("/r/canal"))
    assert brief.known and brief.article.id == article.id
    assert len(server.hits("/news/canal")) == 1


async def test_items_without_link_and_duplicate_guids(engine: BriefingEngine, intake: Intake,
                                                      server: LocalWeb) -> None:
    items = [
        Entry(title="No link, short", link=None, guid="a", text="Too short."),
        Entry(title="No link, full", link=None, guid="b", text=article_text("linkless")),
        Entry(title="Dup one", link="http://news.example/d1", guid="same",
              text=article_text("dupone")),
        Entry(title="Dup two", link="http://news.example/d2", guid="same",
              text=article_text("duptwo")),
    ]
    server.serve_feed("/feed.xml", rss(items))
    config = replace(engine.config, feeds=replace(engine.config.feeds, backlog_items=10))
    intake.config = config
    added = await intake.add_feed(server.url("/feed.xml"))
    report = added.report
    assert report is not None
    assert {a.title for a in report.new} == {"No link, full", "Dup one", "Dup two"}
    assert len(report.skipped) == 1 and "no link" in report.skipped[0]


async def test_paywalled_item_page_falls_back_or_is_skipped(
        engine: BriefingEngine, intake: Intake, server: LocalWeb) -> None:
    teaser = html_page("Locked", "The first paragraph of the story is free to read here. "
                       "Subscribe to continue reading.")
    server.serve("/locked", teaser)
    items = [Entry(title="Locked", link=server.url("/locked"), text="Short.", published=NOW)]
    server.serve_feed("/feed.xml", rss(items))
    added = await intake.add_feed(server.url("/feed.xml"))
    assert added.report is not None
    assert added.report.new == () and "teaser" in added.report.skipped[0]


async def test_failing_item_page_is_retried_then_stored(
        engine: BriefingEngine, intake: Intake, server: LocalWeb, alerted: list[Article],
        clock: FixedClock) -> None:
    server.serve_feed("/feed.xml", rss(entries(1)), etag='"e"')
    await intake.add_feed(server.url("/feed.xml"))
    flaky = [Entry(title="Flaky", link=server.url("/flaky"), guid="f", text="Teaser.",
                   published=NOW)]
    server.serve_feed("/feed.xml", rss(flaky + entries(1)), etag='"e2"')
    server.serve("/flaky", "down", status=503)
    clock.advance(hours=1)
    [report] = await intake.poll_due()
    assert report.pending == 1 and report.new == ()
    feed = await feed_of(engine, report.feed_id)
    assert feed.etag is None  # no conditional GET while an item waits: it cannot be lost
    server.serve("/flaky", html_page("Flaky story", article_text("flaky")))
    clock.advance(hours=1)
    [report] = await intake.poll_due()
    assert server.hits("/feed.xml")[-1].headers.get("If-None-Match") is None
    assert [a.title for a in report.new] == ["Flaky story"]
    assert [a.title for a in alerted] == ["Flaky story"]
    assert (await feed_of(engine, report.feed_id)).etag == '"e2"'


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ("missing", "answered 404 Not Found"),
        ("error", "answered 500 Internal Server Error"),
        ("html", "web page, not an RSS or Atom feed"),
        ("garbage", "not a readable RSS or Atom feed"),
        ("loop", "redirects in a loop"),
        ("huge", "([fetch] max_bytes)"),
        ("bomb", "briefbot stopped reading"),
        ("hang", "did not answer within 0.5 s"),
        ("private", "loopback address"),
        ("xxe", "XML entities"),
    ],
)
async def test_every_failure_is_recorded_in_health(
        engine: BriefingEngine, intake: Intake, server: LocalWeb, clock: FixedClock,
        route: str, message: str) -> None:
    server.serve_feed("/feed", rss(entries(1)))
    feed, _ = await engine.store.feeds.add_feed(server.url("/feed"), now=clock(),
                                                next_poll_at=clock())
    await intake.poll_due()  # primed while healthy
    feed = await feed_of(engine, feed.id)
    assert feed.primed and feed.consecutive_failures == 0

    if route == "missing":
        server.serve("/feed", "gone", status=404)
    elif route == "error":
        server.serve("/feed", "oops", status=500)
    elif route == "html":
        server.serve("/feed", html_page("Home", "Welcome"))
    elif route == "garbage":
        server.serve("/feed", b"\x00\x01\x02 {not xml", content_type="application/rss+xml")
    elif route == "loop":
        server.redirect("/feed", "/feed2")
        server.redirect("/feed2", "/feed")
    elif route == "huge":
        server.serve("/feed", b"<rss>" + b" " * 1_000_000, content_type="application/rss+xml")
    elif route == "bomb":
        server.serve("/feed", gzip.compress(b"<rss>" + b" " * 20_000_000),
                     content_type="application/rss+xml", headers={"Content-Encoding": "gzip"})
    elif route == "hang":
        server.hang("/feed", 10)
    elif route == "private":  # the default policy: the 127.0.0.1 feed is now refused
        strict = Fetcher(replace(engine.config.fetch, allow_private_networks=False))
        await strict.open()
        await intake.fetcher.close()
        intake.fetcher = strict
    elif route == "xxe":
        server.serve("/feed", '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM '
                     '"http://127.0.0.1:1/x">]><rss version="2.0"><channel><title>&e;</title>'
                     "</channel></rss>", content_type="application/rss+xml")
    before = clock()
    for failures in (1, 2):
        clock.advance(days=1)
        [report] = await intake.poll_due()
        assert report.error is not None and message in report.error
        feed = await feed_of(engine, feed.id)
        assert feed.consecutive_failures == failures
        assert feed.last_error == report.error and feed.last_error_at == clock()
        assert feed.next_poll_at > clock()  # retried later, never disabled
        assert feed.last_success_at is not None and feed.last_success_at < before + \
            timedelta(seconds=1)
    assert await engine.store.articles.count_articles() == 1  # nothing stored was lost
    await intake.fetcher.close()  # the strict one, when swapped in


async def test_backoff_grows_with_jitter_and_recovery_resets(
        engine: BriefingEngine, intake: Intake, server: LocalWeb, clock: FixedClock) -> None:
    rng = random.Random(1)
    interval, cap = timedelta(minutes=30), timedelta(minutes=240)
    delays = [backoff_delay(failures=n, interval=interval, max_backoff=cap, rng=rng)
              for n in range(1, 9)]
    assert all(interval / 2 <= d <= interval for d in delays[:1])
    assert delays[3] > delays[0] and all(d <= cap for d in delays)
    assert all(cap / 2 <= d for d in delays[4:])  # capped, still jittered
    assert backoff_delay(failures=1, interval=interval, max_backoff=cap, rng=rng,
                         retry_after=7200) == timedelta(hours=2)

    server.serve("/feed", "down", status=503)
    feed, _ = await engine.store.feeds.add_feed(server.url("/feed"), now=clock(),
                                                next_poll_at=clock())
    gaps = []
    for _ in range(6):
        [report] = await intake.poll_due()
        assert report.error
        feed = await feed_of(engine, feed.id)
        gaps.append(feed.next_poll_at - clock())
        clock.now = feed.next_poll_at
    assert gaps[-1] > gaps[0] and feed.consecutive_failures == 6
    server.serve_feed("/feed", rss(entries(2)))
    [report] = await intake.poll_due()
    feed = await feed_of(engine, feed.id)
    assert report.error is None and feed.consecutive_failures == 0
    assert feed.last_error is not None  # the last error stays visible in the health record


async def test_feed_add_errors_and_autodiscovery(engine: BriefingEngine, intake: Intake,
                                                 server: LocalWeb) -> None:
    from bot.errors import UserError

    server.serve("/plain-page", html_page("Home", "Welcome"))
    with pytest.raises(UserError, match="names no feed"):
        await intake.add_feed(server.url("/plain-page"))
    with pytest.raises(UserError, match="Only http and https"):
        await intake.add_feed("file:///etc/passwd")
    server.serve_feed("/real.xml", rss(entries(1)))
    server.serve("/blog", html_page("Blog", "Hello", extra_head=(
        '<link rel="alternate" type="application/rss+xml" href="/real.xml">')))
    added = await intake.add_feed(server.url("/blog"))
    assert added.feed.url == server.url("/real.xml") and added.created
    again = await intake.add_feed("feed:" + server.url("/real.xml"))  # old subscribe links
    assert again.feed.id == added.feed.id and not again.created
    assert (await intake.add_feed(server.url("/real.xml").replace("http:", "feed:"))
            ).feed.id == added.feed.id
    assert await engine.store.feeds.list_feeds() == [await feed_of(engine, added.feed.id)]


async def test_poller_service_adds_config_feeds_and_polls(
        make_engine: Callable[..., Any], config: Config, server: LocalWeb) -> None:
    server.serve_feed("/cfg.xml", rss(entries(2)))
    cfg = replace(config, feeds=replace(config.feeds, urls=(server.url("/cfg.xml"),
                                                             "javascript:alert(1)")))
    engine: BriefingEngine = await make_engine(cfg)
    poller = app_of(engine).feeds
    assert poller is not None
    task = asyncio.create_task(poller.run())
    try:
        for _ in range(200):
            if poller.rounds:
                break
            await asyncio.sleep(0.02)
        # commands borrow the running poller's fetcher: one set of connection bounds
        async with poller.borrow_fetcher() as shared, poller.borrow_fetcher() as again:
            assert shared is again
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    async with poller.borrow_fetcher() as own:
        assert own is not shared  # the poller stopped: a fetcher of its own
    [feed] = await engine.store.feeds.list_feeds()
    assert feed.url == server.url("/cfg.xml") and feed.primed
    assert await engine.store.articles.count_articles() == 2


async def test_two_processes_never_poll_one_feed_together(
        make_engine: Callable[..., Any], server: LocalWeb, clock: FixedClock) -> None:
    server.serve_feed("/feed", rss(entries(1)))
    one: BriefingEngine = await make_engine()
    two: BriefingEngine = await make_engine()
    await one.store.feeds.add_feed(server.url("/feed"), now=clock(), next_poll_at=clock())
    async with Fetcher(one.config.fetch) as f1, Fetcher(two.config.fetch) as f2:
        a, b = await asyncio.gather(Intake(feed_kit(one), f1).poll_due(),
                                    Intake(feed_kit(two), f2).poll_due())
    assert len(a) + len(b) == 1
    assert len(server.hits("/feed")) == 1


# -- commands -----------------------------------------------------------------------------


def admin(channel: str = "C1") -> Caller:
    return Caller(platform="slack", user_id="U1", channel_id=channel, is_admin=True)


async def test_feeds_commands(engine: BriefingEngine, server: LocalWeb,
                              alerted: list[Article]) -> None:
    server.serve_feed("/feed.xml", rss(entries(4)))
    member = Caller(platform="slack", user_id="U2", channel_id="C1", admin_hint="a workspace admin")
    reply = await engine.handle_command(f"feeds add {server.url('/feed.xml')}", member)
    assert reply.kind is ReplyKind.ERROR and "workspace admin may add feeds" in reply.text
    assert await engine.store.feeds.list_feeds() == []

    reply = await engine.handle_command(f"feeds add <{server.url('/feed.xml')}>", admin())
    assert not reply.is_error, reply.text
    assert "3 current items stored as backlog, without alerts and outside digests" in reply.text
    [feed] = await engine.store.feeds.list_feeds()
    assert await engine.store.feeds.channel_feed_ids(platform="slack", channel_id="C1") == [feed.id]
    assert alerted == []
    again = await engine.handle_command(f"feeds add {server.url('/feed.xml')}", admin("C2"))
    assert again.text == f"Already following feed #{feed.id}: nothing added; this channel " \
        "follows it now."
    assert await engine.store.feeds.channel_feed_ids(platform="slack", channel_id="C2") == [feed.id]

    listing = await engine.handle_command("feeds", member)
    assert listing.text.startswith("1 feed;")
    assert f"This channel follows #{feed.id}" in listing.text
    [item] = listing.items
    assert item.title == f"#{feed.id} Test Feed" and item.url == server.url("/feed.xml")
    assert any(line.startswith("Last success:") for line in item.summary)
    assert any(line.startswith("Next poll: in") for line in item.summary)

    bad = await engine.handle_command("feeds remove 999", admin())
    assert bad.is_error and "no such feed" in bad.text
    # a channel stops following; the feed goes only when no other channel follows it
    left = await engine.handle_command(f"feeds remove {server.url('/feed.xml')}", admin())
    assert not left.is_error and "no longer follows" in left.text
    assert "1 other channel still follows it" in left.text
    assert await engine.store.feeds.channel_feed_ids(platform="slack", channel_id="C1") == []
    assert [f.id for f in await engine.store.feeds.list_feeds()] == [feed.id]
    stranger = await engine.handle_command(f"feeds remove {feed.id}", admin("C3"))
    # an admin elsewhere cannot delete it for C2, but stops it reaching their channel (issue 14)
    assert not stranger.is_error and "no longer receives articles of feed" in stranger.text
    assert [f.id for f in await engine.store.feeds.list_feeds()] == [feed.id]
    gone = await engine.handle_command(f"feeds remove {server.url('/feed.xml')}", admin("C2"))
    assert not gone.is_error and f"Removed feed #{feed.id}" in gone.text
    assert "It is not polled any more." in gone.text  # and no "Next poll" for it
    assert not any(line.startswith("Next poll") for line in gone.items[0].summary)
    assert item.source is None  # no stray "feed" line under each feed
    assert await engine.store.feeds.list_feeds() == []
    assert await engine.store.articles.count_articles() == 3  # articles stay


async def test_cli_poll_and_feeds(engine: BriefingEngine, server: LocalWeb,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from bot.cli import cmd_feeds, cmd_poll

    assert await cmd_poll(argparse.Namespace(), app_of(engine)) == 0
    assert "No feeds" in capsys.readouterr().out
    server.serve_feed("/feed.xml", rss(entries(1)))
    assert await cmd_feeds(argparse.Namespace(action="add", target=server.url("/feed.xml")),
                           app_of(engine)) == 0
    assert "1 current item stored as backlog" in capsys.readouterr().out
    assert await engine.store.feeds.channel_feed_ids(platform="console", channel_id="console") == []
    server.serve_feed("/feed.xml", rss(entries(2)))
    server.serve("/broken.xml", "nope", status=500)
    await engine.store.feeds.add_feed(server.url("/broken.xml"), now=NOW, next_poll_at=NOW)
    assert await cmd_poll(argparse.Namespace(), app_of(engine)) == 2
    out, err = capsys.readouterr()
    assert "Test Feed: 1 new" in out and "Story 1" in out
    assert "error:" in err and "500 Internal Server Error" in err  # a failed feed: stderr
    assert "1 polled, 1 failed: " in err  # the totals


async def test_backlog_item_retried_later_stays_silent(
        engine: BriefingEngine, intake: Intake, server: LocalWeb, alerted: list[Article],
        clock: FixedClock) -> None:
    items = [Entry(title="Slow page", link=server.url("/slow-page"), text="Teaser.",
                   published=NOW)]
    server.serve_feed("/feed.xml", rss(items))
    server.serve("/slow-page", "busy", status=502)
    added = await intake.add_feed(server.url("/feed.xml"))
    assert added.report is not None and added.report.pending == 1
    server.serve("/slow-page", html_page("Slow page", article_text("slow")))
    clock.advance(hours=1)
    [report] = await intake.poll_due()
    assert [a.title for a in report.new] == ["Slow page"] and report.backlog == 1
    assert alerted == []  # it belonged to the backlog: stored without an alert
    assert report.summary() == "1 stored as backlog, without alerts"


async def test_a_flood_is_taken_in_over_several_polls(
        engine: BriefingEngine, intake: Intake, server: LocalWeb, alerted: list[Article],
        clock: FixedClock) -> None:
    server.serve_feed("/feed.xml", rss(entries(1)), etag='"a"')
    await intake.add_feed(server.url("/feed.xml"))
    intake.config = replace(engine.config,
                            feeds=replace(engine.config.feeds, max_items_per_poll=2))
    server.serve_feed("/feed.xml", rss(entries(6)), etag='"b"')
    titles = []
    for _ in range(3):
        clock.advance(hours=1)
        [report] = await intake.poll_due()
        titles.append([a.title for a in report.new])
    assert titles == [["Story 1", "Story 2"], ["Story 3", "Story 4"], ["Story 5"]]
    assert len(alerted) == 5
    # validators were dropped while items waited, so no 304 hid them
    assert [h.headers.get("If-None-Match") for h in server.hits("/feed.xml")[1:]] == \
        ['"a"', None, None]


async def test_brief_link_to_a_feed_suggests_feeds_add(engine: BriefingEngine,
                                                       server: LocalWeb) -> None:
    server.serve_feed("/feed.xml", rss(entries(1)))
    reply = await engine.handle_command(server.url("/feed.xml"), admin())
    assert reply.is_error and "/brief feeds add" in reply.text


async def test_same_bytes_without_validators_are_not_parsed_again(
        engine: BriefingEngine, intake: Intake, server: LocalWeb, clock: FixedClock) -> None:
    server.serve("/plain.xml", rss(entries(2)), content_type="application/rss+xml")
    added = await intake.add_feed(server.url("/plain.xml"))
    assert (await feed_of(engine, added.feed.id)).body_hash is not None
    clock.advance(hours=1)
    [report] = await intake.poll_due()
    assert report.not_modified and report.error is None
    server.serve("/plain.xml", rss(entries(3)), content_type="application/rss+xml")
    clock.advance(hours=1)
    [report] = await intake.poll_due()
    assert [a.title for a in report.new] == ["Story 2"]


async def test_truncated_feed_with_odd_dates_stores_what_it_can(
        engine: BriefingEngine, intake: Intake, server: LocalWeb, clock: FixedClock) -> None:
    items = [
        Entry(title="From the future", link="http://news.example/f", text=article_text("future"),
              published=NOW + timedelta(days=400)),
        Entry(title="Unreadable date", link="http://news.example/u", text=article_text("odd"),
              raw_date="Tuesday-ish"),
        Entry(title="Cut short", link="http://news.example/c", text=article_text("cut")),
    ]
    xml = rss(items)
    cut = xml[: xml.rindex("<item>") + 60]
    server.serve("/broken.xml", cut, content_type="application/rss+xml")
    added = await intake.add_feed(server.url("/broken.xml"))
    report = added.report
    assert report is not None and report.error is None
    assert {a.title for a in report.new} == {"From the future", "Unreadable date"}
    assert all(a.published_at is None for a in report.new)  # ingest time is shown instead
    feed = await feed_of(engine, added.feed.id)
    assert feed.last_result is not None and "malformed XML" in feed.last_result
    # when the feed is whole again, the item that was cut off is taken in
    server.serve("/broken.xml", xml, content_type="application/rss+xml")
    clock.advance(hours=1)
    [report] = await intake.poll_due()
    assert [a.title for a in report.new] == ["Cut short"]


async def test_a_feed_with_many_items_is_added_without_a_flood(
        engine: BriefingEngine, intake: Intake, server: LocalWeb, alerted: list[Article],
        clock: FixedClock) -> None:
    many = [Entry(title=f"Tiny {i}", link=f"http://spam.example/{i}", guid=f"t{i}",
                  text=article_text(f"tiny{i}"), published=NOW - timedelta(minutes=i))
            for i in range(1500)]
    server.serve("/many.xml", rss(many), content_type="application/rss+xml")
    intake.fetcher.config = replace(intake.fetcher.config, max_bytes=20_000_000)
    added = await intake.add_feed(server.url("/many.xml"))
    assert added.report is not None and added.report.backlog == 3
    counts = await engine.store.feeds.feed_item_counts()
    assert counts[added.feed.id] == {"stored": 3, "backlog": 1497}
    assert alerted == []


async def test_item_pages_that_are_refused_or_gone_are_skipped_not_retried(
        engine: BriefingEngine, intake: Intake, server: LocalWeb) -> None:
    server.redirect("/sneaky", "http://169.254.169.254/latest/meta-data/")
    server.serve("/gone", "no", status=410)
    items = [Entry(title="Sneaky", link=server.url("/sneaky"), text="Short.", published=NOW),
             Entry(title="Gone", link=server.url("/gone"), text="Short.",
                   published=NOW - timedelta(hours=1)),
             Entry(title="Gone but described", link=server.url("/gone?x=2"),
                   text=article_text("described", sentences=4),
                   published=NOW - timedelta(hours=2))]
    server.serve_feed("/feed.xml", rss(items))
    added = await intake.add_feed(server.url("/feed.xml"))
    report = added.report
    assert report is not None and report.pending == 0
    assert [a.title for a in report.new] == ["Gone but described"]  # the feed's own text
    assert sorted(report.skipped) == [
        "Gone: 127.0.0.1 answered 410 Gone.",
        "Sneaky: Refused to fetch from a cloud metadata address; briefbot never fetches "
        "those, whatever the configuration.",
    ]
    counts = await engine.store.feeds.feed_item_counts()
    assert counts[added.feed.id] == {"stored": 1, "skipped": 2}


async def test_an_item_link_with_a_malformed_host_is_skipped_not_a_failed_poll(
        engine: BriefingEngine, intake: Intake, server: LocalWeb) -> None:
    server.serve("/ok", html_page("Fine story", article_text("fine")))
    server.redirect("/to-bad", "http://xn--/x")
    items = [Entry(title="Bad host", link="http://xn--/story", text="Short.", published=NOW),
             Entry(title="Bad hop", link=server.url("/to-bad"), text="Short.",
                   published=NOW - timedelta(minutes=30)),
             Entry(title="Fine", link=server.url("/ok"), text="Short.",
                   published=NOW - timedelta(hours=1))]
    server.serve_feed("/feed.xml", rss(items))
    added = await intake.add_feed(server.url("/feed.xml"))
    report = added.report
    assert report is not None and report.error is None
    assert [a.title for a in report.new] == ["Fine story"]
    assert sorted(report.skipped) == ["Bad hop: That is not a valid link.",
                                      "Bad host: That is not a valid link."]
    feed = await engine.store.feeds.get_feed(added.feed.id)
    assert feed is not None and feed.consecutive_failures == 0


class FlakyIntake(Intake):
    """An extraction bug on one page (the rest of the pipeline is real)."""

    async def read_page(self, url: str) -> ArticleDraft:
        if "/buggy" in url:
            raise RuntimeError("extraction bug")
        return await super().read_page(url)


async def test_a_bug_reading_one_item_page_never_fails_the_feed(
        engine: BriefingEngine, server: LocalWeb) -> None:
    server.serve("/ok", html_page("Fine story", article_text("fine")))
    server.serve("/odd-charset", html_page("Odd label", article_text("odd")).encode(),
                 content_type="text/html; charset=idna")
    items = [Entry(title="Buggy", link=server.url("/buggy"), text="Short.", published=NOW),
             Entry(title="Odd", link=server.url("/odd-charset"), text="Short.",
                   published=NOW - timedelta(minutes=30)),
             Entry(title="Fine", link=server.url("/ok"), text="Short.",
                   published=NOW - timedelta(hours=1))]
    server.serve_feed("/feed.xml", rss(items))
    async with Fetcher(engine.config.fetch) as fetcher:
        intake = FlakyIntake(feed_kit(engine), fetcher, rng=random.Random(7))
        added = await intake.add_feed(server.url("/feed.xml"))
    report = added.report
    assert report is not None and report.error is None
    assert sorted(a.title for a in report.new) == ["Fine story", "Odd label"]
    assert report.pending == 1  # the buggy page is retried at the next polls
    feed = await engine.store.feeds.get_feed(added.feed.id)
    assert feed is not None and feed.consecutive_failures == 0


async def test_links_in_slacks_labelled_form_are_unwrapped(engine: BriefingEngine,
                                                          server: LocalWeb) -> None:
    server.serve_feed("/feed.xml", rss(entries(2)))
    server.serve("/story", html_page("Dam opens", article_text("dam")))
    reply = await engine.handle_command(f"feeds add <{server.url('/feed.xml')}|the feed>",
                                        admin())
    assert not reply.is_error, reply.text
    [feed] = await engine.store.feeds.list_feeds()
    assert feed.url == server.url("/feed.xml")
    reply = await engine.handle_command(f"<{server.url('/story')}|story>", admin())
    assert not reply.is_error, reply.text
    assert reply.items[0].title == "Dam opens"
    gone = await engine.handle_command(f"feeds remove <{server.url('/feed.xml')}|x>", admin())
    assert not gone.is_error, gone.text
    assert await engine.store.feeds.list_feeds() == []


async def test_an_item_page_that_is_binary_text_is_skipped_quietly(
        engine: BriefingEngine, intake: Intake, server: LocalWeb,
        caplog: pytest.LogCaptureFixture) -> None:
    server.serve("/blob.txt", b"\x00\x01\x02binary" * 50, content_type="text/plain")
    items = [Entry(title="Blob", link=server.url("/blob.txt"), text="Short.", published=NOW)]
    server.serve_feed("/feed.xml", rss(items))
    added = await intake.add_feed(server.url("/feed.xml"))
    assert added.report is not None and added.report.pending == 0
    assert added.report.skipped == ("Blob: That link is a binary file, not a web page or text.",)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_cap_text_cuts_at_a_boundary() -> None:
    paragraphs = "\n".join(f"Paragraph {i} says something. And more." for i in range(100))
    capped = cap_text(paragraphs, limit=500)
    assert len(capped) <= 500 and capped.endswith("And more.")
    assert cap_text("short text", limit=500) == "short text"
    assert cap_text("word " * 200, limit=100).endswith("word")


async def test_a_huge_item_is_stored_capped(engine: BriefingEngine, intake: Intake,
                                            server: LocalWeb) -> None:
    huge = "\n".join(article_text(f"huge{i}") for i in range(400))  # ~300,000 characters
    assert len(huge) > MAX_ARTICLE_CHARS
    server.serve_feed("/feed.xml", rss([Entry(title="Huge", link="http://news.example/huge",
                                              text=huge, published=NOW)]))
    intake.fetcher.config = replace(intake.fetcher.config, max_bytes=5_000_000)
    added = await intake.add_feed(server.url("/feed.xml"))
    assert added.report is not None
    [article] = added.report.new
    assert len(article.text) <= MAX_ARTICLE_CHARS
    assert huge.startswith(article.text)


async def test_json_feed_and_utf16_feed_are_added(engine: BriefingEngine, intake: Intake,
                                                  server: LocalWeb) -> None:
    import json

    items = [{"id": f"j{i}", "url": f"http://news.example/json/{i}", "title": f"JSON {i}",
              "content_text": article_text(f"json{i}")} for i in range(2)]
    server.serve("/feed.json", json.dumps({"version": "https://jsonfeed.org/version/1.1",
                                           "title": "JSON news", "items": items}),
                 content_type="application/feed+json")
    added = await intake.add_feed(server.url("/feed.json"))
    assert added.created and added.report is not None and added.report.error is None
    assert added.feed.title == "JSON news"
    wide = rss(entries(2), title="Wide news").replace('encoding="utf-8"', 'encoding="utf-16"')
    server.serve("/wide.xml", wide.encode("utf-16"), content_type="text/xml")
    added = await intake.add_feed(server.url("/wide.xml"))
    assert added.created and added.feed.title == "Wide news"
    assert await engine.store.articles.count_articles() == 4
