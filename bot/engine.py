"""BriefingEngine: the use cases every adapter calls.

Ingest (any source) -> dedupe -> summarise once off the event loop -> store -> tell the
listeners (keyword alerts) about the new article. Commands go through :mod:`bot.commands`;
messages leave through the :class:`~bot.publish.Publisher` registered for their platform.
Background services (feed polling, the digest scheduler, alert delivery) are owned here:
:meth:`run_services` starts them and cancels them on shutdown.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bot import metrics
from bot.config import Config
from bot.errors import DeliveryError, InputError
from bot.ingest.files import parse_bytes, read_limited
from bot.ingest.urls import canonical_url
from bot.models import Article, ArticleDraft, Caller, Destination, Item, Reply
from bot.publish import Publisher
from bot.store import Store, open_store
from bot.summarize import Summarizer, shorten
from bot.text import words

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
ArticleListener = Callable[[Article], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def content_hash(text: str) -> str:
    """Hash of the normalised text: case, punctuation and spacing do not make a new article."""
    normal = " ".join(w.lower() for w in words(text))
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


class Service(Protocol):
    """A background job the engine owns (feed poller, digest scheduler, ...)."""

    name: str

    async def run(self) -> None: ...


@dataclass(frozen=True, slots=True)
class IngestResult:
    article: Article
    created: bool  # False: it was already stored, ``article`` is the stored one


def to_item(article: Article, *, sentences: int | None = None, note: str = "") -> Item:
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


def install_features(engine: BriefingEngine) -> None:
    """Let each feature register its listeners and background services on ``engine``.

    A feature module exposes ``install(engine)``; adding a feature is one line here.
    """
    from bot.ingest.poller import install as install_feeds  # here: bot.ingest imports bot.engine

    install_feeds(engine)
    from bot.digests.scheduler import install as install_digests

    install_digests(engine)
    from bot.alerts.service import install as install_alerts

    install_alerts(engine)


class BriefingEngine:
    def __init__(
        self,
        config: Config,
        store: Store,
        summarizer: Summarizer,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.summarizer = summarizer
        self.clock = clock
        self.publishers: dict[str, Publisher] = {}
        self._listeners: list[ArticleListener] = []
        self._services: list[Service] = []

    @classmethod
    async def open(cls, config: Config, *, clock: Clock = utcnow) -> BriefingEngine:
        store = await open_store(
            config.storage.path, busy_timeout_ms=config.storage.busy_timeout_ms
        )
        try:
            engine = cls(config, store, Summarizer(config.summarizer), clock=clock)
        except BaseException:
            # an open connection's worker thread would keep the process alive forever
            await store.close()
            raise
        try:
            install_features(engine)
        except BaseException:
            await engine.close()
            raise
        return engine

    async def close(self) -> None:
        self.summarizer.close()
        await self.store.close()

    # -- wiring -------------------------------------------------------------------------

    def add_publisher(self, publisher: Publisher) -> None:
        self.publishers[publisher.platform] = publisher

    def on_new_article(self, listener: ArticleListener) -> None:
        """Call ``listener`` once for every article stored for the first time."""
        self._listeners.append(listener)

    @property
    def services(self) -> tuple[Service, ...]:
        """The background services :meth:`run_services` runs (read-only)."""
        return tuple(self._services)

    def add_service(self, service: Service) -> None:
        self._services.append(service)

    async def run_services(self) -> None:
        """Run every background service until cancelled; one crashing is logged, not fatal."""
        async def guarded(service: Service) -> None:
            try:
                await service.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background service %s stopped with an error", service.name)

        if not self._services:
            await asyncio.Event().wait()
        async with asyncio.TaskGroup() as group:
            for service in self._services:
                group.create_task(guarded(service), name=service.name)

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        publisher = self.publishers.get(destination.platform)
        if publisher is None:
            raise DeliveryError(
                f"no adapter is running for {destination.platform}", permanent=False
            )
        await publisher.deliver(destination, reply)

    async def platform_state(self, key: str) -> str | None:
        """A small value an adapter keeps between runs (adapters never touch the store)."""
        return await self.store.platform.get_meta(key)

    async def save_platform_state(self, key: str, value: str) -> None:
        await self.store.platform.set_meta(key, value, now=self.clock())

    async def first_sight_of_request(self, key: str, *, now: datetime,
                                     expires_at: datetime) -> bool:
        """True the first time a signed request (``key``) is seen, False for a replay; kept
        until ``expires_at``. The times are the platform's clock (the request's timestamp), not
        the engine's, and the record is shared by every process on the same store."""
        return await self.store.platform.first_sight_of_request(key, now=now,
                                                                expires_at=expires_at)

    # -- ingest -------------------------------------------------------------------------

    async def ingest(self, draft: ArticleDraft, *, notify: bool = True) -> IngestResult:
        """Store ``draft`` if it is new (summarised once, here) and tell the listeners.

        ``notify=False`` stores without alerting: a feed's backlog when it is first added.
        """
        text = draft.text.strip()
        if not text:
            raise InputError(f"{draft.source or draft.url or 'the article'} has no text")
        canon = canonical_url(draft.url) if draft.url else None
        digest = content_hash(text)
        known = await self.store.articles.find_known_article(canonical_url=canon,
                                                             content_hash=digest)
        if known is not None:
            return IngestResult(known, created=False)
        started = time.perf_counter()
        summary = await self.summarizer.summarize(text, title=draft.title)
        metrics.SUMMARY_SECONDS.observe(time.perf_counter() - started)
        metrics.SUMMARIES.inc()
        title = draft.title or (summary[0] if summary else "Untitled")
        title = shorten(re.sub(r"\s+", " ", title).strip(), 300)
        article = await self.store.articles.add_article(
            draft,
            title=title,
            summary=summary,
            content_hash=digest,
            canonical_url=canon,
            ingested_at=self.clock(),
            backlog=not notify,
        )
        if article is None:  # stored by someone else between the check and the insert
            known = await self.store.articles.find_known_article(canonical_url=canon,
                                                                 content_hash=digest)
            assert known is not None
            return IngestResult(known, created=False)
        log.info("stored article %d %r from %s", article.id, article.title, article.source)
        metrics.ARTICLES_INGESTED.inc()
        for listener in self._listeners if notify else ():
            try:
                await listener(article)
            except Exception:
                log.exception("new-article listener failed for article %d", article.id)
        return IngestResult(article, created=True)

    async def ingest_file(self, path: str | Path) -> IngestResult:
        p = Path(path)
        data = await asyncio.to_thread(read_limited, p, max_bytes=self.config.ingest.max_file_bytes)
        draft = await self.summarizer.run(
            lambda: parse_bytes(
                data, name=p.name, title_limit=self.config.ingest.title_max_chars, suffix=p.suffix
            )
        )
        return await self.ingest(draft)

    # -- reading ------------------------------------------------------------------------

    async def latest(self, limit: int | None = None) -> list[Article]:
        return await self.store.articles.latest_articles(limit or self.config.brief.latest_count)

    async def search(self, text: str, limit: int | None = None) -> list[Article]:
        return await self.store.articles.search_articles(
            text, limit=limit or self.config.brief.search_results
        )

    async def article(self, article_id: int) -> Article | None:
        return await self.store.articles.get_article(article_id)

    # -- commands -----------------------------------------------------------------------

    async def handle_command(self, text: str, caller: Caller) -> Reply:
        """``/brief <text>`` from any platform -> the Reply to show."""
        from bot.commands import handle

        return await handle(self, caller, text)
