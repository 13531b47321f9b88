"""What the features need from storage: one :class:`typing.Protocol` per aggregate.

A backend (``bot/store/sqlite``, ``bot/store/postgres``) implements every protocol here and
hands out a :class:`Store` whose attributes are the repositories::

    store = await open_store(path)          # bot.store.open_store: SQLite
    await store.articles.add_article(...)   # ArticleStore
    await store.feeds.claim_due_feeds(...)  # FeedStore
    await store.alerts.record_alerts(...)   # AlertStore (subscriptions and their alerts)
    await store.digests.claim_digest(...)   # DigestStore (schedules and runs)
    await store.platform.get_meta(...)      # PlatformStateStore
    await store.close()

A feature or command receives only the repositories it uses, typed by these protocols, never a
backend class. Records (:mod:`bot.store.records`) are frozen data; no row or connection leaves
a backend.

Rules every backend keeps (the same tests run on each):

- **Isolation.** A read never sees rows another task or process has not committed, nor rows
  that are then rolled back. Each method is atomic: it commits everything it writes or nothing.
- **Claims** (:meth:`FeedStore.claim_due_feeds`, :meth:`AlertStore.claim_due_alerts`,
  :meth:`DigestStore.claim_digest`) hand each due item to exactly one caller, whatever the
  number of processes, until its lease runs out. They are database operations, never in-memory
  flags: SQLite takes the single writer lock (BEGIN IMMEDIATE); PostgreSQL can select the due
  rows ``FOR UPDATE SKIP LOCKED`` and move their lease in the same statement, and claim a
  digest occurrence with ``INSERT .. ON CONFLICT DO UPDATE .. WHERE <lease expired> RETURNING``.
- **Limits** (:meth:`AlertStore.add_subscription`'s ``limit``) hold under races: the count and
  the insert are one atomic step (SQLite: the writer lock; PostgreSQL: e.g. a transaction-scoped
  advisory lock on the owner, or SERIALIZABLE with retry).
- **"New since the last digest"** is an article-id window: a digest posts the articles with
  ``after_id < id <= through_id`` and remembers ``through_id`` (the *watermark*) for the next
  one. This is correct only if no article can be committed later with an id at or below a
  watermark already handed out. :meth:`ArticleStore.max_article_id` and
  :meth:`ArticleStore.article_id_watermark` must therefore return *safe* watermarks. SQLite has
  one writer and commits ids in increasing order, so ``max(id)`` is safe (tested in
  ``tests/test_store_ports.py``). PostgreSQL sequences hand out ids that commit out of order: its
  watermark must stay below every id still in flight (for example the lowest id of any
  uncommitted insert minus one, tracked with ``pg_snapshot_xmin`` on an ``xid8`` column), or
  late commits are skipped by every digest.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Protocol

from bot.models import Article, ArticleDraft, Destination
from bot.store.records import (
    KNOWN_STATUSES,
    AddStatus,
    AlertBatch,
    AlertState,
    AlertStats,
    ClaimedAlert,
    ClaimState,
    Delivery,
    DigestArticle,
    DigestClaim,
    DigestClaimRequest,
    DigestFinish,
    DigestSchedule,
    Due,
    Feed,
    LastDigest,
    MissedDigest,
    NewArticle,
    NewDelivery,
    OwnerKind,
    SeenItem,
    StoryRow,
    StoryState,
    Subscription,
    TimeRule,
)


class ArticleStore(Protocol):
    """Articles (with their full-text index and the other URLs that lead to them).

    Used by: the engine (ingest: dedupe, add; /brief: latest, search, get, suggest), feeds intake
    (article by URL), alerts (unmatched articles after a crash, newest for ``alerts test``),
    digests (the id window and its watermark).
    """

    async def add_article(
        self,
        draft: ArticleDraft,
        *,
        title: str,
        summary: Sequence[str],
        content_hash: str,
        canonical_url: str | None,
        ingested_at: datetime,
        backlog: bool = False,
    ) -> Article | None:
        """Store a new article; None when its canonical URL or text hash is already known.

        ``backlog``: taken in silently (a feed's current items when it is added).
        """
        ...

    async def add_article_url(self, url: str, article_id: int) -> None:
        """Another URL that leads to a stored article (the link as typed, a redirect)."""
        ...

    async def find_known_article(
        self, *, canonical_url: str | None, content_hash: str | None
    ) -> Article | None:
        """The stored article with this canonical URL or text hash, if any."""
        ...

    async def get_article(self, article_id: int) -> Article | None:
        ...

    async def articles_by_ids(self, ids: Sequence[int]) -> dict[int, Article]:
        """The stored articles among ``ids``, by id."""
        ...

    async def article_by_url(self, url: str) -> Article | None:
        """The stored article whose canonical URL, or one of whose other URLs, is ``url``."""
        ...

    async def latest_articles(self, limit: int) -> list[Article]:
        ...

    async def newest_articles(self, *, limit: int, offset: int = 0) -> list[Article]:
        """Stored articles, newest first (published, else ingested), a page at a time."""
        ...

    async def articles_since(
        self, since: datetime, *, feed_ids: Sequence[int] | None = None, limit: int = 10_000
    ) -> list[Article]:
        """Articles ingested after ``since``, oldest first; only from ``feed_ids`` if given."""
        ...

    async def count_articles(self) -> int:
        ...

    async def search_articles(self, text: str, *, limit: int) -> list[Article]:
        """Matches of ``text`` (words; "quoted phrases"); all words first, then any word.

        Order: when every word or phrase is in at most 2000 articles, best first (bm25, title
        weighted 5x); when one is in more (a *common* word), newest first among the newest
        matches, those with the one word or phrase in the title first. The cost must not grow
        with the store: never rank or count every match of a common word."""
        ...

    async def suggest_terms(self, text: str, *, limit: int = 3) -> list[str]:
        """Stored words close to the words of ``text``: "did you mean" for a typo."""
        ...

    async def unmatched_articles(self, *, since: datetime, limit: int = 1000) -> list[Article]:
        """Articles stored after ``since`` that were never matched against the subscriptions
        (the process stopped between storing and matching), oldest first; never a backlog."""
        ...

    async def article_id_watermark(self, *, since: datetime) -> int:
        """The largest id below every article ingested after ``since``."""
        ...

    async def max_article_id(self) -> int:
        """Every article with an id up to this one is committed (SQLite's single writer
        commits ids in increasing order), so it is a safe digest watermark."""
        ...

    async def digest_articles(
        self, *, after_id: int, through_id: int, feed_ids: Sequence[int] | None = None,
        limit: int = 100_000,
    ) -> list[DigestArticle]:
        """Articles with ``after_id < id <= through_id`` (ids grow with each insert, so this
        is "stored since"), only from ``feed_ids`` if given; oldest first; never a backlog."""
        ...

    async def add_articles(self, batch: Sequence[NewArticle]) -> int:
        """Store many articles in one transaction (imports, the scale benchmark); those whose
        canonical URL or text hash is known are skipped. Returns how many were stored."""
        ...

    async def prune_articles(self, *, before: datetime, below_id: int | None,
                             limit: int) -> int:
        """Delete up to ``limit`` of the oldest articles ingested before ``before`` (with their
        index rows, other URLs and delivered alerts), never one with an id at or above
        ``below_id`` (an unsent digest needs it) nor one a pending alert needs. Returns how
        many went."""
        ...

    async def refresh_search_terms(self) -> int:
        """Rebuild the cached list of the most frequent stored terms from the FTS vocabulary
        (reads the whole vocabulary: maintenance work, not a request's)."""
        ...


class FeedStore(Protocol):
    """Feeds with their health, the channels that follow them, and the items each feed showed.

    Used by: feeds intake and poller (claim due feeds, record success/failure, seen items), the
    ``/brief feeds`` verbs (add, link, unlink, list, remove), digests (a channel's feeds).
    """

    async def channel_feed_ids(self, *, platform: str, channel_id: str) -> list[int]:
        """Ids of the feeds this channel follows (empty: the channel follows all articles)."""
        ...

    async def add_feed(self, url: str, *, now: datetime, next_poll_at: datetime,
                       title: str | None = None) -> tuple[Feed, bool]:
        """The feed for ``url``, created if new; (feed, created)."""
        ...

    async def link_channel_feed(self, *, platform: str, channel_id: str, feed_id: int) -> bool:
        """Let a channel follow a feed (lifting a mute); False if it already did."""
        ...

    async def mute_channel_feed(self, *, platform: str, channel_id: str, feed_id: int) -> bool:
        """A channel refuses a feed's articles (its digest, its channel alerts: the alert
        service passes ``channels_muting_feed`` to ``record_alerts``) and stops following
        it; False if it already refused them."""
        ...

    async def channel_muted_feed_ids(self, *, platform: str, channel_id: str) -> list[int]:
        """Ids of the feeds whose articles this channel refuses."""
        ...

    async def channels_feed_ids(self, channels: Sequence[tuple[str, str]]
                                ) -> dict[tuple[str, str], list[int]]:
        """:meth:`channel_feed_ids` of many (platform, channel id) at once, in one read (a
        digest pass over many channels); a channel that follows no feed is left out."""
        ...

    async def channels_muted_feed_ids(self, channels: Sequence[tuple[str, str]]
                                      ) -> dict[tuple[str, str], list[int]]:
        """:meth:`channel_muted_feed_ids` of many channels at once; those muting none are
        left out."""
        ...

    async def channels_muting_feed(self, feed_id: int) -> frozenset[tuple[str, str]]:
        """(platform, channel id) of every channel that refuses this feed's articles."""
        ...

    async def unlink_channel_feed(self, *, platform: str, channel_id: str,
                                  feed_id: int) -> bool:
        """Stop a channel following a feed; False if it did not."""
        ...

    async def feed_follower_count(self, feed_id: int) -> int:
        """How many channels follow a feed."""
        ...

    async def get_feed(self, feed_id: int) -> Feed | None:
        ...

    async def find_feed(self, url: str) -> Feed | None:
        ...

    async def list_feeds(self) -> list[Feed]:
        ...

    async def remove_feed(self, feed_id: int) -> bool:
        """Stop polling a feed (its articles stay); False if there was no such feed."""
        ...

    async def claim_due_feeds(self, *, now: datetime, lease_until: datetime,
                              limit: int = 10_000, all_feeds: bool = False) -> list[Feed]:
        """Feeds due at ``now`` (every feed with ``all_feeds``), claimed until ``lease_until``.

        The claim is the move of ``next_poll_at`` to the lease, in one transaction: another
        process sees the feed as not due. A process that dies mid-poll loses the claim when
        the lease runs out.
        """
        ...

    async def next_feed_poll_at(self) -> datetime | None:
        ...

    async def release_feed_claims(self, feed_ids: Sequence[int], *, lease_until: datetime,
                                  now: datetime) -> int:
        """A stopping process gives back feeds it claimed until ``lease_until`` and did not
        finish polling: due again at ``now`` (not after the lease). A feed whose poll was
        recorded meanwhile keeps its new time. Returns how many were released."""
        ...

    async def record_feed_success(
        self, feed_id: int, *, now: datetime, next_poll_at: datetime, etag: str | None,
        last_modified: str | None, body_hash: str | None, result: str,
        title: str | None = None, site_url: str | None = None, primed: bool = True,
    ) -> None:
        """A poll worked: store the validators for the next conditional GET, reset failures."""
        ...

    async def record_feed_failure(self, feed_id: int, *, now: datetime, error: str,
                                  next_poll_at: datetime) -> None:
        ...

    async def seen_feed_items(self, feed_id: int, *, keys: Sequence[str],
                              guids: Sequence[str]) -> dict[str, SeenItem]:
        """What the feed's items were recorded as, by key and by ``"guid:" + guid``."""
        ...

    async def record_feed_item(
        self, feed_id: int, *, key: str, guid: str | None, link: str | None, status: str,
        now: datetime, article_id: int | None = None, note: str | None = None,
    ) -> None:
        """Record what became of an item; a pending item counts one more attempt."""
        ...

    async def record_backlog_items(self, feed_id: int, items: Sequence[tuple[str, str | None,
                                                                           str | None]], *,
                                   now: datetime, note: str) -> None:
        """Remember many (key, guid, link) items as seen but not stored, in one transaction."""
        ...

    async def feed_item_counts(self) -> dict[int, dict[str, int]]:
        ...

    async def prune_feed_items(self, *, before: datetime, limit: int) -> int:
        """Forget up to ``limit`` items first seen before ``before``. An item still shown by
        its feed after that would be taken in again, so callers leave a margin beyond the
        articles' retention."""
        ...


class AlertStore(Protocol):
    """Keyword subscriptions and the alerts they produced.

    Used by: the alerts service (index of active subscriptions, record matches, claim and mark
    deliveries, pause a refused destination) and the ``/brief alerts`` verbs (add with a limit,
    list, delete, resume, stats). The "alert once" rule is a uniqueness constraint on
    (subscription, article); delivery is a leased claim.
    """

    async def add_subscription(
        self, *, platform: str, owner_kind: OwnerKind, owner_id: str, created_by: str,
        query: str, query_key: str, language: str, now: datetime, limit: int,
    ) -> tuple[AddStatus, Subscription | None]:
        """Store a subscription unless the owner holds ``limit`` already or this very query.

        Returns ("added", new) or ("duplicate", existing) or ("limit", None); the count and
        the insert happen in one immediate transaction, so the limit holds under races.
        Subscribing again to a paused subscription's query resumes it: ("resumed", it).
        """
        ...

    async def get_subscription(self, subscription_id: int) -> Subscription | None:
        ...

    async def delete_subscription(self, subscription_id: int) -> bool:
        """Remove a subscription and its alerts (pending ones are never sent)."""
        ...

    async def subscriptions_of(
        self, *, platform: str, owner_kind: OwnerKind, owner_id: str
    ) -> list[Subscription]:
        ...

    async def channel_subscription_queries(self, *, platform: str, channel_id: str) -> list[str]:
        """The queries a channel subscribed to (the digest ranks what the channel cares about)."""
        ...

    async def channels_subscription_queries(self, channels: Sequence[tuple[str, str]]
                                            ) -> dict[tuple[str, str], list[str]]:
        """:meth:`channel_subscription_queries` of many (platform, channel id) at once, in
        one read; a channel with no subscription is left out."""
        ...

    async def subscriptions_after(self, after_id: int, *, limit: int = 10_000
                                  ) -> list[Subscription]:
        """Active (not paused) subscriptions with an id above ``after_id``, by id (loading
        the index in pages)."""
        ...

    async def subscriptions_by_ids(self, ids: Sequence[int]) -> list[Subscription]:
        """The active subscriptions among ``ids``, by id (resumed ones, back into the index)."""
        ...

    async def subscription_ids(self) -> set[int]:
        """Ids of the active (not paused) subscriptions."""
        ...

    async def subscriptions_signature(self) -> tuple[int, int, int, float]:
        """(active count, highest id, paused count, sum of pause times): changes whenever any
        process adds, removes, pauses or resumes a subscription."""
        ...

    async def pause_workspace_subscriptions(self, *, platform: str, workspace: str,
                                            id_prefix: str | None, reason: str,
                                            now: datetime) -> int:
        """A workspace removed the app: pause its active subscriptions with ``reason``, marked
        as paused by ``workspace``. Its rows are those whose ``owner_id`` starts with
        ``id_prefix`` (``"T2:"``), or with None those whose ``owner_id`` has no ``:``. Pending
        alerts stay pending (held: paused subscriptions are not claimed). Returns how many."""
        ...

    async def resume_workspace_subscriptions(self, *, platform: str, workspace: str) -> int:
        """Resume exactly the subscriptions ``workspace`` paused (not those paused for another
        reason); returns how many."""
        ...

    async def pause_destination(
        self, destination: Destination, *, reason: str, now: datetime,
    ) -> list[int]:
        """Pause every active subscription whose alerts go to ``destination`` (it refused
        for good) and skip their pending alerts. Returns the ids paused now."""
        ...

    async def resume_subscriptions(
        self, *, platform: str, owner_kind: OwnerKind, owner_id: str,
        subscription_id: int | None = None,
    ) -> list[int]:
        """Resume the owner's paused subscriptions (or only ``subscription_id``); their ids."""
        ...

    async def record_alerts(
        self, *, article_id: int, matches: Sequence[tuple[int, Sequence[str]]],
        now: datetime, due: datetime, muted_channels: Collection[tuple[str, str]] = (),
    ) -> int:
        """Record one pending alert per (subscription, article) never recorded before.

        Returns how many are new. A subscription deleted or paused meanwhile is skipped, and so
        is the subscription of a channel in ``muted_channels`` ((platform, channel id): the
        channels that refuse the article's feed, see ``FeedStore.channels_muting_feed``). The
        article is marked as matched in the same transaction (with or without matches).
        """
        ...

    async def claim_due_alerts(
        self, *, now: datetime, window_seconds: float, lease_seconds: float,
        max_per_destination: int, max_destinations: int = 50,
    ) -> list[AlertBatch]:
        """Claim due alerts, grouped by destination, in one immediate transaction.

        A destination is due when one of its pending alerts is; its batch takes every pending
        alert that falls due within ``window_seconds`` from now (those recorded in the batching
        window), oldest first, at most ``max_per_destination``. Claimed alerts get one more
        attempt and are leased: not due again before ``lease_seconds``.
        """
        ...

    async def mark_alerts_sent(self, ids: Sequence[int], *, now: datetime) -> None:
        ...

    async def mark_alerts_retry(
        self, ids: Sequence[int], *, error: str, now: datetime, base_seconds: float,
        max_seconds: float, max_attempts: int,
    ) -> None:
        """After a failed delivery: due again after base * 2^(attempts-1) seconds (at most
        ``max_seconds``), or ``failed`` once ``max_attempts`` deliveries were tried."""
        ...

    async def mark_alerts_skipped(self, ids: Sequence[int], *, error: str) -> None:
        """The destination refused for good (DMs closed, channel gone): never retried."""
        ...

    async def assign_delivery_keys(self, ids: Sequence[int], *, key: str) -> dict[int, str]:
        """The delivery each alert goes out in: alerts without one get ``key``; alerts that an
        earlier attempt delivered under another key keep it (a retry is the same message).
        Returns each id's key."""
        ...

    async def release_alerts(self, ids: Sequence[int], *, now: datetime) -> None:
        """A stopping process gives back alerts it claimed and did not deliver: pending and
        due at ``now``, the attempt not counted."""
        ...

    async def next_alert_due(self) -> datetime | None:
        ...

    async def alert_stats(self, subscription_ids: Sequence[int]) -> dict[int, AlertStats]:
        ...

    async def alerts_for_article(self, article_id: int) -> list[AlertState]:
        """The alerts recorded for one article, by subscription (delivery state included)."""
        ...


class DigestStore(Protocol):
    """Daily digest schedules and the run rows that make each digest post exactly once.

    Used by: the digest scheduler (due schedules, claim, finish, fail, skip, defer) and the
    ``/brief digest`` verbs (set, off, show, now). A scheduled occurrence is one unique row
    (platform, channel, local date): claiming it is atomic across processes.
    """

    async def set_digest_schedule(
        self, *, platform: str, channel_id: str, rule: TimeRule, first: Due,
        by: str | None, now: datetime,
    ) -> DigestSchedule:
        """Create or replace the channel's schedule (enabled, due first at ``first``)."""
        ...

    async def pause_workspace_digests(self, *, platform: str, workspace: str,
                                      id_prefix: str | None, reason: str,
                                      now: datetime) -> int:
        """A workspace removed the app: turn off its enabled digests with ``reason`` (shown by
        ``/brief digest``), marked as paused by ``workspace``. Rows are chosen by ``channel_id``
        as in :meth:`AlertStore.pause_workspace_subscriptions`. Returns how many."""
        ...

    async def resume_workspace_digests(self, *, platform: str, workspace: str,
                                       now: datetime) -> int:
        """Turn on again exactly the digests ``workspace`` paused, from their next occurrence
        (the scheduler records the ones missed meanwhile as skipped); returns how many."""
        ...

    async def disable_digest(self, *, platform: str, channel_id: str, reason: str,
                             by: str | None, now: datetime) -> bool:
        """Turn the channel's digest off, keeping the setting; False when none was on."""
        ...

    async def get_digest_schedule(self, *, platform: str, channel_id: str
                                  ) -> DigestSchedule | None:
        ...

    async def due_digest_schedules(
        self, *, now: datetime, platforms: Sequence[str] | None = None, limit: int = 100_000,
    ) -> list[DigestSchedule]:
        """Enabled schedules whose next occurrence is due and not held or backing off; only
        on ``platforms`` if given (a process claims only what it can post)."""
        ...

    async def reserve_due_digests(
        self, *, now: datetime, until: datetime, platforms: Sequence[str] | None = None,
        limit: int,
    ) -> list[DigestSchedule]:
        """Take up to ``limit`` of the schedules :meth:`due_digest_schedules` would list
        (earliest due first) and hide them from every process's due list until ``until``
        (their ``not_before``), in one atomic step: processes reserving at once get disjoint
        sets (on PostgreSQL ``FOR UPDATE SKIP LOCKED``: none waits for another). A
        reservation is only a hint; the claim is what makes an occurrence one process's. A
        process that dies holding reservations delays those schedules until ``until``."""
        ...

    async def digest_pool_floor(
        self, *, now: datetime, platforms: Sequence[str] | None = None,
    ) -> tuple[int | None, bool]:
        """Over the schedules due now: the lowest article id their last digests went up to,
        and whether any has never had a digest (it starts from the last 24 hours)."""
        ...

    async def next_digest_wake(self, *, platforms: Sequence[str] | None = None
                               ) -> datetime | None:
        """When the scheduler next has something to do on ``platforms`` (None: nothing is
        scheduled there)."""
        ...

    async def last_digest(self, *, platform: str, channel_id: str) -> LastDigest | None:
        ...

    async def claim_digest(
        self, *, platform: str, channel_id: str, local_date: date, due_at: datetime,
        owner: str, now: datetime, lease_until: datetime,
        next_local_date: date, next_due_at: datetime,
    ) -> DigestClaim:
        """Claim the occurrence ``local_date`` for ``owner`` until ``lease_until``.

        Exactly one caller gets ``WON`` for an occurrence until it is finished, failed or its
        lease expires, whatever the number of processes: the row is inserted (or taken over)
        inside one immediate transaction. ``next_*`` is where the schedule moves when the
        occurrence turns out to be done already. A won claim carries the channel's last
        digest and the occurrences skipped since it (what the digest must mention).
        """
        ...

    async def claim_digests(
        self, requests: Sequence[DigestClaimRequest], *, owner: str, now: datetime,
        lease_until: datetime,
    ) -> list[DigestClaim]:
        """:meth:`claim_digest` for each of ``requests`` (answers in the same order), in one
        trip to the database: each occurrence is claimed (or found held, done or stale)
        exactly as a :meth:`claim_digest` call would; none waits for another process."""
        ...

    async def finish_digest(
        self, *, run_id: int, owner: str, sent: bool, period_start: datetime | None,
        period_end: datetime, through_article_id: int, items: int, late: bool,
        now: datetime, following: Due | None = None,
    ) -> bool:
        """Record that run ``run_id`` was posted (``sent``) or had nothing to post, and move
        a scheduled run's schedule to ``following`` (its next occurrence, which the digests
        feature computes: the store keeps time rules, it does not evaluate them). Without
        ``following`` the schedule stays put and its next claim finds the occurrence done.
        False when ``owner`` had lost the claim."""
        ...

    async def finish_digests(self, finishes: Sequence[DigestFinish], *, owner: str
                             ) -> list[bool]:
        """:meth:`finish_digest` for each of ``finishes`` (answers in the same order), in one
        trip to the database."""
        ...

    async def fail_digest(self, *, run_id: int, owner: str, error: str, retry_at: datetime,
                          now: datetime) -> None:
        """A post failed for now: keep the occurrence, retry it from ``retry_at``."""
        ...

    async def disable_digest_after_failure(
        self, *, run_id: int, owner: str, platform: str, channel_id: str, reason: str,
        now: datetime,
    ) -> None:
        """The platform refused the channel for good: stop its digest, keep why."""
        ...

    async def defer_digest_schedule(self, *, platform: str, channel_id: str,
                                    expected_local_date: date, until: datetime) -> None:
        """Look at the schedule again only from ``until`` (a pass that reserved it could not
        handle it: ``until`` replaces the reservation's time)."""
        ...

    async def skip_digests(
        self, *, platform: str, channel_id: str, expected_local_date: date,
        local_dates: Sequence[tuple[date, datetime]], reason: str,
        next_local_date: date, next_due_at: datetime, now: datetime,
    ) -> bool:
        """Record occurrences missed past their grace period and move the schedule to
        ``next_local_date``. False when the schedule no longer points at
        ``expected_local_date`` (another process or a command changed it)."""
        ...

    async def missed_digests(self, *, platform: str, channel_id: str,
                             after_run_id: int | None) -> list[MissedDigest]:
        """Occurrences skipped since the run ``after_run_id`` (the last one posted)."""
        ...

    async def start_manual_digest(self, *, platform: str, channel_id: str, owner: str,
                                  now: datetime) -> tuple[int, LastDigest | None]:
        """A run for ``/brief digest now`` (no local date: it never blocks the schedule)."""
        ...

    async def abandon_manual_digest(self, *, run_id: int, error: str, now: datetime) -> None:
        ...

    async def unsent_article_floor(self) -> int | None:
        """The lowest article id the enabled schedules' last digests went up to: articles
        above it may still be posted by a digest (None: no enabled schedule has posted yet)."""
        ...

    async def prune_digest_runs(self, *, before: datetime, limit: int) -> int:
        """Forget up to ``limit`` finished runs created before ``before``, keeping each
        channel's latest posted run (the next digest starts after it) and anything after it."""
        ...


class StoryStore(Protocol):
    """The digests' stories kept in the database (issue 17): each placed article's story terms
    and story, and one state row (what they cover, their generation, the placing lease).

    Used by: digests (:mod:`bot.digests.build` and :mod:`bot.digests.stories`). One process at
    a time places new articles: it takes the lease (:meth:`claim_stories`), reads what others
    stored, places the rest and stores them with the lease given back (:meth:`save_stories`).
    The others wait for the lease and read. Rows go with their article (retention)."""

    async def story_state(self) -> StoryState | None:
        """The state as stored (None: no stories stored yet)."""
        ...

    async def claim_stories(self, *, owner: str, now: datetime, lease_until: datetime
                            ) -> StoryState | None:
        """Take the placing lease for ``owner`` until ``lease_until`` if nobody holds it (or
        its lease ran out by ``now``, or ``owner`` holds it): the state as it then stands
        (a fresh one, generation 0 and nothing covered, when none was stored). None when
        another process holds it."""
        ...

    async def release_stories(self, *, owner: str) -> None:
        """Give the lease back without storing anything (if ``owner`` holds it)."""
        ...

    async def save_stories(self, rows: Sequence[StoryRow], *, owner: str, setting: str,
                           generation: int, lo: int, hi: int, now: datetime) -> bool:
        """As the lease holder ``owner``: store ``rows`` (each replaces the article's row;
        rows of articles deleted meanwhile are dropped), the new state (``setting``,
        ``generation``, covering ``lo < id <= hi``) and give the lease back, in one
        transaction. False, with nothing stored, when ``owner`` no longer holds the lease."""
        ...

    async def story_rows(self, *, after_id: int, through_id: int) -> list[StoryRow]:
        """The stored rows of articles ``after_id < id <= through_id``, ascending."""
        ...


class PlatformStateStore(Protocol):
    """Small values an adapter keeps between runs (e.g. the last synced command definitions),
    and the installations of an app that several workspaces installed (Slack's "Add to
    Slack": ``adapters/slack_installations.py`` keeps slack_sdk's installation and OAuth state
    stores here)."""

    async def get_meta(self, key: str) -> str | None:
        ...

    async def set_meta(self, key: str, value: str, *, now: datetime) -> None:
        ...

    async def save_installation(self, *, platform: str, enterprise_id: str | None,
                                team_id: str | None, data: str, now: datetime) -> bool:
        """Store or replace a workspace's installation (``data``: the platform's record as
        JSON, secret: it holds the bot token); True when it is new. Keyed by (platform,
        enterprise_id, team_id), None counting as one value ("none")."""
        ...

    async def find_installation(self, *, platform: str, enterprise_id: str | None,
                                team_id: str | None) -> str | None:
        """The installation's data, or None when the workspace has not installed the app."""
        ...

    async def delete_installation(self, *, platform: str, enterprise_id: str | None,
                                  team_id: str | None) -> bool:
        """Forget the installation (the workspace removed the app); False if there was none."""
        ...

    async def installed_workspaces(self, *, platform: str) -> list[tuple[str, str]]:
        """(enterprise_id, team_id) of every installation, '' for None, in key order."""
        ...

    async def issue_oauth_state(self, state: str, *, expires_at: datetime,
                                now: datetime) -> None:
        """Remember the state of an install link (and forget the expired ones)."""
        ...

    async def consume_oauth_state(self, state: str, *, now: datetime) -> bool:
        """True exactly once for an issued state before ``expires_at``: a forged, expired or
        replayed state is False. Atomic (two processes never both get True)."""
        ...

    async def first_sight_of_request(self, key: str, *, now: datetime,
                                     expires_at: datetime) -> bool:
        """Remember a signed request (``key``, e.g. its signature) until ``expires_at``; True
        the first time, False for a replay. Atomic across processes (a unique key)."""
        ...

    async def begin_delivery(self, key: str, *, platform: str, destination: str, reply: str,
                             note: str, now: datetime) -> Delivery:
        """Remember the message a claim is about to deliver (``reply``: JSON, ``note``: the
        feature's record of what it covers) and count the attempt; when an earlier attempt
        began this ``key``, its message and note are kept and returned (``resumed``), so a
        retry in any process posts the same message. Deliveries unchanged for
        :data:`DELIVERY_KEEP_DAYS` are removed on the way (a few at a time)."""
        ...

    async def begin_deliveries(self, deliveries: Sequence[NewDelivery], *, now: datetime
                               ) -> list[Delivery]:
        """:meth:`begin_delivery` for each of ``deliveries`` (answers in the same order), in
        one trip to the database (a digest pass begins a batch of channels' digests)."""
        ...

    async def get_delivery(self, key: str) -> Delivery | None:
        """Delivery ``key`` as it stands (parts posted, attempts), None if never begun."""
        ...

    async def record_posted_part(self, key: str, *, part: int, total: int,
                                 now: datetime) -> None:
        """The platform accepted part ``part`` (0-based) of ``total``: parts ``0..part`` are
        posted. A key nobody began is remembered too (its message not kept)."""
        ...


class Store(Protocol):
    """A whole store: the repositories, and closing it."""

    @property
    def articles(self) -> ArticleStore: ...

    @property
    def feeds(self) -> FeedStore: ...

    @property
    def alerts(self) -> AlertStore: ...

    @property
    def digests(self) -> DigestStore: ...

    @property
    def platform(self) -> PlatformStateStore: ...

    @property
    def stories(self) -> StoryStore: ...

    @property
    def path(self) -> str:
        """Where the data lives, for log lines and messages (never a password)."""
        ...

    async def close(self) -> None: ...

    async def size(self) -> tuple[int, int]:
        """(bytes the database holds, bytes of it free for reuse)."""
        ...

    async def reclaim_space(self, *, max_bytes: int = 64 << 20) -> int:
        """Give space freed by pruning back, at most ``max_bytes`` at a time; the bytes given
        back (PostgreSQL: autovacuum's job, 0)."""
        ...


DELIVERY_KEEP_DAYS = 3  # a delivery row outlives any claim lease or retry schedule


__all__ = [
    "DELIVERY_KEEP_DAYS",
    "KNOWN_STATUSES",
    "AddStatus",
    "AlertBatch",
    "AlertState",
    "AlertStats",
    "AlertStore",
    "ArticleStore",
    "ClaimState",
    "ClaimedAlert",
    "Delivery",
    "DigestArticle",
    "DigestClaim",
    "DigestClaimRequest",
    "DigestFinish",
    "DigestSchedule",
    "DigestStore",
    "Due",
    "Feed",
    "FeedStore",
    "LastDigest",
    "MissedDigest",
    "NewArticle",
    "NewDelivery",
    "OwnerKind",
    "PlatformStateStore",
    "SeenItem",
    "Store",
    "StoryRow",
    "StoryState",
    "StoryStore",
    "Subscription",
    "TimeRule",
]
