"""Small key/value state (migration 0005), e.g. the last synced command definitions."""

from __future__ import annotations

from datetime import datetime

from bot.store.base import StoreBase, to_ts


class MetaQueries(StoreBase):
    async def get_meta(self, key: str) -> str | None:
        row = await self._fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str, *, now: datetime) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (key, value, to_ts(now)),
            )
