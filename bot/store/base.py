"""The connection the query mixins share, and helpers for times and transactions."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from bot.errors import StoreError


def to_ts(value: datetime | None) -> float | None:
    """Aware datetime -> UTC epoch seconds (naive datetimes are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def from_ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class StoreBase:
    """Owns the aiosqlite connection; mixins add methods named for use cases."""

    _db: aiosqlite.Connection

    def __init__(self, db: aiosqlite.Connection, *, path: str) -> None:
        self._db = db
        self.path = path
        # One connection is shared by every coroutine: writes take turns so no coroutine's
        # statement lands inside another's transaction.
        self._write_lock = asyncio.Lock()

    async def close(self) -> None:
        await self._db.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction taken at once (BEGIN IMMEDIATE): one writer, no upgrade dance.

        Every write goes through here, including single statements.
        """
        async with self._write_lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"the database is busy: {exc}") from exc
            try:
                yield self._db
            except BaseException:
                await self._db.rollback()
                raise
            else:
                await self._db.commit()

    async def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._db.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._db.execute(sql, tuple(params)) as cur:
            row: sqlite3.Row | None = await cur.fetchone()
            return row
