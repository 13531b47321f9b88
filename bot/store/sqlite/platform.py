"""The platform-state repository: every statement on ``meta`` (small per-platform values, e.g.
a hash of the Discord command definitions last synced), ``installations`` (an app installed in
several workspaces: one row each, the platform's own record as JSON, bot token included),
``oauth_states`` (install links: each state accepted once, before it expires) and
``seen_requests`` (signed requests already executed, refused if replayed) and ``deliveries``
(the message a claim is posting, and how many of its parts the platform accepted)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from bot.store.ports import DELIVERY_KEEP_DAYS, Delivery, NewDelivery
from bot.store.sqlite.db import Database, to_ts, ts


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

    # -- deliveries: the message a claim is posting and its parts posted (migration 0012) ----

    async def begin_delivery(self, key: str, *, platform: str, destination: str, reply: str,
                             note: str, now: datetime) -> Delivery:
        one = NewDelivery(key=key, platform=platform, destination=destination, reply=reply,
                          note=note)
        return (await self.begin_deliveries([one], now=now))[0]

    async def begin_deliveries(self, deliveries: Sequence[NewDelivery], *, now: datetime
                               ) -> list[Delivery]:
        if not deliveries:
            return []
        t = to_ts(now)
        assert t is not None

        def begin(db: sqlite3.Connection) -> list[sqlite3.Row]:  # one trip, one transaction
            db.execute(
                "DELETE FROM deliveries WHERE key IN (SELECT key FROM deliveries"
                " WHERE updated_at < ? ORDER BY updated_at LIMIT 100)",
                (t - DELIVERY_KEEP_DAYS * 86400.0,))
            rows: list[sqlite3.Row] = []
            for d in deliveries:
                rows += db.execute(
                    "INSERT INTO deliveries (key, platform, destination, reply, note,"
                    " attempts, began_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET attempts = deliveries.attempts + 1,"
                    " updated_at = excluded.updated_at,"
                    " reply = CASE WHEN deliveries.reply = '' THEN excluded.reply"
                    " ELSE deliveries.reply END,"
                    " note = CASE WHEN deliveries.reply = '' THEN excluded.note"
                    " ELSE deliveries.note END"
                    f" RETURNING {_DELIVERY_COLUMNS}",
                    (d.key, d.platform, d.destination, d.reply, d.note, t, t),
                ).fetchall()
            return rows

        return [_delivery(r) for r in await self._db.write(begin)]

    async def get_delivery(self, key: str) -> Delivery | None:
        row = await self._db.fetchone(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE key = ?", (key,))
        return None if row is None else _delivery(row)

    async def record_posted_part(self, key: str, *, part: int, total: int,
                                 now: datetime) -> None:
        t = to_ts(now)

        def record(db: sqlite3.Connection) -> None:  # one trip to the writer's thread
            db.execute(
                "INSERT INTO deliveries (key, platform, destination, reply, total, posted,"
                " began_at, updated_at) VALUES (?, '', '', '', ?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET total = excluded.total,"
                " posted = max(deliveries.posted, excluded.posted),"
                " updated_at = excluded.updated_at",
                (key, total, part + 1, t, t))

        await self._db.write(record)


_DELIVERY_COLUMNS = "key, reply, note, posted, total, attempts, began_at"


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(key=str(row[0]), reply=str(row[1]), note=str(row[2]), posted=int(row[3]),
                    total=None if row[4] is None else int(row[4]), attempts=int(row[5]),
                    began_at=ts(row[6]))
