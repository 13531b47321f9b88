"""Main-text extraction from HTML with trafilatura, plus what news pages need on top.

trafilatura finds the article; three things are added here, all from the page's markup:

* **furniture pruned before extraction**: elements whose class, id, role or ARIA label say
  what they are (a byline, a newsletter box, "related stories", share buttons, a cookie
  banner, an ad or affiliate disclosure, an author hover-card, a photo credit or caption) are
  removed when they hold a small part of the page's text -- a wrapper named
  ``article-body share-enabled`` that holds the story is kept;
* **a retry in recall mode**: ``favor_precision`` keeps furniture out, but on some pages it
  throws the article away. When the precise result is empty, shorter than ``min_chars`` or a
  teaser, the page is extracted again without it and the longer text wins;
* **lines as the page wrote them**: a ``<br>`` inside a sentence joins the two halves (it is
  no sentence end), list bullets are not kept, and trafilatura's own log lines are silenced
  (briefbot says in one line why a page is refused).
"""

from __future__ import annotations

import copy
import itertools
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import lxml.etree
import lxml.html

from bot.sanitize import strip_controls
from bot.text import MAX_ARTICLE_CHARS

log = logging.getLogger(__name__)

# trafilatura, htmldate and courlan log a WARNING for every page they cannot read ("empty
# HTML tree", "discarding data"); briefbot's own refusal says it once, in words a user reads.
for _name in ("trafilatura", "htmldate", "courlan", "justext"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True, kw_only=True)
class Extracted:
    text: str
    title: str | None
    author: str | None
    published_at: datetime | None
    canonical_url: str | None
    sitename: str | None
    language: str | None = None   # the page's declared language tag (<html lang>), if any
    description: str | None = None


def parse_date(value: str | None) -> datetime | None:
    """An ISO date or datetime as an aware UTC datetime; None when it cannot be read."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# -- furniture in the markup ----------------------------------------------------------------

# Words in a class or id (split at "-", "_", spaces and camelCase) that name page furniture.
_FURNITURE_TOKENS = frozenset("""
    byline bylines newsletter newsletters promo promos promotion promoted related share
    sharing sharebar social socials cookie cookies consent gdpr cmp subscribe subscription
    paywall regwall advert adverts advertisement advertising adslot adunit ads sponsor
    sponsored disclosure disclaimer affiliate tooltip hovercard popover modal caption
    captions figcaption credit credits copyright breadcrumb breadcrumbs recirc recirculation
    outbrain taboola signup trending recommended recommendations readmore readalso
    alsoread moreon authorbio authorinfo authorcard bio dateline timestamp meta metadata
""".split())
# Two-word names ("read-more", "most-read", "author-bio") seen as one class.
_FURNITURE_PAIRS = frozenset({("read", "more"), ("most", "read"), ("also", "on"),
                              ("see", "also"), ("more", "stories"), ("further", "reading"),
                              ("author", "bio"), ("author", "info"), ("author", "card"),
                              ("about", "author"), ("also", "read"), ("more", "from"),
                              ("lesen", "sie"), ("mehr", "zum"), ("lire", "aussi"),
                              ("te", "puede"), ("leggi", "anche")})
_ROLES = frozenset({"complementary", "contentinfo", "navigation", "banner", "dialog",
                    "alertdialog", "search", "menu", "menubar", "toolbar", "tooltip"})
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")
# Tags that never hold article prose.
_DROP_TAGS = ("figcaption", "address", "button", "form", "dialog", "noscript", "select",
              "template", "svg")
# A furniture-named element holding more than this share of the page's text is a wrapper.
_MAX_FURNITURE_SHARE = 0.3


def _tokens(value: str) -> list[str]:
    return [t for t in _SPLIT.split(_CAMEL.sub(" ", value).lower()) if t]


def _named_furniture(el: Any) -> bool:
    role = (el.get("role") or "").strip().lower()
    if role in _ROLES:
        return True
    if (el.get("aria-hidden") or "").strip().lower() == "true" or el.get("hidden") is not None:
        return True
    style = (el.get("style") or "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    itemprop = (el.get("itemprop") or "").strip().lower()
    if itemprop in ("author", "creator", "publisher", "copyrightholder"):
        return True
    for attr in ("class", "id", "data-component", "data-testid", "aria-label"):
        words = _tokens(el.get(attr) or "")
        if not words:
            continue
        if any(w in _FURNITURE_TOKENS for w in words):
            return True
        if any(pair in _FURNITURE_PAIRS for pair in itertools.pairwise(words)):
            return True
    return False


def prune_furniture(tree: Any) -> int:
    """Remove furniture elements (see the module docstring) in place; how many went."""
    body = tree.find(".//body")
    root = body if body is not None else tree
    total = max(len(root.text_content() or ""), 1)
    doomed: list[Any] = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        if tag in ("body", "html", "article", "main"):
            continue
        if (tag in _DROP_TAGS or _named_furniture(el)) and len(
                el.text_content() or "") <= _MAX_FURNITURE_SHARE * total:
            doomed.append(el)
    removed = 0
    marked = set(doomed)
    for el in doomed:
        if el.getparent() is not None and not any(a in marked for a in el.iterancestors()):
            el.drop_tree()
            removed += 1
    return removed


# -- text from trafilatura's body -----------------------------------------------------------

_ENDS_SENTENCE = re.compile(r"[.!?…:;\"'”’»)\]]\s*$")
_BLOCKS = frozenset({"p", "head", "item", "quote", "cell", "code", "list", "table", "row",
                     "div", "section"})
_BULLET = re.compile(r"^\s*(?:[-–—•▪◦●*·>]|\d{1,2}[.)])\s+(?=\S)")


def _flatten(el: Any, lines: list[str], current: list[str]) -> None:
    """Walk trafilatura's XML body: block elements make lines; a ``<lb/>`` inside a sentence
    is a space, after a sentence end a new line."""
    tag = el.tag if isinstance(el.tag, str) else ""
    block = tag in _BLOCKS
    if block:
        _end_line(lines, current)
    if tag == "lb":
        if _ENDS_SENTENCE.search("".join(current)):
            _end_line(lines, current)
        else:
            current.append(" ")
    elif el.text:
        current.append(el.text)
    for child in el:
        _flatten(child, lines, current)
    if block:
        _end_line(lines, current)
    if el.tail:
        current.append(el.tail)


def _end_line(lines: list[str], current: list[str]) -> None:
    line = re.sub(r"\s+", " ", "".join(current)).strip()
    current.clear()
    if line:
        lines.append(_BULLET.sub("", line))


def body_lines(body: Any) -> list[str]:
    lines: list[str] = []
    current: list[str] = []
    _flatten(body, lines, current)
    _end_line(lines, current)
    return lines


def _text_lines(doc: Any) -> list[str]:
    body = getattr(doc, "body", None)
    if body is not None and len(body):
        lines = body_lines(body)
        if lines:
            return lines
    return [_BULLET.sub("", line).strip() for line in str(doc.text or "").splitlines()
            if line.strip()]


# -- extraction -----------------------------------------------------------------------------

_TEASER_TAIL = re.compile(
    r"(?:subscribe|subscriber|sign in|log in|register|abonn|suscr|abbona|continue reading|"
    r"weiterlesen|read more|full (?:story|article)|premium|plus\b)", re.IGNORECASE)


# C0/C1 controls other than tab, newline and carriage return: rare in pages, so the page is
# searched for one before the (three-pass) sanitiser runs over megabytes of markup.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def parse_page(html: str) -> Any:
    """The page's lxml tree (None when lxml cannot read it), controls stripped first: lxml
    drops a lone ESC but keeps the "]0;title" after it."""
    if _CONTROL.search(html):
        html = strip_controls(html)
    try:
        return lxml.html.document_fromstring(html.encode("utf-8"),
                                             parser=lxml.html.HTMLParser(encoding="utf-8"))
    except (lxml.etree.ParserError, ValueError):
        return None


# -- large pages: read like their beginning -------------------------------------------------
#
# Extraction costs grow with the page (trafilatura walks every element; htmldate's date
# search runs regular expressions over the whole serialised page). The article text is capped
# at MAX_ARTICLE_CHARS anyway, so a page with more readable text than PAGE_TEXT_BUDGET is cut
# after that much text in document order -- the way a plain-text file is read like its first
# 200,000 characters -- and the metadata (title, author, date) of a large page is read from its
# head and the first META_TEXT_BUDGET characters of its body. Pages under these limits (every
# ordinary news page) are extracted exactly as they are.

PAGE_TEXT_BUDGET = MAX_ARTICLE_CHARS
META_TEXT_BUDGET = 30_000
# Pages with more readable text than this, or more markup (scripts, styles) than
# LARGE_PAGE_CHARS, have their metadata read from a slim copy.
LARGE_PAGE_TEXT = 100_000
LARGE_PAGE_CHARS = 1_000_000
# Elements whose content is never article text (JSON-LD scripts are kept: metadata).
_NO_TEXT = frozenset({"script", "style", "svg", "noscript", "template", "iframe", "canvas",
                      "object", "math"})


def _readable_chars(root: Any, stop: int) -> int:
    """Characters of readable text under ``root`` (script and style content not counted),
    counting stops once past ``stop``."""
    seen = 0
    for el in root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if el.text and tag and tag.lower() not in _NO_TEXT:
            seen += len(el.text)
        if el.tail:
            seen += len(el.tail)
        if seen > stop:
            break
    return seen


def _is_json_ld(el: Any) -> bool:
    return bool(el.tag == "script"
                and (el.get("type") or "").strip().lower() == "application/ld+json")


def _drop_no_text(root: Any) -> None:
    doomed = [el for el in root.iter(*_NO_TEXT) if not _is_json_ld(el)]
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()


def trim_text(root: Any, budget: int) -> bool:
    """Cut the tree after ``budget`` characters of readable text, in document order; True
    when something was cut."""
    seen = 0
    for el in root.iter():
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        text = len(el.text or "") if tag and tag not in _NO_TEXT else 0
        if seen + text + len(el.tail or "") <= budget:
            seen += text + len(el.tail or "")
            continue
        if el.text and text:
            el.text = el.text[: max(budget - seen, 0)]
        for child in list(el):
            el.remove(child)
        el.tail = None
        node = el
        while node is not None and node is not root:
            parent = node.getparent()
            if parent is None:
                break
            del parent[parent.index(node) + 1:]  # every later sibling, in one C-level call
            node = parent
        return True
    return False


# An unrendered template expression ("{{ content.title }}", "{{ post.date | date }}"): a page
# built by JavaScript in the browser shows these to a parser, never to a reader.
_TEMPLATE = re.compile(r"\{\{[^{}]{0,2000}?\}\}")
_CODE_TAGS = frozenset({"pre", "code", "kbd", "samp", "script", "style", "textarea"})


def _in_code(el: Any) -> bool:
    return any(isinstance(a.tag, str) and a.tag.lower() in _CODE_TAGS
               for a in itertools.chain([el], el.iterancestors()))


def drop_template_expressions(root: Any) -> int:
    """Remove ``{{ … }}`` template expressions from the page's text (not from code samples);
    how many text nodes changed."""
    changed = 0
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.text and "{{" in el.text and not _in_code(el):
            el.text = _TEMPLATE.sub("", el.text)
            changed += 1
        if el.tail and "{{" in el.tail:
            parent = el.getparent()
            if parent is None or not _in_code(parent):
                el.tail = _TEMPLATE.sub("", el.tail)
                changed += 1
    return changed


def _slim_copy(tree: Any) -> Any:
    """A copy of the page for metadata: head whole, body without scripts and cut after
    META_TEXT_BUDGET characters."""
    slim = copy.deepcopy(tree)
    body = slim.find(".//body")
    head = slim.find(".//head")
    if body is not None and head is not None:
        # JSON-LD often sits at the end of the body (datePublished, author): keep it
        for script in [el for el in body.iter("script") if _is_json_ld(el)]:
            script.tail = None
            head.append(script)
    if body is not None:
        trim_text(body, META_TEXT_BUDGET)
    _drop_no_text(body if body is not None else slim)
    return slim


def declared_language(tree: Any) -> str | None:
    if tree is None:
        return None
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not lang:
        for meta in tree.iter("meta"):
            key = (meta.get("http-equiv") or meta.get("property") or meta.get("name") or "")
            if key.lower() in ("content-language", "og:locale", "language", "dc.language"):
                lang = meta.get("content")
                if lang:
                    break
    return lang.strip()[:35] if lang and lang.strip() else None


def _run(tree: Any, url: str | None, *, precise: bool) -> Any:
    import trafilatura  # here: loading it costs ~0.5 s, and most commands never extract

    try:
        doc = trafilatura.bare_extraction(
            tree, url=url, with_metadata=False, include_comments=False, include_tables=False,
            include_images=False, include_links=False, favor_precision=precise,
            deduplicate=False)
    except (ValueError, TypeError, AttributeError, IndexError, lxml.etree.LxmlError):
        log.info("trafilatura failed on %s", url or "a page", exc_info=True)
        return None
    if doc is None or isinstance(doc, dict) or not doc.text:
        return None
    return doc


_TITLE_PARTS = re.compile(r"\s+[|–—›»:-]\s+|\s+::\s+")
_TITLE_WORD = re.compile(r"[^\W\d_]{3,}")


def _head_title(tree: Any) -> str | None:
    element = tree.find(".//head/title")
    if element is None:
        element = tree.find(".//title")
    text = " ".join((element.text_content() if element is not None else "").split())
    return text or None


def _checked_title(title: str | None, head_title: str | None) -> str | None:
    """The extracted title, unless it shares no word with the page's ``<title>`` (whose
    headline part has at least three words): trafilatura can take a section heading
    ("Suggested articles", "Most read") for the title on a page without og:title."""
    if not head_title or not title:
        return title
    headline = max(_TITLE_PARTS.split(head_title), key=len)
    words = {w.casefold() for w in _TITLE_WORD.findall(head_title)}
    if len(headline.split()) < 3 or words & {w.casefold() for w in _TITLE_WORD.findall(title)}:
        return title
    log.info("title %r shares no word with the page's <title>; using %r", title, head_title)
    return head_title


def _weak(text: str, min_chars: int) -> bool:
    """An empty, too short or teaser-like precise result: worth a second, recall pass."""
    if len(text) < max(min_chars, 1):
        return True
    return len(text) < 3 * max(min_chars, 300) and bool(_TEASER_TAIL.search(text[-300:]))


def extract_html(html: str, *, url: str | None = None, min_chars: int = 0,
                 tree: Any = None) -> Extracted | None:
    """Title, author, date, canonical URL and main text of an HTML page (CPU-bound).

    ``tree`` is the page already parsed by :func:`parse_page` (it is changed here). Returns
    None when trafilatura finds no main text (a cookie wall, an empty page).
    """
    if tree is None:
        tree = parse_page(html)
    if tree is None:
        return None
    language = declared_language(tree)
    head_title = _head_title(tree)
    from trafilatura.metadata import extract_metadata

    body = tree.find(".//body")
    root = body if body is not None else tree
    if "{{" in html:
        drop_template_expressions(root)
    readable = _readable_chars(root, PAGE_TEXT_BUDGET)
    if readable > PAGE_TEXT_BUDGET:
        trim_text(root, PAGE_TEXT_BUDGET)
        _drop_no_text(root)
    if readable > LARGE_PAGE_TEXT or len(html) > LARGE_PAGE_CHARS:
        published = _slim_copy(tree)
    else:
        published = copy.deepcopy(tree)
    try:  # metadata from the page as published: pruning drops itemprop=author and the like
        meta = extract_metadata(published, default_url=url)
    except (ValueError, TypeError, AttributeError, IndexError, lxml.etree.LxmlError):
        meta = None
    prune_furniture(tree)
    doc = _run(copy.deepcopy(tree), url, precise=True)
    lines = _text_lines(doc) if doc is not None else []
    if _weak("\n".join(lines), min_chars):
        recall = _run(tree, url, precise=False)
        recall_lines = _text_lines(recall) if recall is not None else []
        if len("\n".join(recall_lines)) > 1.2 * len("\n".join(lines)):
            log.info("recall pass on %s: %d characters instead of %d", url or "a page",
                     len("\n".join(recall_lines)), len("\n".join(lines)))
            doc, lines = recall, recall_lines
    if doc is None or not lines:
        return None
    if meta is None:
        meta = doc

    def field(name: str) -> str | None:
        value = getattr(meta, name, None) or getattr(doc, name, None)
        return value.strip() or None if isinstance(value, str) else None

    title = _checked_title(field("title"), head_title)
    # trafilatura keeps the page's <h1> as the first line: it is the title, not a sentence.
    if title and lines and lines[0].casefold() == title.casefold():
        lines = lines[1:]
    return Extracted(
        text="\n".join(lines),
        title=title,
        author=field("author"),
        published_at=parse_date(field("date")),
        canonical_url=field("url"),
        sitename=field("sitename"),
        language=language,
        description=field("description"),
    )
