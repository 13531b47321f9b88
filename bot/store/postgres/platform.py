"""Small per-platform state (for example the hash of the Discord commands last synced)."""

from __future__ import annotations

from datetime import datetime

from bot.store.postgres.base import PgBase, ts


class PgPlatformState(PgBase):
    async def get_meta(self, key: str) -> str | None:
        value = await self._fetchval("SELECT value FROM meta WHERE key = $1", key)
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str, *, now: datetime) -> None:
        await self._execute(
            "INSERT INTO meta (key, value, updated_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at", key, value, ts(now))
