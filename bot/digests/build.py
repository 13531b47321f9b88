"""Choose, cluster and rank the articles for one channel's digest (adapters split long ones).

**Content.** A digest covers the articles stored since the channel's previous digest (by
article id, which grows with every insert, so nothing stored between two digests is lost or
repeated); the first digest covers the last 24 hours, and no digest looks back further than
``[digest] max_lookback_days``. A channel that follows feeds sees only their articles; one
that follows none sees all. Summaries are the ones stored at ingest: never re-summarised.

**Clustering** (the same story from several sources becomes one item): see
:mod:`bot.digests.stories`. Each article is a bag of stemmed terms from its title and stored
summary, weighted by inverse document frequency; oldest first, each joins the story whose
centroid is most similar (cosine, at least ``[digest] cluster_similarity``, default 0.3) or
starts one. The stories of the articles digests read are kept per store and grown as
articles arrive; each digest sees them restricted to its own articles (its feeds, its period).

**Ranking.** Each story (cluster) scores::

    score = 0.5 ** (age_hours / 12)          recency of its newest article, 1.0 -> 0
          + 0.5 * log2(sources)              distinct sources reporting it (0 for one)
          + 1.0 * min(matched_queries, 2)    the channel's alert subscriptions it matches

ties go to the newer story. The top ``[digest] max_items`` stories are shown; each item is
the cluster's first-stored article (linked title, source, time, stored summary) with a note
"+N sources" when other sources reported it too.

**Cost** (issue 17). Nothing a digest reads changes once stored, so the work is kept per
store between passes and previews (:func:`shared_state`): the window of articles digests
read (:class:`ArticleWindow`: each pass reads from the store only what was stored since),
each article's story terms (stemmed once per article), the stories (new articles added one
at a time, :class:`~bot.digests.stories.StoryIndex`; terms and stories are also kept in the
database, so a restart and the other processes of a deployment read them instead of making
them again), and whether an article matches a subscription query. Ranking scores each story
once per article set and takes each channel's best ``max_items`` with a partial sort
(:class:`Ranking`), looking at subscription matches only for stories that could still reach
the top. In a pass, a channel that follows feeds is ranked from its feeds' parts
(:meth:`DigestPass._ranked_by_feeds`): each feed's articles scored as stories alone and sorted
once a pass, only the stories of which the channel holds two reports or more grouped for the
channel, its best taken from the heads of the sorted runs. A pass over many channels reads
their feeds, mutes and subscriptions in one read each. The ranking chooses exactly the
stories a full sort did (``tests/digest_reference.py``); how the kept stories compare with
clustering each digest's articles at once is in ``bench/bench_digest_window.py``.

**Splitting.** The digest is one :class:`~bot.models.Reply`; each adapter splits it into
platform messages with its own renderer (``adapters/slack_blocks.py``,
``adapters/discord_render.py``), within the platform's limits, never cutting an item.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import logging
import math
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from bot.alerts.query import CompiledQuery, Document, analyzer_for, compile_query
from bot.digests.rules import (
    EVERY_DAY,
    DailyTime,
    Occurrence,
    following_occurrence,
    format_local,
    next_occurrence,
)
from bot.digests.stories import (
    StoryIndex,
    TermCache,
    cluster_terms,
    decode_terms,
    encode_terms,
)
from bot.models import Destination, Item, Reply, ReplyKind
from bot.store.ports import (
    ArticleStore,
    DigestArticle,
    LastDigest,
    MissedDigest,
    StoryRow,
    StoryState,
)

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.clock import Clock
    from bot.config import DigestConfig
    from bot.ports import Deliver, Offload, Platforms
    from bot.store.ports import (
        AlertStore,
        DigestStore,
        FeedStore,
        PlatformStateStore,
        StoryStore,
    )

log = logging.getLogger(__name__)

FIRST_DIGEST_HOURS = 24
RECENCY_HALF_LIFE_HOURS = 12.0
SOURCES_WEIGHT = 0.5
MATCH_WEIGHT = 1.0
# A pass over at least this many due channels loads the articles once for all of them.
POOL_THRESHOLD = 20
# Clustering this few articles runs inline: cheaper than the hop to the worker thread.
INLINE_ARTICLES = 150
# Kept between passes, per store: the newest articles digests read, and their story terms.
WINDOW_ARTICLES = 100_000
LOAD_CHUNK = 20_000
KEPT_MATCHES = 200_000


# The stories kept in the database: one process places new articles at a time, holding a
# lease; the others ask again after a pause (doubling) and read what it stored.
LEASE_SECONDS = 120.0
LEASE_POLL_SECONDS = 0.05
LEASE_POLL_MAX_SECONDS = 0.5
# A process's copy of the stories is read again from a digest's first article when it holds
# more articles before that than after it, and at least this many.
KEPT_BEFORE = 20_000

T = TypeVar("T")


# -- terms and clustering --------------------------------------------------------------------


def _covers(state: StoryState | None, setting: str, after: int, through: int) -> bool:
    """Whether the stored stories hold every article ``after < id <= through``."""
    return (state is not None and state.generation > 0 and state.setting == setting
            and state.lo <= after and through <= state.hi)


def source_key(article: DigestArticle) -> str:
    if article.source:
        return article.source.strip().lower()
    if article.url:
        return urlsplit(article.url).hostname or article.url
    return f"feed:{article.feed_id}" if article.feed_id is not None else f"article:{article.id}"


# -- ranking ---------------------------------------------------------------------------------


class Matcher(Protocol):
    """A compiled alert query (``bot.alerts.query.CompiledQuery``) as the ranking uses it."""

    def match(self, *, title: str, text: str) -> tuple[str, ...] | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Story:
    """One digest item: a cluster of articles about the same story, ranked."""

    articles: tuple[DigestArticle, ...]  # the first one is shown
    sources: int
    newest: datetime
    score: float
    matched: tuple[str, ...] = ()

    @property
    def lead(self) -> DigestArticle:
        return self.articles[0]

    def to_item(self, *, sentences: int) -> Item:
        lead = self.lead
        notes = []
        if self.sources > 1:
            extra = self.sources - 1
            notes.append(f"+{extra} source{'s' if extra != 1 else ''}")
        if self.matched:
            notes.append("matched: " + ", ".join(self.matched))
        return Item(
            title=lead.title, url=lead.url, source=lead.source, published_at=lead.shown_at,
            summary=lead.summary[:sentences], article_id=lead.id, note=" · ".join(notes),
        )


def score_story(*, newest: datetime, sources: int, matched: int, now: datetime) -> float:
    return _score(_recency(newest, now), sources, matched)


def _recency(newest: datetime, now: datetime) -> float:
    age_hours = max(0.0, (now - newest).total_seconds() / 3600)
    return math.pow(0.5, age_hours / RECENCY_HALF_LIFE_HOURS)


def _score(recency: float, sources: int, matched: int) -> float:
    return (recency + SOURCES_WEIGHT * math.log2(max(1, sources))
            + MATCH_WEIGHT * min(matched, 2))


# what ranking needs of an article, computed once a pass: its time (capped at now), that
# time's recency, minus its timestamp (the tie-break), its source
_Facts = tuple[datetime, float, float, str]
# a story as ranking sorts it: (-score, -newest timestamp, lead id, 0, members, newest,
# sources); lead ids differ between the stories of one ranking, so the sort never looks past
# them (the 0 keeps it from comparing members even then)
_Entry = tuple[float, float, int, int, Sequence[DigestArticle], datetime, int]
_first_item = itemgetter(0)


def _fact_of(a: DigestArticle, now: datetime, known: dict[int, _Facts]) -> _Facts:
    found = known.get(a.id)
    if found is None:
        shown = min(a.shown_at, now)
        found = known[a.id] = (shown, _recency(shown, now), -shown.timestamp(), source_key(a))
    return found


def _entries(clusters: Iterable[Sequence[DigestArticle]], now: datetime,
             known: dict[int, _Facts]) -> list[_Entry]:
    """Each cluster scored without subscriptions, as :func:`_rank_key` sorts stories."""
    entries: list[_Entry] = []
    append = entries.append
    get = known.get
    for members in clusters:
        if len(members) == 1:  # most stories: one report, scored by its recency alone
            lead = members[0]
            found = get(lead.id)
            newest, recency, neg_ts, _ = (found if found is not None
                                          else _fact_of(lead, now, known))
            # _score(recency, 1, 0) is recency + 0.0 + 0: the same float
            append((-recency, neg_ts, lead.id, 0, members, newest, 1))
            continue
        lead = min(members, key=_article_id)
        seen = [_fact_of(a, now, known) for a in members]
        newest, recency, neg_ts, _ = max(seen, key=_first_item)
        sources = len({f[3] for f in seen})
        append((-_score(recency, sources, 0), neg_ts, lead.id, 0, members, newest, sources))
    return entries


class Ranking:
    """The stories of one set of articles scored without subscriptions, from which each
    channel takes its best ``k`` (with its own subscriptions): a partial sort of the best few,
    never a full sort of every story. Entries sort as :func:`_rank_key` does.

    :meth:`of_runs` makes one from runs of entries, some already sorted (a channel's stories
    from the stories of each of its feeds): the best ``m`` are then among the first ``m`` of
    each sorted run."""

    def __init__(self, clusters: Iterable[Sequence[DigestArticle]], *, now: datetime,
                 facts: dict[int, _Facts] | None = None) -> None:
        entries = _entries(clusters, now, {} if facts is None else facts)
        self._setup(now, entries, (), len(entries))

    @classmethod
    def of_runs(cls, unsorted: list[_Entry], runs: Sequence[list[_Entry]], *, now: datetime,
                leaving: Collection[int] = (), singles: dict[int, Story] | None = None,
                ) -> Ranking:
        """The ranking of the entries of ``unsorted`` and of ``runs`` (each sorted), less the
        entries of ``runs`` led by an article of ``leaving`` (each in one run).
        ``singles``: Story objects of one-report stories, kept by the caller between
        rankings (by lead id: one pass, one ``now``)."""
        ranking = cls.__new__(cls)
        ranking._setup(now, unsorted, runs,
                       len(unsorted) + sum(map(len, runs)) - len(leaving))
        ranking._leaving = leaving
        if singles is not None:
            ranking._singles = singles
        return ranking

    def _setup(self, now: datetime, unsorted: list[_Entry], runs: Sequence[list[_Entry]],
               count: int) -> None:
        self.now = now
        self._entries = unsorted
        self._runs = runs
        self._leaving: Collection[int] = ()
        self.count = count
        self._best: list[_Entry] = []
        self._singles: dict[int, Story] | None = None

    def _first(self, m: int) -> list[_Entry]:
        """The best ``m`` entries (or more), best first; computed once per size class."""
        if len(self._best) < min(m, self.count):
            size = max(m, 2 * len(self._best))
            if not self._runs:
                self._best = heapq.nsmallest(size, self._entries)
            else:
                candidates = list(self._entries)
                leaving = self._leaving
                skip = len(leaving)  # at most this many of a run's first entries leave
                for run in self._runs:
                    if skip:
                        candidates += [e for e in run[:size + skip] if e[2] not in leaving]
                    else:
                        candidates += run[:size]
                candidates.sort()
                self._best = candidates[:size]
        return self._best

    def top(self, k: int, *, queries: Sequence[tuple[str, Matcher]] = (),
            matches: Callable[[str, Matcher, DigestArticle], bool] | None = None,
            ) -> list[Story]:
        """The best ``k`` stories, scored with ``queries`` (the channel's subscriptions);
        ``matches(text, matcher, article)`` answers whether an article matches one (default:
        ``matcher.match`` on its title and summary)."""
        if not queries:
            return [self._story(e) for e in self._first(k)[:k]]
        matches = matches or _matches
        boost = MATCH_WEIGHT * min(len(queries), 2)  # the most a story's score can rise
        chosen: list[Story] = []
        worst: Story | None = None
        seen, size = 0, max(k, 1)
        while True:
            best = self._first(size)
            for entry in best[seen:]:
                # every entry left scores at most this one's score plus the largest boost
                if worst is not None and len(chosen) >= k and -entry[0] + boost < worst.score:
                    return sorted(chosen, key=_rank_key)
                story = self._story(entry)
                matched = tuple(text for text, matcher in queries
                                if any(matches(text, matcher, a) for a in story.articles))
                if matched:
                    story = replace(story, matched=matched, score=score_story(
                        newest=story.newest, sources=story.sources, matched=len(matched),
                        now=self.now))
                chosen.append(story)
                if len(chosen) > k:
                    chosen.remove(max(chosen, key=_rank_key))
                if len(chosen) >= k:
                    worst = max(chosen, key=_rank_key)
            seen = len(best)
            if seen >= self.count:
                return sorted(chosen, key=_rank_key)[:k]
            size = 2 * seen

    def _story(self, entry: _Entry) -> Story:
        neg_score, _, lead_id, _, members, newest, sources = entry
        if len(members) == 1:
            singles = self._singles
            if singles is not None:
                found = singles.get(lead_id)
                if found is None:
                    found = singles[lead_id] = Story(articles=(members[0],), sources=sources,
                                                     newest=newest, score=-neg_score)
                return found
            ordered: tuple[DigestArticle, ...] = (members[0],)
        else:
            lead = next(a for a in members if a.id == lead_id)
            ordered = (lead, *(a for a in members if a is not lead))
        return Story(articles=ordered, sources=sources, newest=newest, score=-neg_score)


def _matches(text: str, matcher: Matcher, article: DigestArticle) -> bool:
    return matcher.match(title=article.title, text=" ".join(article.summary)) is not None


def _article_id(article: DigestArticle) -> int:
    return article.id


def rank_stories(
    clusters: Iterable[Sequence[DigestArticle]], *, now: datetime,
    queries: Sequence[tuple[str, Matcher]] = (), limit: int | None = None,
) -> list[Story]:
    """Score each cluster (see the module docstring), best first; the best ``limit`` only
    when given."""
    ranking = Ranking(clusters, now=now)
    return ranking.top(ranking.count if limit is None else limit, queries=queries)


def _rank_key(story: Story) -> tuple[float, float, int]:
    return (-story.score, -story.newest.timestamp(), story.lead.id)


def cluster_articles(
    articles: Sequence[DigestArticle], *, threshold: float, language: str,
    cache: TermCache | None = None,
) -> list[list[DigestArticle]]:
    """Clusters of the same story among ``articles`` (CPU work: run it off the event loop)."""
    bags = (cache or TermCache()).bags(articles, language=language)
    return [[articles[i] for i in members]
            for members in cluster_terms(bags, threshold=threshold)]


# -- building a channel's digest -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltDigest:
    """What was chosen for a digest, and the period it covers (recorded when posted)."""

    destination: Destination
    stories: tuple[Story, ...]
    items: tuple[Item, ...]
    period_start: datetime | None
    period_end: datetime
    through_article_id: int
    considered: int        # articles in the period
    total_stories: int = 0  # stories they made, before the cut to max_items


class ArticleWindow:
    """The stored articles digests read, kept between passes: those with ``lo < id <= hi``
    (never a backlog), oldest first. A pass or a preview reads from the store only what was
    stored since the previous one (and older articles when a channel reaches further back),
    so a digest does not re-read the day. An article never changes once stored. At most
    ``limit`` articles are kept (the oldest are forgotten and read again if a digest reaches
    back to them)."""

    def __init__(self, limit: int = WINDOW_ARTICLES) -> None:
        self.limit = limit
        self.lo = self.hi = 0
        self.articles: list[DigestArticle] = []
        self.ids: list[int] = []
        self._by_feed: dict[int | None, tuple[list[int], list[DigestArticle]]] | None = None
        self._lock = asyncio.Lock()

    async def select(self, store: ArticleStore, *, after_id: int, through_id: int,
                     feed_ids: Sequence[int] | None = None,
                     limit: int = 100_000) -> list[DigestArticle]:
        """What ``store.digest_articles`` answers for the same arguments (the first
        ``limit`` articles ``after_id < id <= through_id``, of ``feed_ids`` if given, oldest
        first), read from the store only where the window does not hold them yet."""
        if through_id <= after_id:
            return []
        async with self._lock:
            covered = self.hi > self.lo
            if covered and through_id <= self.lo:  # older than the window: not kept
                return await store.digest_articles(after_id=after_id, through_id=through_id,
                                                   feed_ids=feed_ids, limit=limit)
            if not covered or after_id >= self.hi:  # nothing kept is needed: start again
                self.articles = await _load(store, after_id, through_id)
                self.ids = [a.id for a in self.articles]
                self.lo, self.hi, self._by_feed = after_id, through_id, None
            else:
                if through_id > self.hi:
                    newer = await _load(store, self.hi, through_id)
                    self.articles += newer
                    self.ids += [a.id for a in newer]
                    self.hi, self._by_feed = through_id, None
                if after_id < self.lo:
                    older = await _load(store, after_id, self.lo)
                    self.articles[:0] = older
                    self.ids[:0] = [a.id for a in older]
                    self.lo, self._by_feed = after_id, None
            chosen = self._select(after_id, through_id, feed_ids)[:limit]
            if len(self.ids) > self.limit:
                cut = len(self.ids) - self.limit
                self.lo = self.ids[cut - 1]
                del self.articles[:cut], self.ids[:cut]
                self._by_feed = None
        return chosen

    def between(self, after_id: int, through_id: int) -> list[DigestArticle] | None:
        """Every article ``after_id < id <= through_id``, if the window holds them all."""
        if after_id < self.lo or through_id > self.hi:
            return None
        return self._select(after_id, through_id, None)

    def holds(self, after_id: int, through_id: int) -> bool:
        """Whether the window holds every article ``after_id < id <= through_id``."""
        return self.hi > self.lo and self.lo <= after_id and through_id <= self.hi

    def of_feed(self, feed: int, after_id: int, through_id: int) -> list[DigestArticle]:
        """The articles of ``feed`` with ``after_id < id <= through_id`` (oldest first), which
        the window holds (:meth:`holds`)."""
        found = self._feeds().get(feed)
        if found is None:
            return []
        return found[1][bisect.bisect_right(found[0], after_id):
                        bisect.bisect_right(found[0], through_id)]

    def _feeds(self) -> dict[int | None, tuple[list[int], list[DigestArticle]]]:
        if self._by_feed is None:
            groups: dict[int | None, tuple[list[int], list[DigestArticle]]] = {}
            for a in self.articles:
                group = groups.get(a.feed_id)
                if group is None:
                    group = groups[a.feed_id] = ([], [])
                group[0].append(a.id)
                group[1].append(a)
            self._by_feed = groups
        return self._by_feed

    def _select(self, after_id: int, through_id: int,
                feed_ids: Sequence[int] | None) -> list[DigestArticle]:
        ids = self.ids
        if feed_ids is None:
            return self.articles[bisect.bisect_right(ids, after_id):
                                 bisect.bisect_right(ids, through_id)]
        by_feed = self._feeds()
        chosen: list[DigestArticle] = []
        for feed in feed_ids:
            found = by_feed.get(feed)
            if found is not None:
                chosen += found[1][bisect.bisect_right(found[0], after_id):
                                   bisect.bisect_right(found[0], through_id)]
        if len(feed_ids) > 1:
            chosen.sort(key=_article_id)
        return chosen


async def _load(store: ArticleStore, after_id: int, through_id: int) -> list[DigestArticle]:
    """Every article ``after_id < id <= through_id`` (read in chunks)."""
    out: list[DigestArticle] = []
    while after_id < through_id:
        chunk = await store.digest_articles(after_id=after_id, through_id=through_id,
                                            limit=LOAD_CHUNK)
        out += chunk
        if len(chunk) < LOAD_CHUNK:
            break
        after_id = chunk[-1].id
    return out


# a feed's articles in a period: each scored as a story alone (ranking entries, sorted),
# those whose story holds other articles (with their story, oldest first), those stories,
# and how many articles in all
_FeedPart = tuple[list[_Entry], list[tuple[int, DigestArticle]], list[int], int]


@dataclass
class _Shared:
    """What digests keep between passes, per store: the window of articles, their terms and
    the stories they make."""

    window: ArticleWindow = field(default_factory=ArticleWindow)
    terms: TermCache = field(default_factory=TermCache)
    # the stories of the window's articles (for one similarity threshold and language),
    # kept as articles arrive; see bot/digests/stories.py
    stories: StoryIndex | None = None
    stories_key: tuple[float, str] = (0.0, "")
    stories_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    rebuilds: int = 0  # times the stories started again (for tests and benchmarks)
    loads: int = 0     # times they were read from the database afresh
    owner: str = field(default_factory=lambda: f"stories-{uuid.uuid4().hex}")  # its lease

    # whether an article matches a subscription query: (query, language, article id) -> bool
    matched: dict[tuple[str, str, int], bool] = field(default_factory=dict)

    def remember_match(self, key: tuple[str, str, int], found: bool) -> None:
        self.matched[key] = found
        if len(self.matched) > KEPT_MATCHES:  # forget the oldest half
            for old in list(self.matched)[: KEPT_MATCHES // 2]:
                del self.matched[old]


_SHARED: weakref.WeakKeyDictionary[object, _Shared] = weakref.WeakKeyDictionary()


def shared_state(store: object) -> _Shared:
    """The window and term cache of ``store`` (created on first use, gone with the store)."""
    state = _SHARED.get(store)
    if state is None:
        state = _SHARED[store] = _Shared()
    return state


@dataclass(frozen=True, slots=True)
class _Channel:
    """What a channel's digest depends on besides the articles."""

    feed_ids: tuple[int, ...] | None   # None: the channel follows all articles
    muted: frozenset[int]
    queries: tuple[str, ...]           # its alert subscriptions' query texts


class DigestRepos(Protocol):
    """The repositories digests use (a :class:`~bot.store.ports.Store` is one)."""

    @property
    def articles(self) -> ArticleStore: ...

    @property
    def digests(self) -> DigestStore: ...

    @property
    def feeds(self) -> FeedStore: ...

    @property
    def alerts(self) -> AlertStore: ...

    @property
    def platform(self) -> PlatformStateStore: ...  # the outbox: posted parts (bot.outbox)

    @property
    def stories(self) -> StoryStore: ...  # the stories kept in the database


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestKit:
    """What the digests feature uses (wired by :mod:`bot.app`): :class:`DigestPass` uses the
    store, settings, language and offload; :func:`digest_now` and the scheduler also post."""

    store: DigestRepos
    settings: DigestConfig
    language: str  # [summarizer] language: terms, clustering, subscription matching
    clock: Clock
    deliver: Deliver
    platforms: Platforms  # the platforms this process can post to
    offload: Offload  # clustering and ranking off the event loop


class DigestPass:
    """Builds the digests due at one instant, sharing the work between channels: the article
    pool, each article's terms, the clusters of channels that see the same articles, and (for
    a pass over many channels) each channel's feeds and subscriptions, read once for all."""

    def __init__(self, kit: DigestKit, *, now: datetime, channels: int = 1) -> None:
        self.kit = kit
        self.now = now
        self.use_pool = channels >= POOL_THRESHOLD
        self._shared = shared_state(kit.store)
        self._through: int | None = None
        self._watermarks: dict[datetime, int] = {}
        self._rankings: dict[tuple[Any, ...], asyncio.Future[Ranking]] = {}
        self._channels: dict[tuple[str, str], _Channel] = {}
        self._compiled: dict[str, Matcher | None] = {}
        self._items: dict[tuple[int, int, int], Item] = {}
        self._facts: dict[int, _Facts] = {}
        self._documents: dict[int, Document] = {}
        # channels that follow feeds: each feed's stories (per period), ranked once a pass
        self._feed_rankings: dict[tuple[Any, ...], tuple[Ranking | None, int]] = {}
        self._parts: dict[tuple[int, int, int], _FeedPart] = {}
        self._parts_of: tuple[StoryIndex, int] | None = None
        self._story_sizes: list[int] = []
        self._singles: dict[int, Story] = {}

    async def prepare(self, *, platforms: Sequence[str] | None = None,
                      channels: Sequence[tuple[str, str]] = ()) -> None:
        """For a pass over many channels: load every article any due channel will show, once,
        and cluster them once. Each channel then sees these clusters restricted to its own
        articles, instead of clustering its articles itself. ``channels`` (platform, channel
        id): the due channels, whose feeds and subscriptions are then read in one go."""
        if not self.use_pool:
            return
        store = self.kit.store
        cfg = self.kit.settings
        if channels:
            await self._load_channels(channels)
        through = await self._through_id()
        lowest, any_first = await store.digests.digest_pool_floor(now=self.now, platforms=platforms)
        floors = [] if lowest is None else [lowest]
        if any_first or lowest is None:
            floors.append(await self._watermark(self.now - timedelta(hours=FIRST_DIGEST_HOURS)))
        lookback = await self._watermark(self.now - timedelta(days=cfg.max_lookback_days))
        after = max(min(floors), lookback)
        if after >= through:
            return
        loaded = await self._shared.window.select(store.articles, after_id=after,
                                                  through_id=through)
        stories = await self._stories(after, through)
        if stories is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("digest pass: %d articles in %d stories shared by the due channels",
                      len(loaded), len({stories.story_of[a.id] for a in loaded}))

    async def _load_channels(self, channels: Sequence[tuple[str, str]]) -> None:
        store = self.kit.store
        keys = sorted(set(channels))
        follows = await store.feeds.channels_feed_ids(keys)
        mutes = await store.feeds.channels_muted_feed_ids(keys)
        queries = await store.alerts.channels_subscription_queries(keys)
        for key in keys:
            self._channels[key] = _Channel(
                feed_ids=tuple(sorted(follows.get(key, ()))) or None,
                muted=frozenset(mutes.get(key, ())), queries=tuple(queries.get(key, ())))

    async def _channel(self, platform: str, channel_id: str) -> _Channel:
        found = self._channels.get((platform, channel_id))
        if found is not None:
            return found
        store = self.kit.store
        feeds = await store.feeds.channel_feed_ids(platform=platform, channel_id=channel_id)
        muted = await store.feeds.channel_muted_feed_ids(platform=platform,
                                                         channel_id=channel_id)
        texts = await store.alerts.channel_subscription_queries(platform=platform,
                                                                channel_id=channel_id)
        return _Channel(feed_ids=tuple(sorted(feeds)) or None, muted=frozenset(muted),
                        queries=tuple(texts))

    async def _through_id(self) -> int:
        if self._through is None:
            self._through = await self.kit.store.articles.max_article_id()
        return self._through

    async def _watermark(self, since: datetime) -> int:
        if since not in self._watermarks:
            self._watermarks[since] = await self.kit.store.articles.article_id_watermark(
                since=since)
        return self._watermarks[since]

    def _queries(self, platform: str, channel_id: str, texts: Sequence[str]
                 ) -> list[tuple[str, Matcher]]:
        """The channel's alert subscriptions, compiled (once per pass for each text)."""
        language = self.kit.language
        compiled: list[tuple[str, Matcher]] = []
        for text in texts:
            if text not in self._compiled:
                try:
                    self._compiled[text] = compile_query(text, language=language)
                except Exception:  # a stored query this version cannot read: rank without it
                    self._compiled[text] = None
            matcher = self._compiled[text]
            if matcher is None:
                log.warning("digest for %s:%s: cannot compile subscription query %r",
                            platform, channel_id, text)
            else:
                compiled.append((str(text), matcher))
        return compiled

    async def _stories(self, after: int, through: int) -> StoryIndex | None:
        """The store's stories, brought up to date so that they hold every article
        ``after < id <= through`` (which the window holds: the caller just selected them);
        None when the window does not hold them (a digest reaching back past it).

        The stories are kept in the database (:class:`~bot.store.ports.StoryStore`): each
        placed article's terms and story, and what they cover. This process keeps a copy
        (:class:`StoryIndex`) and reads what others stored (a restart reads them too: no
        stemming, no clustering). New articles are placed by one process at a time, holding
        the stories' lease: it reads what was stored meanwhile, adds the new articles one at a
        time (off the event loop when there are many) and stores them; the others wait for
        the lease and read. The stories start again, clustered at once, only when there are
        none for this language and threshold, or when a digest reaches back before them or
        past a gap after them (then from its first article)."""
        shared = self._shared
        async with shared.stories_lock:
            index = shared.stories if shared.stories_key == self._stories_key() else None
            if index is not None and index.lo <= after and through <= index.hi:
                return index
            return await self._sync_stories(index, after, through)

    def _stories_key(self) -> tuple[float, str]:
        return (self.kit.settings.cluster_similarity, self.kit.language)

    def _setting(self) -> str:
        return f"{self.kit.language} {self.kit.settings.cluster_similarity!r}"

    async def _sync_stories(self, index: StoryIndex | None, after: int, through: int
                            ) -> StoryIndex | None:
        repo = self.kit.store.stories
        setting = self._setting()
        state = await repo.story_state()
        if _covers(state, setting, after, through):
            assert state is not None
            return await self._read_stories(index, state, after)
        owner = self._shared.owner
        pause = LEASE_POLL_SECONDS
        while True:
            now = datetime.now(UTC)  # leases outlive processes: real time, not the kit clock
            state = await repo.claim_stories(
                owner=owner, now=now, lease_until=now + timedelta(seconds=LEASE_SECONDS))
            if state is not None:
                break
            await asyncio.sleep(pause)  # another process is placing articles: wait, read
            pause = min(pause * 2, LEASE_POLL_MAX_SECONDS)
            state = await repo.story_state()
            if _covers(state, setting, after, through):
                assert state is not None
                return await self._read_stories(index, state, after)
        try:
            return await self._place_stories(index, state, after, through)
        finally:
            await asyncio.shield(repo.release_stories(owner=owner))  # if not given back

    async def _read_stories(self, index: StoryIndex | None, state: StoryState, after: int
                            ) -> StoryIndex:
        """This process's copy of the stored stories, holding ``after < id <= state.hi``:
        the copy it has, with what was stored since, or read again from ``after`` (when it
        has none, of another generation, starting after ``after``, or holding more articles
        before ``after`` than from it, and many: it does not grow for ever)."""
        shared = self._shared
        repo = self.kit.store.stories
        threshold = self.kit.settings.cluster_similarity
        older = index.held_through(after) if index is not None else 0
        keep = (index is not None and index.generation == state.generation
                and index.lo <= after and index.hi <= state.hi
                and (older <= len(index) - older or older < KEPT_BEFORE))
        if keep and index is not None:
            if index.hi < state.hi:
                rows = await repo.story_rows(after_id=index.hi, through_id=state.hi)
                held = index

                def adopt() -> None:
                    held.adopt([r[0] for r in rows], [r[2] for r in rows],
                               [r[1] for r in rows])
                    held.hi = state.hi

                await self._work(adopt, len(rows) + index.unready)
            return index
        lo = max(after, state.lo)
        rows = await repo.story_rows(after_id=lo, through_id=state.hi)
        fresh = StoryIndex(threshold=threshold)

        def load() -> None:
            fresh.load([r[0] for r in rows], [r[2] for r in rows], [r[1] for r in rows],
                       lo=lo, hi=state.hi)

        load()  # (cheap: the terms are read when first needed)
        fresh.generation = state.generation
        shared.stories, shared.stories_key = fresh, self._stories_key()
        shared.loads += 1
        return fresh

    async def _place_stories(self, index: StoryIndex | None, state: StoryState, after: int,
                             through: int) -> StoryIndex | None:
        """Holding the lease: the stories made to cover ``after < id <= through`` and stored
        (None, nothing stored, when the window does not hold the articles to place)."""
        shared, repo, language = self._shared, self.kit.store.stories, self.kit.language
        setting = self._setting()
        terms = shared.terms
        if _covers(state, setting, after, through):  # placed while we waited for the lease
            return await self._read_stories(index, state, after)
        same = state.generation > 0 and state.setting == setting
        newer = (shared.window.between(state.hi, through)
                 if same and state.lo <= after else None)
        if newer is not None:
            # add the new articles to the stories as stored
            index = await self._read_stories(index, state, min(after, state.hi))
            held = index

            def add() -> list[StoryRow]:
                bags = terms.bags(newer, language=language)
                ids = [a.id for a in newer]
                held.extend(ids, bags)
                return [(i, held.story(i), encode_terms(b))
                        for i, b in zip(ids, bags, strict=True)]

            rows = await self._work(add, len(newer) + index.unready)
            index.hi = max(index.hi, through)
            generation, lo = state.generation, state.lo
        else:
            # start again, clustered at once: none for this setting, or reaching back before
            # them (then keep what they held), or after a gap the window does not hold
            if same and after < state.lo:
                through = max(through, min(state.hi, shared.window.hi))
            chosen = shared.window.between(after, through)
            if chosen is None:
                return None
            stored: dict[int, str] = {}
            if state.generation > 0 and state.setting.split(" ")[0] == language:
                # the terms they hold are this language's: not computed again
                stored = {r[0]: r[2] for r in await repo.story_rows(
                    after_id=max(after, state.lo), through_id=min(through, state.hi))}
            fresh = StoryIndex(threshold=self.kit.settings.cluster_similarity)
            lo = after

            def rebuild() -> list[StoryRow]:
                missing = [a for a in chosen if a.id not in stored]
                computed = dict(zip((a.id for a in missing),
                                    terms.bags(missing, language=language), strict=True))
                ids = [a.id for a in chosen]
                bags = [computed[i] if i in computed else decode_terms(stored[i]) for i in ids]
                fresh.rebuild(ids, bags, lo=lo)
                return [(i, fresh.story(i), stored.get(i) or encode_terms(b))
                        for i, b in zip(ids, bags, strict=True)]

            rows = await self._work(rebuild, len(chosen))
            fresh.hi = max(fresh.hi, through)
            generation = state.generation + 1
            index = fresh
            shared.rebuilds += 1
        index.generation = generation
        if not await repo.save_stories(rows, owner=shared.owner, setting=setting,
                                       generation=generation, lo=lo, hi=index.hi,
                                       now=datetime.now(UTC)):
            # the lease ran out and another process took it: keep ours for this digest only
            log.warning("digest stories: the lease ran out while placing %d articles;"
                        " another process places them", len(rows))
            shared.stories = None
            return index
        shared.stories, shared.stories_key = index, self._stories_key()
        return index

    async def _work(self, func: Callable[[], T], size: int) -> T:
        """``func()`` inline when it is small, else off the event loop."""
        if size <= INLINE_ARTICLES:
            return func()
        result: T = await self.kit.offload(func)
        return result

    async def _ranked(self, key: tuple[Any, ...], articles: list[DigestArticle],
                      after: int, through: int) -> Ranking:
        """The stories among ``articles`` (those ``after < id <= through`` of one channel),
        scored without subscriptions; computed once per distinct article set in a pass
        (channels following the same feeds share it)."""
        future = self._rankings.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._rankings[key] = future
            now, facts = self.now, self._facts
            try:
                stories = await self._stories(after, through)
                if stories is not None:  # the store's stories, restricted to these articles
                    result = Ranking(stories.group(articles), now=now, facts=facts)
                else:  # older than the window: cluster them here
                    threshold, language = self.kit.settings.cluster_similarity, self.kit.language

                    def work() -> Ranking:
                        clusters = cluster_articles(articles, threshold=threshold,
                                                    language=language, cache=self._shared.terms)
                        return Ranking(clusters, now=now, facts=facts)

                    result = (work() if len(articles) <= INLINE_ARTICLES
                              else await self.kit.offload(work))
            except BaseException as exc:
                del self._rankings[key]
                future.set_exception(exc)
                future.exception()  # retrieved: other waiters re-raise it themselves
                raise
            future.set_result(result)
        return await asyncio.shield(future)

    async def _ranked_by_feeds(self, key: tuple[Any, ...], feeds: Sequence[int],
                               muted: frozenset[int], after: int, through: int
                               ) -> tuple[Ranking | None, int] | None:
        """For a channel that follows ``feeds`` (less ``muted``): the ranking of its articles
        ``after < id <= through`` and how many there are, made from each feed's part of the
        store's stories (computed once a pass per feed and period); None when the window or
        the stories do not hold the period (then :meth:`_ranked` answers).

        The same ranking as :meth:`_ranked` of the channel's articles: an article alone in
        its story is a story alone in every channel (each feed's are scored and sorted once);
        the others are grouped per channel (:meth:`StoryIndex.group`, which splits a story
        the channel holds only part of)."""
        found = self._feed_rankings.get(key)
        if found is not None:
            return found
        if through <= after:
            return None
        window = self._shared.window
        if not window.holds(after, through):  # read what is new, as select does
            await window.select(self.kit.store.articles, after_id=after, through_id=through,
                                feed_ids=())
        index = await self._stories(after, through)
        if index is None or not window.holds(after, through):
            return None
        if self._parts_of is None or self._parts_of != (index, len(index)):
            # new stories (or articles added to them): which articles are alone changed
            self._parts_of = (index, len(index))
            self._parts.clear()
            self._story_sizes = [len(members) for members in index.stories()]
        parts = [self._feed_part(feed, after, through, index) for feed in feeds]
        if sum(p[3] for p in parts) > 100_000:  # as select's limit: the old path cuts it
            return None
        shown = [p for p, feed in zip(parts, feeds, strict=True) if feed not in muted]
        considered = sum(p[3] for p in shown)
        if not considered:
            found = (None, 0)
        else:
            # a story of which the channel holds two reports or more is grouped here (and
            # split if the channel holds only part of it); a report alone in the channel is
            # a story alone, as each feed's run already has it
            stories = list(chain.from_iterable(p[2] for p in shown))
            counts = Counter(stories)
            together: list[DigestArticle] = []
            if len(counts) < len(stories):
                twice = {story for story, n in counts.items() if n > 1}
                together = sorted((a for p in shown for story, a in p[1] if story in twice),
                                  key=_article_id)
            found = (Ranking.of_runs(
                _entries(index.group(together), self.now, self._facts) if together else [],
                [p[0] for p in shown if p[0]], now=self.now,
                leaving={a.id for a in together}, singles=self._singles), considered)
        self._feed_rankings[key] = found
        return found

    def _feed_part(self, feed: int, after: int, through: int, index: StoryIndex) -> _FeedPart:
        """A feed's articles ``after < id <= through``: each scored as a story alone, sorted;
        those whose story holds other articles, with their story, and those stories; how
        many in all."""
        key = (feed, after, through)
        part = self._parts.get(key)
        if part is None:
            articles = self._shared.window.of_feed(feed, after, through)
            story_of, sizes = index.story_of, self._story_sizes
            shared: list[tuple[int, DigestArticle]] = []
            for a in articles:
                s = story_of.get(a.id)
                if s is not None and sizes[s] > 1:
                    shared.append((s, a))
            entries = _entries([(a,) for a in articles], self.now, self._facts)
            entries.sort()
            part = self._parts[key] = (entries, shared, [s for s, _ in shared], len(articles))
        return part

    def _matches(self, text: str, matcher: Matcher, article: DigestArticle) -> bool:
        """Whether ``article`` matches a subscription: each article analysed once a pass,
        and each (query, article) answered once for the store (neither ever changes)."""
        language = self.kit.language
        key = (text, language, article.id)
        found = self._shared.matched.get(key)
        if found is None:
            if isinstance(matcher, CompiledQuery):
                document = self._documents.get(article.id)
                if document is None:
                    document = self._documents[article.id] = analyzer_for(language).analyze(
                        title=article.title, text=" ".join(article.summary))
                found = matcher.match_document(document) is not None
            else:
                found = _matches(text, matcher, article)
            self._shared.remember_match(key, found)
        return found

    def _item(self, story: Story, sentences: int) -> Item:
        """The story as a digest item (built once per pass for every channel showing it)."""
        if story.matched:  # its note names this channel's subscriptions
            return story.to_item(sentences=sentences)
        key = (story.lead.id, story.sources, sentences)
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = story.to_item(sentences=sentences)
        return item

    async def build(
        self, *, platform: str, channel_id: str, last: LastDigest | None,
        rule: DailyTime | None, occurrence: Occurrence | None = None, late: bool = False,
        on_demand: bool = False, missed: Sequence[MissedDigest] | None = None,
        delivery_key: str | None = None,
    ) -> tuple[Reply | None, BuiltDigest]:
        """The digest for one channel as of ``now``: a Reply (None when there is nothing to
        post; keyed ``delivery_key`` for :mod:`bot.outbox`) and what it covers."""
        cfg = self.kit.settings
        store = self.kit.store
        now = self.now
        through = await self._through_id()
        lookback = await self._watermark(now - timedelta(days=cfg.max_lookback_days))
        if last is not None and last.through_article_id is not None:
            after = last.through_article_id
            period_start = last.period_end
        else:
            after = await self._watermark(now - timedelta(hours=FIRST_DIGEST_HOURS))
            period_start = now - timedelta(hours=FIRST_DIGEST_HOURS)
        if after < lookback:  # a digest never reaches back further than max_lookback_days
            after = lookback
            period_start = now - timedelta(days=cfg.max_lookback_days)
        channel = await self._channel(platform, channel_id)
        key = (after, through, channel.feed_ids, tuple(sorted(channel.muted)))
        by_feeds = (await self._ranked_by_feeds(key, channel.feed_ids, channel.muted, after,
                                                through)
                    if channel.feed_ids is not None else None)
        if by_feeds is not None:
            ranking, considered = by_feeds
        else:
            articles = await self._shared.window.select(
                store.articles, after_id=after, through_id=through, feed_ids=channel.feed_ids)
            # feeds an admin here removed while other channels still follow them
            if channel.muted:
                articles = [a for a in articles if a.feed_id not in channel.muted]
            ranking = await self._ranked(key, articles, after, through) if articles else None
            considered = len(articles)
        queries = self._queries(platform, channel_id, channel.queries)
        stories = (ranking.top(cfg.max_items, queries=queries, matches=self._matches)
                   if ranking is not None else [])
        items = tuple(self._item(s, cfg.summary_sentences) for s in stories)
        if missed is None:
            missed = await store.digests.missed_digests(platform=platform, channel_id=channel_id,
                                                after_run_id=last.run_id if last else None)
        built = BuiltDigest(
            destination=Destination(platform=platform, channel_id=channel_id),
            stories=tuple(stories), items=items, period_start=period_start, period_end=now,
            through_article_id=max(through, after), considered=considered,
            total_stories=ranking.count if ranking is not None else 0,
        )
        reply = compose_reply(
            built, rule=rule, occurrence=occurrence, late=late, on_demand=on_demand,
            missed=missed, empty_message=cfg.empty_message,
            default_timezone=cfg.default_timezone, grace_hours=cfg.grace_hours,
            delivery_key=delivery_key,
        )
        return reply, built


# A pass composes thousands of digests due at one instant: the same few dates and times.
@lru_cache(maxsize=1024)
def _day_text(day: date) -> str:
    return day.strftime("%a %d %b %Y")


@lru_cache(maxsize=4096)
def _local_text(when: datetime, zone: ZoneInfo) -> str:
    return format_local(when, zone)


@lru_cache(maxsize=4096)
def _next_line(rule: DailyTime, local_date: date) -> str:
    upcoming = following_occurrence(rule, local_date)
    return f"Next digest: {format_local(upcoming.due_at, rule.zone)}."


def compose_reply(
    built: BuiltDigest, *, rule: DailyTime | None, occurrence: Occurrence | None,
    late: bool, on_demand: bool, missed: Sequence[MissedDigest], empty_message: str,
    default_timezone: str, grace_hours: float, delivery_key: str | None = None,
) -> Reply | None:
    """The digest message: a header line, the items, a footer (what was missed, what next).
    None when nothing is new and no ``empty_message`` is configured."""
    from zoneinfo import ZoneInfo

    zone = rule.zone if rule else ZoneInfo(default_timezone)
    n = len(built.items)
    if not n and not empty_message:
        return None
    if on_demand:
        title = "Digest on request"
    else:
        title = "Daily digest" if rule is None or rule.weekdays == EVERY_DAY else "Digest"
    day = (occurrence.local_date if occurrence else built.period_end.astimezone(zone).date())
    header = f"{title} · {_day_text(day)}"
    if n:
        since = (f" since {_local_text(built.period_start, zone)}"
                 if built.period_start else "")
        header += f" · {n} {'story' if n == 1 else 'stories'}{since}"
        if built.total_stories > n:
            header += f" (the top {n} of {built.total_stories})"
    if late and occurrence is not None:
        due = format_local(occurrence.due_at, zone, with_date=False)
        header += f" · late: it was due at {due}"
    if not n:
        header += f"\n{empty_message}"
    footer_lines = []
    if missed:
        days = [m.local_date.strftime("%a %d %b") for m in missed]
        listed = ", ".join(days[-5:]) + (f" and {len(days) - 5} earlier" if len(days) > 5 else "")
        many = len(days) > 1
        footer_lines.append(
            f"Missed: the digest{'s' if many else ''} due {listed} {'were' if many else 'was'}"
            f" skipped (not posted within the {grace_hours:g}-hour grace period); this one"
            f" covers {'them' if many else 'it'} too."
        )
    if rule is not None:
        footer_lines.append(_next_line(rule, occurrence.local_date) if occurrence else
                            "Next digest: " + format_local(
                                next_occurrence(rule, after=built.period_end).due_at, zone)
                            + ".")
    return Reply(text=header, items=built.items, kind=ReplyKind.DIGEST, ephemeral=False,
                 footer="\n".join(footer_lines), delivery_key=delivery_key)


# -- on demand ---------------------------------------------------------------------------------


async def digest_now(
    kit: DigestKit, *, destination: Destination, post: bool, owner: str = "on-demand",
) -> tuple[Reply | None, BuiltDigest]:
    """Build the channel's digest as of now. ``post``: deliver it to ``destination`` and
    record it as the channel's latest digest (the next one starts after it); otherwise a
    preview that records nothing."""
    store = kit.store
    assert destination.channel_id is not None
    platform, channel_id = destination.platform, destination.channel_id
    schedule = await store.digests.get_digest_schedule(platform=platform, channel_id=channel_id)
    rule = DailyTime.of(schedule) if schedule is not None and schedule.enabled else None
    now = kit.clock()
    digest_pass = DigestPass(kit, now=now)
    if not post:
        last = await store.digests.last_digest(platform=platform, channel_id=channel_id)
        return await digest_pass.build(platform=platform, channel_id=channel_id, last=last,
                                       rule=rule, on_demand=True)
    run_id, last = await store.digests.start_manual_digest(platform=platform, channel_id=channel_id,
                                                   owner=owner, now=now)
    try:
        reply, built = await digest_pass.build(platform=platform, channel_id=channel_id,
                                               last=last, rule=rule, on_demand=True)
        if reply is not None:
            await kit.deliver(destination, reply)
    except Exception as exc:
        await store.digests.abandon_manual_digest(run_id=run_id,
                                                  error=str(exc) or type(exc).__name__,
                                          now=kit.clock())
        raise
    await store.digests.finish_digest(
        run_id=run_id, owner=owner, sent=reply is not None, period_start=built.period_start,
        period_end=built.period_end, through_article_id=built.through_article_id,
        items=len(built.items), late=False, now=kit.clock(),
    )
    return reply, built
