"""The SQLite connections the repositories share: one writer, one reader.

Isolation: a coroutine never sees rows another coroutine has not committed. Every write runs
in :meth:`Database.transaction` on the writer connection, one transaction at a time (SQLite has
one writer); every read outside a transaction runs on a separate reader connection, which in
WAL mode sees only committed data (each read statement takes a fresh snapshot). Reads that the
task holding the transaction makes inside it go to the writer, so a transaction sees its own
rows. An in-memory database has no second connection: there, a read waits for any open
transaction to finish instead (isolation by turns; only throwaway stores are in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiosqlite

from bot.errors import StoreError

T = TypeVar("T")


def to_ts(value: datetime | None) -> float | None:
    """Aware datetime -> UTC epoch seconds (naive datetimes are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def from_ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def ts(value: float | None) -> datetime:
    """A NOT NULL time column -> aware datetime."""
    out = from_ts(value)
    assert out is not None
    return out


def workspace_filter(column: str, id_prefix: str | None) -> tuple[str, tuple[object, ...]]:
    """SQL selecting a workspace's rows by their ids: those starting with ``id_prefix``
    (``"T2:"``), or with None the ids that carry no workspace prefix (no ``:``)."""
    if id_prefix is None:
        return f"instr({column}, ':') = 0", ()
    return f"substr({column}, 1, ?) = ?", (len(id_prefix), id_prefix)


def marks(n: int) -> str:
    """``?, ?, ?`` for an IN list of ``n`` parameters."""
    return ", ".join("?" * n)


def _is_full(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_FULL: the disk, or the database's page limit, has no room for the write."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)


class Database:
    """The writer connection (with its turn-taking lock) and the reader connection."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection | None, *,
                 path: str) -> None:
        self.writer = writer
        self.reader = reader
        self.path = path
        self._write_lock = asyncio.Lock()
        self._tx_task: asyncio.Task[Any] | None = None

    async def close(self) -> None:
        try:
            if self.reader is not None:
                await self.reader.close()
        finally:
            await self.writer.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction taken at once (BEGIN IMMEDIATE): one writer, no upgrade dance.

        Every write goes through here, including single statements. Not re-entrant: a
        repository method that runs inside another's transaction takes the connection as an
        argument instead.
        """
        async with self._write_lock:
            try:
                await self.writer.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"the database is busy: {exc}") from exc
            self._tx_task = asyncio.current_task()
            try:
                yield self.writer
                await self.writer.commit()
            except sqlite3.OperationalError as exc:
                with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                    await self.writer.rollback()
                if _is_full(exc):
                    raise StoreError(f"the database is full (no space left on the disk, or "
                                     f"its size limit) at {self.path}; nothing of this was "
                                     "stored: free some space and run it again") from exc
                raise
            except BaseException:
                await self.writer.rollback()
                raise
            finally:
                self._tx_task = None

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection a read should use now (see the module docstring)."""
        if self._tx_task is not None and self._tx_task is asyncio.current_task():
            yield self.writer
        elif self.reader is not None:
            yield self.reader
        else:
            async with self._write_lock:
                yield self.writer

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read, committed data only (unless this task holds the transaction); one
        trip to the connection's thread."""
        async with self._reading() as db:
            return await on_thread(db, _fetchall, sql, tuple(params))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._reading() as db:
            return await on_thread(db, _fetchone, sql, tuple(params))

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` as one write transaction (BEGIN IMMEDIATE ... COMMIT, rolled
        back if it raises) in ONE trip to the writer's thread, where :meth:`transaction`
        makes a trip per statement (issue 17: ~200 us a trip, against a few us for the
        statement). ``work`` is plain sqlite3 code: it must not await or block on anything."""
        async with self._write_lock:
            return await on_thread(self.writer, _in_transaction, work, self.path)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` on the reading connection (committed data, one snapshot) in
        one trip to its thread."""
        async with self._reading() as db:
            if db is self.writer:
                return await on_thread(db, _call, work)
            return await on_thread(db, _in_snapshot, work)


def on_thread(db: aiosqlite.Connection, work: Callable[..., T], *args: Any) -> Awaitable[T]:
    """Run ``work(sqlite3_connection, *args)`` in the connection's own thread, as one trip.

    aiosqlite runs every call in the connection's thread through ``Connection._execute`` and
    has no public way to run several statements in one trip; this is the one place that uses
    it (aiosqlite is pinned below 0.23; tests/test_store_trips.py fails if that changes)."""
    execute: Callable[..., Awaitable[T]] = db._execute
    return execute(_with_connection, db, work, *args)


def _with_connection(db: aiosqlite.Connection, work: Callable[..., T], *args: Any) -> T:
    return work(db._conn, *args)  # in the connection's thread


def _fetchall(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()


def _fetchone(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]
              ) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
    return row


def _call(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    return work(conn)


def _in_snapshot(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN")
    try:
        return work(conn)
    finally:
        conn.execute("COMMIT")


def _in_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T],
                    path: str) -> T:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(f"the database is busy: {exc}") from exc
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            conn.execute("ROLLBACK")
        if _is_full(exc):
            raise StoreError(f"the database is full (no space left on the disk, or its size "
                             f"limit) at {path}; nothing of this was stored: free some space "
                             "and run it again") from exc
        raise
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return result


async def fetchall(db: aiosqlite.Connection, sql: str,
                   params: Iterable[Any] = ()) -> list[sqlite3.Row]:
    """Rows of a read on a given connection (inside a transaction)."""
    async with db.execute(sql, tuple(params)) as cur:
        return list(await cur.fetchall())


async def fetchone(db: aiosqlite.Connection, sql: str,
                   params: Iterable[Any] = ()) -> sqlite3.Row | None:
    async with db.execute(sql, tuple(params)) as cur:
        row: sqlite3.Row | None = await cur.fetchone()
        return row
