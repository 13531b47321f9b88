"""PostgreSQL's own numbered migrations, applied once however many processes start together.

The files ``migrations/NNNN_name.sql`` are applied in order, each in its own transaction
together with its row in ``schema_version`` (version, name, applied_at). The whole run holds a
session advisory lock, so processes that start at once queue: the first migrates, the others
find the work done. A database whose schema is newer than this briefbot knows is refused before
anything is written, as on SQLite. The numbering is PostgreSQL's own (SQLite's 0001-0008 are
one file here: a new PostgreSQL database starts at the current schema).
"""

from __future__ import annotations

import logging

import asyncpg

from bot.errors import SchemaTooNewError
from bot.store.numbered import load_migrations

log = logging.getLogger(__name__)

# pg_advisory_lock key: "briefbot" in ASCII, so it will not collide with another app's lock
MIGRATION_LOCK = 0x6272696566626F74


MIGRATIONS = load_migrations("bot.store.postgres")
SCHEMA_VERSION = len(MIGRATIONS)


async def schema_version(conn: asyncpg.Connection) -> int:
    if await conn.fetchval("SELECT to_regclass('schema_version')") is None:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def migrate(conn: asyncpg.Connection, *, where: str,
                  target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to ``target``; the schema version after."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        current = await schema_version(conn)
        if current > SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"the database {where} has schema version {current}, but this briefbot knows "
                f"only up to {SCHEMA_VERSION}: upgrade briefbot (the database was left "
                "untouched)"
            )
        for version, name, sql in MIGRATIONS:
            if version > target or version <= current:
                continue
            async with conn.transaction():
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())")
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_version (version, name) VALUES ($1, $2)",
                                   version, name)
            log.info("database %s migrated to version %d (%s)", where, version, name)
        return await schema_version(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
