"""RSS 0.9x/1.0/2.0, Atom and JSON Feed documents -> a list of :class:`FeedEntry`, safely.

feedparser reads every XML dialect and survives broken XML, but the document comes from a
stranger: external entities must never be fetched and entity expansion never explode.
feedparser already turns off external general entities; a document that declares entities is
first read up to its root element with expat, and refused if it declares an external, a
parameter or an expanding entity (one whose value refers to another). A plain internal entity
(``<!ENTITY id "tag:example.com,">``) is harmless and read. A byte-order mark wins over the
RFC 3023 default (``text/xml`` without a charset is US-ASCII): a UTF-16 or UTF-32 document with
a BOM is read in the encoding the BOM names, and one without a BOM in the encoding its first
``<`` shows (XML 1.0, appendix F). JSON Feed 1.0 and 1.1 (jsonfeed.org) are read
here, not by feedparser. Parsing is CPU-bound: run :func:`parse_feed` off the event loop.

Each entry gets a ``key``, its identity within the feed: the canonical link, else the guid,
else a hash of title and text. The key, not the date or the guid, says whether an item was
seen before, so an edited item (new date, new guid) is not news again.
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import io
import json
import re
import time
import xml.parsers.expat
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import lxml.etree
import lxml.html

from bot.errors import InputError
from bot.ingest.html import parse_date
from bot.ingest.pages import known_codec
from bot.ingest.urls import absolute_http_url, canonical_url
from bot.sanitize import strip_controls

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_HTML_START = re.compile(rb"\A(?:\s|<\?[^>]*\?>|<!--.*?-->)*<(?:!doctype\s+html|html)\b",
                         re.IGNORECASE | re.DOTALL)
_CLOSING = re.compile(rb"</(?:[a-z0-9_]+:)?(?:rss|feed|RDF)>", re.IGNORECASE)
_BLOCKS = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
                     "pre", "tr", "section", "article", "figure", "figcaption", "dd", "dt"})
# A date further ahead than this is wrong (a time zone slip is smaller); it is ignored.
FUTURE_SLACK = timedelta(hours=26)


class NotAFeed(InputError):
    """The document is no RSS or Atom feed; ``is_html`` when it is a web page."""

    def __init__(self, message: str, *, is_html: bool = False) -> None:
        super().__init__(message)
        self.is_html = is_html


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEntry:
    key: str                 # identity within the feed (see the module docstring)
    link: str | None         # absolute http(s) link to the article, if any
    guid: str | None
    title: str | None
    author: str | None
    published_at: datetime | None
    text: str                # plain text of the item's content (or summary)
    position: int            # order in the document, 0 = first
    language: str | None = None  # the language tag the feed declares for it ("de-de")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedFeed:
    title: str | None
    site_url: str | None
    entries: tuple[FeedEntry, ...]
    malformed: str | None    # why the XML was not well-formed, when entries were still read
    duplicate_guids: frozenset[str]  # guids shared by several items: not trusted as identity


def html_fragment_text(fragment: str) -> str:
    """Plain text of an HTML fragment (feed content), one paragraph a line."""
    fragment = strip_controls(fragment)  # whole escape sequences, before lxml drops their ESC
    if "<" not in fragment and "&" not in fragment:
        return "\n".join(line.strip() for line in fragment.splitlines() if line.strip())
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return fragment.strip()
    for bad in root.xpath(".//script|.//style"):
        bad.drop_tree()
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() in _BLOCKS:
            el.tail = "\n" + (el.tail or "")
            if el.tag.lower() != "br":
                el.text = "\n" + (el.text or "")
    text = root.text_content()
    lines = (re.sub(r"\s+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


class _PrologDone(Exception):
    """Raised by the expat handler at the root element: the DTD has been read."""


_ENTITY_ERROR = ("The feed declares XML entities that refer to other entities or to outside "
                 "files, which briefbot does not expand (a possible XML attack); it was not read.")
_MAX_ENTITY_CHARS = 10_000


def _check_entities(body: bytes) -> None:
    """Refuse documents declaring external, parameter or expanding entities (XXE, billion
    laughs); plain internal entities pass (feedparser expands them)."""
    if not _DOCTYPE.search(body[:65_536]):
        return
    refused: list[str] = []

    def entity_decl(name: str, is_parameter: bool, value: str | None, base: str | None,
                    system_id: str | None, public_id: str | None,
                    notation: str | None) -> None:
        if (is_parameter or system_id or public_id or notation or value is None
                or "&" in value or "%" in value or len(value) > _MAX_ENTITY_CHARS):
            refused.append(name)

    def start(name: str, attrs: Any) -> None:
        raise _PrologDone

    parser = xml.parsers.expat.ParserCreate()
    parser.EntityDeclHandler = entity_decl
    parser.StartElementHandler = start
    try:
        parser.Parse(body, True)
    except _PrologDone:
        pass
    except (xml.parsers.expat.ExpatError, ValueError):
        pass  # not well-formed: feedparser's lenient parser reads it, expanding nothing
    if refused:
        raise NotAFeed(_ENTITY_ERROR)


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))
_XML_DECL_ENCODING = re.compile(rb"\A(<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2")


# Without a BOM, the first "<" in UTF-16 or UTF-32 still names the encoding (XML 1.0,
# appendix F): no label, RFC 3023's US-ASCII default included, can make it ASCII.
_WIDE_STARTS = ((b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
                (b"\x00<", "utf-16-be"), (b"<\x00", "utf-16-le"))


def bom_to_utf8(body: bytes) -> tuple[bytes, bool]:
    """A document with a byte-order mark, or in UTF-16/UTF-32 as its first ``<`` shows, as
    UTF-8 without a BOM (its XML declaration saying so); ``(body, False)`` for any other.
    Undecodable bytes become U+FFFD."""
    for bom, name in _BOMS:  # UTF-32 LE first: its BOM starts with UTF-16 LE's
        if body.startswith(bom):
            return _to_utf8(body[len(bom):], name), True
    for start, name in _WIDE_STARTS:
        if body.startswith(start):
            return _to_utf8(body, name), True
    return body, False


def _to_utf8(body: bytes, codec: str) -> bytes:
    out = body.decode(codec, errors="replace").encode("utf-8")
    return _XML_DECL_ENCODING.sub(rb'\1"utf-8"', out, count=1)


_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")


def _checked_char_ref(match: re.Match[bytes]) -> bytes:
    hexa, dec = match.groups()
    value = int(hexa, 16) if hexa else int(dec)
    return match.group() if value <= 0x10FFFF else b"&#xFFFD;"


def _struct_to_dt(value: Any) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _entry_language(entry: Any, feed: Any) -> str | None:
    """The item's declared language: its content's ``xml:lang``, else the feed's."""
    for detail in [*(entry.get("content") or ()), entry.get("summary_detail") or {},
                   entry.get("title_detail") or {}]:
        value = detail.get("language") if isinstance(detail, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()[:35]
    value = feed.get("language")
    return value.strip()[:35] if isinstance(value, str) and value.strip() else None


def _entry_text(entry: Any) -> str:
    best = ""
    for content in entry.get("content") or ():
        value = content.get("value") or ""
        if len(value) > len(best):
            best = value
    summary = entry.get("summary") or ""
    if len(summary) > len(best):
        best = summary
    return html_fragment_text(best) if best else ""


def _clean(value: Any, limit: int = 500) -> str | None:
    if not isinstance(value, str):
        return None
    value = re.sub(r"\s+", " ", value).strip()
    return value[:limit] or None


_MARKUP_HINT = re.compile(r"<[A-Za-z/!]|&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")


def _clean_text(value: Any, limit: int = 500, *, literal: bool = False) -> str | None:
    """A title or name as plain text: feeds send them as HTML often ("<i>Dune</i> review",
    "Caf&eacute;", RSS double-escaping), so tags are dropped and entities decoded; ``literal``
    (an Atom ``type="text"`` title) is text as it stands."""
    if not literal and isinstance(value, str) and _MARKUP_HINT.search(value):
        value = html_fragment_text(value).replace("\n", " ")
    return _clean(value, limit)


def _is_text(node: Any, key: str) -> bool:
    """Whether the document says ``key`` is plain text (Atom ``type="text"``)."""
    detail = node.get(f"{key}_detail") or {}
    return bool(detail.get("type") == "text/plain")


def _link(entry: Any, base: str) -> str | None:
    guid = entry.get("id")
    link = entry.get("link")
    # An RSS guid counts as the item's permalink by default, and feedparser then offers it as
    # the link: only an absolute URL is one ("12345" is no link to ``base``/12345).
    from_guid = bool(entry.get("guidislink")) and link == guid
    candidates = [] if from_guid else [link]
    candidates += [ln.get("href") for ln in entry.get("links") or ()
                   if ln.get("rel") == "alternate"]
    if isinstance(guid, str) and guid.strip().lower().startswith(("http://", "https://")):
        candidates.append(guid)
    for candidate in candidates:
        if not isinstance(candidate, str) or not candidate.strip():
            continue
        absolute = absolute_http_url(base, candidate)
        if absolute is not None:
            return absolute
    return None


def parse_feed(body: bytes, *, url: str, content_type: str = "", charset: str | None = None,
               now: datetime) -> ParsedFeed:
    """The entries of a feed document; :class:`NotAFeed` when it is none."""
    if not body.strip():
        raise NotAFeed("The feed is empty.")
    body, transcoded = bom_to_utf8(body)
    if transcoded:
        charset = "utf-8"  # the byte-order mark wins over a label (and RFC 3023's default)
    if is_json_feed(body, content_type=content_type):
        return parse_json_feed(body, url=url, now=now)
    _check_entities(body)
    # No content-location: feedparser would resolve every guid against the feed's URL as if
    # it were a link; links are made absolute in _link instead.
    headers: dict[str, str] = {}
    if content_type or transcoded:
        content_type = content_type or "application/xml"
        charset = known_codec(charset)  # never a label feedparser cannot decode with
        headers["content-type"] = content_type + (f"; charset={charset}" if charset else "")
    # a character reference beyond Unicode ("&#xFFFFFF;") crashes feedparser's lenient
    # parser: it becomes U+FFFD, and the rest of the feed is read
    body = _CHAR_REF.sub(_checked_char_ref, body)
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers,
                                  sanitize_html=True, resolve_relative_uris=True)
    except (LookupError, UnicodeError) as exc:  # a document declaring an unusable encoding
        raise NotAFeed("The feed declares a character encoding briefbot cannot read.") from exc
    except ValueError as exc:  # e.g. a NUL inside the XML declaration
        raise NotAFeed("That is not a readable RSS or Atom feed (it is malformed in a way "
                       "briefbot cannot recover from).") from exc
    entries_raw = list(parsed.get("entries") or ())
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not parsed.get("version") and not entries_raw:
        if _HTML_START.match(body[:4096]) or content_type in ("text/html",
                                                              "application/xhtml+xml"):
            raise NotAFeed("That is a web page, not an RSS or Atom feed.", is_html=True)
        if body.lstrip()[:1] in (b"{", b"["):
            raise NotAFeed("That is a JSON document, but not a JSON Feed (it has no "
                           '"version" naming jsonfeed.org and no "items" list).')
        if bozo is not None:
            raise NotAFeed(f"That is not a readable RSS or Atom feed ({_bozo_reason(bozo)}).")
        raise NotAFeed("That is not an RSS or Atom feed.")
    malformed = None
    if bozo is not None and not isinstance(bozo, feedparser.ThingsNobodyCaresAboutButMe):
        malformed = _bozo_reason(bozo)
        # cut short (no closing root tag anywhere): its last item may be incomplete; junk
        # after a complete document (a server's warning appended) loses nothing
        if entries_raw and not _CLOSING.search(body[-65_536:]):
            entries_raw = entries_raw[:-1]
    feed = parsed.get("feed") or {}
    atom = str(parsed.get("version") or "").startswith("atom")
    guids = Counter(_clean(e.get("id"), 2000) for e in entries_raw)
    entries: list[FeedEntry] = []
    for position, entry in enumerate(entries_raw):
        link = _link(entry, url)
        guid = _clean(entry.get("id"), 2000)
        title = _clean_text(entry.get("title"), literal=atom and _is_text(entry, "title"))
        text = _entry_text(entry)
        # dict.get: feedparser's own .get maps a missing key to another with a warning
        published = _struct_to_dt(dict.get(entry, "published_parsed")
                                  or dict.get(entry, "updated_parsed"))
        if published is not None and published > now + FUTURE_SLACK:
            published = None
        if link:
            key = canonical_url(link)
        elif guid and guids[guid] == 1:
            key = "guid:" + guid
        else:
            digest = hashlib.sha256(f"{title or ''}\n{text}".encode()).hexdigest()[:32]
            key = "hash:" + digest
        entries.append(FeedEntry(
            key=key, link=link, guid=guid, title=title,
            author=_clean_text(entry.get("author"), 200),
            published_at=published, text=text, position=position,
            language=_entry_language(entry, feed),
        ))
    site = feed.get("link")
    site = absolute_http_url(url, site) if isinstance(site, str) else None
    return ParsedFeed(
        title=_clean_text(feed.get("title"), 300, literal=atom and _is_text(feed, "title")),
        site_url=site,
        entries=tuple(entries),
        malformed=malformed,
        duplicate_guids=frozenset(g for g, n in guids.items() if g and n > 1),
    )


# -- JSON Feed (https://www.jsonfeed.org/version/1.1/) ----------------------------------------

_JSON_TYPES = frozenset({"application/feed+json", "application/json"})


def is_json_feed(body: bytes, *, content_type: str = "") -> bool:
    """Whether ``body`` should be read as a JSON Feed: labelled as JSON, or an object that
    names jsonfeed.org near its start."""
    head = body[:4096].lstrip()
    if not head.startswith(b"{"):
        return False
    return content_type in _JSON_TYPES or b"jsonfeed.org/version" in head


def _json_text(item: dict[str, Any]) -> str:
    html = item.get("content_html")
    if isinstance(html, str) and html.strip():
        return html_fragment_text(html)
    for key in ("content_text", "summary"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return "\n".join(line.strip() for line in value.splitlines() if line.strip())
    return ""


def _json_author(node: dict[str, Any]) -> str | None:
    authors = node.get("authors")  # 1.1
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return _clean(authors[0].get("name"), 200)
    author = node.get("author")  # 1.0
    return _clean(author.get("name"), 200) if isinstance(author, dict) else None


def parse_json_feed(body: bytes, *, url: str, now: datetime) -> ParsedFeed:
    """A JSON Feed 1.0/1.1 document as a :class:`ParsedFeed` (same rules as RSS/Atom)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotAFeed("That JSON Feed is not valid JSON (a JSON Feed is UTF-8 JSON).") from exc
    version = doc.get("version") if isinstance(doc, dict) else None
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version or not isinstance(
            items, list):
        raise NotAFeed("That is a JSON document, but not a JSON Feed (it has no \"version\" "
                       'naming jsonfeed.org and no "items" list).')
    assert isinstance(doc, dict)
    raw = [item for item in items if isinstance(item, dict)]
    ids = [item.get("id") for item in raw]
    guids = Counter(_clean(str(i), 2000) if isinstance(i, (str, int)) else None for i in ids)
    entries: list[FeedEntry] = []
    for position, item in enumerate(raw):
        raw_id = item.get("id")
        guid = _clean(str(raw_id), 2000) if isinstance(raw_id, (str, int)) else None
        link = None
        for candidate in (item.get("url"), item.get("external_url")):
            if isinstance(candidate, str) and candidate.strip():
                link = absolute_http_url(url, candidate)
                if link is not None:
                    break
        title = _clean_text(item.get("title"), literal=True)
        text = _json_text(item)
        published = None
        for key in ("date_published", "date_modified"):
            value = item.get(key)
            published = parse_date(value) if isinstance(value, str) else None
            if published is not None:
                break
        if published is not None and published > now + FUTURE_SLACK:
            published = None
        if link:
            key = canonical_url(link)
        elif guid and guids[guid] == 1:
            key = "guid:" + guid
        else:
            key = "hash:" + hashlib.sha256(f"{title or ''}\n{text}".encode()).hexdigest()[:32]
        entries.append(FeedEntry(
            key=key, link=link, guid=guid, title=title,
            author=_json_author(item) or _json_author(doc),
            published_at=published, text=text, position=position,
            language=_clean(item.get("language") or doc.get("language"), 35)))
    home = doc.get("home_page_url")
    return ParsedFeed(
        title=_clean_text(doc.get("title"), 300, literal=True),
        site_url=absolute_http_url(url, home) if isinstance(home, str) else None,
        entries=tuple(entries),
        malformed=None,
        duplicate_guids=frozenset(g for g, n in guids.items() if g and n > 1),
    )


def _bozo_reason(exc: BaseException) -> str:
    message = getattr(exc, "getMessage", None)
    text = message() if callable(message) else str(exc)
    line = getattr(exc, "getLineNumber", None)
    where = f" at line {line()}" if callable(line) else ""
    text = re.sub(r"[^\w .,:;'()-]", "", str(text))[:80] or type(exc).__name__
    return f"malformed XML{where}: {text}"
