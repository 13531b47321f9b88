"""Main-text extraction from HTML with trafilatura (no regexes over markup)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Extracted:
    text: str
    title: str | None
    author: str | None
    published_at: datetime | None
    canonical_url: str | None
    sitename: str | None


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


def extract_html(html: str, *, url: str | None = None) -> Extracted | None:
    """Title, author, date, canonical URL and main text of an HTML page (CPU-bound).

    Returns None when trafilatura finds no main text (a cookie wall, an empty page).
    """
    import trafilatura  # here: loading it costs ~0.5 s, and most commands never extract

    doc = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    if doc is None or isinstance(doc, dict) or not doc.text:
        return None
    title = (doc.title or "").strip() or None
    lines = [line.strip() for line in str(doc.text).splitlines() if line.strip()]
    # trafilatura keeps the page's <h1> as the first line: it is the title, not a sentence.
    if title and lines and lines[0].casefold() == title.casefold():
        lines = lines[1:]
    return Extracted(
        text="\n".join(lines),
        title=title,
        author=(doc.author or "").strip() or None,
        published_at=parse_date(doc.date),
        canonical_url=(doc.url or "").strip() or None,
        sitename=(doc.sitename or doc.hostname or "").strip() or None,
    )
