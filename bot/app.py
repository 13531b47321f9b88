"""The composition root: the one module that wires config, store, engine, features, the
``/brief`` verbs and the adapters. Nothing below it names a feature.

:data:`adapters.platforms.PLATFORMS` lists the platforms (one :class:`~adapters.base.AdapterSpec`
each: config section, secrets, factory); :meth:`App.adapters` starts those whose secrets are set.
:func:`open_app` opens the store, builds the engine and installs the features listed in
``features`` (all of :data:`FEATURES` by default): each feature gets the engine it works on,
registers its new-article listener and its background service here, and its verbs are
registered on this app's own :class:`~bot.commands.router.Commands`. Leaving a feature out
leaves out its service and its verbs. The CLI (``bot/cli.py``) calls this module and nothing
below it to start.

Heavy libraries stay out of start-up: Sumy, NLTK and numpy load with the first summary (see
:class:`LazySummarizer`), trafilatura with the first page extraction, a platform SDK with its
adapter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from adapters.platforms import PLATFORMS
from bot.alerts.service import AlertKit, AlertService
from bot.clock import Clock, utcnow
from bot.commands import alerts as alert_verbs
from bot.commands import core as core_verbs
from bot.commands import digest as digest_verbs
from bot.commands import feeds as feed_verbs
from bot.commands.router import Commands
from bot.config import Config, Secrets, SummarizerConfig
from bot.datahome import choose_database
from bot.digests.build import DigestKit, digest_now
from bot.digests.scheduler import DigestScheduler
from bot.engine import BriefingEngine
from bot.errors import UserError
from bot.ingest.intake import FeedKit, FeedSettings
from bot.ingest.poller import FeedPoller
from bot.retention import Retention
from bot.store.backends import open_database

if TYPE_CHECKING:
    from adapters.base import Adapter
    from bot.summarize import Summarizer

log = logging.getLogger(__name__)

FEATURES = ("feeds", "digests", "alerts")


class Service(Protocol):
    """A background job the app owns (feed poller, digest scheduler, alert delivery)."""

    name: str

    async def run(self) -> None: ...


class LazySummarizer:
    """The engine's summarizer, built at its first use: commands that only read the store
    (``briefbot brief``, ``feeds list``) never load Sumy, NLTK or numpy."""

    def __init__(self, config: SummarizerConfig) -> None:
        self.config = config
        self._real: Summarizer | None = None

    def load(self) -> None:
        """Build it now (``briefbot run`` pays the imports at start, not at the first /brief)."""
        self._get()
        from bot.text import language_kit

        language_kit(self.config.language)

    def _get(self) -> Summarizer:
        if self._real is None:
            from bot.summarize import Summarizer

            self._real = Summarizer(self.config)
        return self._real

    async def summarize(self, text: str, *, title: str | None = None,
                        language: str | None = None) -> tuple[str, ...]:
        return await self._get().summarize(text, title=title, language=language)

    def summary_job(self, text: str, *, title: str | None = None,
                    language: str | None = None) -> Callable[[], tuple[str, ...]]:
        return self._get().summary_job(text, title=title, language=language)

    async def run(self, func: Callable[..., Any], /, *args: Any) -> Any:
        return await self._get().run(func, *args)

    def close(self) -> None:
        if self._real is not None:
            self._real.close()


@dataclass(eq=False)
class App:
    """One running briefbot: the engine, its grammar, its features and their services."""

    engine: BriefingEngine
    commands: Commands
    feeds: FeedPoller | None = None
    digests: DigestScheduler | None = None
    alerts: AlertService | None = None
    services: list[Service] = field(default_factory=list)

    @property
    def config(self) -> Config:
        return self.engine.config

    async def run_services(self) -> None:
        """Run every background service until cancelled; one crashing is logged, not fatal
        (each repeats its rounds through :func:`bot.loop.run_forever`)."""

        async def guarded(service: Service) -> None:
            try:
                await service.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background service %s stopped with an error", service.name)

        if not self.services:
            await asyncio.Event().wait()
        async with asyncio.TaskGroup() as group:
            for service in self.services:
                group.create_task(guarded(service), name=service.name)

    async def warm_up(self) -> None:
        """Load what the first summary, search or alert would load (Sumy, NLTK, numpy), off the
        event loop: a long-running bot pays it at start, never inside a 3-second ack."""
        summarizer = self.engine.summarizer
        if isinstance(summarizer, LazySummarizer):
            await asyncio.to_thread(summarizer.load)

    def require_feeds(self) -> FeedPoller:
        if self.feeds is None:
            raise UserError("the feeds feature is not part of this app")
        return self.feeds

    def adapters(self, secrets: Secrets) -> list[Adapter]:
        """The platform connections ``briefbot run`` starts: each platform of
        :data:`~adapters.platforms.PLATFORMS` that its secrets enable, else the console."""
        from adapters import select_adapters

        return select_adapters(self.engine, secrets, PLATFORMS)

    async def close(self) -> None:
        await self.engine.close()


# -- what each feature receives: its repositories, settings and the engine's ports, never the
# engine (bot.ports)


def alert_kit(engine: BriefingEngine) -> AlertKit:
    config = engine.config
    return AlertKit(store=engine.store, settings=config.alerts,
                    language=config.summarizer.language, clock=engine.clock,
                    deliver=engine.deliver, offload=engine.summarizer.run)


def digest_kit(engine: BriefingEngine) -> DigestKit:
    config = engine.config
    return DigestKit(store=engine.store, settings=config.digest,
                     language=config.summarizer.language, clock=engine.clock,
                     deliver=engine.deliver, platforms=engine.platforms,
                     offload=engine.summarizer.run)


def feed_kit(engine: BriefingEngine) -> FeedKit:
    config = engine.config
    return FeedKit(store=engine.store,
                   settings=FeedSettings(ingest=config.ingest, feeds=config.feeds,
                                         fetch=config.fetch),
                   clock=engine.clock, ingest=engine.ingest, offload=engine.summarizer.run)


def build(engine: BriefingEngine, *, features: Collection[str] = FEATURES) -> App:
    """Install ``features`` on ``engine`` and register their verbs on a new grammar."""
    unknown = set(features) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown features {sorted(unknown)}; known: {', '.join(FEATURES)}")
    commands = Commands()
    app = App(engine=engine, commands=commands)
    config, store, clock = engine.config, engine.store, engine.clock
    # each feature and each verb module gets what it uses (repositories, its settings, the
    # engine's ports, a service), never the engine
    if "alerts" in features:
        app.alerts = AlertService(alert_kit(engine))
        engine.on_new_article_prepared(app.alerts.prepare, app.alerts.on_new_article_prepared)
        alert_verbs.register(commands, desk=alert_verbs.AlertDesk(
            app.alerts, store.alerts, config.alerts, clock))
    core_verbs.register(commands, reading=core_verbs.Reading(
        store.articles, config.brief, config.summarizer.language))
    if "digests" in features:
        kit = digest_kit(engine)
        app.digests = DigestScheduler(kit)
        digest_verbs.register(commands, desk=digest_verbs.DigestDesk(
            store.digests, config.digest, clock, partial(digest_now, kit)))
    if "feeds" in features:
        app.feeds = FeedPoller(feed_kit(engine))
        feed_verbs.register(commands, desk=feed_verbs.FeedDesk(
            app.feeds, store.feeds, config.feeds, clock))
    app.services.extend(s for s in (app.feeds, app.digests, app.alerts) if s is not None)
    # store upkeep, whatever the features: [storage] keep_days and the "did you mean" terms
    app.services.append(Retention(engine.store, keep_days=engine.config.storage.keep_days,
                                  clock=engine.clock))
    engine.use_commands(commands)
    return app


async def open_app(config: Config, *, clock: Clock = utcnow,
                   features: Collection[str] = FEATURES) -> App:
    """Open the store named by ``config`` and build the app on it."""
    # "" = the default home (the CLI resolves it first, to say which: bot/datahome.py)
    database = config.storage.url or config.storage.path or choose_database(
        cli_db=None, configured="", config_file=None).path
    store = await open_database(database, busy_timeout_ms=config.storage.busy_timeout_ms,
                                pool_size=config.storage.pool_size)
    try:
        engine = BriefingEngine(config, store, LazySummarizer(config.summarizer), clock=clock)
    except BaseException:
        # an open connection's worker thread would keep the process alive forever
        await store.close()
        raise
    try:
        return build(engine, features=features)
    except BaseException:
        await engine.close()
        raise
