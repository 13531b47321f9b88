"""Presentation without a platform: a stored article as a Reply item, and plain-text rendering
of a Reply (the console, the CLI and platform fallbacks use it)."""

from __future__ import annotations

from datetime import datetime

from bot.models import Article, Item, Reply


def to_item(article: Article, *, sentences: int | None = None, note: str = "") -> Item:
    """A stored article as an item of a Reply (its summary cut to ``sentences``)."""
    summary = article.summary if sentences is None else article.summary[:sentences]
    return Item(
        title=article.title,
        url=article.url,
        source=article.source,
        published_at=article.published_at or article.ingested_at,
        summary=summary,
        article_id=article.id,
        note=note,
    )


def format_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.hour == value.minute == value.second == 0:
        return value.strftime("%Y-%m-%d")
    return value.strftime("%Y-%m-%d %H:%M UTC")


def item_meta(item: Item) -> str:
    """"source · date · note" for an item."""
    parts = [p for p in (item.source, format_time(item.published_at), item.note) if p]
    return " · ".join(parts)


def render_item_text(item: Item, *, numbered: bool = True) -> str:
    head = f"[{item.article_id}] {item.title}" if numbered and item.article_id else item.title
    lines = [head]
    meta = item_meta(item)
    if meta:
        lines.append(f"  {meta}")
    if item.url:
        lines.append(f"  {item.url}")
    lines.extend(f"  - {s}" for s in item.summary)
    return "\n".join(lines)


def render_text(reply: Reply) -> str:
    blocks = [reply.text] if reply.text else []
    blocks.extend(render_item_text(item) for item in reply.items)
    if reply.footer:
        blocks.append(reply.footer)
    return "\n\n".join(blocks)
