"""Retention: a store that does not grow for ever ([storage] keep_days).

While the bot runs, articles ingested more than ``keep_days`` ago are deleted in small
batches (each its own short transaction, with a pause between, so ingest, commands and
digests keep their turns at the single writer), with their full-text rows, other URLs and
delivered alert records. Never deleted: an article a pending alert still needs, or one above
the lowest point the enabled digests have posted up to (an unsent digest needs it). Feed item
records go 30 days later than their articles (an item still listed by its feed after that
would come in again), finished digest runs with their articles (each channel keeps its last
one). The freed space is given back in steps (incremental auto-vacuum; an older database
reuses its free pages instead). The same loop refreshes the cached "did you mean" term list.
With ``keep_days = 0`` (the default) nothing is deleted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.loop import run_forever

if TYPE_CHECKING:
    from bot.store.ports import Store

log = logging.getLogger(__name__)

FEED_ITEM_MARGIN = timedelta(days=30)
TERMS_EVERY_SECONDS = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class PruneReport:
    articles: int = 0
    feed_items: int = 0
    digest_runs: int = 0
    bytes_reclaimed: int = 0


class Retention:
    """The background service that prunes and keeps the term list fresh."""

    name = "retention"

    def __init__(self, store: Store, *, keep_days: int, clock: Callable[[], datetime],
                 batch: int = 500, pause_seconds: float = 0.2,
                 idle_seconds: float = 120.0) -> None:
        self.store = store
        self.keep_days = keep_days
        self.clock = clock
        self.batch = batch
        self.pause_seconds = pause_seconds
        self.idle_seconds = idle_seconds
        self._terms_at = 0.0

    async def prune_once(self) -> PruneReport:
        """Delete everything past retention now, batch by batch; what went."""
        if self.keep_days <= 0:
            return PruneReport()
        cutoff = self.clock() - timedelta(days=self.keep_days)
        articles = feed_items = runs = 0
        while True:
            floor = await self.store.digests.unsent_article_floor()
            below = None if floor is None else floor + 1
            n = await self.store.articles.prune_articles(before=cutoff, below_id=below,
                                                         limit=self.batch)
            articles += n
            if n == 0:  # (a batch with kept articles in it is short: go on until none went)
                break
            await asyncio.sleep(self.pause_seconds)
        while (n := await self.store.feeds.prune_feed_items(
                before=cutoff - FEED_ITEM_MARGIN, limit=self.batch)):
            feed_items += n
            await asyncio.sleep(self.pause_seconds)
        while (n := await self.store.digests.prune_digest_runs(before=cutoff,
                                                               limit=self.batch)):
            runs += n
            await asyncio.sleep(self.pause_seconds)
        reclaimed = 0
        if articles or feed_items or runs:
            while (got := await self.store.reclaim_space()):
                reclaimed += got
                await asyncio.sleep(self.pause_seconds)
            log.info("retention (%d days): %d articles, %d feed items, %d digest runs removed;"
                     " %d MB given back", self.keep_days, articles, feed_items, runs,
                     reclaimed // 1_000_000)
        return PruneReport(articles=articles, feed_items=feed_items, digest_runs=runs,
                           bytes_reclaimed=reclaimed)

    async def refresh_terms(self, *, force: bool = False) -> None:
        if force or time.monotonic() - self._terms_at >= TERMS_EVERY_SECONDS:
            await self.store.articles.refresh_search_terms()
            self._terms_at = time.monotonic()

    async def run(self) -> None:
        await run_forever(self._round, name=self.name, log=log, retry=self.idle_seconds,
                          max_retry=10 * self.idle_seconds)

    async def _round(self) -> float:
        await self.prune_once()
        await self.refresh_terms()
        return self.idle_seconds
