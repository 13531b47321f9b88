"""Digests without re-reading the day (issue 17, item 4): the faster clustering and ranking
choose the same stories as before, the article window answers as the store does, story terms
are computed once, and a pass reads its channels' settings in one go."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.alerts.query import compile_query
from bot.app import digest_kit
from bot.digests import build, stories
from bot.digests.build import ArticleWindow, Ranking, shared_state
from bot.digests.stories import StoryIndex, TermCache, cluster_terms
from bot.engine import BriefingEngine
from bot.models import ArticleDraft
from bot.store.ports import DigestArticle, NewArticle
from tests import digest_reference as reference

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
COMMON = ("said officials report new year government people city week plan market help "
          "support state country group company police court minister talks vote").split()


def corpus(n: int, *, seed: int = 3) -> list[DigestArticle]:
    """Articles of a day: stories told by 1-5 sources in their own words, close in time,
    each with a few words of its own (names, numbers) among common ones."""
    rng = random.Random(seed)
    vocabulary = [f"name{i}" for i in range(3000)]
    out: list[DigestArticle] = []
    while len(out) < n:
        key = rng.sample(vocabulary, 10)
        def sentence(k: int, key: list[str] = key) -> str:
            picks = [rng.choice(key) if rng.random() < 0.5 else rng.choice(COMMON)
                     for _ in range(k)]
            return " ".join(picks).capitalize() + "."

        for _ in range(rng.choice((1, 1, 2, 3, 5))):
            i = len(out) + 1
            at = NOW - timedelta(hours=24) + timedelta(seconds=i * 86_000 / n)
            out.append(DigestArticle(
                id=i, title=" ".join(rng.sample(key, 5) + rng.sample(COMMON, 2)),
                summary=(sentence(14), sentence(10)), url=f"https://s{i % 7}.example/{i}",
                source=f"S{rng.randrange(9)}", published_at=at - timedelta(minutes=i % 50),
                ingested_at=at, feed_id=1 + rng.randrange(4)))
    return out[:n]


def test_the_faster_clustering_finds_the_same_clusters() -> None:
    articles = corpus(1500)
    bags = TermCache().bags(articles, language="english")
    clusters = cluster_terms(bags, threshold=0.3)
    assert clusters == reference.cluster_terms(bags, threshold=0.3)
    assert sum(len(c) > 1 for c in clusters) > 100  # the corpus does repeat stories
    small = bags[:40]  # below MIN_IDF_DOCS, and an empty bag (only stop words)
    assert cluster_terms([*small, {}], threshold=0.3) == reference.cluster_terms(
        [*small, {}], threshold=0.3)


@pytest.mark.parametrize("queries", [(), ("name7", "name12 OR name99", '"said officials"')])
def test_the_top_stories_are_the_same_as_a_full_ranking(queries: tuple[str, ...]) -> None:
    articles = corpus(1200, seed=5)
    bags = TermCache().bags(articles, language="english")
    clusters = [[articles[i] for i in c] for c in cluster_terms(bags, threshold=0.3)]
    compiled = tuple((q, compile_query(q, language="english")) for q in queries)
    for feed in (None, 1, 2):
        chosen = [c2 for c in clusters
                  if (c2 := [a for a in c if feed is None or a.feed_id == feed])]
        full = reference.rank_stories(chosen, now=NOW, queries=compiled)
        ranking = Ranking(chosen, now=NOW)
        assert ranking.count == len(full)
        for k in (1, 10, 37):
            top = ranking.top(k, queries=compiled)
            assert [(s.lead.id, s.articles, s.sources, s.matched, s.score) for s in top] == [
                (s.lead.id, s.articles, s.sources, s.matched, s.score) for s in full[:k]]
        if queries:  # the matches did reorder the stories
            assert full[0].matched


def test_story_terms_are_computed_once_per_article(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = stories.story_terms

    def counted(title: str, summary: tuple[str, ...], *, language: str) -> dict[str, float]:
        calls.append(title)
        return real(title, summary, language=language)

    monkeypatch.setattr(stories, "story_terms", counted)
    articles = corpus(60)
    cache = TermCache(size=50)
    first = cache.bags(articles, language="english")
    assert len(calls) == 60
    again = cache.bags(articles[-50:], language="english")
    assert len(calls) == 60 and again == first[-50:]  # the newest 50 kept
    cache.bags(articles[:5], language="english")  # the oldest were forgotten
    assert len(calls) == 65


async def _store_articles(engine: BriefingEngine, n: int) -> list[int]:
    feeds = []
    for f in range(3):
        feed, _ = await engine.store.feeds.add_feed(f"https://f{f}.example/rss", now=NOW,
                                                    next_poll_at=NOW)
        feeds.append(feed.id)
    batch = []
    for i in range(n):
        url = f"https://f{i % 3}.example/a/{i}"
        batch.append(NewArticle(
            draft=ArticleDraft(text=f"Story {i} text.", title=f"Story {i}", url=url,
                               source=f"F{i % 3}", feed_id=None if i % 5 == 0 else feeds[i % 3]),
            title=f"Story {i}", summary=(f"Story {i} text.",),
            content_hash=hashlib.sha256(url.encode()).hexdigest(), canonical_url=url,
            ingested_at=NOW - timedelta(minutes=n - i), backlog=i % 11 == 0))
    await engine.store.articles.add_articles(batch)
    return feeds


async def test_the_article_window_answers_as_the_store(
    engine: BriefingEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(build, "LOAD_CHUNK", 7)  # several chunks per read
    feeds = await _store_articles(engine, 90)
    top = await engine.store.articles.max_article_id()
    articles = engine.store.articles
    window = ArticleWindow(limit=40)
    requests = [(30, 60, None), (30, 70, None), (10, 70, (feeds[0],)), (50, top, None),
                (5, 20, None), (0, top, (feeds[1], feeds[2])), (60, top, (feeds[2],)),
                (20, 40, None), (top, top + 5, None), (0, top, None)]
    for after, through, feed_ids in requests:
        got = await window.select(articles, after_id=after, through_id=through,
                                  feed_ids=feed_ids)
        want = await articles.digest_articles(after_id=after, through_id=through,
                                              feed_ids=feed_ids)
        assert got == want, (after, through, feed_ids)
        assert len(window.ids) <= 40 and window.ids == sorted(window.ids)


async def test_a_pass_reads_its_channels_settings_in_one_go(engine: BriefingEngine) -> None:
    store = engine.store
    feeds = await _store_articles(engine, 3)
    channels = [("console", "C1"), ("console", "C2"), ("slack", "C1"), ("slack", "none")]
    await store.feeds.link_channel_feed(platform="console", channel_id="C1", feed_id=feeds[1])
    await store.feeds.link_channel_feed(platform="console", channel_id="C1", feed_id=feeds[0])
    await store.feeds.link_channel_feed(platform="slack", channel_id="C1", feed_id=feeds[2])
    await store.feeds.mute_channel_feed(platform="console", channel_id="C2", feed_id=feeds[2])
    for owner, query in (("C1", "rockets"), ("C2", "oil"), ("C1", "budget")):
        await store.alerts.add_subscription(
            platform="console", owner_kind="channel", owner_id=owner, created_by="U1",
            query=query, query_key=query, language="english", now=NOW, limit=10)
    await store.alerts.add_subscription(
        platform="console", owner_kind="user", owner_id="C1", created_by="C1",
        query="a person's", query_key="persons", language="english", now=NOW, limit=10)
    follows = await store.feeds.channels_feed_ids(channels)
    mutes = await store.feeds.channels_muted_feed_ids(channels)
    queries = await store.alerts.channels_subscription_queries(channels)
    for platform, channel in channels:
        key = (platform, channel)
        assert follows.get(key, []) == await store.feeds.channel_feed_ids(
            platform=platform, channel_id=channel)
        assert mutes.get(key, []) == await store.feeds.channel_muted_feed_ids(
            platform=platform, channel_id=channel)
        assert queries.get(key, []) == await store.alerts.channel_subscription_queries(
            platform=platform, channel_id=channel)
    assert follows[("console", "C1")] == sorted(feeds[:2])
    assert queries[("console", "C1")] == ["rockets", "budget"]
    assert await store.feeds.channels_feed_ids([]) == {}


async def test_previews_keep_the_stories_and_add_new_articles_to_them(
    engine: BriefingEngine,
) -> None:
    from bot.digests.build import digest_now
    from bot.models import Destination

    await _store_articles(engine, 30)
    state = shared_state(engine.store)
    here = Destination(platform="console", channel_id="C1")
    first, built = await digest_now(digest_kit(engine), destination=here, post=False)
    held = built.considered  # the 30 articles but the backlog
    assert state.rebuilds == 1 and state.stories is not None and len(state.stories) == held
    again, _ = await digest_now(digest_kit(engine), destination=here, post=False)
    assert state.rebuilds == 1
    assert first is not None and again is not None and first.items == again.items
    # another report of "Story 29" arrives: added to the stories, which do not start again
    feeds = await engine.store.feeds.list_feeds()
    url = "https://elsewhere.example/29"
    await engine.store.articles.add_articles([NewArticle(
        draft=ArticleDraft(text="Story 29 text.", title="Story 29", url=url, source="Other",
                           feed_id=feeds[0].id),
        title="Story 29", summary=("Story 29 text.",),
        content_hash=hashlib.sha256(url.encode()).hexdigest(), canonical_url=url,
        ingested_at=NOW)])
    grown, built = await digest_now(digest_kit(engine), destination=here, post=False)
    assert state.rebuilds == 1 and len(state.stories) == held + 1
    assert built.considered == held + 1
    assert grown is not None and grown.items[0].title == "Story 29"
    assert grown.items[0].note == "+1 source"


def test_stories_kept_as_articles_arrive_are_those_of_clustering_at_once() -> None:
    """On a day of reports, the stories kept as the last fifth arrive one at a time are the
    ones clustering the whole day at once makes (the weights hardly move)."""
    articles = corpus(1500, seed=11)
    ids = [a.id for a in articles]
    bags = TermCache().bags(articles, language="english")
    whole = cluster_terms(bags, threshold=0.3)
    index = StoryIndex(threshold=0.3)
    index.rebuild(ids[:1200], bags[:1200], lo=0)
    assert index.stories() == [[ids[i] for i in c]
                               for c in cluster_terms(bags[:1200], threshold=0.3)]
    assert not index.due_rebuild()
    index.extend(ids[1200:], bags[1200:])
    assert len(index) == 1500 and index.hi == ids[-1]
    at_once = {ids[i]: frozenset(ids[j] for j in c) for c in whole for i in c}
    kept = {a: frozenset(m) for m in index.stories() for a in m}
    same = sum(kept[a] == at_once[a] for a in ids[1200:])
    assert same >= 0.95 * 300
    assert any(min(m) <= ids[1199] < max(m) for m in index.stories())  # joined older stories
    # as many added one at a time as clustered at once: due to start again
    index.extend([ids[-1] + n for n in range(1, 901)], bags[:900])
    assert index.due_rebuild()


def test_a_report_identical_to_one_kept_joins_its_story() -> None:
    articles = corpus(200, seed=4)
    bags = TermCache().bags(articles, language="english")
    index = StoryIndex(threshold=0.3)
    index.rebuild([a.id for a in articles], bags, lo=0)
    index.extend([1000, 1001], [dict(bags[150]), {"zzyzx": 2.0, "quokka": 1.0}])
    assert index.story_of[1000] == index.story_of[articles[150].id]
    assert index.stories()[index.story_of[1001]] == [1001]


def test_a_digest_seeing_part_of_a_story_clusters_its_reports_again() -> None:
    """Two stories glued by a third report that joins both: a channel that does not see the
    third gets them as two items, not one false "+1 source"."""
    def article(i: int, feed: int) -> DigestArticle:
        return DigestArticle(id=i, title=f"t{i}", summary=(), url=f"https://s{i}.example/",
                             source=f"S{i}", published_at=NOW, ingested_at=NOW, feed_id=feed)

    a, glue, c = article(1, 1), article(2, 2), article(3, 1)
    index = StoryIndex(threshold=0.3)
    index.rebuild([1, 2, 3], [{"xenon": 2.0, "yak": 1.0},
                              {"xenon": 2.0, "yak": 1.0, "zebu": 2.0, "wren": 1.0},
                              {"zebu": 2.0, "wren": 1.0}], lo=0)
    assert index.stories() == [[1, 2, 3]]
    assert index.group([a, glue, c]) == [[a, glue, c]]  # the whole story: as it is
    assert index.group([a, c]) == [[a], [c]]
    assert index.group([a, glue]) == [[a, glue]]
    assert index.group([a, c]) == [[a], [c]]  # kept, the same answer
    stray = article(99, 1)  # never given to the index: a story alone
    assert index.group([a, glue, stray]) == [[a, glue], [stray]]


async def test_a_channel_that_follows_feeds_gets_the_digest_of_its_own_articles(
    engine: BriefingEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pass ranks a channel that follows feeds from each feed's part of the stories
    (scored once a pass): every digest is the one ranking the channel's own articles gives,
    for one feed or several, muted feeds, subscriptions and periods of their own."""
    from bot.digests.build import DigestPass
    from bot.store.ports import LastDigest

    store = engine.store
    feeds = []
    for f in range(4):
        feed, _ = await store.feeds.add_feed(f"https://f{f}.example/rss", now=NOW,
                                             next_poll_at=NOW)
        feeds.append(feed.id)
    articles = corpus(600, seed=11)
    batch = []
    for a in articles:
        url = f"{a.url}/{a.id}"
        batch.append(NewArticle(
            draft=ArticleDraft(text=" ".join(a.summary), title=a.title, url=url,
                               source=a.source, feed_id=None if a.id % 13 == 0
                               else feeds[a.id % 4]),
            title=a.title, summary=a.summary, canonical_url=url,
            content_hash=hashlib.sha256(url.encode()).hexdigest(), ingested_at=a.ingested_at))
    await store.articles.add_articles(batch)
    top = await store.articles.max_article_id()
    follows = {"one": feeds[:1], "two": feeds[1:3], "three": feeds[:3], "all4": feeds,
               "subs": feeds[2:], "muted": [], "later": feeds[:2], "none": []}
    for channel, followed in follows.items():
        for feed in followed:
            await store.feeds.link_channel_feed(platform="console", channel_id=channel,
                                                feed_id=feed)
    await store.feeds.mute_channel_feed(platform="console", channel_id="muted", feed_id=feeds[1])
    for query in ("name7", "name12 OR name99"):
        await store.alerts.add_subscription(
            platform="console", owner_kind="channel", owner_id="subs", created_by="U1",
            query=query, query_key=query, language="english", now=NOW, limit=10)
    lasts: dict[str, LastDigest | None] = {c: None for c in follows}
    lasts["later"] = LastDigest(run_id=1, through_article_id=top - 150, period_end=NOW,
                                finished_at=NOW, items=10, status="sent")
    lasts["all4"] = LastDigest(run_id=2, through_article_id=top - 400, period_end=NOW,
                               finished_at=NOW, items=10, status="sent")
    keys = [("console", c) for c in follows]
    now = NOW + timedelta(minutes=5)

    async def digests() -> list[tuple[object, ...]]:
        digest_pass = DigestPass(digest_kit(engine), now=now, channels=len(keys) * 3)
        await digest_pass.prepare(channels=keys)
        out = []
        for _, channel in keys:
            reply, built = await digest_pass.build(platform="console", channel_id=channel,
                                                   last=lasts[channel], rule=None, missed=())
            out.append((channel, reply, built.stories, built.considered, built.total_stories,
                        built.through_article_id))
        return out

    called: list[int] = []
    real = DigestPass._ranked_by_feeds

    async def counted(self: DigestPass, *args: object) -> object:
        found = await real(self, *args)  # type: ignore[arg-type]
        called.append(found is not None)
        return found

    monkeypatch.setattr(DigestPass, "_ranked_by_feeds", counted)
    by_feeds = await digests()
    assert sum(called) == len([c for c, f in follows.items() if f])  # the feeds' way taken

    async def not_by_feeds(self: DigestPass, *args: object) -> None:
        return None

    monkeypatch.setattr(DigestPass, "_ranked_by_feeds", not_by_feeds)
    shared_state(engine.store).stories = None  # the same stories, made again
    assert await digests() == by_feeds
    got = {row[0]: row for row in by_feeds}
    assert all(got[c][3] > 0 for c in follows)
    assert any(s.sources > 1 for s in got["three"][2])  # stories told by several feeds
    assert any(s.matched for s in got["subs"][2])
    assert got["muted"][3] < got["none"][3]
