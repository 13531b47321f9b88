"""The store's contract (bot/store/ports.py) on SQLite: isolation, the digest watermark, a newer
database refused before anything is written, and every statement in its table's repository."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import SchemaTooNewError
from bot.models import ArticleDraft
from bot.store import SCHEMA_VERSION, open_store, ports
from bot.store.sqlite import SQLiteStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_a_reader_sees_only_committed_rows(tmp_path: Path) -> None:
    """Insert a feed inside a transaction, await, list the feeds from another task: the
    uncommitted feed is invisible, and after the rollback it never existed."""
    store = await open_store(tmp_path / "iso.db")
    inserted, read = asyncio.Event(), asyncio.Event()
    seen_during: list[str] = []

    async def writer() -> None:
        with pytest.raises(RuntimeError, match="changed my mind"):
            async with store.db.transaction() as db:
                await db.execute(
                    "INSERT INTO feeds (url, added_at, next_poll_at) VALUES (?, ?, ?)",
                    ("https://uncommitted.example/feed", NOW.timestamp(), NOW.timestamp()))
                inserted.set()
                await read.wait()  # hold the transaction open while the reader reads
                raise RuntimeError("changed my mind")

    async def reader() -> None:
        await inserted.wait()
        seen_during.extend(f.url for f in await store.feeds.list_feeds())
        read.set()

    try:
        await asyncio.wait_for(asyncio.gather(writer(), reader()), 10)
        assert seen_during == []
        assert await store.feeds.list_feeds() == []
        # and a committed row is seen at once by the next read
        feed, created = await store.feeds.add_feed(
            "https://committed.example/feed", now=NOW, next_poll_at=NOW)
        assert created
        assert [f.url for f in await store.feeds.list_feeds()] == [feed.url]
    finally:
        await store.close()


async def test_a_transaction_sees_its_own_rows(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "own.db")
    try:
        async with store.db.transaction() as db:
            await db.execute(
                "INSERT INTO feeds (url, added_at, next_poll_at) VALUES (?, ?, ?)",
                ("https://mine.example/feed", NOW.timestamp(), NOW.timestamp()))
            # a repository read made by the task that holds the transaction
            assert [f.url for f in await store.feeds.list_feeds()] == [
                "https://mine.example/feed"]
    finally:
        await store.close()


async def test_an_in_memory_store_is_isolated_too(tmp_path: Path) -> None:
    store = await open_store(":memory:")
    inserted = asyncio.Event()
    try:
        async def writer() -> None:
            async with store.db.transaction() as db:
                await db.execute(
                    "INSERT INTO feeds (url, added_at, next_poll_at) VALUES (?, ?, ?)",
                    ("https://m.example/feed", NOW.timestamp(), NOW.timestamp()))
                inserted.set()
                await asyncio.sleep(0.05)

        async def reader() -> list[str]:
            await inserted.wait()
            return [f.url for f in await store.feeds.list_feeds()]

        _, urls = await asyncio.wait_for(asyncio.gather(writer(), reader()), 10)
        assert urls == ["https://m.example/feed"]  # waited for the commit, never mid-way
    finally:
        await store.close()


async def _add(store: SQLiteStore, text: str) -> int:
    article = await store.articles.add_article(
        ArticleDraft(text=text), title=text, summary=[text],
        content_hash=hashlib.sha256(text.encode()).hexdigest(), canonical_url=None,
        ingested_at=NOW)
    assert article is not None
    return article.id


async def test_the_digest_watermark_never_passes_an_uncommitted_article(tmp_path: Path) -> None:
    """The digest's "new since last time" rule is an id window (after_id, through_id]. It is
    only correct if no article commits later with an id at or below a watermark already
    handed out. SQLite's single writer commits ids in increasing order, so ``max(id)`` is
    safe; a backend whose ids commit out of order (PostgreSQL sequences) must return a lower,
    safe watermark instead (bot/store/ports.py says so)."""
    store = await open_store(tmp_path / "mark.db")
    try:
        first = await _add(store, "First story.")
        in_flight, marked = asyncio.Event(), asyncio.Event()
        late_id: list[int] = []

        async def slow_ingest() -> None:
            async with store.db.transaction() as db:
                async with db.execute(
                    "INSERT INTO articles (title, text, ingested_at, content_hash)"
                    " VALUES ('Late', 'Late story.', ?, 'late') RETURNING id",
                    (NOW.timestamp(),)) as cur:
                    row = await cur.fetchone()
                assert row is not None
                late_id.append(int(row[0]))
                in_flight.set()
                await marked.wait()

        async def digest() -> int:
            await in_flight.wait()
            mark = await store.articles.max_article_id()
            marked.set()
            return mark

        _, mark = await asyncio.wait_for(asyncio.gather(slow_ingest(), digest()), 10)
        assert mark == first < late_id[0]  # the uncommitted article is above the watermark
        # so the next digest, from the watermark to the new maximum, posts it
        through = await store.articles.max_article_id()
        window = await store.articles.digest_articles(after_id=mark, through_id=through)
        assert [a.id for a in window] == late_id
    finally:
        await store.close()


async def test_a_newer_database_is_refused_before_any_write(tmp_path: Path) -> None:
    """Not even the switch to WAL: the file stays byte for byte as it was."""
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE precious (x)")
        db.execute("INSERT INTO precious VALUES (1)")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(SchemaTooNewError, match="left untouched"):
        await open_store(path)
    assert path.read_bytes() == before
    assert not any(name.endswith("-wal") for name in os.listdir(tmp_path))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    db.close()


def test_the_sqlite_repositories_implement_every_port_method() -> None:
    store_cls = {
        ports.ArticleStore: "articles", ports.FeedStore: "feeds", ports.AlertStore: "alerts",
        ports.DigestStore: "digests", ports.PlatformStateStore: "platform",
        ports.StoryStore: "stories",
    }
    from bot.store.sqlite.alerts import SQLiteAlerts
    from bot.store.sqlite.articles import SQLiteArticles
    from bot.store.sqlite.digests import SQLiteDigests
    from bot.store.sqlite.feeds import SQLiteFeeds
    from bot.store.sqlite.platform import SQLitePlatformState
    from bot.store.sqlite.stories import SQLiteStories

    impls = {"articles": SQLiteArticles, "feeds": SQLiteFeeds, "alerts": SQLiteAlerts,
             "digests": SQLiteDigests, "platform": SQLitePlatformState,
             "stories": SQLiteStories}
    for proto, name in store_cls.items():
        wanted = {n for n, v in vars(proto).items()
                  if inspect.iscoroutinefunction(v) and not n.startswith("_")}
        assert wanted, proto
        impl = impls[name]
        for method in wanted:
            assert inspect.signature(getattr(impl, method)) == inspect.signature(
                getattr(proto, method)), f"{impl.__name__}.{method} differs from {proto.__name__}"


# Which repository owns which tables: every statement naming a table lives in its owner's file.
_OWNERS = {
    "articles.py": {"articles", "articles_fts", "articles_fts_vocab", "article_urls"},
    "feeds.py": {"feeds", "channel_feeds", "channel_feed_mutes", "feed_items"},
    "alerts.py": {"subscriptions", "alerts"},
    "digests.py": {"digest_schedules", "digest_runs"},
    "platform.py": {"meta", "installations", "oauth_states", "seen_requests"},
    "stories.py": {"article_stories", "story_state"},
}
_TABLE_REF = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+([a-z_]+)\b")


def test_every_statement_on_a_table_lives_in_its_repository() -> None:
    root = Path(__file__).resolve().parent.parent / "bot" / "store" / "sqlite"
    every = set().union(*_OWNERS.values())
    for file, owned in _OWNERS.items():
        text = (root / file).read_text(encoding="utf-8")
        named = {t for t in _TABLE_REF.findall(text) if t in every}
        assert named, file
        assert named <= owned, f"{file} touches {sorted(named - owned)}"
    for other in root.glob("*.py"):
        if other.name not in _OWNERS and other.name != "__init__.py":
            text = other.read_text(encoding="utf-8")
            assert not {t for t in _TABLE_REF.findall(text) if t in every}, other.name
