"""Feed documents as real servers send them: a byte-order mark that must win over
``text/xml``'s US-ASCII default, JSON Feed 1.0 and 1.1, and DTDs with a harmless internal
entity (read) or a dangerous one (refused)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.ingest.feeds import NotAFeed, bom_to_utf8, parse_feed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

RSS = ('<?xml version="1.0" encoding="{enc}"?>\n<rss version="2.0"><channel>'
       "<title>Zeitung für Münster</title><link>http://zeitung.example/</link>"
       "<item><title>Straßenfest am Prinzipalmarkt</title>"
       "<link>http://zeitung.example/2026/strassenfest</link>"
       "<description>Tausende Besucher kamen zum Straßenfest.</description></item>"
       "</channel></rss>")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-32-le", "utf-32-be", "utf-8-sig"])
def test_a_byte_order_mark_wins_over_text_xml(encoding: str) -> None:
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff", "utf-32-le": b"\xff\xfe\x00\x00",
           "utf-32-be": b"\x00\x00\xfe\xff"}.get(encoding, b"")
    body = bom + RSS.format(enc=encoding.removesuffix("-sig")).encode(encoding)
    parsed = parse_feed(body, url="http://zeitung.example/rss", content_type="text/xml",
                        now=NOW)
    assert parsed.title == "Zeitung für Münster"
    assert [e.title for e in parsed.entries] == ["Straßenfest am Prinzipalmarkt"]
    assert parsed.entries[0].text == "Tausende Besucher kamen zum Straßenfest."
    assert parsed.malformed is None


def test_bom_transcoding_rewrites_the_declaration() -> None:
    out, changed = bom_to_utf8(RSS.format(enc="UTF-16").encode("utf-16"))
    assert changed and out.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert bom_to_utf8(b"<rss/>") == (b"<rss/>", False)


# The shape of a public broadcaster's JSON Feed 1.0 (authors as one object, summary and
# content_html, an external_url) and a 1.1 feed (authors list, content_text, numeric id).
JSON_FEED_10 = {
    "version": "https://jsonfeed.org/version/1",
    "title": "News : NPR",
    "home_page_url": "https://www.npr.org/sections/news/",
    "feed_url": "https://feeds.npr.org/1001/feed.json",
    "author": {"name": "NPR"},
    "items": [
        {"id": "https://www.npr.org/2026/02/28/1/rain",
         "url": "https://www.npr.org/2026/02/28/1/rain?utm_source=feed",
         "title": "Heavy rain floods the valley",
         "summary": "Rivers rose overnight.",
         "content_html": "<p>Rivers rose overnight across the valley.</p><p>Roads closed.</p>",
         "date_published": "2026-02-28T10:00:00-05:00",
         "author": {"name": "Jane Reporter"}},
        {"id": "tag:npr.org,2026:2", "external_url": "https://example.org/report",
         "content_text": "A report on schools.\nIt says more teachers are needed.",
         "date_modified": "2026-02-27T08:00:00Z"},
    ],
}
JSON_FEED_11 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Tiny blog",
    "authors": [{"name": "Blogger"}],
    "items": [{"id": 42, "content_text": "Only text, no link, no title.",
               "date_published": "2099-01-01T00:00:00Z"}],
}


def test_json_feed_1_0() -> None:
    body = json.dumps(JSON_FEED_10).encode()
    parsed = parse_feed(body, url="https://feeds.npr.org/1001/feed.json",
                        content_type="application/json", now=NOW)
    assert parsed.title == "News : NPR"
    assert parsed.site_url == "https://www.npr.org/sections/news/"
    first, second = parsed.entries
    assert first.title == "Heavy rain floods the valley"
    assert first.key == "https://www.npr.org/2026/02/28/1/rain"  # tracking dropped
    assert first.text == "Rivers rose overnight across the valley.\nRoads closed."
    assert first.author == "Jane Reporter"
    assert first.published_at == datetime(2026, 2, 28, 15, 0, tzinfo=UTC)
    assert second.title is None and second.link == "https://example.org/report"
    assert second.author == "NPR"  # the feed's author when the item names none
    assert second.text == "A report on schools.\nIt says more teachers are needed."


def test_json_feed_1_1_is_recognised_without_a_json_label() -> None:
    body = json.dumps(JSON_FEED_11, indent=1).encode()
    parsed = parse_feed(body, url="https://blog.example/feed", content_type="text/plain",
                        now=NOW)
    (entry,) = parsed.entries
    assert entry.key == "guid:42" and entry.author == "Blogger"
    assert entry.published_at is None  # far in the future: ignored, as in RSS


def test_json_that_is_no_feed_is_refused_with_a_json_message() -> None:
    with pytest.raises(NotAFeed, match="JSON document, but not a JSON Feed"):
        parse_feed(b'{"version": "1", "items": []}', url="http://x.org/f",
                   content_type="application/json", now=NOW)
    with pytest.raises(NotAFeed, match="not valid JSON"):
        parse_feed(b'{"version": ', url="http://x.org/f", content_type="application/json",
                   now=NOW)


def test_a_plain_internal_entity_is_read() -> None:
    doc = ('<?xml version="1.0"?>\n<!DOCTYPE feed [\n<!ENTITY id "tag:example.com,">\n]>\n'
           '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
           "<entry><id>&id;2005:1</id><title>One</title><summary>Text one.</summary></entry>"
           "</feed>")
    parsed = parse_feed(doc.encode(), url="http://example.com/atom", content_type="text/xml",
                        now=NOW)
    assert [e.guid for e in parsed.entries] == ["tag:example.com,2005:1"]


@pytest.mark.parametrize("dtd", [
    '<!ENTITY x SYSTEM "file:///etc/passwd">',
    '<!ENTITY x PUBLIC "-//X//EN" "http://evil.example/x.dtd">',
    '<!ENTITY % p "x"><!ENTITY x "y">',
    '<!ENTITY a "ha"><!ENTITY x "&a;&a;&a;">',
])
def test_external_parameter_and_expanding_entities_are_refused(dtd: str) -> None:
    doc = (f'<?xml version="1.0"?><!DOCTYPE rss [{dtd}]><rss version="2.0"><channel>'
           "<title>&x;</title></channel></rss>")
    with pytest.raises(NotAFeed, match="XML entities"):
        parse_feed(doc.encode(), url="http://x.org/f", now=NOW)


FEEDPARSER = __import__("pathlib").Path(__file__).parent / "data" / "feedparser"


@pytest.mark.parametrize("name", ["utf-16le-bom.xml", "utf-32be-bom.xml"])
def test_feedparser_bom_documents_served_as_text_xml(name: str) -> None:
    parsed = parse_feed((FEEDPARSER / name).read_bytes(), url="http://example.com/feed",
                        content_type="text/xml", now=NOW)
    assert parsed.malformed is None and parsed.entries == ()


def test_feedparser_utf16_without_bom_is_still_read_from_its_declaration() -> None:
    parsed = parse_feed((FEEDPARSER / "utf-16be.xml").read_bytes(),
                        url="http://example.com/feed", content_type="application/xml", now=NOW)
    assert parsed.malformed is None


def test_feedparser_internal_entity_in_doctype() -> None:
    parsed = parse_feed((FEEDPARSER / "entity_in_doctype.xml").read_bytes(),
                        url="http://example.com/feed", content_type="text/xml", now=NOW)
    assert [e.guid for e in parsed.entries] == ["tag:example.com,2006-05-04:/blog/"]
