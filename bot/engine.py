"""BriefingEngine: the use cases every adapter calls.

Ingest (any source) -> dedupe -> summarise once off the event loop -> store -> tell the
listeners (keyword alerts) about the new article. Commands go through the grammar the
composition root (:mod:`bot.app`) hands to :meth:`BriefingEngine.use_commands`; messages leave
through the :class:`~bot.publish.Publisher` registered for their platform. The engine names no
feature and no grammar: features register listeners on it, and the app owns their services.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bot import metrics
from bot.clock import Clock, utcnow
from bot.config import Config
from bot.errors import DeliveryError, InputError, StoreError
from bot.ingest.files import parse_bytes, read_limited
from bot.ingest.urls import canonical_url
from bot.models import Article, ArticleDraft, Caller, Destination, Reply
from bot.ports import IngestResult
from bot.publish import Publisher
from bot.sanitize import strip_controls
from bot.store import Store
from bot.text import cap_text, shorten, title_from_text, words

log = logging.getLogger(__name__)

__all__ = ["BriefingEngine", "Clock", "CommandHandler", "IngestResult", "Summarizing",
           "content_hash", "utcnow"]

T = TypeVar("T")
ArticleListener = Callable[[Article], Awaitable[None]]
# CPU work a listener wants done on a new article's (title, text) in the summary's worker job,
# before the article is stored: its result is handed to the listener with the article
Prepare = Callable[[str, str], Any]


def clean_draft(draft: ArticleDraft) -> ArticleDraft:
    """``draft`` without control characters: paragraphs kept in the text, one line elsewhere."""
    def line(value: str | None) -> str | None:
        return None if value is None else strip_controls(value, newlines=False)

    return replace(draft, text=strip_controls(draft.text), title=line(draft.title),
                   url=line(draft.url), source=line(draft.source), author=line(draft.author))


def content_hash(text: str) -> str:
    """Hash of the normalised text: case, punctuation and spacing do not make a new article."""
    # lower-casing the joined words is lower-casing each: only a capital sigma looks at its
    # neighbours, and a space (neither cased nor case-ignorable) ends that look
    normal = " ".join(words(text)).lower()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


class Summarizing(Protocol):
    """What the engine needs of the summarizer (:class:`bot.summarize.Summarizer`)."""

    async def summarize(self, text: str, *, title: str | None = None,
                        language: str | None = None) -> tuple[str, ...]: ...

    def summary_job(self, text: str, *, title: str | None = None,
                    language: str | None = None) -> Callable[[], tuple[str, ...]]: ...

    async def run(self, func: Callable[..., Any], /, *args: Any) -> Any: ...

    def close(self) -> None: ...


class VerbInfo(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def usage(self) -> str: ...

    @property
    def summary(self) -> str: ...


class CommandHandler(Protocol):
    """The ``/brief`` grammar as the engine and adapters see it
    (:class:`bot.commands.router.Commands`)."""

    @property
    def verbs(self) -> Mapping[str, VerbInfo]: ...

    def classify(self, text: str) -> tuple[str, str]: ...

    async def handle(self, caller: Caller, text: str) -> Reply: ...


class BriefingEngine:
    def __init__(
        self,
        config: Config,
        store: Store,
        summarizer: Summarizing,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.summarizer = summarizer
        self.clock = clock
        self.publishers: dict[str, Publisher] = {}
        # (listener, prepare): a listener with a prepare is called as listener(article, prepared)
        self._listeners: list[tuple[Callable[..., Awaitable[None]], Prepare | None]] = []
        self._commands: CommandHandler | None = None

    async def close(self) -> None:
        self.summarizer.close()
        await self.store.close()

    # -- wiring (done by bot.app) ---------------------------------------------------------

    def add_publisher(self, publisher: Publisher) -> None:
        self.publishers[publisher.platform] = publisher

    def on_new_article(self, listener: ArticleListener) -> None:
        """Call ``listener`` once for every article stored for the first time."""
        self._listeners.append((listener, None))

    def on_new_article_prepared(self, prepare: Callable[[str, str], T],
                                listener: Callable[[Article, T], Awaitable[None]]) -> None:
        """Like :meth:`on_new_article`, with ``prepare(title, text)`` (CPU work: a keyword
        analysis) run in the summary's worker job, one trip to the worker per ingest; the
        listener gets the article and what ``prepare`` returned. A ``prepare`` that raises is
        logged and its listener is not called for that article."""
        self._listeners.append((listener, prepare))

    def use_commands(self, commands: CommandHandler) -> None:
        """The ``/brief`` grammar :meth:`handle_command` answers with."""
        self._commands = commands

    def platforms(self) -> tuple[str, ...]:
        """The platforms this process can post to now (:data:`bot.ports.Platforms`)."""
        return tuple(sorted(self.publishers))

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
        Control characters and escape sequences are stripped from every field first, whatever
        the source (feed, page, file, standard input), so none is stored or shown.
        """
        draft = clean_draft(draft)
        draft = replace(draft, text=cap_text(draft.text))  # one cap, whatever the source
        text = draft.text.strip()
        if not text:
            raise InputError(f"{draft.source or draft.url or 'the article'} has no text")
        canon = canonical_url(draft.url) if draft.url else None
        digest = content_hash(text)
        known = await self.store.articles.find_known_article(canonical_url=canon,
                                                             content_hash=digest)
        if known is not None:
            return IngestResult(known, created=False)
        # an untitled article is titled by its first sentence, cut to [ingest]
        # title_max_chars; the summary then never repeats that sentence under it
        title = draft.title or title_from_text(text, limit=self.config.ingest.title_max_chars)
        title = shorten(re.sub(r"\s+", " ", title).strip(), 300)
        listeners = self._listeners if notify else []
        prepares = [(n, prepare) for n, (_, prepare) in enumerate(listeners) if prepare]
        summary_job = self.summarizer.summary_job(text, title=title, language=draft.language)
        body = draft.text  # what the stored article's text will be

        def work() -> tuple[tuple[str, ...], float, dict[int, Any]]:
            # one trip to the worker: the summary, then what the listeners prepare
            started = time.perf_counter()
            summary = summary_job()
            seconds = time.perf_counter() - started
            prepared: dict[int, Any] = {}
            for n, prepare in prepares:
                try:
                    prepared[n] = prepare(title, body)
                except Exception:
                    log.exception("preparing a new article for a listener failed")
            return summary, seconds, prepared

        summary, seconds, prepared = await self.summarizer.run(work)
        metrics.SUMMARY_SECONDS.observe(seconds)
        metrics.SUMMARIES.inc()
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
        for n, (listener, prepare) in enumerate(listeners):
            try:
                if prepare is None:
                    await listener(article)
                elif n in prepared:
                    await listener(article, prepared[n])
            except StoreError as exc:  # a full disk: one line; unmatched articles are caught up
                log.error("new-article listener failed for article %d: %s", article.id, exc)
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
        least = self.config.ingest.min_text_chars
        if len(draft.text.strip()) < least:  # the same rule as a fetched page
            raise InputError(
                f"too short to be an article: {len(draft.text.strip())} characters "
                f"of text; at least {least} are needed ([ingest] min_text_chars).")
        return await self.ingest(draft)

    # -- commands -----------------------------------------------------------------------

    @property
    def commands(self) -> CommandHandler:
        """The ``/brief`` grammar wired by the app (adapters list its verbs)."""
        if self._commands is None:
            raise RuntimeError("no /brief grammar is wired: build the engine with bot.app")
        return self._commands

    async def handle_command(self, text: str, caller: Caller) -> Reply:
        """``/brief <text>`` from any platform -> the Reply to show."""
        return await self.commands.handle(caller, text)
