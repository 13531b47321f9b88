"""The digests' stories kept in the database (issue 17 item 4, issue 12): story terms and
story assignments are stored once, by one process at a time holding a lease; a restarted
process, and every other process on the database, reads them instead of stemming and
clustering the day again; retention takes them with their articles."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import digest_kit
from bot.config import Config
from bot.digests import stories
from bot.digests.build import digest_now, shared_state
from bot.digests.stories import StoryIndex, TermCache, decode_terms, encode_terms
from bot.engine import BriefingEngine
from bot.models import ArticleDraft, Destination
from bot.store.ports import DigestArticle, NewArticle
from tests.test_digest_cost import corpus

HERE = Destination(platform="console", channel_id="C1")


def _new(a: DigestArticle, *, feed_id: int | None, at: datetime, tag: str = "") -> NewArticle:
    url = f"{a.url}{tag}"
    return NewArticle(
        draft=ArticleDraft(text=" ".join(a.summary), title=a.title, url=url, source=a.source,
                           feed_id=feed_id, published_at=at),
        title=a.title, summary=a.summary, content_hash=hashlib.sha256(url.encode()).hexdigest(),
        canonical_url=url, ingested_at=at)


async def _fill(engine: BriefingEngine, articles: list[DigestArticle], now: datetime,
                tag: str = "") -> None:
    feeds = [(await engine.store.feeds.add_feed(f"https://f{f}.example/rss", now=now,
                                                next_poll_at=now))[0].id for f in range(4)]
    n = len(articles)
    await engine.store.articles.add_articles([
        _new(a, feed_id=feeds[(a.feed_id or 1) - 1], tag=tag,
             at=now - timedelta(hours=20) + timedelta(seconds=i * 60_000 / n))
        for i, a in enumerate(articles)])


def test_stored_terms_are_the_terms() -> None:
    bags = TermCache().bags(corpus(300, seed=8), language="english")
    bags.append({})
    for bag in bags:
        again = decode_terms(encode_terms(bag))
        assert again == bag and list(again) == list(bag)  # weights and order


def test_stories_read_back_take_new_articles_as_the_index_that_made_them() -> None:
    """Stories loaded from their stored form (terms + story ids) place newer articles as the
    index that made them does (centroids rebuilt with the weights of the whole set)."""
    articles = corpus(1500, seed=11)
    ids = [a.id for a in articles]
    bags = TermCache().bags(articles, language="english")
    made = StoryIndex(threshold=0.3)
    made.rebuild(ids[:1200], bags[:1200], lo=0)
    read = StoryIndex(threshold=0.3)
    read.load(ids[:1200], [encode_terms(b) for b in bags[:1200]],
              [made.story(i) for i in ids[:1200]], lo=0, hi=ids[1199])
    assert sorted(map(sorted, read.stories())) == sorted(map(sorted, made.stories()))
    made.extend(ids[1200:], bags[1200:])
    read.extend(ids[1200:], bags[1200:])
    same = sum(made.story(i) == read.story(i) for i in ids[1200:])
    assert same >= 0.97 * 300
    # placed elsewhere: adopted as given, and its story then takes new members
    other = StoryIndex(threshold=0.3)
    other.load(ids[:1200], [encode_terms(b) for b in bags[:1200]],
               [made.story(i) for i in ids[:1200]], lo=0, hi=ids[1199])
    assert [other.bag(i) for i in ids[:50]] == bags[:50]
    other.adopt(ids[1200:1300], [encode_terms(b) for b in bags[1200:1300]],
                [made.story(i) for i in ids[1200:1300]])
    assert all(other.story(i) == made.story(i) for i in ids[1200:1300])
    other.extend([5000], [dict(bags[1250])])
    assert other.story(5000) == made.story(ids[1250])


async def test_the_lease_is_held_by_one_process_at_a_time(engine: BriefingEngine) -> None:
    repo = engine.store.stories
    now = datetime.now(UTC)
    later = now + timedelta(seconds=60)
    assert await repo.story_state() is None
    mine = await repo.claim_stories(owner="a", now=now, lease_until=later)
    assert mine is not None and mine.generation == 0 and mine.owner == "a"
    assert await repo.claim_stories(owner="b", now=now, lease_until=later) is None
    assert await repo.claim_stories(owner="a", now=now, lease_until=later) is not None
    await _fill(engine, corpus(6), now)
    top = await engine.store.articles.max_article_id()
    rows = [(top - 1, top - 1, "rocket\tlaunch"), (top, top - 1, "rocket\t"),
            (top + 7, top + 7, "gone\t")]  # the last one's article is not stored
    assert not await repo.save_stories(rows, owner="b", setting="english 0.3", generation=1,
                                       lo=0, hi=top, now=now)
    assert await repo.story_rows(after_id=0, through_id=top + 10) == []
    assert await repo.save_stories(rows, owner="a", setting="english 0.3", generation=1,
                                   lo=top - 2, hi=top, now=now)
    assert await repo.story_rows(after_id=0, through_id=top + 10) == rows[:2]
    state = await repo.story_state()
    assert state is not None and (state.setting, state.generation, state.lo, state.hi,
                                  state.owner) == ("english 0.3", 1, top - 2, top, None)
    # given back; a lease that ran out is taken over
    assert await repo.claim_stories(owner="b", now=now, lease_until=later) is not None
    assert await repo.claim_stories(owner="c", now=now, lease_until=later) is None
    taken = await repo.claim_stories(owner="c", now=later + timedelta(seconds=1),
                                     lease_until=later + timedelta(seconds=60))
    assert taken is not None and taken.owner == "c" and taken.hi == top
    await repo.release_stories(owner="b")  # not b's any more: nothing happens
    assert await repo.claim_stories(owner="b", now=now, lease_until=later) is None
    await repo.release_stories(owner="c")
    # a row replaced keeps one row per article
    assert await repo.claim_stories(owner="b", now=now, lease_until=later) is not None
    assert await repo.save_stories([(top, top, "moon\t")], owner="b", setting="english 0.3",
                                   generation=2, lo=top - 2, hi=top, now=now)
    assert await repo.story_rows(after_id=top - 1, through_id=top) == [(top, top, "moon\t")]


async def test_retention_takes_the_stories_with_their_articles(engine: BriefingEngine) -> None:
    repo = engine.store.stories
    now = datetime.now(UTC)
    await _fill(engine, corpus(10), now)
    top = await engine.store.articles.max_article_id()
    assert await repo.claim_stories(owner="a", now=now, lease_until=now + timedelta(minutes=1))
    assert await repo.save_stories([(i, i, "x\t") for i in range(1, top + 1)], owner="a",
                                   setting="english 0.3", generation=1, lo=0, hi=top, now=now)
    gone = await engine.store.articles.prune_articles(before=now, below_id=None, limit=4)
    assert gone == 4
    left = await repo.story_rows(after_id=0, through_id=top)
    assert [r[0] for r in left] == list(range(5, top + 1))


async def test_a_restarted_process_reads_the_stories_instead_of_making_them(
    make_engine: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    first: BriefingEngine = await make_engine()
    now = first.clock()
    articles = corpus(400, seed=2)
    await _fill(first, articles, now)
    reply, built = await digest_now(digest_kit(first), destination=HERE, post=False)
    made = shared_state(first.store)
    assert made.rebuilds == 1 and made.stories is not None
    state = await first.store.stories.story_state()
    top = await first.store.articles.max_article_id()
    assert state is not None and state.generation == 1 and state.hi == top
    rows = await first.store.stories.story_rows(after_id=0, through_id=top)
    assert len(rows) == built.considered == 400
    # what was stored is the index's: the same stories, the same terms
    assert all(made.stories.story(i) == s for i, s, _ in rows)
    assert all(decode_terms(t) == made.stories.bag(i) for i, _, t in rows)

    calls: list[str] = []
    real = stories.story_terms
    monkeypatch.setattr(stories, "story_terms",
                        lambda title, summary, *, language: calls.append(title) or real(
                            title, summary, language=language))
    # a channel following two of the four feeds sees parts of stories (split again)
    feeds = [f.id for f in await first.store.feeds.list_feeds()][:2]
    for feed in feeds:
        await first.store.feeds.link_channel_feed(platform="console", channel_id="C2",
                                                  feed_id=feed)
    two = Destination(platform="console", channel_id="C2")
    part, _ = await digest_now(digest_kit(first), destination=two, post=False)

    second: BriefingEngine = await make_engine()  # a restart: nothing in memory
    again, built_again = await digest_now(digest_kit(second), destination=HERE, post=False)
    read = shared_state(second.store)
    assert read.rebuilds == 0 and read.loads == 1 and calls == []
    assert reply is not None and again is not None and again.items == reply.items
    assert built_again.total_stories == built.total_stories
    part_again, _ = await digest_now(digest_kit(second), destination=two, post=False)
    assert part is not None and part_again is not None and part_again.items == part.items
    assert any("source" in item.note for item in part.items)
    assert calls == []


async def test_an_article_placed_by_one_process_is_read_by_the_others(
    make_engine: Callable[..., Any], clock: Any,
) -> None:
    one: BriefingEngine = await make_engine()
    other: BriefingEngine = await make_engine()
    articles = corpus(300, seed=6)
    await _fill(one, articles, clock())
    await digest_now(digest_kit(one), destination=HERE, post=False)
    await digest_now(digest_kit(other), destination=HERE, post=False)
    # other desks' copies of three reports arrive
    await _fill(one, [articles[100], articles[200], articles[250]], clock(), tag="/again")
    top = await one.store.articles.max_article_id()
    clock.advance(minutes=5)
    await digest_now(digest_kit(one), destination=HERE, post=False)
    placed = shared_state(one.store).stories
    assert placed is not None and placed.hi == top
    state = await one.store.stories.story_state()
    assert state is not None and state.hi == top and state.generation == 1
    _, built = await digest_now(digest_kit(other), destination=HERE, post=False)
    read = shared_state(other.store)
    assert read.rebuilds == 0 and read.stories is not None and built.considered == 303
    for i in (top - 2, top - 1, top):
        assert read.stories.story(i) == placed.story(i)
    # each copy joined the story of the report it copies
    assert {placed.story(i) for i in (top - 2, top - 1, top)} == {
        placed.story(a.id) for a in (articles[100], articles[200], articles[250])}


async def test_processes_asking_at_once_make_the_stories_once(
    make_engine: Callable[..., Any], clock: Any,
) -> None:
    engines: list[BriefingEngine] = [await make_engine() for _ in range(3)]
    await _fill(engines[0], corpus(500, seed=9), clock())
    answers = await asyncio.gather(*(digest_now(digest_kit(e), destination=HERE, post=False)
                                     for e in engines))
    assert sum(shared_state(e.store).rebuilds for e in engines) == 1
    replies = [reply for reply, _ in answers]
    assert replies[0] is not None and all(r == replies[0] for r in replies)


async def test_a_lease_left_by_a_dead_process_runs_out(
    make_engine: Callable[..., Any], clock: Any,
) -> None:
    engine: BriefingEngine = await make_engine()
    await _fill(engine, corpus(100, seed=1), clock())
    now = datetime.now(UTC)
    assert await engine.store.stories.claim_stories(
        owner="dead", now=now, lease_until=now + timedelta(seconds=0.4))
    reply, _ = await digest_now(digest_kit(engine), destination=HERE, post=False)
    assert reply is not None and shared_state(engine.store).rebuilds == 1
    state = await engine.store.stories.story_state()
    assert state is not None and state.generation == 1 and state.owner is None


async def test_stories_of_another_threshold_start_again_with_the_stored_terms(
    make_engine: Callable[..., Any], config: Config, monkeypatch: pytest.MonkeyPatch,
) -> None:
    first: BriefingEngine = await make_engine()
    await _fill(first, corpus(200, seed=4), first.clock())
    await digest_now(digest_kit(first), destination=HERE, post=False)
    calls: list[str] = []
    real = stories.story_terms
    monkeypatch.setattr(stories, "story_terms",
                        lambda title, summary, *, language: calls.append(title) or real(
                            title, summary, language=language))
    stricter = replace(config, digest=replace(config.digest, cluster_similarity=0.6))
    second: BriefingEngine = await make_engine(stricter)
    await digest_now(digest_kit(second), destination=HERE, post=False)
    assert shared_state(second.store).rebuilds == 1 and calls == []
    state = await second.store.stories.story_state()
    assert state is not None and state.generation == 2 and state.setting.endswith(" 0.6")


async def test_a_process_that_lost_its_lease_stores_nothing_and_still_answers(
    make_engine: Callable[..., Any], clock: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Leases that run out at once: each process placing is overtaken by the next; only the
    holder at the end stores, the others answer from their own copy, and what is stored is
    one process's stories whole."""
    from bot.digests import build

    monkeypatch.setattr(build, "LEASE_SECONDS", -1.0)
    engines: list[BriefingEngine] = [await make_engine() for _ in range(3)]
    await _fill(engines[0], corpus(600, seed=3), clock())
    answers = await asyncio.gather(*(digest_now(digest_kit(e), destination=HERE, post=False)
                                     for e in engines))
    assert all(reply is not None and built.considered == 600 for reply, built in answers)
    top = await engines[0].store.articles.max_article_id()
    state = await engines[0].store.stories.story_state()
    assert state is not None and state.hi == top and state.owner is None
    rows = await engines[0].store.stories.story_rows(after_id=0, through_id=top)
    assert len(rows) == 600
    stored = {i: s for i, s, _ in rows}
    assert any(shared_state(e.store).stories is not None
               and all(shared_state(e.store).stories.story(i) == s  # type: ignore[union-attr]
                       for i, s in stored.items()) for e in engines)
