"""Articles from files: the plain format of ``shared/data/articles`` and HTML pages.

Plain format: the text opens with `` date YYYY-MM-DD `` and the body follows on the same line,
one paragraph a line. The date becomes the article's published date and is removed from the
text, so it never reaches a title or a summary.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot.errors import InputError
from bot.ingest.html import extract_html
from bot.ingest.pages import publication, strip_site_suffix
from bot.ingest.urls import source_name
from bot.language import normalize_language
from bot.models import ArticleDraft
from bot.text import cap_text, shorten, split_paragraphs, title_from_sentence, title_from_text

__all__ = ["parse_bytes", "parse_html", "parse_plain", "title_from_sentence", "title_from_text"]

_DATE_HEADER = re.compile(r"\A\s*date\s+(\d{4})-(\d{2})-(\d{2})(?:\s+|\Z)", re.IGNORECASE)
_HTML_START = re.compile(rb"\A\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b",
                         re.IGNORECASE | re.DOTALL)
_HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})


def _human_size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def decode_text(data: bytes, *, name: str) -> str:
    """UTF-8 (with or without BOM); else Windows-1252, the usual mislabelled news encoding."""
    if b"\x00" in data[:8192]:
        raise InputError(f"{name} looks like a binary file, not text or HTML")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def split_date_header(text: str) -> tuple[datetime | None, str]:
    """The `` date YYYY-MM-DD `` header as a UTC datetime, and the text without it."""
    match = _DATE_HEADER.match(text)
    if match is None:
        return None, text
    try:
        year, month, day = (int(g) for g in match.groups())
        published = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        published = None
    return published, text[match.end():]


def parse_plain(text: str, *, title_limit: int, source: str | None = None) -> ArticleDraft:
    published, body = split_date_header(text)
    body = "\n".join(split_paragraphs(body))
    if not body:
        raise InputError(f"{source or 'the text'} has no article text")
    return ArticleDraft(
        text=body,
        title=title_from_text(body, limit=title_limit),
        source=source,
        published_at=published,
    )


def parse_html(html: str, *, title_limit: int, url: str | None = None,
               source: str | None = None) -> ArticleDraft:
    extracted = extract_html(html, url=url)
    if extracted is None or not extracted.text.strip():
        raise InputError(f"{source or url or 'the page'} has no article text to summarise")
    page_url = extracted.canonical_url or url
    name = publication(extracted.sitename, page_url) if (extracted.sitename or page_url) \
        else source
    title = extracted.title
    if title:
        title = strip_site_suffix(title, names=[extracted.sitename, name,
                                                source_name(page_url)])
    else:
        title = title_from_text(extracted.text, limit=title_limit,
                                language=normalize_language(extracted.language) or "english")
    return ArticleDraft(
        text=extracted.text,
        title=shorten(title, max(title_limit, 200)),
        url=page_url,
        source=name or source,
        author=extracted.author,
        published_at=extracted.published_at,
        language=extracted.language,
    )


def looks_like_html(data: bytes, *, suffix: str = "") -> bool:
    return suffix.lower() in _HTML_SUFFIXES or bool(_HTML_START.match(data[:4096]))


def parse_bytes(data: bytes, *, name: str, title_limit: int, suffix: str = "") -> ArticleDraft:
    """A draft from a file's bytes (plain or HTML). CPU-bound: run it off the event loop."""
    if not data.strip():
        raise InputError(f"{name} is empty")
    text = decode_text(data, name=name)
    if looks_like_html(data, suffix=suffix):
        draft = parse_html(text, title_limit=title_limit, source=name)
        return replace(draft, text=cap_text(draft.text))
    # the article text cap before any splitting: a 5 MB file is read like its first 200,000
    return parse_plain(cap_text(text), title_limit=title_limit, source=name)


def read_limited(path: Path, *, max_bytes: int) -> bytes:
    """The file's bytes, refusing files over ``max_bytes`` before reading them."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError(f"{path} is not a file")
        if size > max_bytes:
            raise InputError(
                f"{path.name} is {_human_size(size)}; the limit is {_human_size(max_bytes)} "
                "([ingest] max_file_bytes)"
            )
        with path.open("rb") as fh:
            return fh.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {path}") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path} is a directory, not a file") from exc
    except PermissionError as exc:
        raise InputError(f"cannot read {path}: permission denied") from exc
