"""Issue 14 hardening: the holes an attacker found, each with the test that caught it."""

from __future__ import annotations

import argparse
import ipaddress
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import alerts_of, app_of

from adapters.discord_render import render_messages
from adapters.slack_blocks import item_blocks
from bot.app import digest_kit
from bot.cli import cmd_ingest, main
from bot.commands import core
from bot.commands.router import Commands
from bot.config import BriefConfig
from bot.digests.build import digest_now
from bot.engine import BriefingEngine
from bot.ingest.fetch import address_problem
from bot.ingest.urls import canonical_url
from bot.models import ArticleDraft, Caller, Destination, Item
from tests.conftest import run_sql

SAMPLE = (Path(__file__).resolve().parent.parent / "samples"
          / "2022-05-31-us-rocket-systems-ukraine.txt")


@pytest.mark.parametrize("address", ["169.254.170.23", "fd00:ec2::23", "fd20:ce::254",
                                     "169.254.169.254", "169.254.170.2", "fd00:ec2::254"])
@pytest.mark.parametrize("allow_private", [False, True])
def test_metadata_endpoints_are_never_fetched(address: str, allow_private: bool) -> None:
    ip = ipaddress.ip_address(address)
    everything = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    assert address_problem(ip, allow_private=allow_private) == "a cloud metadata address"
    assert address_problem(ip, allow_private=allow_private,
                           allowed=everything) == "a cloud metadata address"


@pytest.mark.parametrize(("url", "canonical"), [
    ("http://[2001:db8::1]/f", "http://[2001:db8::1]/f"),
    ("HTTP://[2001:DB8::1]:8080/f?utm_source=x&a=1", "http://[2001:db8::1]:8080/f?a=1"),
    ("https://[::1]:443/", "https://[::1]/"),
    ("http://Example.COM:80/a", "http://example.com/a"),
])
def test_canonical_url_keeps_ipv6_brackets(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


# -- every numeric argument is range-checked ------------------------------------------------

ADMIN = Caller(platform="console", user_id="U1", channel_id="C1", is_admin=True)
HUGE = "99999999999999999999"


@pytest.mark.parametrize("text", [
    f"feeds remove {HUGE}", f"feeds remove #{HUGE}", "feeds remove 9223372036854775808",
    f"unsubscribe {HUGE}", f"alerts resume {HUGE}", f"alerts pause {HUGE}", HUGE, f"#{HUGE}",
    "feeds remove 0", "feeds remove -1", "unsubscribe 0", "#0", "digest 99:99",
    f"digest {HUGE}", f"alerts test {HUGE}",
])
async def test_numeric_arguments_out_of_range_are_user_errors(
        engine: BriefingEngine, text: str) -> None:
    reply = await engine.handle_command(text, ADMIN)
    assert "something went wrong" not in reply.text, text
    if reply.is_error:
        assert len(reply.text) < 300


@pytest.mark.parametrize(("args", "message"), [
    (["summarize", str(SAMPLE), "--sentences", HUGE], "--sentences must be at most 20"),
    (["summarize", str(SAMPLE), "-n", "21"], "--sentences must be at most 20"),
    (["summarize", "--jsonl", "-", "--workers", HUGE], "--workers must be at most 32"),
    (["summarize", "--jsonl", "-", "--workers", "33"], "--workers must be at most 32"),
])
def test_cli_numbers_are_range_checked(capsys: pytest.CaptureFixture[str], args: list[str],
                                       message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# -- /brief word:word is a search, not a link ------------------------------------------------

# classifying reads nothing: core's verbs registered without a store
NO_READING = core.Reading(articles=None, brief=BriefConfig(), language="auto")  # type: ignore[arg-type]


def classify(text: str) -> tuple[str, str]:
    commands = Commands()
    core.register(commands, reading=NO_READING)
    return commands.classify(text)


@pytest.mark.parametrize("text", ["title:rocket", "topic:ukraine", "re:rocket", "C:drive"])
def test_word_colon_word_is_searched(text: str) -> None:
    assert classify(text) == ("words", text)


@pytest.mark.parametrize("text", ["javascript:alert(1)", "file:///etc/passwd",
                                  "ftp://example.com/x", "data:text/html,hi",
                                  "https://example.com/a", "HTTP://example.com"])
def test_links_of_any_scheme_are_still_links(text: str) -> None:
    assert classify(text)[0] == "link"


async def test_brief_title_rocket_searches(engine: BriefingEngine) -> None:
    await engine.ingest(ArticleDraft(text="Rocket systems were sent to the front on Tuesday."))
    reply = await engine.handle_command("title:rocket", ADMIN)
    assert not reply.is_error, reply.text
    assert reply.text.startswith(("Nothing found", "Briefing on"))


# -- seen signed requests: a short-lived, shared record ---------------------------------------

async def test_seen_requests_are_refused_until_they_expire_then_forgotten(
        engine: BriefingEngine) -> None:
    t0 = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
    later = t0 + timedelta(minutes=6)
    first = engine.first_sight_of_request
    assert await first("slack:v0=aa", now=t0, expires_at=later)
    assert not await first("slack:v0=aa", now=t0 + timedelta(minutes=5), expires_at=later)
    assert await first("slack:v0=bb", now=t0, expires_at=later)
    # once expired, rows are deleted on the next write: the table holds one window's traffic
    assert await first("slack:v0=cc", now=later + timedelta(seconds=1),
                       expires_at=later + timedelta(minutes=6))
    rows = await run_sql(engine.store, "SELECT key FROM seen_requests ORDER BY key")
    assert [r[0] for r in rows] == ["slack:v0=cc"]


# -- permissions: DMs own themselves; an admin can stop anything delivered into a channel ------

SLACK_ADMIN = Caller(platform="slack", user_id="UADMIN", channel_id="C1", is_admin=True)
SLACK_DM = Caller(platform="slack", user_id="UUSER", channel_id="D1", is_admin=True, in_dm=True)


async def _feed_followed_elsewhere(engine: BriefingEngine) -> int:
    feed, _ = await engine.store.feeds.add_feed("https://elsewhere.example/rss",
                                                now=engine.clock(), next_poll_at=engine.clock())
    await engine.store.feeds.link_channel_feed(platform="slack", channel_id="COTHER",
                                               feed_id=feed.id)
    return feed.id


@pytest.mark.parametrize("text", ["feeds add https://news.example/rss",
                                  "feeds remove 1", "feeds remove https://news.example/rss"])
async def test_feeds_are_never_changed_from_a_dm(engine: BriefingEngine, text: str) -> None:
    await _feed_followed_elsewhere(engine)
    reply = await engine.handle_command(text, SLACK_DM)
    assert reply.is_error and "direct message" in reply.text, reply.text
    assert len(await engine.store.feeds.list_feeds()) == 1


async def test_a_dm_has_its_own_digest_and_alerts(engine: BriefingEngine) -> None:
    digest = await engine.handle_command("digest 08:00 UTC", SLACK_DM)
    assert not digest.is_error, digest.text
    sub = await engine.handle_command("subscribe rocket", SLACK_DM)
    assert not sub.is_error, sub.text


async def test_an_admin_stops_a_feed_followed_elsewhere_reaching_their_channel(
        engine: BriefingEngine) -> None:
    feed_id = await _feed_followed_elsewhere(engine)
    for channel in ("C1", "COTHER"):
        admin = replace(SLACK_ADMIN, channel_id=channel)
        assert not (await engine.handle_command("subscribe channel rocket", admin)).is_error
    article = await engine.store.articles.add_article(
        ArticleDraft(text="Rocket systems were sent on Tuesday.", title="Rocket systems sent",
                     feed_id=feed_id, url="https://elsewhere.example/1"),
        title="Rocket systems sent", summary=("Rocket systems were sent on Tuesday.",),
        content_hash="h1", canonical_url="https://elsewhere.example/1",
        ingested_at=engine.clock())
    assert article is not None

    removed = await engine.handle_command(f"feeds remove {feed_id}", SLACK_ADMIN)
    assert not removed.is_error, removed.text
    assert "no longer receives" in removed.text
    assert len(await engine.store.feeds.list_feeds()) == 1  # still polled for COTHER

    here, _ = await digest_now(digest_kit(engine), destination=Destination(platform="slack",
                                                               channel_id="C1"), post=False)
    there, _ = await digest_now(digest_kit(engine), destination=Destination(platform="slack",
                                                                channel_id="COTHER"), post=False)
    assert here is None or not here.items
    assert there is not None and [i.title for i in there.items] == ["Rocket systems sent"]

    await alerts_of(engine).match_article(article)
    rows = await run_sql(engine.store, "SELECT s.owner_id FROM alerts a"
                         " JOIN subscriptions s ON s.id = a.subscription_id")
    assert [r[0] for r in rows] == ["COTHER"]
    listed = await engine.handle_command("feeds", SLACK_ADMIN)
    assert f"no articles of #{feed_id}" in listed.text
    # following it again here lifts the refusal
    await engine.store.feeds.link_channel_feed(platform="slack", channel_id="C1",
                                               feed_id=feed_id)
    assert await engine.store.feeds.channel_muted_feed_ids(platform="slack",
                                                           channel_id="C1") == []


# -- control characters and bidi overrides ----------------------------------------------------

_HOSTILE_TITLE = "\x1b]0;pwned\x07Invoice \u202egnp.exe\x1b[2J"
_HOSTILE_TEXT = ("Rockets \x1b[31mred\x1b[0m were sent\x07 on Tuesday to the front line. " * 3
                 + "\r\n\r\n"
                 + "Officials \x9b2J confirmed the \u202eshipment\u202c on Wednesday evening. " * 5)


def _no_controls(value: str, *, newlines: bool = True) -> bool:
    allowed = "\n\t" if newlines else ""
    return not any((ord(c) < 32 and c not in allowed) or 0x7F <= ord(c) <= 0x9F for c in value)


async def test_controls_are_stripped_from_everything_taken_in(engine: BriefingEngine) -> None:
    result = await engine.ingest(ArticleDraft(text=_HOSTILE_TEXT, title=_HOSTILE_TITLE,
                                              author="Ann\x00 Lee", source="wire\x85service"))
    a = await engine.store.articles.get_article(result.article.id)
    assert a is not None
    assert _no_controls(a.text) and "\n" in a.text  # the paragraph break is kept
    assert "[31m" not in a.text and "2J" not in a.text
    for line in (a.title, a.author or "", a.source or "", *a.summary):
        assert _no_controls(line, newlines=False), repr(line)
    assert a.title.startswith("Invoice") and "pwned" not in a.title


async def test_bidi_overrides_are_neutralised_in_what_chat_shows(engine: BriefingEngine) -> None:
    await engine.store.articles.add_article(   # stored before this fix: shown neutralised anyway
        ArticleDraft(text="x", title="Invoice \u202egnp.exe"), title="Invoice \u202egnp.exe",
        summary=("Pay \u2066now\u2069 or \u202blose\u202c it.",), content_hash="bidi",
        canonical_url=None, ingested_at=engine.clock())
    reply = await engine.handle_command("", ADMIN)
    [item] = reply.items
    bidi = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert not bidi & set(item.title) and not bidi & set("".join(item.summary))
    assert item.title == "Invoice gnp.exe"
    echo = await engine.handle_command("\u202erocket\x1b[2J", ADMIN)
    assert not bidi & set(echo.text) and "\x1b" not in echo.text


def test_briefbot_ingest_and_brief_print_no_escape_sequence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An HTML page whose title sets the operator's terminal title and clears the screen."""
    body = "<p>" + "Rockets \x1b[31mred\x1b[0m were sent on Tuesday as officials said. " * 4
    page = tmp_path / "hostile.html"
    page.write_text(f"<html><head><title>{_HOSTILE_TITLE}</title></head><body><article>"
                    f"<h1>{_HOSTILE_TITLE}</h1>{(body + '</p>') * 3}</article></body></html>",
                    encoding="utf-8")
    db = str(tmp_path / "cli.db")
    assert main(["--db", db, "ingest", str(page)]) == 0
    assert main(["--db", db, "brief"]) == 0
    out = capsys.readouterr()
    printed = out.out + out.err
    assert "Invoice" in printed
    for leftover in ("\x1b", "\x07", "pwned", "[2J", "[31m"):
        assert leftover not in printed, leftover


# -- what a user or an article wrote is shown as text -------------------------------------------

async def test_echoed_words_carry_no_markdown_or_masked_link(engine: BriefingEngine) -> None:
    await engine.ingest(ArticleDraft(text="Rocket systems were sent to the front on Tuesday."))
    typed = "[Verify your account](https://evil.example) *urgent* ~old~ `code` ||x||"
    reply = await engine.handle_command(f"{typed} public", ADMIN)
    assert not reply.is_error and not reply.ephemeral
    for markup in ("](", "*urgent*", "~old~", "`code`", "||x||"):
        assert markup not in reply.text, markup
    assert "Verify your account" in reply.text  # still readable
    content = render_messages(reply)[0].content or ""
    assert "](" not in content and "*urgent*" not in content


def test_slack_shows_article_markup_as_text() -> None:
    item = Item(title="*Bold* claim in `code` and ~struck~ _italic_", url="https://news.example/a",
                source="*wire*", summary=("It was *not* `rm -rf` ~done~.",))
    blocks = item_blocks(item)
    texts = [b["text"]["text"] if "text" in b else b["elements"][0]["text"] for b in blocks]
    shown = "\n".join(texts)
    for markup in ("*Bold*", "`code`", "~struck~", "_italic_", "*not*", "`rm -rf`", "~done~",
                   "*wire*"):
        assert markup not in shown, markup
    assert texts[0].startswith("*<https://news.example/a|") and texts[0].endswith(">*")


# -- a full disk during `briefbot ingest` ---------------------------------------------------------

async def test_a_full_database_is_one_line_per_file_and_the_totals_say_what_was_stored(
        engine: BriefingEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        backend: str) -> None:
    """SQLITE_FULL for real: a real database file whose writer may not grow past a few pages
    (``PRAGMA max_page_count``, what a full disk looks like to SQLite)."""
    if backend != "sqlite":
        pytest.skip("SQLITE_FULL is SQLite's own failure")
    # an earlier test's `main()` left briefbot's handler on a capture stream that is closed now
    root = logging.getLogger()
    stale = [h for h in root.handlers if h.get_name() == "briefbot"]
    for handler in stale:
        root.removeHandler(handler)
    paths = []
    for n in range(6):
        path = tmp_path / f"article{n}.txt"
        sentences = " ".join(f"Story {n} sentence {i} tells of rockets number {n * 100 + i} "
                             f"sent to the front on day {i}." for i in range(120))
        path.write_text(f" date 2022-05-{10 + n} {sentences}", encoding="utf-8")
        paths.append(str(path))
    assert (await engine.ingest_file(paths[0])).created
    writer = engine.store.db.writer
    [(pages,)] = await writer.execute_fetchall("PRAGMA page_count")
    await writer.execute(f"PRAGMA max_page_count = {pages + 8}")
    capsys.readouterr()

    rc = await cmd_ingest(argparse.Namespace(paths=paths[1:]), app_of(engine))
    out = capsys.readouterr()
    printed = out.out + out.err
    assert "Traceback" not in printed and "OperationalError" not in printed
    failures = [line for line in out.err.splitlines() if line.startswith("briefbot: not stored")]
    assert failures, printed
    assert all("the database is full" in line for line in failures)
    stored = [line for line in out.out.splitlines() if line.endswith("(stored)")]
    assert len(stored) + len(failures) == 5
    assert rc == 1
    totals = out.err.strip().splitlines()[-1]
    assert f"{len(failures)} not stored" in totals and f"{len(stored)} stored" in totals

    # nothing stored was lost, and once there is room the same command stores the rest
    assert await engine.store.articles.count_articles() == 1 + len(stored)
    await writer.execute("PRAGMA max_page_count = 1073741823")
    assert await cmd_ingest(argparse.Namespace(paths=paths), app_of(engine)) == 0
    assert await engine.store.articles.count_articles() == 6
