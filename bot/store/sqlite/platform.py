"""The platform-state repository: every statement on ``meta`` (small per-platform values, e.g.
a hash of the Discord command definitions last synced), ``installations`` (an app installed in
several workspaces: one row each, the platform's own record as JSON, bot token included),
``oauth_states`` (install links: each state accepted once, before it expires) and
``seen_requests`` (signed requests already executed, refused if replayed)."""

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

    # -- installations (migration 0009) ----------------------------------------------------

    async def save_installation(self, *, platform: str, enterprise_id: str | None,
                                team_id: str | None, data: str, now: datetime) -> bool:
        key = (platform, enterprise_id or "", team_id or "")
        async with self._db.transaction() as db:
            async with db.execute(
                "SELECT 1 FROM installations WHERE platform = ? AND enterprise_id = ?"
                " AND team_id = ?", key,
            ) as cur:
                existed = await cur.fetchone() is not None
            await db.execute(
                "INSERT INTO installations (platform, enterprise_id, team_id, data,"
                " installed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (platform, enterprise_id, team_id) DO UPDATE SET"
                " data = excluded.data, updated_at = excluded.updated_at",
                (*key, data, to_ts(now), to_ts(now)),
            )
        return not existed

    async def find_installation(self, *, platform: str, enterprise_id: str | None,
                                team_id: str | None) -> str | None:
        row = await self._db.fetchone(
            "SELECT data FROM installations WHERE platform = ? AND enterprise_id = ?"
            " AND team_id = ?",
            (platform, enterprise_id or "", team_id or ""),
        )
        return None if row is None else str(row[0])

    async def delete_installation(self, *, platform: str, enterprise_id: str | None,
                                  team_id: str | None) -> bool:
        async with self._db.transaction() as db, db.execute(
            "DELETE FROM installations WHERE platform = ? AND enterprise_id = ?"
            " AND team_id = ?",
            (platform, enterprise_id or "", team_id or ""),
        ) as cur:
            return cur.rowcount > 0

    async def installed_workspaces(self, *, platform: str) -> list[tuple[str, str]]:
        rows = await self._db.fetchall(
            "SELECT enterprise_id, team_id FROM installations WHERE platform = ?"
            " ORDER BY enterprise_id, team_id", (platform,))
        return [(str(r[0]), str(r[1])) for r in rows]

    async def issue_oauth_state(self, state: str, *, expires_at: datetime,
                                now: datetime) -> None:
        async with self._db.transaction() as db:
            await db.execute("DELETE FROM oauth_states WHERE expires_at <= ?", (to_ts(now),))
            await db.execute("INSERT INTO oauth_states (state, expires_at) VALUES (?, ?)",
                             (state, to_ts(expires_at)))

    async def consume_oauth_state(self, state: str, *, now: datetime) -> bool:
        async with self._db.transaction() as db, db.execute(
            "DELETE FROM oauth_states WHERE state = ? RETURNING expires_at", (state,),
        ) as cur:
            row = await cur.fetchone()
        return row is not None and float(row[0]) > (to_ts(now) or 0.0)

    async def first_sight_of_request(self, key: str, *, now: datetime,
                                     expires_at: datetime) -> bool:
        """Record a signed request's ``key`` until ``expires_at``; False if it was recorded
        before (a replay). Expired keys are deleted on the way, so the table stays as small
        as the traffic of one replay window."""
        async with self._db.transaction() as db:
            await db.execute("DELETE FROM seen_requests WHERE expires_at < ?", (to_ts(now),))
            cur = await db.execute(
                "INSERT INTO seen_requests (key, expires_at) VALUES (?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, to_ts(expires_at)),
            )
            return cur.rowcount == 1
