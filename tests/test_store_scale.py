"""Issue 17 on a real SQLite file: reads that do not grow with the store (bounded ranking,
indexed sorts, counts kept by triggers, a cached term list) and retention that keeps the file
flat under a steady feed without touching what a pending alert or an unsent digest needs."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.models import ArticleDraft
from bot.retention import Retention
from bot.store import open_store
from bot.store.backends import open_database
from bot.store.ports import NewArticle, Store
from bot.store.sqlite import SQLiteStore
from bot.store.sqlite import articles as sqlite_articles
from tests.conftest import run_sql

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def new(i: int, text: str, *, at: datetime = NOW, feed_id: int | None = None,
        title: str | None = None) -> NewArticle:
    return NewArticle(
        draft=ArticleDraft(text=text, feed_id=feed_id), title=title or f"Story {i}",
        summary=(text,), content_hash=hashlib.sha256(f"{i}-{text}".encode()).hexdigest(),
        canonical_url=f"https://n.example/{i}", ingested_at=at)


async def test_a_very_common_word_ranks_only_its_newest_matches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_articles, "RANK_WINDOW", 5)
    store = await open_store(tmp_path / "s.db")
    try:
        # the oldest article is the best bm25 match (the word in its title, twice in text)
        batch = [new(0, "Officials said it twice: said.", title="Said")]
        batch += [new(i, f"Story {i}. A spokesman said little more about it today.")
                  for i in range(1, 20)]
        assert await store.articles.add_articles(batch) == 20
        found = await store.articles.search_articles("said", limit=3)
        assert len(found) == 3 and all(a.id > 15 for a in found)  # the newest five, ranked
        # a word with fewer matches than the window is ranked over all of them, as before
        rare = await store.articles.search_articles("officials", limit=3)
        assert [a.id for a in rare] == [1]
    finally:
        await store.close()


async def test_phrases_and_all_words(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "p.db")
    try:
        await store.articles.add_articles([
            new(1, "The prime minister spoke about the budget."),
            new(2, "The minister was prime suspect in the budget story."),
        ])
        assert [a.id for a in await store.articles.search_articles(
            '"prime minister"', limit=5)] == [1]
        assert {a.id for a in await store.articles.search_articles(
            "prime minister", limit=5)} == {1, 2}
        # an unclosed quote or syntax typed by a user is still plain words
        assert {a.id for a in await store.articles.search_articles(
            '"prime minister', limit=5)} == {1, 2}
    finally:
        await store.close()


async def test_the_latest_briefing_is_read_off_an_index(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "l.db")
    assert isinstance(store, SQLiteStore)
    try:
        plan = await store.db.fetchall(
            "EXPLAIN QUERY PLAN SELECT id FROM articles"
            " ORDER BY coalesce(published_at, ingested_at) DESC, id DESC LIMIT 5")
        details = " ".join(str(r[3]) for r in plan)
        assert "articles_by_shown" in details and "TEMP B-TREE" not in details
        await store.articles.add_articles([
            new(1, "Old.", at=NOW - timedelta(days=3)), new(2, "New.", at=NOW)])
        assert [a.id for a in await store.articles.latest_articles(5)] == [2, 1]
    finally:
        await store.close()


async def test_did_you_mean_from_the_cached_term_list_in_a_large_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_articles, "SMALL_STORE", 0)  # as if the store were large
    store = await open_store(tmp_path / "t.db")
    try:
        await store.articles.add_articles([new(1, "The government met on Tuesday.")])
        # the word as the articles write it, not its stem "govern" (issue 16)
        assert "government" in await store.articles.suggest_terms("goverment")
        assert await store.articles.refresh_search_terms() > 0
    finally:
        await store.close()


async def _counts_by_query(store: Store) -> dict[int, dict[str, int]]:
    rows = await run_sql(
        store, "SELECT feed_id, status, count(*) FROM feed_items GROUP BY feed_id, status")
    out: dict[int, dict[str, int]] = {}
    for feed_id, status, n in rows:
        out.setdefault(int(feed_id), {})[str(status)] = int(n)
    return out


async def test_item_and_alert_counts_kept_by_triggers_match_a_full_count(
        database_url: str, backend: str) -> None:
    store = await open_database(database_url)
    try:
        feed, _ = await store.feeds.add_feed("https://f.example/rss", now=NOW, next_poll_at=NOW)
        other, _ = await store.feeds.add_feed("https://g.example/rss", now=NOW,
                                              next_poll_at=NOW)
        await store.feeds.record_backlog_items(
            feed.id, [(f"k{i}", None, None) for i in range(5)], now=NOW, note="b")
        await store.feeds.record_feed_item(feed.id, key="k0", guid=None, link=None,
                                           status="stored", now=NOW)
        await store.feeds.record_feed_item(other.id, key="p", guid=None, link=None,
                                           status="pending", now=NOW)
        await store.feeds.record_feed_item(other.id, key="p", guid=None, link=None,
                                           status="failed", now=NOW)
        # a status changed by an upsert, and one left as it was
        await store.feeds.record_feed_item(feed.id, key="k1", guid=None, link=None,
                                           status="failed", now=NOW)
        await store.feeds.record_feed_item(feed.id, key="k1", guid=None, link=None,
                                           status="failed", now=NOW)
        await store.feeds.record_backlog_items(
            feed.id, [("k1", None, None), ("k9", None, None)], now=NOW, note="again")
        assert await store.feeds.feed_item_counts() == await _counts_by_query(store)
        await store.feeds.prune_feed_items(before=NOW + timedelta(seconds=1), limit=2)
        assert await store.feeds.feed_item_counts() == await _counts_by_query(store)
        await store.feeds.remove_feed(other.id)
        assert await store.feeds.feed_item_counts() == await _counts_by_query(store)
        [a1, a2] = [await store.articles.add_article(
            ArticleDraft(text=f"Text {i}."), title=f"T{i}", summary=["s"], content_hash=f"h{i}",
            canonical_url=None, ingested_at=NOW) for i in (1, 2)]
        assert a1 is not None and a2 is not None
        _, sub = await store.alerts.add_subscription(
            platform="console", owner_kind="user", owner_id="U", created_by="U", query="q",
            query_key="q", language="english", now=NOW, limit=10)
        assert sub is not None
        for article in (a1, a2):
            await store.alerts.record_alerts(article_id=article.id, matches=[(sub.id, ["q"])],
                                             now=NOW, due=NOW)
        [batch] = await store.alerts.claim_due_alerts(
            now=NOW, window_seconds=0, lease_seconds=60, max_per_destination=1)
        await store.alerts.mark_alerts_sent([batch.alerts[0].id], now=NOW)
        stats = (await store.alerts.alert_stats([sub.id]))[sub.id]
        assert (stats.sent, stats.pending, stats.failed, stats.skipped) == (1, 1, 0, 0)
        assert stats.last_sent_at == NOW
        await store.alerts.mark_alerts_skipped([a.id for a in batch.alerts], error="gone")
        stats = (await store.alerts.alert_stats([sub.id]))[sub.id]
        assert (stats.sent, stats.pending, stats.skipped) == (0, 1, 1)
    finally:
        await store.close()


async def _day(store: Store, day: int, per_day: int) -> None:
    at = NOW + timedelta(days=day)
    await store.articles.add_articles(
        [new(day * per_day + i, f"Story {day}-{i}. " + "Words of the day. " * 150, at=at)
         for i in range(per_day)])


async def test_retention_keeps_what_is_needed_and_the_file_flat(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "r.db")
    day = [0]

    def clock() -> datetime:
        return NOW + timedelta(days=day[0], hours=1)

    retention = Retention(store, keep_days=3, clock=clock, batch=7, pause_seconds=0)
    try:
        await _day(store, 0, 20)
        old = await store.articles.find_known_article(
            canonical_url="https://n.example/3", content_hash=None)
        needed = await store.articles.find_known_article(
            canonical_url="https://n.example/4", content_hash=None)
        assert old is not None and needed is not None
        _, sub = await store.alerts.add_subscription(
            platform="console", owner_kind="user", owner_id="U", created_by="U",
            query="story", query_key="story", language="english", now=NOW, limit=10)
        assert sub is not None
        await store.alerts.record_alerts(article_id=needed.id, matches=[(sub.id, ["story"])],
                                         now=NOW, due=NOW + timedelta(days=365))
        sizes = []
        for d in range(1, 15):
            day[0] = d
            await _day(store, d, 20)
            report = await retention.prune_once()
            if d > 3:
                assert report.articles > 0
            sizes.append((await store.size())[0])
        # three days of articles are kept; the one a pending alert needs stays too
        assert await store.articles.count_articles() == 3 * 20 + 1
        assert await store.articles.get_article(old.id) is None
        assert await store.articles.get_article(needed.id) is not None
        # its index rows went with it
        assert all(a.id != old.id
                   for a in await store.articles.search_articles("story", limit=500))
        # the file stopped growing once retention started deleting
        assert max(sizes[6:]) <= sizes[5] * 1.15, sizes
    finally:
        await store.close()


async def test_retention_leaves_what_an_unsent_digest_needs(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "d.db")
    try:
        await _day(store, 0, 10)
        # a channel whose last digest went up to article 4: 5.. are still to be posted
        rule = _Rule()
        await store.digests.set_digest_schedule(
            platform="console", channel_id="C1", rule=rule, first=_Due(), by=None, now=NOW)
        run_id, _ = await store.digests.start_manual_digest(
            platform="console", channel_id="C1", owner="me", now=NOW)
        await store.digests.finish_digest(
            run_id=run_id, owner="me", sent=True, period_start=None, period_end=NOW,
            through_article_id=4, items=4, late=False, now=NOW)
        retention = Retention(store, keep_days=1, clock=lambda: NOW + timedelta(days=5),
                              pause_seconds=0)
        report = await retention.prune_once()
        assert report.articles == 4
        assert [a.id for a in await store.articles.latest_articles(50)] == list(
            range(10, 4, -1))
        # keep_days = 0 deletes nothing
        assert (await Retention(store, keep_days=0, clock=lambda: NOW + timedelta(days=99)
                                ).prune_once()).articles == 0
    finally:
        await store.close()


class _Rule:
    hour = 8
    minute = 0
    timezone = "UTC"
    weekdays = 127


class _Due:
    local_date = date(2026, 6, 2)
    due_at = datetime(2026, 6, 2, 8, 0, tzinfo=UTC)


def test_briefbot_stats_shows_counts_and_size(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    sample = Path(__file__).resolve().parent.parent / "samples" / \
        "2022-05-31-us-rocket-systems-ukraine.txt"
    db = str(tmp_path / "stats.db")
    assert main(["--db", db, "ingest", str(sample)]) == 0
    capsys.readouterr()
    assert main(["--db", db, "stats"]) == 0
    out = capsys.readouterr().out
    assert "articles   1" in out and "MB" in out and "keep everything" in out
    assert main(["--db", db, "stats", "--prune"]) == 2  # keep_days = 0: nothing to apply
    assert "keep_days is 0" in capsys.readouterr().err


async def test_common_words_look_among_recent_articles_first_then_further(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_articles, "RANK_WINDOW", 3)
    monkeypatch.setattr(sqlite_articles, "RECENT_IDS", 2)
    store = await open_store(tmp_path / "w.db")
    try:
        await store.articles.add_articles(
            [new(i, f"The minister said it, story {i}.") for i in range(1, 9)]
            + [new(i, f"Weather, story {i}.") for i in range(9, 11)])
        found = await store.articles.search_articles("said", limit=3)
        assert [a.id for a in found] == [8, 7, 6]  # too few among the 2 newest: further back
    finally:
        await store.close()
