"""The platform-state repository: every statement on ``meta`` (small per-platform values, e.g.
a hash of the Discord command definitions last synced)."""

from __future__ import annotations

from datetime import datetime

from bot.store.sqlite.db import Database, to_ts


class SQLitePlatformState:
    """:class:`bot.store.ports.PlatformStateStore` on SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_meta(self, key: str) -> str | None:
        row = await self._db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str, *, now: datetime) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (key, value, to_ts(now)),
            )
