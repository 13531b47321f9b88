"""A fetched web page -> an :class:`~bot.models.ArticleDraft`, or a clear "not an article".

Decoding follows the browser's order (Content-Type charset, byte order mark, ``<meta
charset>``, then detection), so a Windows-1251 or Shift-JIS page is not summarised as
mojibake. Main text, title, author and date come from trafilatura (:mod:`bot.ingest.html`);
this module adds what chat needs on top: the canonical URL that drives dedupe, and refusing
paywall teasers and cookie walls instead of summarising them. Everything here is CPU-bound:
callers run it off the event loop (``engine.summarizer.run``).
"""

from __future__ import annotations

import codecs
import json
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import charset_normalizer
import lxml.etree
import lxml.html

from bot.errors import InputError
from bot.ingest.html import Extracted, declared_language, extract_html, parse_page
from bot.ingest.urls import absolute_http_url, canonical_url, source_name
from bot.models import ArticleDraft
from bot.text import shorten

log = logging.getLogger(__name__)

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]{1,40})""", re.IGNORECASE
)
# Words a paywall or registration wall leaves at the end of the teaser it shows.
_PAYWALL_PHRASES = (
    "subscribe to continue reading", "subscribe to read", "subscribers only",
    "to continue reading", "for subscribers", "already a subscriber", "create a free account",
    "sign in to continue", "log in to continue", "register to continue", "this article is for",
    "become a member to", "unlock this article", "start your free trial", "premium article",
)
# What a cookie-consent wall or a bot check says instead of an article. Phrases a reader
# clicks or is told, never what a news story about cookies or bots would say twice.
_CONSENT_PHRASES = (
    "we use cookies", "this site uses cookies", "this website uses cookies", "accept all",
    "reject all", "accept cookies", "manage preferences", "manage cookies", "cookie settings",
    "cookie preferences", "we value your privacy", "store and/or access information on a device",
    "our partners", "by clicking", "click to consent", "before consenting", "personalised ads",
    "personalized ads", "consent preferences",
)
_CHALLENGE_PHRASES = (
    "checking your browser", "just a moment", "enable javascript", "enable cookies",
    "captcha", "ray id", "verify you are human", "verify that you are human", "are you a robot",
    "not a robot", "unusual traffic", "access denied", "request unsuccessful",
    "performance and security by",
)
_WALL_MAX_CHARS = 3000  # an article longer than this is an article, whatever it mentions
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json",
               "application/rdf+xml", "application/xml", "text/xml")


class NotAnArticle(InputError):
    """The page was fetched but holds no article worth summarising (``reason`` says why)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # "paywall", "wall", "short", "empty" or "feed"


# Python codecs a page may name but no browser would use to read it: not text encodings at
# all (base64, rot13, zlib ...), or ones that decode by other rules (idna, escapes, UTF-7).
_NOT_PAGE_CODECS = frozenset({"idna", "punycode", "undefined", "unicode-escape",
                              "raw-unicode-escape", "utf-7"})


def known_codec(name: str | None) -> str | None:
    """The codec a page's label names, if it is one a browser would read a page with."""
    if not name:
        return None
    try:
        info = codecs.lookup(name.strip().strip("\"'"))
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_PAGE_CODECS:
        return None
    return info.name


def decode_html(body: bytes, *, charset: str | None = None) -> str:
    """Bytes of a page as text: header charset, BOM, ``<meta charset>``, then detection."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    declared = known_codec(charset)
    if declared is None:
        match = _META_CHARSET.search(body[:4096])
        declared = known_codec(match.group(1).decode("ascii")) if match else None
        if declared is not None and declared.startswith(("utf-16", "utf-32")):
            declared = "utf-8"  # a <meta> readable as ASCII cannot be in UTF-16 (as browsers)
    if declared is not None:
        # browsers read a page labelled latin-1 as windows-1252; so do we
        if declared in ("latin-1", "iso8859-1", "ascii"):
            declared = "cp1252"
        try:
            return body.decode(declared, errors="replace")
        except (LookupError, UnicodeError, ValueError):
            pass  # a codec that cannot decode leniently: detect instead
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(body[:200_000]).best()
    if best is not None and best.encoding:
        return body.decode(best.encoding, errors="replace")
    return body.decode("cp1252", errors="replace")


def _parse_tree(text: str) -> Any:
    try:
        return lxml.html.document_fromstring(text.encode("utf-8"),
                                             parser=lxml.html.HTMLParser(encoding="utf-8"))
    except (lxml.etree.ParserError, ValueError):
        return None


def _page_title(tree: Any) -> str | None:
    title = tree.find(".//title") if tree is not None else None
    text = re.sub(r"\s+", " ", title.text_content()).strip() if title is not None else ""
    return text or None


def _site(host: str) -> str:
    """A crude registrable domain: the last two labels, three for ``co.uk``-style names."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and len(labels[-2]) <= 3:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def canonical_link(tree: Any, *, page_url: str) -> str | None:
    """The page's ``<link rel=canonical>`` made absolute, if it points into the same site.

    A canonical URL on another site is ignored: a page must not be able to claim another
    publisher's article and so hide it from dedupe.
    """
    if tree is None:
        return None
    for link in tree.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        href = (link.get("href") or "").strip()
        if "canonical" not in rels or not href:
            continue
        absolute = absolute_http_url(page_url, href)
        if absolute is None:
            return None
        parts = urlsplit(absolute)
        if _site(parts.hostname or "") != _site(urlsplit(page_url).hostname or ""):
            log.info("ignored canonical link to another site on %s", urlsplit(page_url).hostname)
            return None
        return absolute
    return None


def _json_ld(tree: Any) -> Iterator[Any]:
    for script in tree.iter("script"):
        if (script.get("type") or "").lower().strip() != "application/ld+json":
            continue
        try:
            yield json.loads(script.text or "")
        except ValueError:
            continue


def _article_body(node: Any, depth: int = 0) -> str:
    """The longest schema.org ``articleBody`` in a JSON-LD document ("" if none)."""
    best = ""
    if depth > 20:
        return best
    if isinstance(node, dict):
        body = node.get("articleBody")
        if isinstance(body, str) and len(body) > len(best):
            best = body
        values: Any = node.values()
    elif isinstance(node, list):
        values = node
    else:
        return best
    for value in values:
        found = _article_body(value, depth + 1)
        if len(found) > len(best):
            best = found
    return best


def _body_text(body: str) -> str:
    """``articleBody`` as one paragraph a line (it may hold HTML or plain text)."""
    if "<" in body:
        tree = _parse_tree(f"<html><body>{body}</body></html>")
        if tree is not None:
            for br in tree.iter("br", "p", "div", "li", "h2", "h3"):
                br.tail = "\n" + (br.tail or "")
            body = tree.text_content()
    lines = (re.sub(r"\s+", " ", line).strip() for line in body.splitlines())
    return "\n".join(line for line in lines if line)


def _declares_paywall(node: Any) -> bool:
    """schema.org ``isAccessibleForFree: false`` anywhere in a JSON-LD document."""
    if isinstance(node, dict):
        free = node.get("isAccessibleForFree")
        if free is False or (isinstance(free, str) and free.strip().lower() == "false"):
            return True
        return any(_declares_paywall(v) for v in node.values())
    if isinstance(node, list):
        return any(_declares_paywall(v) for v in node)
    return False


def feed_links(tree: Any, *, page_url: str) -> list[str]:
    """Feeds a page announces with ``<link rel=alternate type=application/rss+xml>``."""
    found: list[str] = []
    if tree is None:
        return found
    for link in tree.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().strip()
        href = (link.get("href") or "").strip()
        if "alternate" in rels and kind in _FEED_TYPES and href:
            absolute = absolute_http_url(page_url, href)
            if absolute is not None and absolute not in found:
                found.append(absolute)
    return found


def page_feed_links(body: bytes, *, charset: str | None, page_url: str) -> list[str]:
    return feed_links(_parse_tree(decode_html(body, charset=charset)), page_url=page_url)


def _wall(text: str, title: str | None) -> str | None:
    """What stands in for the article on a short page ("a cookie-consent banner", "a bot
    check"), or None when the text reads as an article."""
    if len(text) > _WALL_MAX_CHARS:
        return None
    seen = f"{title or ''}\n{text}".casefold()
    if sum(p in seen for p in _CONSENT_PHRASES) >= 3:
        return "a cookie-consent banner"
    if sum(p in seen for p in _CHALLENGE_PHRASES) >= 3:
        return "a bot check (it asks for a browser, JavaScript or a CAPTCHA)"
    return None


# What trafilatura sometimes reads as a site's name and is none ("Copyright 2014", "Hosted",
# "Home", a URL).
_NOT_A_NAME = re.compile(
    r"^(?:copyright|©|\(c\)|all rights|hosted|powered by|home|homepage|start|startseite|"
    r"accueil|inicio|index|untitled|welcome|news|blog|default|wordpress)\b|://|^www\.|^\W*$",
    re.IGNORECASE)


# A section or edition a page declares as its site name (Reuters' og:site_name is "U.S."):
# no publication's name. Compared without dots, spaces and case.
_SECTION_NAMES = frozenset("""
    us uk eu usa world business politics technology tech science health sport sports opinion
    opinions markets money finance economy entertainment lifestyle life culture arts travel
    local national international europe asia africa americas latestnews topnews breakingnews
    video videos live nachrichten politik wirtschaft kultur panorama ausland inland regional
    actualites actualités monde economie économie international noticias mundo economía
    economia deportes cultura politica política""".split())


def _reads_as_name(name: str) -> bool:
    return (2 <= len(name) <= 60 and bool(re.search(r"[^\W\d_]", name))
            and not _NOT_A_NAME.search(name)
            and re.sub(r"[\W_]+", "", name.casefold()) not in _SECTION_NAMES)


def publication(declared: str | None, url: str | None, *,
                publishers: Sequence[str] = ()) -> str | None:
    """The name of the publication an article came from, by one rule on every path: the name
    the page declares (``og:site_name``, then the JSON-LD publishers) when it reads as a name
    (not "Copyright 2014", "Home", a URL, or a section such as "U.S." or "World"), else the
    host of the article's URL without ``www.``."""
    for candidate in (declared, *publishers):
        name = re.sub(r"\s+", " ", candidate or "").strip(" |-–—·:")
        if name and _reads_as_name(name):
            return name
    return source_name(url)


def _publishers(node: Any, depth: int = 0) -> Iterator[str]:
    """Names of the schema.org ``publisher`` organisations in a JSON-LD document."""
    if depth > 12:
        return
    if isinstance(node, dict):
        publisher = node.get("publisher")
        for item in publisher if isinstance(publisher, list) else [publisher]:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                yield item["name"]
            elif isinstance(item, str):
                yield item
        for key, value in node.items():
            if key != "publisher" and isinstance(value, (dict, list)):
                yield from _publishers(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _publishers(value, depth + 1)


_TITLE_SEPARATOR = re.compile(r"\s+(?:[|·•»«:]|::|[-–—]|//)\s+")


def _squash(value: str) -> str:
    return re.sub(r"[\W_]+", "", value.casefold())


def strip_site_suffix(title: str, *, names: list[str | None]) -> str:
    """``"Heat pumps explained | heizung.de"`` -> ``"Heat pumps explained"``: a site's name
    (or host) after the last separator, or before the first one, is no part of the title."""
    wanted = {_squash(n) for n in names if n and _squash(n)}
    for name in list(wanted):
        wanted.add(name.removeprefix("www"))
    parts = _TITLE_SEPARATOR.split(title)
    if len(parts) < 2:
        return title
    def is_site(part: str) -> bool:
        squashed = _squash(part)
        if not squashed:
            return False
        if squashed in wanted or any(squashed in w or w in squashed for w in wanted
                                     if len(w) >= 4 and len(squashed) >= 4):
            return True
        return bool(re.fullmatch(r"(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", part.strip(),
                                 re.IGNORECASE))
    if is_site(parts[-1]) and len(" ".join(parts[:-1])) >= 10:
        separators = _TITLE_SEPARATOR.findall(title)
        head = parts[0].strip()
        # "Headline | Seguridad | Noticias | El Universo": the site's section path goes too
        if len(parts) >= 3 and len(head.split()) >= 4 and all(
                len(part.split()) <= 2 for part in parts[1:-1]):
            return head
        return title[: title.rfind(separators[-1])].strip()
    if is_site(parts[0]) and len(" ".join(parts[1:])) >= 10:
        first = _TITLE_SEPARATOR.search(title)
        assert first is not None
        return title[first.end():].strip()
    return title


def draft_from_record(record: dict[str, Any], *, min_text_chars: int,
                      title_limit: int) -> ArticleDraft:
    """An article from a saved record: ``{"text", "title"?, "language"?}`` as it stands, or
    ``{"html", "url"?}`` extracted exactly as a fetched page (a crawler's saved pages)."""
    html = record.get("html")
    if isinstance(html, str):
        url = record.get("url")
        return article_from_page(
            html.encode("utf-8"), url=url if isinstance(url, str) and url else "http://localhost/",
            charset="utf-8", min_text_chars=min_text_chars, title_limit=title_limit)
    title, language = record.get("title"), record.get("language")
    return ArticleDraft(text=str(record.get("text") or ""),
                        title=title if isinstance(title, str) and title else None,
                        language=language if isinstance(language, str) else None)


def article_from_page(body: bytes, *, url: str, charset: str | None, min_text_chars: int,
                      title_limit: int) -> ArticleDraft:
    """The article on a fetched page; :class:`NotAnArticle` for a teaser or an empty page."""
    html = decode_html(body, charset=charset)
    host = urlsplit(url).hostname or "the page"
    tree = parse_page(html)  # parsed once; what is read from the page as published first
    documents = list(_json_ld(tree)) if tree is not None else []
    canonical_href = canonical_link(tree, page_url=url)
    page_title = _page_title(tree)
    language = declared_language(tree)
    extracted = extract_html(html, url=url, min_chars=min_text_chars, tree=tree)
    text = extracted.text.strip() if extracted is not None else ""
    paywalled = any(_declares_paywall(doc) for doc in documents)
    if len(text) < max(min_text_chars, 1) * 3 and not paywalled:
        # a page that renders its story with JavaScript often still declares it in JSON-LD
        declared = max((_body_text(_article_body(doc)) for doc in documents), key=len,
                       default="")
        if len(declared) >= max(min_text_chars, 1) and len(declared) > 1.5 * len(text):
            log.info("article text of %s taken from its JSON-LD articleBody", host)
            text = declared
            if extracted is None:
                extracted = Extracted(text=declared, title=page_title, author=None,
                                      published_at=None, canonical_url=None, sitename=None,
                                      language=language)
    tail = text[-400:].lower()
    if len(text) < max(min_text_chars, 1) * 3 and (
        paywalled or any(p in tail for p in _PAYWALL_PHRASES)
    ):
        raise NotAnArticle(
            f"The page on {host} shows only a teaser (it looks paywalled or needs a login), "
            "so there is nothing to summarise.", reason="paywall")
    if not text:
        raise NotAnArticle(f"The page on {host} has no article text to summarise.",
                           reason="empty")
    wall = _wall(text, extracted.title if extracted is not None else None)
    if wall is not None:
        raise NotAnArticle(f"The page on {host} shows {wall} instead of an article, so there "
                           "is nothing to summarise.", reason="wall")
    if len(text) < min_text_chars:
        raise NotAnArticle(
            f"The page on {host} has only {len(text)} characters of article text (a cookie "
            f"wall, a paywall or not an article?); at least {min_text_chars} are needed "
            "([ingest] min_text_chars).", reason="short")
    assert extracted is not None
    canonical = canonical_url(canonical_href or url)
    source = publication(extracted.sitename, canonical,
                         publishers=[n for doc in documents for n in _publishers(doc)])
    title = extracted.title
    if title:
        title = strip_site_suffix(title, names=[extracted.sitename, source, host])
    return ArticleDraft(
        text=text,
        title=shorten(title, max(title_limit, 200)) if title else None,
        url=canonical,
        source=source,
        author=extracted.author,
        published_at=extracted.published_at,
        language=extracted.language,
    )
