"""Moving up: copy a SQLite database into an empty PostgreSQL one, ids and all.

Every table is copied with its ids (articles, feeds and their health and items, subscriptions,
alerts with their delivery state, digest schedules and runs, platform state), then each identity
sequence is moved past the largest id, so the bot started on PostgreSQL carries on where it
stopped: a sent alert stays sent, a posted digest stays posted. The target must be empty (a
half-copied or live database is refused, never merged into). Rows go over with COPY in batches;
``progress`` is told each batch. The search column (generated) is computed as rows arrive; its
GIN index and word list are made once at the end, from the copied articles.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.errors import StoreError
from bot.store.postgres import PostgresStore
from bot.store.postgres.articles import PgArticles

# Parents before children (foreign keys); every table of the PostgreSQL schema but the ones
# PostgreSQL fills itself.
COPY_ORDER = ("articles", "article_urls", "article_stories", "story_state", "feeds",
              "channel_feeds", "channel_feed_mutes", "feed_items", "subscriptions", "alerts",
              "digest_schedules", "digest_runs", "meta", "installations", "oauth_states",
              "seen_requests", "deliveries")
# filled by PostgreSQL or by the running bot (rate-limit buckets), not copied
DERIVED = ("article_terms", "schema_version", "send_slots", "feed_item_counts")
BATCH = 2000
# dropped before the rows go in and made again after (same definition)
GIN_INDEXES = ("articles_search",)
INDEX_MEMORY = "256MB"  # for making them: the sort of a large index fits in memory


@dataclass(frozen=True, slots=True)
class Copied:
    table: str
    rows: int


async def _pg_columns(store: PostgresStore, table: str) -> list[tuple[str, str]]:
    rows = await store.pool.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1"
        " AND is_generated = 'NEVER' ORDER BY ordinal_position", table)
    return [(r["column_name"], r["data_type"]) for r in rows]


def _converter(data_type: str) -> Callable[[Any], Any]:
    if data_type == "boolean":
        return lambda v: None if v is None else bool(v)
    if data_type == "double precision":
        return lambda v: None if v is None else float(v)
    if data_type in ("bigint", "integer", "smallint"):
        return lambda v: None if v is None else int(v)
    return lambda v: None if v is None else str(v)


async def _autoincrement_high_water(source: aiosqlite.Connection) -> dict[str, int]:
    async with source.execute(
            "SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'") as cur:
        if await cur.fetchone() is None:
            return {}
    async with source.execute("SELECT name, seq FROM sqlite_sequence") as cur:
        return {str(r[0]): int(r[1]) for r in await cur.fetchall()}


async def check_target(store: PostgresStore) -> None:
    """Refuse a target that holds any row, or a table this copy does not know."""
    tables = {r["table_name"] for r in await store.pool.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")}
    unknown = tables - set(COPY_ORDER) - set(DERIVED)
    if unknown:
        raise StoreError(f"the target has tables db copy does not know: "
                         f"{', '.join(sorted(unknown))} (a newer briefbot?)")
    for table in COPY_ORDER:
        if await store.pool.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            raise StoreError(
                f"the target database {store.path} is not empty ({table} has rows): db copy "
                "fills only an empty database; create a new one (createdb) and copy again")


async def copy_sqlite_to_postgres(
    source: aiosqlite.Connection, target: PostgresStore, *,
    progress: Callable[[str, int, int], None] = lambda table, done, total: None,
) -> list[Copied]:
    """Copy every table from ``source`` (a migrated SQLite database) into ``target``."""
    await check_target(target)
    source.row_factory = sqlite3.Row
    copied: list[Copied] = []
    with_ids: list[str] = []
    async with target.pool.acquire() as conn, conn.transaction():
        # the search index is made once from the copied articles (GIN_INDEXES): much faster
        # than keeping it up to date row by row (it keeps no pending list)
        indexes = [r[0] for r in await conn.fetch(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c"
            " ON c.oid = i.indexrelid WHERE c.relname = ANY($1::text[])", list(GIN_INDEXES))]
        for name in GIN_INDEXES:
            await conn.execute(f"DROP INDEX IF EXISTS {name}")
        for table in COPY_ORDER:
            columns = await _pg_columns(target, table)
            async with source.execute(f"PRAGMA table_info({table})") as cur:
                present = {str(r[1]) for r in await cur.fetchall()}
            names = [name for name, _ in columns if name in present]
            if "id" in names:
                with_ids.append(table)
            converters = [_converter(t) for name, t in columns if name in present]
            async with source.execute(f"SELECT count(*) FROM {table}") as cur:
                row = await cur.fetchone()
            total = int(row[0]) if row else 0
            done = 0
            progress(table, 0, total)
            async with source.execute(
                    f"SELECT {', '.join(names)} FROM {table}") as cur:
                while batch := await cur.fetchmany(BATCH):
                    records = [tuple(c(v) for c, v in zip(converters, r, strict=True))
                               for r in batch]
                    await conn.copy_records_to_table(table, records=records, columns=names)
                    done += len(records)
                    progress(table, done, total)
            copied.append(Copied(table, done))
        await conn.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_MEMORY}'")
        for definition in indexes:
            await conn.execute(definition)
        await PgArticles.index_all_terms(conn)
        # identities: the next id is past every copied one, and past every id SQLite ever
        # handed out where it promised never to reuse one (AUTOINCREMENT: subscriptions)
        used = await _autoincrement_high_water(source)
        for table in with_ids:
            seq = await conn.fetchval("SELECT pg_get_serial_sequence($1, 'id')", table)
            if seq is not None:
                await conn.execute(
                    f"SELECT setval($1, greatest(coalesce((SELECT max(id) FROM {table}), 0),"
                    " $2) + 1, false)", seq, used.get(table, 0))
    return copied


async def copy_database(source_path: str, target: str, *,
                        progress: Callable[[str, int, int], None] = lambda t, d, n: None,
                        ) -> list[Copied]:
    """Open the SQLite file ``source_path`` (brought to the current schema first) and the
    PostgreSQL database ``target``, and copy the one into the other."""
    import asyncio
    from pathlib import Path

    from bot.store.postgres import open_postgres_store
    from bot.store.sqlite import open_store

    path = Path(source_path)
    if source_path == ":memory:" or not await asyncio.to_thread(path.is_file):
        raise StoreError(f"there is no SQLite database at {source_path} to copy")
    sqlite_store = await open_store(source_path)  # migrated, so its tables match ours
    await sqlite_store.close()
    pg = await open_postgres_store(target, pool_size=2)
    try:
        uri = (await asyncio.to_thread(path.resolve)).as_uri() + "?mode=ro"
        async with aiosqlite.connect(uri, uri=True) as source:
            copied = await copy_sqlite_to_postgres(source, pg, progress=progress)
        # the planner's statistics now, not when autovacuum next looks: topic search plans by
        # how common each word is (bot/store/postgres/articles.py), as after any bulk load
        async with pg.pool.acquire() as conn:
            await conn.execute("ANALYZE")
        return copied
    finally:
        await pg.close()
