"""OPML, the subscription list every feed reader imports and exports.

Reading is left to ``listparser`` (kept by feedparser's maintainer: OPML 1 and 2, nested
categories, broken markup recovered, duplicates merged); it is only ever handed bytes, never a
URL (it would fetch one itself, around the fetcher's safety rules). Writing is OPML 2.0
(http://opml.org/spec2.opml): a ``head`` with ``title`` and ``dateCreated`` and one
``outline type="rss"`` with ``text``, ``title``, ``xmlUrl`` (and ``htmlUrl`` when known) per feed.

:func:`import_feeds` adds each listed feed as ``briefbot feeds add`` would (fetched, its current
items kept as backlog without alerts), a few at a time; a feed already followed is left alone,
so an import that was interrupted, or run twice, adds nothing twice.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING

import listparser

from bot.errors import InputError, UserError
from bot.ingest.urls import canonical_url

if TYPE_CHECKING:
    from bot.ingest.intake import Intake
    from bot.store.ports import Feed

__all__ = ["ImportOutcome", "OpmlFeed", "import_feeds", "parse_opml", "write_opml"]


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    title: str | None


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What happened to one listed feed: ``outcome`` is "added", "already followed" or
    "refused"; ``detail`` says how many backlog items, or why refused."""

    feed: OpmlFeed
    outcome: str
    detail: str = ""
    feed_id: int | None = None


def parse_opml(data: bytes, *, name: str) -> list[OpmlFeed]:
    """The feeds an OPML document lists, in order, each URL once (InputError when ``data`` is
    no OPML or lists no feed)."""
    result = listparser.parse(data)
    if not str(result.get("version", "")).startswith("opml"):
        raise InputError(f"{name} is not an OPML file (a feed reader's export: "
                         "<opml><body><outline xmlUrl=...>)")
    feeds: list[OpmlFeed] = []
    seen: set[str] = set()
    for entry in result["feeds"]:
        url = str(entry.get("url") or "").strip()
        if not url or url in seen:
            continue
        seen.add(url)
        feeds.append(OpmlFeed(url=url, title=str(entry.get("title") or "").strip() or None))
    if not feeds:
        raise InputError(f"{name} lists no feeds (no <outline> with an xmlUrl)")
    return feeds


def write_opml(feeds: Sequence[Feed], *, now: datetime, title: str = "briefbot feeds") -> bytes:
    """An OPML 2.0 document listing ``feeds`` (UTF-8, with its XML declaration)."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")
    for feed in feeds:
        text = feed.title or feed.url
        attrs = {"type": "rss", "text": text, "title": text, "xmlUrl": feed.url}
        if feed.site_url:
            attrs["htmlUrl"] = feed.site_url
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"


async def import_feeds(intake: Intake, feeds: Sequence[OpmlFeed], *,
                       report: Callable[[ImportOutcome], None],
                       concurrency: int = 4) -> list[ImportOutcome]:
    """Add each of ``feeds`` not followed yet (as ``feeds add`` does, through ``intake``),
    ``concurrency`` at a time, calling ``report`` with each outcome as it is known."""
    outcomes: list[ImportOutcome] = []
    bound = asyncio.Semaphore(concurrency)

    async def one(feed: OpmlFeed) -> ImportOutcome:
        try:
            known = await intake.store.feeds.find_feed(canonical_url(feed.url))
        except ValueError:
            known = None
        if known is not None:
            return ImportOutcome(feed, "already followed", f"feed #{known.id}", known.id)
        async with bound:
            try:
                added = await intake.add_feed(feed.url)
            except UserError as exc:
                return ImportOutcome(feed, "refused", str(exc))
        if not added.created:
            return ImportOutcome(feed, "already followed", f"feed #{added.feed.id}",
                                 added.feed.id)
        backlog = added.report.backlog if added.report else 0
        return ImportOutcome(feed, "added", f"feed #{added.feed.id}, {backlog} backlog "
                             f"item{'s' if backlog != 1 else ''}", added.feed.id)

    tasks = [asyncio.ensure_future(one(f)) for f in feeds]
    try:
        for next_done in asyncio.as_completed(tasks):
            outcome = await next_done
            outcomes.append(outcome)
            report(outcome)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return outcomes
