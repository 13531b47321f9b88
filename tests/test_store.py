"""The SQLite store: migrations, dedupe, search, a newer schema refused, locks waited for."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import SchemaTooNewError, StoreError
from bot.models import ArticleDraft
from bot.store import SCHEMA_VERSION, open_store
from bot.store.sqlite import MIGRATIONS, split_statements

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def draft(text: str, **kw: object) -> ArticleDraft:
    return ArticleDraft(text=text, **kw)  # type: ignore[arg-type]


async def add(store, text: str, *, h: str, url: str | None = None, title: str = "T",
              at: datetime = NOW):  # type: ignore[no-untyped-def]
    return await store.articles.add_article(
        draft(text, url=url), title=title, summary=[text], content_hash=h,
        canonical_url=url, ingested_at=at,
    )


async def test_fresh_database_has_every_migration(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "a.db")
    try:
        row = await store.db.fetchone("PRAGMA user_version")
        assert row is not None and row[0] == SCHEMA_VERSION == len(MIGRATIONS)
        mode = await store.db.fetchone("PRAGMA journal_mode")
        assert mode is not None and mode[0] == "wal"
        fk = await store.db.fetchone("PRAGMA foreign_keys")
        assert fk is not None and fk[0] == 1
    finally:
        await store.close()


async def test_upgrade_from_a_previous_version_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = await open_store(path, target_version=1)
    try:
        assert (await old.db.fetchone("PRAGMA user_version"))[0] == 1  # type: ignore[index]
        # written as briefbot's first schema version wrote it
        async with old.db.transaction() as db:
            await db.execute(
                "INSERT INTO articles (id, title, text, summary, ingested_at, content_hash)"
                " VALUES (7, 'Rockets', 'Rockets were sent to the front.',"
                " '[\"Rockets were sent to the front.\"]', ?, 'h1')",
                (NOW.timestamp(),),
            )
    finally:
        await old.close()

    new = await open_store(path)
    try:
        assert (await new.db.fetchone("PRAGMA user_version"))[0] == SCHEMA_VERSION  # type: ignore[index]
        again = await new.articles.get_article(7)
        assert again is not None and again.title == "Rockets" and not again.backlog
        assert again.summary == ("Rockets were sent to the front.",)
        assert [a.id for a in await new.articles.search_articles("rockets", limit=5)] == [7]
        newer = await add(new, "A new story after the upgrade.", h="h2")
        assert newer is not None and newer.id == 8
    finally:
        await new.close()


async def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE precious (x)")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNewError, match="upgrade briefbot"):
        await open_store(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert db.execute("SELECT count(*) FROM precious").fetchone()[0] == 0


async def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot use the database"):
        await open_store(path)


async def test_dedupe_by_url_and_by_text_hash(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "d.db")
    try:
        first = await add(store, "Text one.", h="h1", url="https://a.example/x")
        assert first is not None
        assert await add(store, "Other text.", h="h2", url="https://a.example/x") is None
        assert await add(store, "Text one again.", h="h1", url="https://b.example/y") is None
        assert await store.articles.count_articles() == 1
        known = await store.articles.find_known_article(canonical_url=None, content_hash="h1")
        assert known is not None and known.id == first.id
    finally:
        await store.close()


async def test_search_ranks_title_matches_first_and_never_passes_syntax(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "s.db")
    try:
        body = await add(store, "The rocket launch was delayed by weather.", h="h1",
                         title="Weather report")
        title = await add(store, "Officials met on Monday to discuss it.", h="h2",
                          title="Rocket systems sent")
        assert body is not None and title is not None
        found = await store.articles.search_articles("rocket", limit=5)
        assert [a.id for a in found] == [title.id, body.id]
        # FTS5 operators typed by a user are plain words, never syntax errors or injections
        for nasty in ['rocket" OR 1=1 --', "NEAR(rocket", "title:*", "'; DROP TABLE articles;"]:
            await store.articles.search_articles(nasty, limit=5)
        assert await store.articles.count_articles() == 2
        # several words: all of them first, then any of them
        assert [a.id for a in await store.articles.search_articles("weather delayed",
                                                                   limit=5)] == [body.id]
        assert {a.id for a in await store.articles.search_articles("weather systems", limit=5)} == {
            body.id, title.id}
    finally:
        await store.close()


async def test_typo_suggestions(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "t.db")
    try:
        await add(store, "Fighting continued in Severodonetsk on Tuesday.", h="h1")
        assert await store.articles.search_articles("Severodonetks", limit=5) == []
        # the word as the articles write it, not the index's stem
        assert await store.articles.suggest_terms("Severodonetks") == ["Severodonetsk"]
        await add(store, "Yukos's shares fell. Yukos said the Yukos board would meet.", h="h2")
        assert await store.articles.suggest_terms("Yukso") == ["Yukos"]  # never the stem "yuko"
        # a possessive of a word ending in s finds the word ("Yukos's", "Yukos'")
        assert len(await store.articles.search_articles("Yukos's", limit=5)) == 1
        await add(store, "Yukos paid its taxes on time, officials said.", h="h3")
        assert len(await store.articles.search_articles("Yukos's", limit=5)) == 2
        assert len(await store.articles.search_articles("Yukos'", limit=5)) == 2
    finally:
        await store.close()


async def test_latest_and_since(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "l.db")
    try:
        old = await add(store, "Old news.", h="h1", at=NOW - timedelta(days=2))
        new = await add(store, "New news.", h="h2", at=NOW)
        assert old is not None and new is not None
        assert [a.id for a in await store.articles.latest_articles(5)] == [new.id, old.id]
        since = await store.articles.articles_since(NOW - timedelta(days=1))
        assert [a.id for a in since] == [new.id]
    finally:
        await store.close()


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = await open_store(path)
    stored = await add(store, "Persistent.", h="h1")
    await store.close()
    store = await open_store(path)
    try:
        assert stored is not None and await store.articles.get_article(stored.id) == stored
    finally:
        await store.close()


async def test_a_locked_database_is_waited_for(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "lock.db"
    store = await open_store(path, busy_timeout_ms=5000)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        task = asyncio.create_task(add(store, "Waits its turn.", h="h1"))
        await asyncio.sleep(0.3)
        assert not task.done()
        other.execute("COMMIT")
        stored = await asyncio.wait_for(task, 5)
        assert stored is not None
    finally:
        other.close()
        await store.close()


def test_statement_splitter_keeps_triggers_whole() -> None:
    script = (
        "-- comment\nCREATE TABLE a (x);\n"
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  INSERT INTO a VALUES (1);\nEND;\n"
    )
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
