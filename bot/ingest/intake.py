"""Taking articles in from the web: pasted links, and feeds polled on a schedule.

The pipeline for one feed is fetch -> parse -> pick the items not seen before -> get each
item's text (the feed's own content when it is full enough, else the linked page) -> ingest
oldest first -> record each item and the feed's health. The rules that keep channels calm:

* an item is news once: items are remembered per feed by their identity (see
  :mod:`bot.ingest.feeds`), and articles are deduplicated by canonical URL and text hash;
* a feed's current items when it is added are its backlog: stored, never alerted;
* a failing feed is never disabled: its error is recorded and it is retried with exponential
  backoff and jitter; an item whose page failed is retried at the next polls, and the feed is
  fetched without conditional headers until it is done, so no item is lost to a 304.

The background service that polls feeds when they are due is :mod:`bot.ingest.poller`.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot import metrics
from bot.errors import FetchError, InputError, RefusedURL, UserError
from bot.ingest.feeds import (
    FUTURE_SLACK,
    FeedEntry,
    NotAFeed,
    ParsedFeed,
    bom_to_utf8,
    is_json_feed,
    parse_feed,
)
from bot.ingest.fetch import Fetcher, FetchResult, HTTPStatusError
from bot.ingest.files import parse_plain
from bot.ingest.pages import (
    NotAnArticle,
    article_from_page,
    decode_html,
    page_feed_links,
    publication,
)
from bot.ingest.urls import canonical_url, check_url, unwrap_link
from bot.models import Article, ArticleDraft, Destination, parse_id
from bot.store.ports import KNOWN_STATUSES, ArticleStore, Feed, FeedStore, SeenItem
from bot.text import cap_text

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import FeedsConfig, FetchConfig, IngestConfig
    from bot.ports import Ingest, Offload

log = logging.getLogger(__name__)

HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.5,*/*;q=0.1"
FEED_ACCEPT = ("application/rss+xml,application/atom+xml,application/rdf+xml;q=0.9,"
               "application/feed+json;q=0.9,application/xml;q=0.8,text/xml;q=0.8,"
               "application/json;q=0.5,*/*;q=0.1")
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", ""})
_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml",
                         "application/xml", "text/xml", "application/feed+json"})
_PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 451})
# A poll that dies with its process frees the feed for another process after this.
CLAIM_LEASE = timedelta(minutes=15)
# An item of a feed's backlog whose page failed: retried, and stored silently when it works.
PENDING_BACKLOG = "pending_backlog"


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkBrief:
    article: Article
    known: bool  # it was stored before (answered from the store or deduplicated)


@dataclass(frozen=True, slots=True, kw_only=True)
class PollReport:
    """What one poll of one feed did."""

    feed_id: int
    feed_name: str
    new: tuple[Article, ...] = ()       # stored for the first time (alerted unless backlog)
    backlog: int = 0                    # of ``new``: taken in silently as the feed's backlog
    known: int = 0                      # items seen before (or already stored articles)
    skipped: tuple[str, ...] = ()       # why items were skipped, one line each
    pending: int = 0                    # items whose page failed; retried at the next poll
    not_modified: bool = False
    error: str | None = None
    malformed: str | None = None

    def summary(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        if self.not_modified:
            return "not modified"
        parts = [f"{len(self.new) - self.backlog} new"] if len(self.new) > self.backlog else []
        if self.backlog:
            parts.append(f"{self.backlog} stored as backlog, without alerts")
        if not parts:
            parts.append("nothing new")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.pending:
            parts.append(f"{self.pending} to retry")
        if self.malformed:
            parts.append(self.malformed)
        return ", ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class AddedFeed:
    feed: Feed
    created: bool
    linked: bool         # newly linked to the caller's channel
    report: PollReport | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    kind: str            # "draft", "known", "skip", "pending", "failed"
    draft: ArticleDraft | None = None
    article: Article | None = None
    note: str | None = None


def backoff_delay(*, failures: int, interval: timedelta, max_backoff: timedelta,
                  rng: random.Random, retry_after: float | None = None) -> timedelta:
    """Delay before the next poll after ``failures`` consecutive failures (>= 1).

    The interval doubles with each failure up to ``max_backoff``, then "equal jitter" (a
    random point in the upper half) spreads retries so failing feeds do not fire together.
    """
    cap = max(max_backoff, interval)
    base = min(cap, interval * (1 << min(max(failures - 1, 0), 30)))
    delay = base * rng.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(cap, timedelta(seconds=retry_after)))
    return delay


class FeedRepos(Protocol):
    """The repositories the feeds feature uses (a :class:`~bot.store.ports.Store` is one)."""

    @property
    def articles(self) -> ArticleStore: ...

    @property
    def feeds(self) -> FeedStore: ...


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """The config sections the feeds feature reads."""

    ingest: IngestConfig
    feeds: FeedsConfig
    fetch: FetchConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedKit:
    """What the feeds feature (:class:`Intake`, the poller) uses (wired by :mod:`bot.app`)."""

    store: FeedRepos
    settings: FeedSettings
    clock: Clock
    ingest: Ingest  # store an article (summarised once) and tell the listeners
    offload: Offload  # parsing and extraction off the event loop


class Intake:
    """Links and feeds in, articles out, over one :class:`Fetcher`."""

    def __init__(self, kit: FeedKit, fetcher: Fetcher, *,
                 rng: random.Random | None = None) -> None:
        self.kit = kit
        self.store = kit.store
        self.fetcher = fetcher
        self.config = kit.settings
        self.rng = rng or random.Random()

    # -- pages -----------------------------------------------------------------------------

    async def read_page(self, url: str) -> ArticleDraft:
        """Fetch ``url`` and extract its article (off the event loop)."""
        result = await self.fetcher.fetch(url, accept=HTML_ACCEPT)
        draft = await self._page_draft(result)
        return replace(draft, text=cap_text(draft.text))

    async def _page_draft(self, result: FetchResult) -> ArticleDraft:
        ingest = self.config.ingest
        sniffed = _sniff(result.body)
        if sniffed == "feed" and result.content_type in _SNIFFED_TYPES:
            result = replace(result, content_type="application/xml")  # a mislabelled feed
        elif sniffed == "html" and result.content_type in _SNIFFED_TYPES:
            result = replace(result, content_type="text/html")  # a mislabelled page
        if result.content_type == "text/plain":
            text = await self.kit.offload(_plain_text, result)
            draft: ArticleDraft = await self.kit.offload(partial(
                parse_plain, text, title_limit=ingest.title_max_chars, source=None))
            if len(draft.text) < ingest.min_text_chars:
                raise NotAnArticle(f"The text at that link is too short to summarise "
                                   f"({len(draft.text)} characters).", reason="short")
            return replace(draft, url=result.url)
        if result.content_type in _FEED_TYPES:
            raise NotAnArticle("That link is an RSS or Atom feed, not an article: add it with "
                               "`/brief feeds add <url>`.", reason="feed")
        if result.content_type not in _HTML_TYPES:
            # the media type is the server's word: only its harmless characters are shown
            kind = re.sub(r"[^a-z0-9.+-]", "", result.content_type.split("/")[-1])[:30]
            raise NotAnArticle(f"That link is {f'a {kind} file' if kind else 'a file'}, not a "
                               "web page.", reason="empty")
        draft = await self.kit.offload(partial(
            article_from_page, result.body, url=result.url, charset=result.charset,
            min_text_chars=ingest.min_text_chars, title_limit=ingest.title_max_chars))
        return draft

    async def brief_link(self, url: str) -> LinkBrief:
        """The article at ``url``: from the store if known, else fetched, stored, summarised."""
        check_url(url)
        typed = canonical_url(url)
        known = await self.store.articles.article_by_url(typed)
        if known is not None:
            return LinkBrief(article=known, known=True)
        draft = await self.read_page(url)
        result = await self.kit.ingest(draft)
        await self._remember_urls(result.article, typed)
        return LinkBrief(article=result.article, known=not result.created)

    async def _remember_urls(self, article: Article, *urls: str | None) -> None:
        for url in {canonical_url(u) for u in urls if u}:
            if url != article.canonical_url:
                await self.store.articles.add_article_url(url, article.id)

    # -- feeds: adding -----------------------------------------------------------------------

    async def _parse(self, result: FetchResult) -> ParsedFeed:
        parsed: ParsedFeed = await self.kit.offload(partial(
            parse_feed, result.body, url=result.url, content_type=result.content_type,
            charset=result.charset, now=self.kit.clock()))
        return parsed

    async def add_feed(self, url: str, *, channel: Destination | None = None) -> AddedFeed:
        """Add a feed (its current items become the backlog, without alerts) and let
        ``channel`` follow it. A URL that is no feed is refused; a web page that names its
        feed (``<link rel=alternate>``) is taken as that feed."""
        url = _unfeed(url.strip())
        check_url(url)
        feed_url = canonical_url(url)
        feed = await self.store.feeds.find_feed(feed_url)
        report: PollReport | None = None
        created = False
        if feed is None:
            result = await self.fetcher.fetch(feed_url, accept=FEED_ACCEPT)
            try:
                parsed = await self._parse(result)
            except NotAFeed as exc:
                if not exc.is_html:
                    raise
                found: list[str] = await self.kit.offload(partial(
                    page_feed_links, result.body, charset=result.charset, page_url=result.url))
                if not found:
                    raise NotAFeed("That is a web page, not an RSS or Atom feed, and it names "
                                   "no feed. Look for an RSS or Atom link on the site.",
                                   is_html=True) from None
                feed_url = canonical_url(found[0])
                feed = await self.store.feeds.find_feed(feed_url)
                if feed is None:
                    result = await self.fetcher.fetch(feed_url, accept=FEED_ACCEPT)
                    parsed = await self._parse(result)
            if feed is None:
                now = self.kit.clock()
                feed, created = await self.store.feeds.add_feed(
                    feed_url, now=now, next_poll_at=now + CLAIM_LEASE, title=parsed.title)
                if created:
                    report = await self._poll_parsed(feed, result, parsed, now=now)
        linked = False
        if channel is not None and channel.channel_id is not None:
            linked = await self.store.feeds.link_channel_feed(
                platform=channel.platform, channel_id=channel.channel_id, feed_id=feed.id)
        fresh = await self.store.feeds.get_feed(feed.id)
        return AddedFeed(feed=fresh or feed, created=created, linked=linked, report=report)

    async def add_config_feeds(self) -> int:
        """Add the feeds listed in ``[feeds] urls`` (polled, backlog taken, at the next round)."""
        added = 0
        now = self.kit.clock()
        for url in self.config.feeds.urls:
            try:
                check_url(url)
            except UserError as exc:
                log.warning("[feeds] urls: skipped %r: %s", url, exc)
                continue
            _feed, created = await self.store.feeds.add_feed(canonical_url(url), now=now,
                                                       next_poll_at=now)
            added += created
        return added

    # -- feeds: polling ----------------------------------------------------------------------

    async def poll_due(self) -> list[PollReport]:
        now = self.kit.clock()
        feeds = await self.store.feeds.claim_due_feeds(now=now, lease_until=now + CLAIM_LEASE)
        return await self.poll_feeds(feeds)

    async def poll_all(self, *, on_start: Callable[[int], None] | None = None,
                       on_report: Callable[[PollReport], None] | None = None
                       ) -> list[PollReport]:
        """Poll every feed once, due or not (``briefbot poll``); ``on_start`` gets how many,
        ``on_report`` each feed's report as soon as it is done (progress)."""
        now = self.kit.clock()
        feeds = await self.store.feeds.claim_due_feeds(now=now, lease_until=now + CLAIM_LEASE,
                                                 all_feeds=True)
        if on_start is not None:
            on_start(len(feeds))
        return await self.poll_feeds(feeds, on_report=on_report)

    async def poll_feeds(self, feeds: Sequence[Feed], *,
                         on_report: Callable[[PollReport], None] | None = None
                         ) -> list[PollReport]:
        """Poll ``feeds`` concurrently; the fetcher bounds connections per host and in all."""
        bound = asyncio.Semaphore(self.config.fetch.max_connections * 2)

        async def one(feed: Feed) -> PollReport:
            async with bound:
                try:
                    report = await self.poll_feed(feed)
                except asyncio.CancelledError:
                    raise
                except Exception:  # e.g. the database failed while recording the health
                    log.exception("polling feed %d (%s) failed", feed.id, feed.url)
                    report = PollReport(feed_id=feed.id, feed_name=feed.name,
                                        error="an internal error (see the bot's log)")
            metrics.FEED_POLLS.labels("error" if report.error else "not_modified"
                                      if report.not_modified else "ok").inc()
            if on_report is not None:
                on_report(report)
            return report

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(f), name=f"poll-feed-{f.id}") for f in feeds]
        return [t.result() for t in tasks]

    async def seconds_until_next_poll(self, *, at_most: float) -> float:
        due = await self.store.feeds.next_feed_poll_at()
        if due is None:
            return at_most
        return max(0.0, min(at_most, (due - self.kit.clock()).total_seconds()))

    def _next_success(self, now: datetime) -> datetime:
        interval = timedelta(minutes=self.config.feeds.poll_interval_minutes)
        return now + interval * self.rng.uniform(0.9, 1.1)

    async def poll_feed(self, feed: Feed) -> PollReport:
        """Poll one feed; every failure ends in its health record, never in an exception."""
        now = self.kit.clock()
        try:
            result = await self.fetcher.fetch(
                feed.url, accept=FEED_ACCEPT,
                etag=feed.etag if feed.primed else None,
                last_modified=feed.last_modified if feed.primed else None)
            unchanged = (feed.primed and feed.body_hash is not None
                         and _body_hash(result.body) == feed.body_hash)
            if result.not_modified or unchanged:
                # a server that ignores validators but sends the same bytes: nothing to parse
                await self.store.feeds.record_feed_success(
                    feed.id, now=now, next_poll_at=self._next_success(now),
                    etag=result.etag or feed.etag,
                    last_modified=result.last_modified or feed.last_modified,
                    body_hash=feed.body_hash, result="not modified")
                return PollReport(feed_id=feed.id, feed_name=feed.name, not_modified=True)
            parsed = await self._parse(result)
            return await self._poll_parsed(feed, result, parsed, now=now)
        except asyncio.CancelledError:
            raise
        except UserError as exc:
            return await self._failed(feed, str(exc), now=now, retry_after=getattr(
                exc, "retry_after", None))
        except Exception:
            log.exception("polling feed %d (%s) failed", feed.id, feed.url)
            return await self._failed(feed, "an internal error (see the bot's log)", now=now)

    async def _failed(self, feed: Feed, error: str, *, now: datetime,
                      retry_after: float | None = None) -> PollReport:
        failures = feed.consecutive_failures + 1
        delay = backoff_delay(
            failures=failures,
            interval=timedelta(minutes=self.config.feeds.poll_interval_minutes),
            max_backoff=timedelta(minutes=self.config.feeds.max_backoff_minutes),
            rng=self.rng, retry_after=retry_after)
        log.warning("feed %d (%s) failed (%d in a row), next try in %.0f s: %s",
                    feed.id, feed.url, failures, delay.total_seconds(), error)
        await self.store.feeds.record_feed_failure(feed.id, now=now, error=error,
                                             next_poll_at=now + delay)
        return PollReport(feed_id=feed.id, feed_name=feed.name, error=error)

    async def _poll_parsed(self, feed: Feed, result: FetchResult, parsed: ParsedFeed, *,
                           now: datetime) -> PollReport:
        report = await self._take_in(feed, parsed, backlog=not feed.primed, now=now)
        keep_validators = report.pending == 0  # else the next poll must see every item
        await self.store.feeds.record_feed_success(
            feed.id, now=now, next_poll_at=self._next_success(now),
            etag=result.etag if keep_validators else None,
            last_modified=result.last_modified if keep_validators else None,
            body_hash=_body_hash(result.body) if keep_validators else None,
            result=report.summary(), title=parsed.title, site_url=parsed.site_url)
        if report.new or report.skipped:
            log.info("feed %d: %s", feed.id, report.summary())
        return report

    # -- feeds: items ------------------------------------------------------------------------

    async def _take_in(self, feed: Feed, parsed: ParsedFeed, *, backlog: bool,
                       now: datetime) -> PollReport:
        entries: list[FeedEntry] = []
        keys: set[str] = set()
        for entry in parsed.entries:
            if entry.key not in keys:
                keys.add(entry.key)
                entries.append(entry)

        def trusted_guid(e: FeedEntry) -> str | None:
            return e.guid if e.guid and e.guid not in parsed.duplicate_guids else None

        seen = await self.store.feeds.seen_feed_items(
            feed.id, keys=[e.key for e in entries],
            guids=[g for e in entries if (g := trusted_guid(e))])
        fresh: list[tuple[FeedEntry, SeenItem | None]] = []
        known = len(parsed.entries) - len(entries)
        for entry in entries:
            guid = trusted_guid(entry)
            prior = seen.get(entry.key) or (seen.get("guid:" + guid) if guid else None)
            if prior is not None and prior.status in KNOWN_STATUSES:
                known += 1
            else:
                fresh.append((entry, prior))

        deferred = 0
        if backlog:
            fresh = _newest_first(fresh)
            keep = self.config.feeds.backlog_items
            await self.store.feeds.record_backlog_items(
                feed.id, [(e.key, e.guid, e.link) for e, _prior in fresh[keep:]], now=now,
                note="older than the backlog when added")
            fresh = fresh[:keep]
        elif len(fresh) > self.config.feeds.max_items_per_poll:
            # a flood (or a hostile feed): the oldest now, the rest at the next polls
            fresh = _oldest_first_entries(fresh)
            deferred = len(fresh) - self.config.feeds.max_items_per_poll
            fresh = fresh[:self.config.feeds.max_items_per_poll]

        outcomes = await asyncio.gather(*(
            self._outcome(feed, entry, prior, now=now) for entry, prior in fresh))
        new: list[Article] = []
        skipped: list[str] = []
        pending = silent_new = 0
        for (entry, prior), outcome in _oldest_first(list(zip(fresh, outcomes, strict=True))):
            # an item of the backlog whose page failed at first stays silent when it succeeds
            silent = backlog or (prior is not None and prior.status == PENDING_BACKLOG)
            status, article, note = await self._ingest_outcome(entry, outcome, notify=not silent)
            if status == "pending" and silent:
                status = PENDING_BACKLOG
            if status == "stored" and article is not None and note == "new":
                new.append(article)
                silent_new += silent
            elif status == "stored":
                known += 1
            elif status in ("pending", PENDING_BACKLOG):
                pending += 1
            else:
                skipped.append(f"{entry.title or entry.link or entry.key}: {note}")
            await self.store.feeds.record_feed_item(
                feed.id, key=entry.key, guid=entry.guid, link=entry.link, status=status,
                now=now, article_id=article.id if article else None,
                note=None if note == "new" else note)
        return PollReport(feed_id=feed.id, feed_name=parsed.title or feed.name,
                          new=tuple(new), backlog=silent_new, known=known,
                          skipped=tuple(skipped), pending=pending + deferred,
                          malformed=parsed.malformed)

    async def _ingest_outcome(self, entry: FeedEntry, outcome: _Outcome, *, notify: bool
                              ) -> tuple[str, Article | None, str | None]:
        """(status to record, article, note); note "new" marks a newly stored article."""
        if outcome.kind == "known":
            return "stored", outcome.article, "already stored"
        if outcome.kind != "draft":
            return outcome.kind, None, outcome.note
        assert outcome.draft is not None
        try:
            result = await self.kit.ingest(outcome.draft, notify=notify)
        except asyncio.CancelledError:
            raise
        except InputError as exc:
            return "skipped", None, str(exc)
        except Exception:
            log.exception("ingesting feed item %s failed", entry.key)
            return "pending", None, "an internal error (see the bot's log)"
        await self._remember_urls(result.article, entry.link)
        return "stored", result.article, "new" if result.created else "already stored"

    def _content_draft(self, feed: Feed, entry: FeedEntry) -> ArticleDraft:
        return ArticleDraft(
            # the publication by the same rule as a fetched page: here, the link's host
            text=cap_text(entry.text), title=entry.title, url=entry.link,
            source=publication(None, entry.link or feed.url),
            author=entry.author, published_at=entry.published_at, feed_id=feed.id,
            language=entry.language)

    async def _outcome(self, feed: Feed, entry: FeedEntry, prior: SeenItem | None, *,
                       now: datetime) -> _Outcome:
        """Where this item's text comes from, without storing anything yet."""
        cfg = self.config
        if entry.link:
            article = await self.store.articles.article_by_url(entry.key)
            if article is not None:
                return _Outcome("known", article=article)
        if len(entry.text) >= cfg.feeds.min_content_chars:
            return _Outcome("draft", draft=self._content_draft(feed, entry))
        usable = len(entry.text) >= cfg.ingest.min_text_chars
        if not entry.link:
            if usable:
                return _Outcome("draft", draft=self._content_draft(feed, entry))
            return _Outcome("skipped", note="no link and too little text in the feed")
        try:
            page = await self.read_page(entry.link)
        except asyncio.CancelledError:
            raise
        except InputError as exc:  # NotAnArticle, or any input that cannot be used
            if usable:
                return _Outcome("draft", draft=self._content_draft(feed, entry))
            return _Outcome("skipped", note=str(exc))
        except FetchError as exc:
            permanent = isinstance(exc, RefusedURL) or (
                isinstance(exc, HTTPStatusError) and exc.status in _PERMANENT_STATUSES)
            last_try = (prior.attempts if prior else 0) + 1 >= cfg.feeds.item_attempts
            if usable and (permanent or last_try):
                return _Outcome("draft", draft=self._content_draft(feed, entry))
            if permanent:
                return _Outcome("skipped", note=str(exc))
            if last_try:
                return _Outcome("failed", note=str(exc))
            return _Outcome("pending", note=str(exc))
        except Exception:  # a bug reading one page must not fail the whole feed's poll
            log.exception("reading item page %s of feed %d failed", entry.link, feed.id)
            note = "an internal error while reading its page (see the bot's log)"
            if (prior.attempts if prior else 0) + 1 >= cfg.feeds.item_attempts:
                if usable:
                    return _Outcome("draft", draft=self._content_draft(feed, entry))
                return _Outcome("failed", note=note)
            return _Outcome("pending", note=note)
        published = page.published_at
        if published is not None and published > now + FUTURE_SLACK:
            published = None
        return _Outcome("draft", draft=replace(
            page, feed_id=feed.id, title=page.title or entry.title,
            language=page.language or entry.language,
            author=page.author or entry.author,
            published_at=entry.published_at or published))


_SNIFFED_TYPES = frozenset({"text/plain", "text/html", "application/octet-stream", ""})
_FEED_START = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|<\?[^>]*>\s*|<!DOCTYPE[^>]*>\s*)*"
    rb"<(?:rss|feed|(?:[a-z0-9]+:)?RDF)\b", re.IGNORECASE | re.DOTALL)
_HTML_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b",
                         re.IGNORECASE | re.DOTALL)


def _sniff(body: bytes) -> str | None:
    """What a body is whatever its label says: "feed" (RSS/Atom/RDF/JSON Feed), "html" or
    None."""
    head, _ = bom_to_utf8(body[:4096])
    if _FEED_START.match(head) or is_json_feed(head):
        return "feed"
    if _HTML_START.match(head):
        return "html"
    return None


def _plain_text(result: FetchResult) -> str:
    """A text/plain page as text, in the charset its server declared (or a BOM says, or
    detection finds); a binary body is refused."""
    body = result.body
    declared = (result.charset or "").lower().replace("_", "-")
    wide = body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or declared.startswith(
        ("utf-16", "utf-32"))
    if not wide and b"\x00" in body[:8192]:
        raise NotAnArticle("That link is a binary file, not a web page or text.",
                           reason="empty")
    return decode_html(body, charset=result.charset)


def _unfeed(url: str) -> str:
    """``feed://host/x`` and ``feed:https://host/x`` (old "subscribe" links) as http(s)."""
    if url[:5].lower() != "feed:":
        return url
    rest = url[5:]
    return rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest


def _body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def find_feed(feeds: FeedStore, ref: str) -> Feed | None:
    """A feed by ``#id``, id or URL."""
    ref = unwrap_link(ref)
    if ref.lstrip("#").isdigit():
        feed_id = parse_id(ref)
        return None if feed_id is None else await feeds.get_feed(feed_id)
    try:
        return await feeds.find_feed(canonical_url(ref))
    except ValueError:
        return None


_T = TypeVar("_T")


def _newest_first(items: list[tuple[FeedEntry, _T]]) -> list[tuple[FeedEntry, _T]]:
    if all(e.published_at is not None for e, _ in items):
        return sorted(items, key=lambda i: (i[0].published_at, -i[0].position), reverse=True)
    return sorted(items, key=lambda i: i[0].position)  # feeds list their newest item first


def _oldest_first_entries(items: list[tuple[FeedEntry, _T]]) -> list[tuple[FeedEntry, _T]]:
    return list(reversed(_newest_first(items)))


def _oldest_first(items: list[tuple[tuple[FeedEntry, SeenItem | None], _T]]
                  ) -> list[tuple[tuple[FeedEntry, SeenItem | None], _T]]:
    if all(e.published_at is not None for (e, _), _o in items):
        return sorted(items, key=lambda i: (i[0][0].published_at, -i[0][0].position))
    return sorted(items, key=lambda i: -i[0][0].position)
