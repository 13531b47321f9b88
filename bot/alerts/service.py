"""Keyword alerts: match every new article against the subscriptions, deliver each hit once.

Two halves, both owned by :class:`AlertService`:

* a new-article listener: keeps an in-memory :class:`~bot.alerts.matching.SubscriptionIndex` in step
  with the store (any process may add or remove subscriptions), matches the article in the
  worker thread and records one pending alert per (subscription, article); the store's unique
  constraint makes that once-only across restarts and re-ingests;
* a dispatcher (a background service; :meth:`AlertService.dispatch_due` is one round): claims
  due alerts grouped by destination, so a burst of matches (a feed backlog, a busy hour) is
  one message, and delivers them, each destination in its own task. A failed delivery is
  retried with exponential backoff up to ``[alerts] max_attempts``; a permanent refusal (DMs
  closed, channel gone) is recorded as skipped and never retried, and pauses every
  subscription of that destination (with the reason, shown by ``/brief alerts``) until its
  owner resumes them. One destination failing never holds up another, nor the ingest. Alerts
  put in a message keep that message's delivery key (:mod:`bot.outbox`): a retry, in any
  process, posts the same message, and the adapter only the parts not yet accepted. A graceful
  stop (:meth:`AlertService.drain`) starts no delivery and lets those under way finish; alerts
  still held when the service is cancelled are released (due at once).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Protocol

from bot import metrics
from bot.alerts.matching import SubscriptionIndex
from bot.alerts.query import CompiledQuery, Document, compile_query
from bot.errors import DeliveryError, QueryError, inert
from bot.loop import run_forever
from bot.models import Article, Destination, Reply, ReplyKind
from bot.outbox import begin
from bot.render import to_item
from bot.store.ports import AlertBatch, ClaimedAlert, Subscription

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import AlertsConfig
    from bot.ports import Deliver, Offload
    from bot.store.ports import AlertStore, ArticleStore, FeedStore, PlatformStateStore

log = logging.getLogger(__name__)

IDLE_SECONDS = 30.0  # the dispatcher looks at the store at least this often
DELIVERY_TIMEOUT_SECONDS = 120.0  # a hung platform call is a failed attempt, not a stall
MAX_DELIVERIES_IN_FLIGHT = 50  # destinations being delivered to at once by the service


@dataclass(frozen=True, slots=True)
class Prepared:
    """A new article's matches at one version of the index (:meth:`AlertService.prepare`)."""

    version: int
    doc: Document | None  # None: the index was empty, nothing was analysed
    matches: list[tuple[int, tuple[str, ...]]]


@dataclass(frozen=True, slots=True)
class TrialResult:
    """What ``/brief alerts test`` found: matches newest first, out of ``scanned`` articles."""

    query: CompiledQuery
    matches: tuple[tuple[Article, tuple[str, ...]], ...]
    total: int
    scanned: int


class AlertRepos(Protocol):
    """The repositories alerts use (a :class:`~bot.store.ports.Store` is one)."""

    @property
    def alerts(self) -> AlertStore: ...

    @property
    def feeds(self) -> FeedStore: ...

    @property
    def articles(self) -> ArticleStore: ...

    @property
    def platform(self) -> PlatformStateStore: ...  # the outbox: posted parts (bot.outbox)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertKit:
    """What the alerts feature uses (wired by :mod:`bot.app`)."""

    store: AlertRepos
    settings: AlertsConfig
    language: str  # [summarizer] language: how queries and articles are analysed
    clock: Clock
    deliver: Deliver
    offload: Offload  # CPU work (compiling, matching) off the event loop


class AlertService:
    name = "alerts"

    def __init__(self, kit: AlertKit) -> None:
        self.store = kit.store
        self.config = kit.settings
        self.language = kit.language
        self.clock = kit.clock
        self.deliver = kit.deliver
        self.offload = kit.offload
        self.index = SubscriptionIndex(language=self.language)
        self._loaded_max_id = 0
        self._broken: set[int] = set()  # stored queries that no longer compile
        self._signature: tuple[int, int, int, float] | None = None
        self._sync_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._held: set[int] = set()  # alert ids claimed and not yet recorded
        self._stopping = False  # draining: claim nothing more
        self._idle = asyncio.Event()
        self._turns = _Turns()  # one delivery at a time per destination, in claim order

    def compile(self, query: str) -> CompiledQuery:
        return compile_query(query, language=self.language)

    # -- the index ---------------------------------------------------------------------------

    async def sync_index(self) -> None:
        """Bring the index in step with the store: new and resumed subscriptions in, removed
        and paused ones out."""
        store = self.store
        async with self._sync_lock:
            signature = await store.alerts.subscriptions_signature()
            if signature == self._signature:
                return
            while True:
                page = await store.alerts.subscriptions_after(self._loaded_max_id)
                if not page:
                    break
                compiled = await self.offload(self._compile_page, page)
                self.index.add_many(compiled)
                self._loaded_max_id = page[-1].id
            count = signature[0]
            paused_changed = (self._signature is not None
                              and signature[2:] != self._signature[2:])
            if paused_changed or count != len(self.index) + len(self._broken):
                stored = await store.alerts.subscription_ids()  # the active ones
                for gone in self.index.ids() - stored:  # removed or paused
                    self.index.discard(gone)
                self._broken &= stored
                resumed = stored - self.index.ids() - self._broken
                if resumed:
                    page = await store.alerts.subscriptions_by_ids(sorted(resumed))
                    compiled = await self.offload(self._compile_page, page)
                    self.index.add_many(compiled)
            self._signature = signature
            log.debug("alert index holds %d subscriptions", len(self.index))

    def _compile_page(self, page: Sequence[Subscription]) -> list[tuple[int, CompiledQuery]]:
        out = []
        for sub in page:
            try:
                out.append((sub.id, compile_query(sub.query, language=self.language,
                                                  max_chars=None)))
            except QueryError as exc:
                self._broken.add(sub.id)
                log.warning("subscription %d no longer compiles (%s); it is ignored",
                            sub.id, str(exc).splitlines()[0])
        return out

    # -- matching ----------------------------------------------------------------------------

    async def on_new_article(self, article: Article) -> None:
        """The engine's new-article listener."""
        await self.match_article(article)

    def prepare(self, title: str, text: str) -> Prepared:
        """A new article matched against the index as it is, in the summary's worker job (the
        engine's ``on_new_article_prepared``): one trip to the worker per ingest."""
        version = self.index.version  # read first: a change after it shows as a new version
        if not len(self.index):
            return Prepared(version, None, [])
        doc = self.index.analyzer.analyze(title=title, text=text)
        version, matches = self.index.match_at(doc)
        return Prepared(version, doc, matches)

    async def on_new_article_prepared(self, article: Article, prepared: Prepared) -> None:
        """The engine's new-article listener, with what :meth:`prepare` found."""
        await self.match_article(article, prepared)

    async def match_article(self, article: Article, prepared: Prepared | None = None) -> int:
        """Record an alert for each subscription ``article`` matches; returns how many are new.
        ``prepared``: its matches at an index version (used while the index is unchanged)."""
        await self.sync_index()
        matches: list[tuple[int, tuple[str, ...]]] = []
        if prepared is not None and prepared.version == self.index.version:
            matches = prepared.matches
        elif len(self.index):
            if prepared is not None and prepared.doc is not None:
                matches = await self.offload(self.index.match_document, prepared.doc)
            else:
                matches = await self.offload(
                    partial(self.index.match, title=article.title, text=article.text))
        now = self.clock()
        if not matches:  # still recorded as matched, so a restart does not look at it again
            await self.store.alerts.record_alerts(article_id=article.id, matches=(), now=now,
                                                  due=now)
            return 0
        # channels whose admin removed the article's feed while others follow it hear nothing
        muted = (await self.store.feeds.channels_muting_feed(article.feed_id)
                 if article.feed_id is not None else frozenset())
        created = await self.store.alerts.record_alerts(
            article_id=article.id, matches=matches, now=now,
            due=now + timedelta(seconds=self.config.batch_seconds), muted_channels=muted)
        log.info("article %d matched subscriptions %s (%d new alerts)", article.id,
                 ",".join(str(m[0]) for m in matches[:20]), created)
        if created:
            self._wake.set()
        return created

    async def catch_up(self) -> int:
        """Match the articles stored but never matched (the process stopped in between, or
        matching failed), from the last ``[alerts] catch_up_hours``; returns new alerts."""
        since = self.clock() - timedelta(hours=self.config.catch_up_hours)
        created = 0
        while articles := await self.store.articles.unmatched_articles(since=since,
                                                                              limit=200):
            for article in articles:
                created += await self.match_article(article)
        if created:
            log.info("caught up on unmatched articles: %d new alerts", created)
        return created

    async def try_query(self, query: str, *, limit: int) -> TrialResult:
        """Which stored articles ``query`` matches, newest first (``/brief alerts test``)."""
        compiled = self.compile(query)
        found: list[tuple[Article, tuple[str, ...]]] = []
        total = scanned = 0
        page_size = 200
        while scanned < self.config.test_scan_limit:
            page = await self.store.articles.newest_articles(
                limit=min(page_size, self.config.test_scan_limit - scanned), offset=scanned)
            if not page:
                break
            scanned += len(page)
            hits = await self.offload(_match_page, compiled, page)
            total += len(hits)
            found.extend(hits[: max(0, limit - len(found))])
        return TrialResult(compiled, tuple(found), total, scanned)

    # -- delivery ----------------------------------------------------------------------------

    async def dispatch_due(self) -> int:
        """Deliver every alert that is due now, through the service loop's own path
        (:meth:`_start_due`), and wait for the deliveries; returns how many messages went out."""
        delivered = 0
        inflight: set[asyncio.Task[bool]] = set()
        while True:
            started = await self._start_due(inflight)
            if not started:
                return delivered
            results = await asyncio.gather(*started, return_exceptions=True)
            delivered += sum(r is True for r in results)

    async def _deliver(self, batch: AlertBatch) -> bool:
        """Deliver a claimed batch. Alerts an earlier attempt already put in a message (its
        delivery key, kept with the alerts) go out as that same message (:mod:`bot.outbox`),
        the others in a new one, so a retry never repeats what was posted. While this runs the
        alerts are held: a stop that cancels it releases them (:meth:`release_claims`)."""
        ids = [a.id for a in batch.alerts]
        self._held.update(ids)
        delivered = True
        # A burst claimed as several batches for one person goes out in the order claimed
        # (oldest first), one message at a time, whatever the database's latency.
        async with self._turns.take(batch.destination):
            try:
                keys = await self.store.alerts.assign_delivery_keys(
                    ids, key=f"alerts:{uuid.uuid4().hex}")
            except Exception:
                log.exception("alerts %s to %s: could not record their delivery", ids,
                              batch.destination)
                await self._retry(ids, "internal error while delivering")
                delivered = False
            else:
                groups: dict[str, list[ClaimedAlert]] = {}
                for alert in batch.alerts:
                    groups.setdefault(keys.get(alert.id, ""), []).append(alert)
                for key, alerts in groups.items():
                    sub = AlertBatch(destination=batch.destination, alerts=tuple(alerts))
                    delivered &= await self._deliver_one(sub, key=key or None)
        # not reached when cancelled: the alerts stay held until released
        self._held.difference_update(ids)
        if self._stopping and not self._held:
            self._idle.set()
        return delivered

    async def _deliver_one(self, batch: AlertBatch, *, key: str | None) -> bool:
        store = self.store
        ids = [a.id for a in batch.alerts]
        try:
            async with asyncio.timeout(DELIVERY_TIMEOUT_SECONDS):
                reply = self.render(batch)
                if key is not None:
                    begun = await begin(store.platform, key=key, destination=batch.destination,
                                        reply=reply, note="", now=self.clock())
                    reply = begun.reply
                await self.deliver(batch.destination, reply)
        except TimeoutError:
            log.warning("alerts %s to %s timed out, will retry", ids, batch.destination)
            metrics.ALERT_DELIVERIES.labels("retry").inc()
            await self._retry(ids, "the platform did not answer in time")
            return False
        except DeliveryError as exc:
            if exc.permanent:
                log.warning("alerts %s to %s skipped for good: %s", ids, batch.destination, exc)
                metrics.ALERT_DELIVERIES.labels("failed").inc()
                await store.alerts.mark_alerts_skipped(ids, error=str(exc))
                await self._pause(batch.destination, str(exc))
            else:
                log.warning("alerts %s to %s failed (attempt %d), will retry: %s", ids,
                            batch.destination, max(a.attempts for a in batch.alerts), exc)
                metrics.ALERT_DELIVERIES.labels("retry").inc()
                await self._retry(ids, str(exc))
            return False
        except Exception:
            log.exception("delivering alerts %s to %s failed", ids, batch.destination)
            metrics.ALERT_DELIVERIES.labels("retry").inc()
            await self._retry(ids, "internal error while delivering")
            return False
        await store.alerts.mark_alerts_sent(ids, now=self.clock())
        metrics.ALERT_DELIVERIES.labels("delivered").inc()
        log.info("delivered alerts %s to %s", ids, batch.destination)
        return True

    async def _pause(self, destination: Destination, reason: str) -> None:
        """The destination is gone for good: pause its subscriptions (no more matching, no
        more alerts) until the owner resumes them; ``/brief alerts`` shows the reason."""
        paused = await self.store.alerts.pause_destination(
            destination, reason=reason or "the platform refused the message",
            now=self.clock())
        # the index drops them at its next sync (every article syncs first), in every process
        if paused:
            log.warning("paused subscriptions %s of %s: %s", paused, destination, reason)

    async def _retry(self, ids: list[int], error: str) -> None:
        await self.store.alerts.mark_alerts_retry(
            ids, error=error, now=self.clock(),
            base_seconds=self.config.retry_base_seconds,
            max_seconds=self.config.retry_max_seconds, max_attempts=self.config.max_attempts)

    def render(self, batch: AlertBatch) -> Reply:
        """One message for a destination: which subscriptions matched, then one item per
        article (title linked, source, summary, "matched: ..." terms)."""
        subs: dict[int, str] = {}
        for alert in batch.alerts:
            subs.setdefault(alert.subscription_id, self.compile_shown(alert.query))
        by_article: dict[int, list[ClaimedAlert]] = {}
        for alert in batch.alerts:
            by_article.setdefault(alert.article.id, []).append(alert)
        items = []
        for alerts in by_article.values():
            if len(subs) == 1:
                note = "matched: " + ", ".join(_unique(t for a in alerts for t in a.matched))
            else:
                note = "matched: " + "; ".join(
                    f"{', '.join(a.matched)} (#{a.subscription_id})" for a in alerts)
            items.append(to_item(alerts[0].article, sentences=self.config.summary_sentences,
                                 note=note))
        n = len(items)
        whose = "your" if batch.destination.is_direct else "this channel's"
        listed = ", ".join(f"#{sid} `{shown}`" for sid, shown in subs.items())
        text = (f"Alert: {n} new article{'s' if n != 1 else ''} "
                f"match{'es' if n == 1 else ''} {whose} "
                f"subscription{'s' if len(subs) > 1 else ''} {listed}.")
        if len(subs) == 1:
            footer = (f"`/brief unsubscribe {next(iter(subs))}` stops these alerts; "
                      "`/brief alerts` lists them all.")
        else:
            footer = "`/brief unsubscribe <id>` stops one; `/brief alerts` lists them all."
        return Reply(text=text, items=tuple(items), kind=ReplyKind.ALERT, ephemeral=False,
                     footer=footer)

    def compile_shown(self, query: str) -> str:
        """The canonical reading of a stored query (safe to show in a message)."""
        try:
            return inert(compile_query(query, language=self.language, max_chars=None).canonical)
        except QueryError:
            return "(query no longer valid)"

    # -- the background service ---------------------------------------------------------------

    async def run(self) -> None:
        """Deliver due alerts until cancelled; wakes early when new alerts are recorded.

        Each destination's batch is delivered in its own task (at most
        ``MAX_DELIVERIES_IN_FLIGHT`` at once, claimed only when a slot is free so no claim
        waits out its lease): a platform that hangs holds up its own alerts, never the others'.
        """
        try:  # load the index now rather than when the first article arrives
            await self.sync_index()
            await self.catch_up()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("loading the alert subscriptions failed; retrying on the next article")
        inflight: set[asyncio.Task[bool]] = set()
        try:
            await run_forever(partial(self._round, inflight), name=self.name, log=log,
                              retry=1.0, max_retry=IDLE_SECONDS)
        finally:
            pending = list(inflight)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self.release_claims()

    async def drain(self, seconds: float) -> bool:
        """Claim nothing more, and wait up to ``seconds`` for the deliveries under way to be
        delivered and recorded; True if none is left in flight."""
        self._stopping = True
        if not self._held:
            return True
        self._idle.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            log.warning("alerts: %d alert(s) still being delivered after %g s; stopping them "
                        "(their claims are released)", len(self._held), seconds)
            return False
        return True

    async def release_claims(self) -> int:
        """Give back the alerts claimed and not delivered (a stop cut their delivery short):
        due again at once, in any process, instead of after the lease."""
        held = sorted(self._held)
        self._held.clear()
        if not held:
            return 0
        try:
            await self.store.alerts.release_alerts(held, now=self.clock())
        except Exception:  # the database may be what failed; the lease still runs out
            log.exception("alerts %s: could not release the claims", held)
            return 0
        log.info("alerts: released %d claimed alert(s) on stopping", len(held))
        return len(held)

    async def _round(self, inflight: set[asyncio.Task[bool]]) -> float:
        """Start the due deliveries, then wait for a new alert, a finished delivery (a free
        slot, a retry time) or the next due time."""
        self._wake.clear()
        await self._start_due(inflight)
        due = await self.store.alerts.next_alert_due()
        delay = IDLE_SECONDS
        if due is not None:
            delay = min(IDLE_SECONDS, max(0.05, (due - self.clock()).total_seconds()))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({woken, *inflight}, timeout=delay,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
        return 0.0

    async def _start_due(self, inflight: set[asyncio.Task[bool]]) -> list[asyncio.Task[bool]]:
        """Claim due batches while delivery slots are free; deliver each in its own task
        (added to ``inflight`` until it is done); returns the tasks it started."""
        started: list[asyncio.Task[bool]] = []
        while len(inflight) < MAX_DELIVERIES_IN_FLIGHT and not self._stopping:
            batches = await self.store.alerts.claim_due_alerts(
                now=self.clock(), window_seconds=self.config.batch_seconds,
                lease_seconds=self.config.lease_seconds,
                max_per_destination=self.config.max_per_message,
                max_destinations=MAX_DELIVERIES_IN_FLIGHT - len(inflight))
            if not batches:
                return started
            for batch in batches:
                task = asyncio.create_task(self._deliver(batch),
                                           name=f"alerts-to-{batch.destination}")
                inflight.add(task)
                started.append(task)
                task.add_done_callback(partial(_delivery_done, inflight))
        return started


class _Turns:
    """Per-destination locks, kept only while a delivery to that destination is running or
    waiting (asyncio.Lock wakes its waiters first come, first served)."""

    def __init__(self) -> None:
        self._locks: dict[Destination, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def take(self, destination: Destination) -> AsyncIterator[None]:
        lock, users = self._locks.get(destination, (asyncio.Lock(), 0))
        self._locks[destination] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[destination]
            if users == 1:
                del self._locks[destination]
            else:
                self._locks[destination] = (lock, users - 1)


def _delivery_done(inflight: set[asyncio.Task[bool]], task: asyncio.Task[bool]) -> None:
    inflight.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("delivering alerts failed (%s)", task.get_name(), exc_info=task.exception())


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _match_page(query: CompiledQuery, page: Sequence[Article]
                ) -> list[tuple[Article, tuple[str, ...]]]:
    out = []
    for article in page:
        terms = query.match(title=article.title, text=article.text)
        if terms is not None:
            out.append((article, terms))
    return out
