"""A Reply as Discord messages: embeds within Discord's limits, article text made inert.

Discord refuses (400, code 50035) a message over its limits, so a long Reply is split into
several messages here, between items and never inside one. Article text is escaped so it can
neither ping (``@everyone``, ``<@123>``, roles) nor break the markdown; the adapter also sends
every message with ``allowed_mentions`` of none, so escaping is the second of two locks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import discord

from bot.models import Item, Reply
from bot.text import shorten

# https://discord.com/developers/docs/resources/message#create-message and the embed limits
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
EMBEDS_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
URL_LIMIT = 2048

NO_MENTIONS = discord.AllowedMentions.none()

_ZWSP = "\u200b"
# "<@123>", "<@&role>", "<#channel>", "</cmd:1>", "<t:123>", "<:emoji:1>": Discord's tag syntax
_TAG_START = re.compile(r"<(?=[@#:/&!]|[at]:)")
_EVERYONE = re.compile(r"@(?=everyone|here)", re.IGNORECASE)


def neutralize(text: str) -> str:
    """Text that cannot mention anyone: a zero-width space breaks ``@everyone``, ``@here``
    and every ``<@…>``-style tag (an e-mail address or a plain ``@name`` is left alone: it
    pings no one).

    Used on briefbot's own text (which may echo what a user typed); markdown is kept.
    """
    return _TAG_START.sub("<" + _ZWSP, _EVERYONE.sub("@" + _ZWSP, text))


def escape_text(text: str) -> str:
    """Article text: no markdown, no masked links, no mentions. URLs are left intact."""
    return neutralize(discord.utils.escape_markdown(text))


def fit_escaped(text: str, limit: int) -> str:
    """``escape_text(text)`` within ``limit`` characters, cut at a word before escaping."""
    escaped = escape_text(text)
    size = limit
    while len(escaped) > limit and size > 1:
        size -= max(1, len(escaped) - limit)
        escaped = escape_text(shorten(text, max(size, 1)))
    return escaped[:limit]


# Characters RFC 3986 does not allow in a URL; Discord refuses (400, code 50035) a message
# whose embed URL holds one, which would fail a whole digest over one article's link.
_URL_UNSAFE = {c: f"%{ord(c):02X}" for c in '<>"`{}|\\^'}


def _usable_url(url: str | None) -> str | None:
    if not url or not re.match(r"^https?://\S+$", url.strip(), re.IGNORECASE):
        return None
    safe = "".join(_URL_UNSAFE.get(c, c) for c in url.strip())
    return safe if len(safe) <= URL_LIMIT else None


def item_embed(item: Item) -> discord.Embed:
    """One article: linked title, summary as description, source, id and note in the footer,
    and its time as the embed timestamp (each reader sees it in their own time zone)."""
    lines: list[str] = []
    used = 0
    for sentence in item.summary:
        line = "• " + fit_escaped(sentence, DESCRIPTION_LIMIT - 2)
        if used + len(line) + 1 > DESCRIPTION_LIMIT:
            break
        lines.append(line)
        used += len(line) + 1
    footer = " · ".join(
        neutralize(p)
        for p in (item.source, f"#{item.article_id}" if item.article_id else None, item.note)
        if p
    )
    embed = discord.Embed(
        title=fit_escaped(item.title or "Untitled", TITLE_LIMIT),
        url=_usable_url(item.url),
        description="\n".join(lines) or None,
        timestamp=item.published_at,
    )
    if footer:
        embed.set_footer(text=shorten(footer, 300))
    return embed


def embed_size(embed: discord.Embed) -> int:
    """Characters Discord counts toward the 6,000 over all embeds of a message."""
    return len(embed)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Discord message: content and up to ten embeds."""

    content: str = ""
    embeds: tuple[discord.Embed, ...] = field(default=())


def split_content(text: str, limit: int = CONTENT_LIMIT) -> list[str]:
    """Text in pieces of at most ``limit``, cut at line breaks, else at spaces, else anywhere."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            head, line = line[:cut], line[cut:].lstrip(" ")
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def pack_embeds(embeds: Iterable[discord.Embed]) -> Iterator[list[discord.Embed]]:
    """Groups of embeds, each within 10 embeds and 6,000 characters."""
    group: list[discord.Embed] = []
    size = 0
    for embed in embeds:
        n = embed_size(embed)
        if group and (len(group) >= EMBEDS_PER_MESSAGE or size + n > EMBEDS_TOTAL_LIMIT):
            yield group
            group, size = [], 0
        group.append(embed)
        size += n
    if group:
        yield group


def render_messages(reply: Reply) -> list[Outgoing]:
    """``reply`` as one or more messages, in order, each within Discord's limits."""
    texts = split_content(neutralize(reply.text)) if reply.text else []
    groups = list(pack_embeds(item_embed(item) for item in reply.items))
    messages: list[Outgoing] = [Outgoing(content=t) for t in texts[:-1]]
    lead = texts[-1] if texts else ""
    if groups:
        messages.append(Outgoing(content=lead, embeds=tuple(groups[0])))
        messages.extend(Outgoing(embeds=tuple(g)) for g in groups[1:])
    elif lead:
        messages.append(Outgoing(content=lead))
    if reply.footer:
        # Discord's small grey "subtext" lines, joined to the last message (its content shows
        # above that message's embeds) rather than costing a message of their own.
        footer = "\n".join(f"-# {line}" for line in neutralize(reply.footer).splitlines()
                           if line.strip())
        last = messages[-1] if messages else None
        if last is not None and len(last.content) + 1 + len(footer) <= CONTENT_LIMIT:
            joined = f"{last.content}\n{footer}" if last.content else footer
            messages[-1] = Outgoing(content=joined, embeds=last.embeds)
        else:
            messages.extend(Outgoing(content=t) for t in split_content(footer))
    return messages or [Outgoing(content="Nothing to show.")]
