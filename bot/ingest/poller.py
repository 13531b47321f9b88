"""The feed poller: the background service that polls each feed when it is due.

One :class:`~bot.ingest.fetch.Fetcher` serves the whole process under ``briefbot run``, so the
bounds on connections per host and in total hold for every poll and every command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from collections.abc import AsyncIterator, Callable

from bot import metrics
from bot.engine import BriefingEngine
from bot.ingest.fetch import Fetcher
from bot.ingest.intake import Intake, PollReport

log = logging.getLogger(__name__)

# The fetcher of the running poller, per engine: commands borrow it, so the bounds on
# connections per host and in total hold for the whole process under ``briefbot run``.
_RUNNING: weakref.WeakKeyDictionary[BriefingEngine, Fetcher] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def borrow_fetcher(engine: BriefingEngine) -> AsyncIterator[Fetcher]:
    """The running poller's fetcher, else a fetcher for this one use."""
    running = _RUNNING.get(engine)
    if running is not None:
        yield running
        return
    async with Fetcher(engine.config.fetch, clock=engine.clock) as fetcher:
        yield fetcher


class FeedPoller:
    """The background service that polls each feed when it is due."""

    name = "feed-poller"

    def __init__(self, engine: BriefingEngine, *, idle_seconds: float = 60.0,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self.idle_seconds = idle_seconds
        self.rng = rng
        self.rounds = 0

    async def run(self) -> None:
        async with Fetcher(self.engine.config.fetch, clock=self.engine.clock) as fetcher:
            _RUNNING[self.engine] = fetcher
            try:
                await self._loop(Intake(self.engine, fetcher, rng=self.rng))
            finally:
                _RUNNING.pop(self.engine, None)

    async def _loop(self, intake: Intake) -> None:
        added = await intake.add_config_feeds()
        if added:
            log.info("added %d feeds from [feeds] urls", added)
        while True:
            wait = self.idle_seconds
            try:
                reports = await intake.poll_due()
                if reports:
                    new = sum(len(r.new) for r in reports)
                    failed = sum(r.error is not None for r in reports)
                    log.info("polled %d feeds: %d new articles, %d failed",
                             len(reports), new, failed)
                wait = await intake.seconds_until_next_poll(at_most=self.idle_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database was busy or gone: try again later
                log.exception("feed polling round failed; retrying in %g s", wait)
            self.rounds += 1
            metrics.tick(self.name)
            await asyncio.sleep(max(0.5, wait))


async def poll_every_feed_once(engine: BriefingEngine, *,
                               on_start: Callable[[int], None] | None = None,
                               on_report: Callable[[PollReport], None] | None = None
                               ) -> list[PollReport]:
    """``briefbot poll``: add the config's feeds, then poll every feed once (``on_start``:
    how many; ``on_report``: each feed's report as soon as it is done)."""
    async with borrow_fetcher(engine) as fetcher:
        intake = Intake(engine, fetcher)
        await intake.add_config_feeds()
        return await intake.poll_all(on_start=on_start, on_report=on_report)


def install(engine: BriefingEngine) -> None:
    engine.add_service(FeedPoller(engine))
