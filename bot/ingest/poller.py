"""The feed poller: the background service that polls each feed when it is due.

One :class:`~bot.ingest.fetch.Fetcher` serves the whole process under ``briefbot run``, so the
bounds on connections per host and in total hold for every poll and every command.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from functools import partial

from bot.ingest.fetch import Fetcher
from bot.ingest.intake import CLAIM_LEASE, FeedKit, Intake, PollReport
from bot.loop import run_forever

log = logging.getLogger(__name__)

class FeedPoller:
    """The feeds feature's service: polls each feed when it is due, and lends its fetcher.

    While it runs, commands (``/brief <link>``, ``feeds add``) fetch through the poller's own
    :class:`Fetcher`, so the bounds on connections per host and in total hold for the whole
    process; when it is not running they get a fetcher for that one use."""

    name = "feed-poller"

    def __init__(self, kit: FeedKit, *, idle_seconds: float = 60.0,
                 rng: random.Random | None = None) -> None:
        self.kit = kit
        self.idle_seconds = idle_seconds
        self.rng = rng
        self.rounds = 0
        self._fetcher: Fetcher | None = None
        self._claimed: tuple[list[int], datetime] | None = None  # the poll under way

    @contextlib.asynccontextmanager
    async def borrow_fetcher(self) -> AsyncIterator[Fetcher]:
        """The running poller's fetcher, else a fetcher for this one use."""
        if self._fetcher is not None:
            yield self._fetcher
            return
        async with Fetcher(self.kit.settings.fetch, clock=self.kit.clock) as fetcher:
            yield fetcher

    @contextlib.asynccontextmanager
    async def intake(self) -> AsyncIterator[Intake]:
        """An :class:`Intake` over the borrowed fetcher (see :meth:`borrow_fetcher`)."""
        async with self.borrow_fetcher() as fetcher:
            yield Intake(self.kit, fetcher, rng=self.rng)

    async def poll_every_feed_once(
            self, *, on_start: Callable[[int], None] | None = None,
            on_report: Callable[[PollReport], None] | None = None) -> list[PollReport]:
        """``briefbot poll``: add the config's feeds, then poll every feed once (``on_start``:
        how many; ``on_report``: each feed's report as soon as it is done)."""
        async with self.intake() as intake:
            await intake.add_config_feeds()
            return await intake.poll_all(on_start=on_start, on_report=on_report)

    async def run(self) -> None:
        async with Fetcher(self.kit.settings.fetch, clock=self.kit.clock) as fetcher:
            self._fetcher = fetcher
            try:
                intake = Intake(self.kit, fetcher, rng=self.rng)
                added = await intake.add_config_feeds()
                if added:
                    log.info("added %d feeds from [feeds] urls", added)
                await run_forever(partial(self._round, intake), name=self.name, log=log,
                                  retry=self.idle_seconds, max_retry=10 * self.idle_seconds)
            finally:
                self._fetcher = None
                await self.release_claims()

    async def release_claims(self) -> int:
        """A stop cut a poll short: its feeds are due again now (in any process), not after
        the 15-minute lease. Feeds whose poll was recorded keep their new time."""
        claimed, self._claimed = self._claimed, None
        if not claimed or not claimed[0]:
            return 0
        ids, lease_until = claimed
        try:
            released = await self.kit.store.feeds.release_feed_claims(
                ids, lease_until=lease_until, now=self.kit.clock())
        except Exception:  # the database may be what failed; the lease still runs out
            log.exception("feeds %s: could not release the claims", ids)
            return 0
        if released:
            log.info("released %d feed claim(s) on stopping", released)
        return released

    async def _round(self, intake: Intake) -> float:
        """Poll the feeds that are due; the seconds until the next is due. The claim (the
        feeds' lease) is released if the poll is cancelled (a stop): see :meth:`run`."""
        try:
            now = self.kit.clock()
            lease_until = now + CLAIM_LEASE
            feeds = await self.kit.store.feeds.claim_due_feeds(now=now,
                                                                  lease_until=lease_until)
            self._claimed = ([f.id for f in feeds], lease_until)
            reports = await intake.poll_feeds(feeds)
            self._claimed = None
            if reports:
                new = sum(len(r.new) for r in reports)
                failed = sum(r.error is not None for r in reports)
                log.info("polled %d feeds: %d new articles, %d failed",
                         len(reports), new, failed)
            wait = await intake.seconds_until_next_poll(at_most=self.idle_seconds)
        finally:
            self.rounds += 1  # rounds done, failed ones too
        return max(0.5, wait)
