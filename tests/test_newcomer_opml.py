"""OPML import and export (issue 16 item 10): a real feed server on 127.0.0.1, a real database."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

import listparser
import pytest
from conftest import app_of
from intake_server import Entry, LocalWeb, article_text, rss

from bot.cli import cmd_feeds
from bot.engine import BriefingEngine
from bot.errors import InputError
from bot.ingest.opml import parse_opml, write_opml

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def server() -> AsyncIterator[LocalWeb]:
    web_ = LocalWeb()
    await web_.start()
    yield web_
    await web_.stop()


def one_entry(name: str) -> list[Entry]:
    return [Entry(title=f"{name} story", link=f"http://news.example/{name}", guid=name,
                  text=article_text(name), published=NOW - timedelta(hours=1))]


def opml(*urls: str, nested: bool = True) -> str:
    outlines = "".join(f'<outline type="rss" text="F{i}" xmlUrl={quoteattr(u)}/>'
                       for i, u in enumerate(urls))
    if nested:
        outlines = f'<outline text="News">{outlines}</outline>'
    return (f'<?xml version="1.0"?><opml version="2.0"><head><title>Mine</title></head>'
            f"<body>{outlines}</body></opml>")


def test_parse_lists_each_feed_once_in_order() -> None:
    feeds = parse_opml(opml("http://a.example/rss", "http://b.example/atom",
                            "http://a.example/rss").encode(), name="x.opml")
    assert [f.url for f in feeds] == ["http://a.example/rss", "http://b.example/atom"]
    assert feeds[0].title == "F0"


@pytest.mark.parametrize(("data", "said"), [
    (b"<rss><channel><title>x</title></channel></rss>", "x.opml is not an OPML file"),
    (b"\x00\x01 garbage", "x.opml is not an OPML file"),
    (b'<opml version="2.0"><body></body></opml>', "x.opml lists no feeds"),
])
def test_parse_refuses_what_is_no_subscription_list(data: bytes, said: str) -> None:
    with pytest.raises(InputError) as err:
        parse_opml(data, name="x.opml")
    assert said in str(err.value)


async def test_import_adds_each_feed_once_with_per_feed_outcome(
        engine: BriefingEngine, server: LocalWeb, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    server.serve_feed("/a.xml", rss(one_entry("alpha")))
    server.serve_feed("/b.xml", rss(one_entry("beta")))
    server.serve("/page", "<html><body>no feed here</body></html>")
    path = tmp_path / "subs.opml"
    path.write_text(opml(server.url("/a.xml"), server.url("/b.xml"), server.url("/page"),
                         "file:///etc/passwd"))
    args = argparse.Namespace(action="import", target=str(path))
    assert await cmd_feeds(args, app_of(engine)) == 2  # two refused
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines() + captured.err.strip().splitlines()
    # piped: one line per feed that names it (refusals on stderr), then the totals
    assert len(lines) == 6
    by_url = {line.split("\t")[0]: line for line in lines}
    assert "\tadded: feed #" in by_url[server.url("/a.xml")]
    assert "1 backlog item" in by_url[server.url("/b.xml")]
    assert "\trefused: " in by_url[server.url("/page")]
    assert "\trefused: " in by_url["file:///etc/passwd"]
    assert "2 added, 2 refused: " in captured.err
    assert "Run the same command again" in captured.err
    feeds = await engine.store.feeds.list_feeds()
    assert sorted(f.url for f in feeds) == sorted([server.url("/a.xml"), server.url("/b.xml")])
    # again: nothing is added twice
    assert await cmd_feeds(args, app_of(engine)) == 2
    assert "0 added, 2 already followed, 2 refused" in capsys.readouterr().err
    assert len(await engine.store.feeds.list_feeds()) == 2


async def test_import_refuses_a_file_that_is_no_opml(engine: BriefingEngine,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text("<rss><channel><title>x</title></channel></rss>")
    with pytest.raises(InputError) as err:
        await cmd_feeds(argparse.Namespace(action="import", target=str(path)), app_of(engine))
    assert "is not an OPML file" in str(err.value)
    with pytest.raises(InputError) as err:
        await cmd_feeds(argparse.Namespace(action="import", target=None), app_of(engine))
    assert "briefbot feeds import FEEDS.opml" in str(err.value)


async def test_export_is_valid_opml_2_that_imports_back(
        engine: BriefingEngine, server: LocalWeb, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    server.serve_feed("/a.xml", rss(one_entry("alpha")))
    await cmd_feeds(argparse.Namespace(action="add", target=server.url("/a.xml")), app_of(engine))
    await engine.store.feeds.add_feed("http://b.example/feed?x=1&y=<2>", now=NOW,
                                      next_poll_at=NOW)
    capsys.readouterr()
    out = tmp_path / "out.opml"
    app = app_of(engine)
    assert await cmd_feeds(argparse.Namespace(action="export", target=str(out)), app) == 0
    assert "Exported 2 feeds" in capsys.readouterr().err
    root = ET.fromstring(out.read_bytes())
    assert root.tag == "opml" and root.get("version") == "2.0"
    head, body = root.find("head"), root.find("body")
    assert head is not None and body is not None
    assert head.findtext("title") and head.findtext("dateCreated", "").endswith("GMT")
    outlines = body.findall("outline")
    assert all(o.get("text") and o.get("type") == "rss" for o in outlines)  # spec: text required
    assert {o.get("xmlUrl") for o in outlines} == {server.url("/a.xml"),
                                                  "http://b.example/feed?x=1&y=<2>"}
    back = listparser.parse(out.read_bytes())
    assert back.version == "opml2" and len(back.feeds) == 2
    # standard output when no file is named
    assert await cmd_feeds(argparse.Namespace(action="export", target=None), app_of(engine)) == 0


def test_write_opml_with_no_feeds_is_still_a_document() -> None:
    root = ET.fromstring(write_opml([], now=NOW))
    assert root.find("body") is not None and root.find("body/outline") is None
