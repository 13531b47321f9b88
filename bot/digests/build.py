"""Choose, cluster and rank the articles for one channel's digest (adapters split long ones).

**Content.** A digest covers the articles stored since the channel's previous digest (by
article id, which grows with every insert, so nothing stored between two digests is lost or
repeated); the first digest covers the last 24 hours, and no digest looks back further than
``[digest] max_lookback_days``. A channel that follows feeds sees only their articles; one
that follows none sees all. Summaries are the ones stored at ingest: never re-summarised.

**Clustering** (the same story from several sources becomes one item). Each article is a
bag of terms from its title (weight 2) and stored summary (weight 1): words lower-cased,
stop words dropped, stemmed with the summarizer language's Snowball stemmer. Terms are
weighted by inverse document frequency over the articles being clustered, with the set
treated as at least :data:`MIN_IDF_DOCS` documents so a small set does not penalise the very
words two reports share. Articles are taken oldest first; each joins the existing cluster
whose centroid is most similar (cosine) if that similarity is at least ``[digest]
cluster_similarity`` (default 0.3), else it starts a new cluster. Candidate clusters are
found through an inverted index of the article's rarer terms (a named entity, a number) among
recent clusters, so clustering stays near-linear on thousands of articles. When many channels
are due at once, a pass loads and clusters the articles they need once; each channel sees
those clusters restricted to its own articles (its feeds, its period).

**Ranking.** Each story (cluster) scores::

    score = 0.5 ** (age_hours / 12)          recency of its newest article, 1.0 -> 0
          + 0.5 * log2(sources)              distinct sources reporting it (0 for one)
          + 1.0 * min(matched_queries, 2)    the channel's alert subscriptions it matches

ties go to the newer story. The top ``[digest] max_items`` stories are shown; each item is
the cluster's first-stored article (linked title, source, time, stored summary) with a note
"+N sources" when other sources reported it too.

**Splitting.** The digest is one :class:`~bot.models.Reply`; each adapter splits it into
platform messages with its own renderer (``adapters/slack_blocks.py``,
``adapters/discord_render.py``), within the platform's limits, never cutting an item.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from bot.alerts.query import compile_query
from bot.digests.rules import (
    EVERY_DAY,
    DailyTime,
    Occurrence,
    following_occurrence,
    format_local,
    next_occurrence,
)
from bot.models import Destination, Item, Reply, ReplyKind
from bot.store.ports import DigestArticle, LastDigest, MissedDigest
from bot.text import language_kit, words

if TYPE_CHECKING:
    from bot.engine import BriefingEngine

log = logging.getLogger(__name__)

FIRST_DIGEST_HOURS = 24
MIN_IDF_DOCS = 50
RARE_TERM_MAX_DF = 100
RECENT_CLUSTERS = 100
MAX_CANDIDATES = 8
RECENCY_HALF_LIFE_HOURS = 12.0
SOURCES_WEIGHT = 0.5
MATCH_WEIGHT = 1.0
# A pass over at least this many due channels loads the articles once for all of them.
POOL_THRESHOLD = 20
# Clustering this few articles runs inline: cheaper than the hop to the worker thread.
INLINE_ARTICLES = 150


# -- terms and clustering --------------------------------------------------------------------


@lru_cache(maxsize=200_000)
def _stem(language: str, word: str) -> str:
    return str(language_kit(language).stemmer(word))


def story_terms(title: str, summary: Sequence[str], *, language: str) -> dict[str, float]:
    """Stemmed content terms of a title (weight 2) and summary (weight 1)."""
    stop = language_kit(language).stop_words
    terms: dict[str, float] = {}
    for weight, text in ((2.0, title), (1.0, " ".join(summary))):
        for word in words(text):
            w = word.lower()
            if w in stop or (len(w) < 2 and not w.isdigit()):
                continue
            term = _stem(language, w)
            if terms.get(term, 0.0) < weight:
                terms[term] = weight
    return terms


class _Cluster:
    __slots__ = ("centroid", "members", "norm")

    def __init__(self, vector: dict[str, float], member: int) -> None:
        self.centroid = dict(vector)
        self.members = [member]
        self.norm = 1.0

    def add(self, vector: dict[str, float], member: int) -> None:
        for term, weight in vector.items():
            self.centroid[term] = self.centroid.get(term, 0.0) + weight
        self.members.append(member)
        self.norm = math.sqrt(sum(w * w for w in self.centroid.values()))


def cluster_terms(bags: Sequence[dict[str, float]], *, threshold: float) -> list[list[int]]:
    """Group bags of terms (oldest first) into clusters of the same story; see the module
    docstring. Returns lists of indexes into ``bags``, each in input order."""
    n = len(bags)
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    docs = max(n, MIN_IDF_DOCS)
    idf = {t: math.log(1.0 + docs / d) for t, d in df.items()}
    # Terms in more articles than this do not propose candidates (they still count in the
    # similarity); the same story's reports share a rarer term (a name, a number).
    rare = max(3, min(n // 20, RARE_TERM_MAX_DF))
    clusters: list[_Cluster] = []
    index: dict[str, list[int]] = {}
    for i, bag in enumerate(bags):
        vector = {t: w * idf[t] for t, w in bag.items()}
        length = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        vector = {t: w / length for t, w in vector.items()}
        shared: Counter[int] = Counter()
        for term in vector:
            if df[term] <= rare:
                # reports of one story come close together: look at the latest clusters only
                shared.update(index.get(term, ())[-RECENT_CLUSTERS:])
        best, best_sim = -1, threshold
        # the full similarity only for the clusters sharing the most rare terms
        for c, _ in shared.most_common(MAX_CANDIDATES):
            cluster = clusters[c]
            dot = sum(w * cluster.centroid.get(t, 0.0) for t, w in vector.items())
            sim = dot / cluster.norm
            if sim >= best_sim:
                best, best_sim = c, sim
        if best < 0:
            best = len(clusters)
            clusters.append(_Cluster(vector, i))
        else:
            clusters[best].add(vector, i)
        for term in vector:
            postings = index.setdefault(term, [])
            if not postings or postings[-1] != best:
                postings.append(best)
    return [c.members for c in clusters]


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
    age_hours = max(0.0, (now - newest).total_seconds() / 3600)
    return (math.pow(0.5, age_hours / RECENCY_HALF_LIFE_HOURS)
            + SOURCES_WEIGHT * math.log2(max(1, sources))
            + MATCH_WEIGHT * min(matched, 2))


def rank_stories(
    clusters: Iterable[Sequence[DigestArticle]], *, now: datetime,
    queries: Sequence[tuple[str, Matcher]] = (),
) -> list[Story]:
    """Score each cluster (see the module docstring), best first."""
    stories = []
    for members in clusters:
        if len(members) == 1:
            lead = members[0]
            ordered: tuple[DigestArticle, ...] = (lead,)
            newest = min(lead.shown_at, now)
            sources = 1
        else:
            lead = min(members, key=lambda a: a.id)
            ordered = (lead, *(a for a in members if a is not lead))
            newest = min(max(a.shown_at for a in members), now)
            sources = len({source_key(a) for a in members})
        stories.append(Story(
            articles=ordered, sources=sources, newest=newest,
            score=score_story(newest=newest, sources=sources, matched=0, now=now),
        ))
    return apply_matches(stories, queries=queries, now=now) if queries else sorted(
        stories, key=_rank_key)


def apply_matches(stories: Sequence[Story], *, queries: Sequence[tuple[str, Matcher]],
                  now: datetime) -> list[Story]:
    """``stories`` re-scored with the channel's subscription matches, best first."""
    out = []
    for story in stories:
        matched = tuple(
            text for text, matcher in queries
            if any(matcher.match(title=a.title, text=" ".join(a.summary)) is not None
                   for a in story.articles)
        )
        if matched:
            story = replace(story, matched=matched, score=score_story(
                newest=story.newest, sources=story.sources, matched=len(matched), now=now))
        out.append(story)
    out.sort(key=_rank_key)
    return out


def _rank_key(story: Story) -> tuple[float, float, int]:
    return (-story.score, -story.newest.timestamp(), story.lead.id)


def cluster_articles(
    articles: Sequence[DigestArticle], *, threshold: float, language: str,
    cache: dict[int, dict[str, float]] | None = None,
) -> list[list[DigestArticle]]:
    """Clusters of the same story among ``articles`` (CPU work: run it off the event loop)."""
    cache = {} if cache is None else cache
    bags = []
    for a in articles:
        bag = cache.get(a.id)
        if bag is None:
            bag = cache[a.id] = story_terms(a.title, a.summary, language=language)
        bags.append(bag)
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


@dataclass
class _Pool:
    """Articles ``(after_id, through_id]`` loaded once for every digest of one pass."""

    after_id: int
    through_id: int
    articles: list[DigestArticle] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    by_feed: dict[int | None, list[DigestArticle]] | None = None

    def select(self, after_id: int, feed_ids: Sequence[int] | None) -> list[DigestArticle]:
        if feed_ids is None:
            return self.articles[bisect.bisect_right(self.ids, after_id):]
        if self.by_feed is None:
            self.by_feed = {}
            for a in self.articles:
                self.by_feed.setdefault(a.feed_id, []).append(a)
        chosen: list[DigestArticle] = []
        for feed in feed_ids:
            group = self.by_feed.get(feed, [])
            start = bisect.bisect_right([a.id for a in group], after_id) if group else 0
            chosen.extend(group[start:])
        chosen.sort(key=lambda a: a.id)
        return chosen


class DigestPass:
    """Builds the digests due at one instant, sharing the work between channels: the article
    pool, each article's terms, and the clusters of channels that see the same articles."""

    def __init__(self, engine: BriefingEngine, *, now: datetime, channels: int = 1) -> None:
        self.engine = engine
        self.now = now
        self.use_pool = channels >= POOL_THRESHOLD
        self._lock = asyncio.Lock()
        self._through: int | None = None
        self._watermarks: dict[datetime, int] = {}
        self._pool: _Pool | None = None
        self._terms: dict[int, dict[str, float]] = {}
        self._stories: dict[tuple[Any, ...], asyncio.Future[list[Story]]] = {}
        self._cluster_of: dict[int, int] | None = None

    async def prepare(self, *, platforms: Sequence[str] | None = None) -> None:
        """For a pass over many channels: load every article any due channel will show, once,
        and cluster them once. Each channel then sees these clusters restricted to its own
        articles, instead of clustering its articles itself."""
        if not self.use_pool:
            return
        store = self.engine.store
        cfg = self.engine.config
        through = await self._through_id()
        lowest, any_first = await store.digests.digest_pool_floor(now=self.now, platforms=platforms)
        floors = [] if lowest is None else [lowest]
        if any_first or lowest is None:
            floors.append(await self._watermark(self.now - timedelta(hours=FIRST_DIGEST_HOURS)))
        lookback = await self._watermark(self.now - timedelta(days=cfg.digest.max_lookback_days))
        after = max(min(floors), lookback)
        if after >= through:
            return
        loaded = await store.articles.digest_articles(after_id=after, through_id=through)
        async with self._lock:
            self._pool = _Pool(after_id=after, through_id=through, articles=loaded,
                               ids=[a.id for a in loaded])
        clusters = await self.engine.summarizer.run(
            lambda: cluster_articles(loaded, threshold=cfg.digest.cluster_similarity,
                                     language=cfg.summarizer.language, cache=self._terms)
        )
        self._cluster_of = {a.id: i for i, members in enumerate(clusters) for a in members}
        log.debug("digest pass: %d articles in %d stories shared by the due channels",
                  len(loaded), len(clusters))

    async def _through_id(self) -> int:
        if self._through is None:
            self._through = await self.engine.store.articles.max_article_id()
        return self._through

    async def _watermark(self, since: datetime) -> int:
        if since not in self._watermarks:
            self._watermarks[since] = await self.engine.store.articles.article_id_watermark(
                since=since)
        return self._watermarks[since]

    async def _articles(self, after_id: int, through_id: int,
                        feed_ids: Sequence[int] | None) -> list[DigestArticle]:
        store = self.engine.store
        if not self.use_pool:
            return await store.articles.digest_articles(after_id=after_id, through_id=through_id,
                                               feed_ids=feed_ids)
        async with self._lock:
            pool = self._pool
            if pool is None:
                loaded = await store.articles.digest_articles(after_id=after_id,
                                                              through_id=through_id)
                pool = self._pool = _Pool(after_id=after_id, through_id=through_id,
                                          articles=loaded, ids=[a.id for a in loaded])
            elif after_id < pool.after_id:  # extend the pool back to this channel's start
                older = await store.articles.digest_articles(after_id=after_id,
                                                    through_id=pool.after_id)
                pool.articles[:0] = older
                pool.ids[:0] = [a.id for a in older]
                pool.after_id, pool.by_feed = after_id, None
        return pool.select(after_id, feed_ids)

    async def _subscription_queries(self, platform: str, channel_id: str
                                    ) -> list[tuple[str, Matcher]]:
        """The channel's alert subscriptions, compiled, when the alerts feature is present."""
        lookup = self.engine.store.alerts.channel_subscription_queries
        language = self.engine.config.summarizer.language
        compiled: list[tuple[str, Matcher]] = []
        for text in await lookup(platform=platform, channel_id=channel_id):
            try:
                compiled.append((str(text), compile_query(text, language=language)))
            except Exception:  # a stored query this version cannot read: rank without it
                log.warning("digest for %s:%s: cannot compile subscription query %r",
                            platform, channel_id, text)
        return compiled

    async def _ranked(self, key: tuple[Any, ...], articles: list[DigestArticle]
                      ) -> list[Story]:
        """The stories among ``articles``, ranked without subscriptions; computed once per
        distinct article set in a pass (channels following the same feeds share it)."""
        future = self._stories.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._stories[key] = future
            cfg = self.engine.config

            cluster_of = self._cluster_of
            shared = cluster_of is not None and all(a.id in cluster_of for a in articles)

            def work() -> list[Story]:
                if shared:
                    assert cluster_of is not None
                    groups: dict[int, list[DigestArticle]] = {}
                    for a in articles:
                        groups.setdefault(cluster_of[a.id], []).append(a)
                    clusters = list(groups.values())
                else:
                    clusters = cluster_articles(
                        articles, threshold=cfg.digest.cluster_similarity,
                        language=cfg.summarizer.language, cache=self._terms,
                    )
                return rank_stories(clusters, now=self.now)

            try:
                # A few dozen articles cost less than the hop to the worker thread.
                result = (work() if shared or len(articles) <= INLINE_ARTICLES
                          else await self.engine.summarizer.run(work))
            except BaseException as exc:
                del self._stories[key]
                future.set_exception(exc)
                future.exception()  # retrieved: other waiters re-raise it themselves
                raise
            future.set_result(result)
        return await asyncio.shield(future)

    async def build(
        self, *, platform: str, channel_id: str, last: LastDigest | None,
        rule: DailyTime | None, occurrence: Occurrence | None = None, late: bool = False,
        on_demand: bool = False, missed: Sequence[MissedDigest] | None = None,
    ) -> tuple[Reply | None, BuiltDigest]:
        """The digest for one channel as of ``now``: a Reply (None when there is nothing to
        post) and what it covers."""
        cfg = self.engine.config.digest
        store = self.engine.store
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
        feeds = await store.feeds.channel_feed_ids(platform=platform, channel_id=channel_id)
        feed_ids = tuple(sorted(feeds)) or None
        articles = (await self._articles(after, through, feed_ids)) if after < through else []
        # feeds an admin here removed while other channels still follow them
        muted = frozenset(await store.feeds.channel_muted_feed_ids(platform=platform,
                                                                   channel_id=channel_id))
        if muted:
            articles = [a for a in articles if a.feed_id not in muted]
        queries = await self._subscription_queries(platform, channel_id)
        ranked = (await self._ranked((after, through, feed_ids, tuple(sorted(muted))), articles)
                  if articles else [])
        if queries:
            ranked = apply_matches(ranked, queries=queries, now=now)
        stories = ranked[: cfg.max_items]
        items = tuple(s.to_item(sentences=cfg.summary_sentences) for s in stories)
        if missed is None:
            missed = await store.digests.missed_digests(platform=platform, channel_id=channel_id,
                                                after_run_id=last.run_id if last else None)
        built = BuiltDigest(
            destination=Destination(platform=platform, channel_id=channel_id),
            stories=tuple(stories), items=items, period_start=period_start, period_end=now,
            through_article_id=max(through, after), considered=len(articles),
            total_stories=len(ranked),
        )
        reply = compose_reply(
            built, rule=rule, occurrence=occurrence, late=late, on_demand=on_demand,
            missed=missed, empty_message=cfg.empty_message,
            default_timezone=cfg.default_timezone, grace_hours=cfg.grace_hours,
        )
        return reply, built


def compose_reply(
    built: BuiltDigest, *, rule: DailyTime | None, occurrence: Occurrence | None,
    late: bool, on_demand: bool, missed: Sequence[MissedDigest], empty_message: str,
    default_timezone: str, grace_hours: float,
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
    header = f"{title} · {day.strftime('%a %d %b %Y')}"
    if n:
        since = (f" since {format_local(built.period_start, zone)}"
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
        upcoming = (following_occurrence(rule, occurrence.local_date) if occurrence
                    else next_occurrence(rule, after=built.period_end))
        footer_lines.append(f"Next digest: {format_local(upcoming.due_at, zone)}.")
    return Reply(text=header, items=built.items, kind=ReplyKind.DIGEST, ephemeral=False,
                 footer="\n".join(footer_lines))


# -- on demand ---------------------------------------------------------------------------------


async def digest_now(
    engine: BriefingEngine, *, destination: Destination, post: bool, owner: str = "on-demand",
) -> tuple[Reply | None, BuiltDigest]:
    """Build the channel's digest as of now. ``post``: deliver it to ``destination`` and
    record it as the channel's latest digest (the next one starts after it); otherwise a
    preview that records nothing."""
    store = engine.store
    assert destination.channel_id is not None
    platform, channel_id = destination.platform, destination.channel_id
    schedule = await store.digests.get_digest_schedule(platform=platform, channel_id=channel_id)
    rule = DailyTime.of(schedule) if schedule is not None and schedule.enabled else None
    now = engine.clock()
    digest_pass = DigestPass(engine, now=now)
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
            await engine.deliver(destination, reply)
    except Exception as exc:
        await store.digests.abandon_manual_digest(run_id=run_id,
                                                  error=str(exc) or type(exc).__name__,
                                          now=engine.clock())
        raise
    await store.digests.finish_digest(
        run_id=run_id, owner=owner, sent=reply is not None, period_start=built.period_start,
        period_end=built.period_end, through_article_id=built.through_article_id,
        items=len(built.items), late=False, now=engine.clock(),
    )
    return reply, built
