"""The connection pool every PostgreSQL repository shares, and what its errors mean.

asyncpg was chosen over psycopg 3 (async): on the same pgserver and machine its point reads
were 1.4x faster and its inserts equal (bench notes in the issue 12 note), and it is what
RoboDanny and Red use. Every method of a repository is one transaction (or one statement):
it commits all it wrote or nothing, as the ports require.

Errors: a refused connection, a wrong password, a missing database and a server older than 13
each become one :class:`StoreError` line naming host and database (never the password). A
connection lost while running becomes a :class:`StoreError` too, and is logged once per outage
(not a traceback per query); the services that called retry on their next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.dburl import DatabaseTarget
from bot.errors import DatabaseUnavailable, StoreError

log = logging.getLogger(__name__)

MIN_SERVER_VERSION = 13

# What a lost or refused connection looks like from asyncpg.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)
# ... and what a first connection can fail with besides (password, missing database)
CONNECT_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, asyncpg.PostgresError)

# A connection from the pool, or one opened alone (migrations, tests).
Conn = asyncpg.Connection | PoolConnectionProxy


def check_server_version(major: int, *, where: str) -> None:
    """Refuse a server older than PostgreSQL 13 (generated columns, ``pg_snapshot``,
    ``DROP DATABASE .. FORCE``, and the SQL here assume it)."""
    if major < MIN_SERVER_VERSION:
        raise StoreError(
            f"the PostgreSQL server at {where} is version {major}; briefbot needs "
            f"PostgreSQL {MIN_SERVER_VERSION} or newer"
        )


def connect_error(exc: BaseException, target: DatabaseTarget) -> StoreError:
    """A failed first connection -> one clear line (host and database, no password)."""
    where = target.describe()
    db = target.database or "(default)"
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return StoreError(f"PostgreSQL refused the password for user {target.user or '?'} "
                          f"at {where}: check BRIEFBOT_DATABASE_URL (or PGPASSWORD)")
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return StoreError(f"PostgreSQL refused user {target.user or '?'} at {where}: "
                          f"{exc}")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return StoreError(f"the database {db} does not exist on the PostgreSQL server at "
                          f"{where.rsplit('/', 1)[0]}: create it (createdb {db}) or fix "
                          "the URL")
    if isinstance(exc, socket.gaierror):
        return StoreError(f"cannot reach the PostgreSQL server at {where}: the host name "
                          "does not resolve")
    if isinstance(exc, (OSError, asyncio.TimeoutError)):
        if isinstance(exc, OSError) and exc.errno:  # asyncio words it "Connect call failed"
            reason = os.strerror(exc.errno)
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else (
                "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc))
        return StoreError(f"cannot reach the PostgreSQL server at {where}: {reason}")
    if isinstance(exc, asyncpg.PostgresError):
        return StoreError(f"PostgreSQL at {where} refused the connection: {exc}")
    return StoreError(f"cannot use the PostgreSQL database at {where}: {exc}")


class Outage:
    """Logs a lost database once when it goes and once when it comes back.

    A query that started before the database came back and fails afterwards (it was waiting
    on a connection the outage broke) belongs to the outage just logged: it is not a new one.
    The mirror: a query that started before the loss was noticed and succeeds afterwards (its
    answer was on its way before the loss) says nothing about the database now: it does not
    end the outage; only a query started after the loss was noticed does."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.down = False
        self.back_at = float("-inf")  # time.monotonic() when the last outage ended
        self.down_at = float("-inf")  # time.monotonic() when the current outage was noticed

    def failed(self, exc: BaseException, *, started: float | None = None) -> DatabaseUnavailable:
        leftover = started is not None and started < self.back_at
        if not self.down and not leftover:
            self.down = True
            self.down_at = time.monotonic()
            log.warning("lost the database %s (%s: %s); retrying", self.where,
                        type(exc).__name__, exc)
        return DatabaseUnavailable(f"the database {self.where} is unreachable: {exc}")

    def ok(self, *, started: float | None = None) -> None:
        if self.down and (started is None or started >= self.down_at):
            self.down = False
            self.back_at = time.monotonic()
            log.warning("the database %s is back", self.where)


class PgBase:
    """A repository: the shared pool plus small helpers. No connection leaves a method."""

    def __init__(self, pool: asyncpg.Pool, outage: Outage) -> None:
        self._pool = pool
        self._outage = outage

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        started = time.monotonic()
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except CONNECTION_ERRORS as exc:
            raise self._outage.failed(exc, started=started) from exc
        self._outage.ok(started=started)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """One READ COMMITTED transaction; rows are locked where a rule needs it."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            return list(await conn.fetch(sql, *args))

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(sql, *args)

    async def _execute(self, sql: str, *args: Any) -> str:
        async with self.connection() as conn:
            status: str = await conn.execute(sql, *args)
            return status


def affected(status: str) -> int:
    """Rows an INSERT/UPDATE/DELETE touched, from asyncpg's status ("UPDATE 3")."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


def ids_param(ids: Iterable[int]) -> list[int]:
    return [int(i) for i in ids]


def to_ts(value: datetime | None) -> float | None:
    """Aware datetime -> UTC epoch seconds (naive datetimes are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def from_ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def ts(value: datetime) -> float:
    out = to_ts(value)
    assert out is not None
    return out


def at(value: float | None) -> datetime:
    out = from_ts(value)
    assert out is not None
    return out


def workspace_filter(column: str, param: int) -> str:
    """SQL selecting a workspace's rows by their ids: with ``$param`` a prefix (``"T2:"``), the
    ids starting with it; with ``$param`` NULL, the ids that carry no workspace prefix."""
    return (f"(CASE WHEN ${param}::text IS NULL THEN strpos({column}, ':') = 0"
            f" ELSE starts_with({column}, ${param}::text) END)")
