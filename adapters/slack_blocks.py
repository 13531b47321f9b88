"""Block Kit rendering for Slack: a Reply becomes one or more messages within Slack's limits.

Why a module of its own: this is the only place that decides what an article may put into a
Slack message, so it is pure, small and tested on its own. Every string from an article (and
briefbot's own text, which may echo what a user typed) is escaped (``&``, ``<``, ``>``), so it
can never form a link, a ``<!channel>``/``<!here>`` broadcast or a ``<@U123>`` mention; the only
markup in a message is what this module writes itself (title links and dates).

Limits (Slack's documentation): 50 blocks a message, 3,000 characters of section text, and
``msg_blocks_too_long`` a little over 12,000 characters of block text in one message. A long
Reply is split between items into several messages; an item is only split (between its
blocks) when it alone is over a message's budget, and no text is ever dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.models import Item, Reply, ReplyKind
from bot.render import format_time

__all__ = [
    "MAX_BLOCKS",
    "MAX_MESSAGE_CHARS",
    "MAX_SECTION_CHARS",
    "SlackMessage",
    "escape",
    "render_reply",
]

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_MESSAGE_CHARS = 12_000
MAX_HEADER_CHARS = 150
# Notification/fallback text: the blocks carry everything, this is what a phone shows.
MAX_FALLBACK_CHARS = 2000

Block = dict[str, Any]

# Never linked without ``link_names`` (which briefbot never sets); a word joiner after the @
# keeps them inert even for a client that links them anyway.
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_WORD_JOINER = "\u2060"
_MARKUP = re.compile(r"[<>&]|@(channel|here|everyone)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One chat.postMessage / response_url payload: fallback ``text`` plus ``blocks``."""

    text: str
    blocks: tuple[Block, ...]

    @property
    def chars(self) -> int:
        return sum(block_chars(b) for b in self.blocks)


def escape(text: str) -> str:
    """Text safe for mrkdwn: no control sequence (`<...>`) and no broadcast can be formed."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@" + _WORD_JOINER + m.group(1), text)


# mrkdwn has no escape character: an article's *bold*, _italic_, ~strike~ and `code` get
# look-alike characters, so what the article wrote is shown as text.
_NO_MARKUP = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})


def escape_article(text: str) -> str:
    """Article text (titles, summaries, sources) for mrkdwn: :func:`escape`, and no markup."""
    return escape(text.translate(_NO_MARKUP))


def _safe_url(url: str | None) -> str | None:
    """An http(s) URL usable inside ``<url|text>``, or None (then the title is not linked)."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return (
        url.replace("&", "&amp;")
        .replace("<", "%3C")
        .replace(">", "%3E")
        .replace("|", "%7C")
        .replace(" ", "%20")
    )


def _slack_date(value: datetime) -> str:
    """A date Slack shows in each reader's own time zone, with our UTC text as the fallback."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    epoch = int(aware.timestamp())
    date_only = value.hour == value.minute == value.second == 0
    token = "{date_short_pretty}" if date_only else "{date_short_pretty} {time}"
    return f"<!date^{epoch}^{token}|{escape(format_time(value))}>"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


_DIVIDER: Block = {"type": "divider"}


def block_chars(block: Block) -> int:
    """Characters of text a block carries (what Slack counts against a message's size)."""
    if "text" in block and isinstance(block["text"], dict):
        return len(block["text"].get("text", ""))
    return sum(len(e.get("text", "")) for e in block.get("elements", ()))


def _split_text(text: str, limit: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` chars: at lines, else words, else hard.

    Escaped entities (``&amp;``) are never cut in half.
    """
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
            amp = window.rfind("&", limit - 6)
            if amp != -1 and ";" not in window[amp:]:
                cut = amp
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _text_blocks(text: str, *, context: bool = False) -> list[Block]:
    make = _context if context else _section
    return [make(part) for part in _split_text(text, MAX_SECTION_CHARS) if part]


def item_blocks(item: Item) -> list[Block]:
    """Title (linked), a context line (source, date, note, number), then the summary."""
    title = escape_article(item.title.strip() or "Untitled")
    url = _safe_url(item.url)
    head = f"*<{url}|{title}>*" if url else f"*{title}*"
    if len(head) > MAX_SECTION_CHARS:  # an absurdly long URL: a broken link is worse than none
        head = f"*{title}*"
    blocks = _text_blocks(head)
    meta = [escape_article(s) for s in (item.source or "",) if s]
    if item.published_at is not None:
        meta.append(_slack_date(item.published_at))
    if item.note:
        meta.append(escape_article(item.note))
    if item.article_id is not None:
        meta.append(f"#{item.article_id}")
    if meta:
        blocks.extend(_text_blocks(" · ".join(meta), context=True))
    if item.summary:
        bullets = "\n".join(f"• {escape_article(s)}" for s in item.summary)
        blocks.extend(_text_blocks(bullets))
    return blocks


def _fallback(reply: Reply, items: Iterable[Item], *, part: int, parts: int) -> str:
    """The notification text for one message: briefbot's line, then the titles it holds."""
    head = escape(reply.text.split("\n", 1)[0]) if reply.text else ""
    if parts > 1:
        head = f"{head} ({part}/{parts})".strip()
    lines = [head] if head else []
    titles = [f"• {escape_article(i.title)}" for i in items]
    for n, line in enumerate(titles):
        if sum(len(x) + 1 for x in lines) + len(line) > MAX_FALLBACK_CHARS:
            lines.append(f"… and {len(titles) - n} more")
            break
        lines.append(line)
    return "\n".join(lines) or "briefbot"


@dataclass
class _Draft:
    blocks: list[Block]
    items: list[Item]
    chars: int = 0

    def fits(self, blocks: list[Block], chars: int) -> bool:
        return (len(self.blocks) + len(blocks) <= MAX_BLOCKS
                and self.chars + chars <= MAX_MESSAGE_CHARS)

    def add(self, blocks: list[Block], chars: int) -> None:
        self.blocks.extend(blocks)
        self.chars += chars


def _head(reply: Reply) -> list[Block]:
    """A digest opens with a header block (its first line, when short enough); else text."""
    first, _, rest = reply.text.partition("\n")
    plain = first.strip()
    if (reply.kind is ReplyKind.DIGEST and 0 < len(plain) <= MAX_HEADER_CHARS
            and not _MARKUP.search(plain)):
        # plain_text is not parsed for mentions or links; markup-like text still stays out
        header: Block = {"type": "header",
                         "text": {"type": "plain_text", "text": plain, "emoji": True}}
        return [header, *_text_blocks(escape(rest.strip()))] if rest.strip() else [header]
    return _text_blocks(escape(reply.text))


def _units(reply: Reply) -> Iterator[tuple[Item | None, list[Block]]]:
    if reply.text:
        yield None, _head(reply)
    for item in reply.items:
        yield item, item_blocks(item)
    if reply.footer:
        yield None, _text_blocks(escape(reply.footer), context=True)


def render_reply(reply: Reply) -> list[SlackMessage]:
    """The messages that carry ``reply``, each within Slack's block and size limits."""
    drafts: list[_Draft] = [_Draft([], [])]
    for item, unit in _units(reply):
        cur = drafts[-1]
        if item is not None and cur.items:
            unit = [_DIVIDER, *unit]
        chars = sum(block_chars(b) for b in unit)
        if not cur.fits(unit, chars) and cur.blocks:
            if unit[0] is _DIVIDER:
                unit = unit[1:]
            cur = _Draft([], [])
            drafts.append(cur)
        if cur.fits(unit, chars):
            cur.add(unit, chars)
        else:  # one item bigger than a whole message: split it between its blocks
            for block in unit:
                size = block_chars(block)
                if not cur.fits([block], size):
                    cur = _Draft([], [])
                    drafts.append(cur)
                cur.add([block], size)
        if item is not None:
            cur.items.append(item)
    drafts = [d for d in drafts if d.blocks]
    if not drafts:
        return [SlackMessage(text=_fallback(reply, (), part=1, parts=1), blocks=())]
    n = len(drafts)
    return [
        SlackMessage(text=_fallback(reply, d.items, part=i, parts=n), blocks=tuple(d.blocks))
        for i, d in enumerate(drafts, start=1)
    ]
