"""The PostgreSQL backend: the same repositories as SQLite, for several processes and hosts.

``open_postgres_store(url)`` connects a pool (asyncpg), checks the server (13 or newer),
applies this backend's numbered migrations under an advisory lock and returns a
:class:`PostgresStore` whose attributes are the repositories of :mod:`bot.store.ports`.
SQL only PostgreSQL understands stays in this package.
"""

from __future__ import annotations

import logging

import asyncpg

from bot.dburl import DatabaseTarget, parse_database
from bot.errors import StoreError
from bot.store.postgres.alerts import PgAlerts
from bot.store.postgres.articles import PgArticles
from bot.store.postgres.base import (
    CONNECT_ERRORS,
    CONNECTION_ERRORS,
    Outage,
    check_server_version,
    connect_error,
)
from bot.store.postgres.digests import PgDigests
from bot.store.postgres.feeds import PgFeeds
from bot.store.postgres.migrate import SCHEMA_VERSION, migrate
from bot.store.postgres.platform import PgPlatformState
from bot.store.postgres.stories import PgStories

log = logging.getLogger(__name__)


class PostgresStore:
    """Every repository over one connection pool."""

    def __init__(self, pool: asyncpg.Pool, target: DatabaseTarget) -> None:
        self.pool = pool
        self.target = target
        self.path = target.describe()  # what logs show: host and database, no password
        outage = Outage(self.path)
        self.articles = PgArticles(pool, outage)
        self.feeds = PgFeeds(pool, outage)
        self.alerts = PgAlerts(pool, outage, self.articles)
        self.digests = PgDigests(pool, outage)
        self.platform = PgPlatformState(pool, outage)
        self.stories = PgStories(pool, outage)

    async def size(self) -> tuple[int, int]:
        """(bytes the database holds, bytes of it free for reuse: unknown here, 0)."""
        return int(await self.pool.fetchval("SELECT pg_database_size(current_database())")), 0

    async def reclaim_space(self, *, max_bytes: int = 64 << 20) -> int:
        """PostgreSQL's autovacuum reuses the space of deleted rows: nothing to do here."""
        return 0

    def describe(self) -> str:
        return self.path

    async def close(self) -> None:
        await self.pool.close()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What the pool does to a connection given back, besides rolling back a transaction
    left open (asyncpg always does that): nothing. asyncpg's default sends ``RESET ALL``,
    ``UNLISTEN *``, ``CLOSE ALL`` and ``pg_advisory_unlock_all()`` — a round trip per query,
    a tenth of a digest pass — to undo session state that the repositories never create:
    they take transaction-scoped locks and settings only (``pg_advisory_xact_lock``,
    ``SET LOCAL``); the migration's session lock is on a connection of its own."""


async def open_postgres_store(url: str | DatabaseTarget, *, pool_size: int = 10,
                              connect_timeout: float = 10.0,
                              target_version: int = SCHEMA_VERSION) -> PostgresStore:
    """Connect, check and migrate; a :class:`StoreError` naming host and database if not."""
    target = url if isinstance(url, DatabaseTarget) else parse_database(url)
    where = target.describe()
    try:
        first = await asyncpg.connect(target.url, timeout=connect_timeout)
    except CONNECT_ERRORS as exc:
        raise connect_error(exc, target) from None
    try:
        check_server_version(first.get_server_version().major, where=where)
        await migrate(first, where=where, target=target_version)
    except CONNECTION_ERRORS as exc:
        raise StoreError(f"lost the PostgreSQL server at {where} while starting: {exc}") from None
    finally:
        await first.close()
    try:
        # min_size 0: connections open on demand and stay while used (idle ones close after
        # 5 minutes); a floor would make asyncpg retry it with a logged traceback every
        # second or so while the server is away
        pool = await asyncpg.create_pool(target.url, min_size=0, max_size=pool_size,
                                         timeout=connect_timeout, reset=_keep_session)
    except CONNECT_ERRORS as exc:
        raise connect_error(exc, target) from None
    log.info("database: %s (schema version %d)", where, target_version)
    return PostgresStore(pool, target)


__all__ = ["SCHEMA_VERSION", "PostgresStore", "open_postgres_store"]
