"""Trips to the database thread (issue 17, item 3): aiosqlite runs every call in the
connection's own thread, ~100-200 us a trip against a few us for a statement, so a write is
one trip (``Database.write``: the whole transaction), a read is one trip, and an ingest makes
four (dedupe check, insert with its search index, the subscriptions' signature, the alert
records) instead of fifteen."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import aiosqlite
import pytest

from bot.engine import BriefingEngine
from bot.errors import StoreError
from bot.models import ArticleDraft, Caller
from bot.store.sqlite import SQLiteStore

ADMIN = Caller(platform="console", user_id="U1", channel_id="C1", is_admin=True)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the trips to aiosqlite's connection threads (its one entry point)."""
    count = [0]
    real = aiosqlite.Connection._execute

    async def counted(conn: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
        count[0] += 1
        return await real(conn, fn, *args, **kw)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield count


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_an_ingest_makes_four_trips(engine: BriefingEngine, trips: list[int]) -> None:
    reply = await engine.handle_command("subscribe rockets", ADMIN)
    assert not reply.is_error, reply.text
    text = "Rockets were launched today. The launch went well, officials said. " * 3
    await engine.ingest(ArticleDraft(text="A first article to warm up. It has text.",
                                     title="Warm up"))
    trips[0] = 0
    result = await engine.ingest(ArticleDraft(text=text, title="Rockets launched",
                                              url="https://x.example/r"))
    assert result.created
    assert trips[0] == 4
    store = engine.store
    assert isinstance(store, SQLiteStore)
    recorded = await store.db.fetchall("SELECT article_id FROM alerts")
    assert [r[0] for r in recorded] == [result.article.id]  # recorded in those trips
    trips[0] = 0
    again = await engine.ingest(ArticleDraft(text=text, title="Rockets launched"))
    assert not again.created and trips[0] == 1  # a known article: the dedupe check only


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_write_is_one_trip_and_all_or_nothing(engine: BriefingEngine,
                                                      trips: list[int]) -> None:
    store = engine.store
    assert isinstance(store, SQLiteStore)
    await store.db.write(lambda db: db.execute("CREATE TABLE t (x INTEGER UNIQUE)"))

    def two_rows(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO t VALUES (1)")
        db.execute("INSERT INTO t VALUES (2)")
        return 2

    trips[0] = 0
    assert await store.db.write(two_rows) == 2
    assert trips[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        await store.db.write(two_rows)  # the first insert is rolled back with the second
    rows = await store.db.read(lambda db: db.execute("SELECT x FROM t ORDER BY x").fetchall())
    assert [r[0] for r in rows] == [1, 2]

    def full(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t VALUES (3)")
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(StoreError, match="the database is full"):
        await store.db.write(full)
    assert (await store.db.fetchone("SELECT count(*) FROM t"))[0] == 2  # type: ignore[index]
