"""Platform state on PostgreSQL: ``meta`` (small values, e.g. the hash of the Discord commands
last synced), ``installations`` (one row per workspace the app is installed in), ``oauth_states``
(each accepted once, before it expires), ``seen_requests`` (signed requests already executed:
a replay is refused by every process, since they share this table), ``deliveries`` (the
message a claim is posting and how many of its parts the platform accepted) and
``send_slots`` (the deployment-wide platform rate limits of :mod:`bot.ratelimit`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from bot.store.ports import DELIVERY_KEEP_DAYS, Delivery, NewDelivery
from bot.store.postgres.base import PgBase, affected, at, ts

# One statement takes a slot and moves the bucket on: read-and-write under the row's lock, on
# the server's clock (processes on several hosts need not agree on the time). $2 = interval,
# $3 = how far behind "now" a bucket may lag (the burst). Returns seconds to wait.
_RESERVE = (
    "INSERT INTO send_slots AS s (bucket, next_at)"
    " VALUES ($1, extract(epoch FROM statement_timestamp())::float8 - $3 + $2)"
    " ON CONFLICT (bucket) DO UPDATE SET next_at ="
    " greatest(s.next_at, extract(epoch FROM statement_timestamp())::float8 - $3) + $2"
    " RETURNING next_at - $2 - extract(epoch FROM statement_timestamp())::float8")
_PRUNE_EVERY = 1000  # slots taken between two sweeps of idle buckets (a row per channel)


class PgPlatformState(PgBase):
    _slots_taken = 0

    async def reserve_send_slot(self, bucket: str, *, interval: float, burst: int) -> float:
        """The next send slot of ``bucket`` for every process on this database (see
        :class:`bot.ratelimit.SharedSlots`): seconds to wait before using it."""
        self._slots_taken += 1
        if self._slots_taken % _PRUNE_EVERY == 0:
            await self._execute(
                "DELETE FROM send_slots WHERE next_at"
                " < extract(epoch FROM statement_timestamp())::float8 - 3600")
        wait = await self._fetchval(_RESERVE, bucket, float(interval),
                                    max(0, burst - 1) * float(interval))
        return float(wait)

    async def get_meta(self, key: str) -> str | None:
        value = await self._fetchval("SELECT value FROM meta WHERE key = $1", key)
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str, *, now: datetime) -> None:
        await self._execute(
            "INSERT INTO meta (key, value, updated_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at", key, value, ts(now))

    # -- installations, OAuth states, replays (PostgreSQL migration 0002) ------------------

    async def save_installation(self, *, platform: str, enterprise_id: str | None,
                                team_id: str | None, data: str, now: datetime) -> bool:
        """Store or replace a workspace's installation; True when it is new."""
        inserted = await self._fetchval(
            "INSERT INTO installations (platform, enterprise_id, team_id, data, installed_at,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $5)"
            " ON CONFLICT (platform, enterprise_id, team_id) DO UPDATE SET"
            " data = excluded.data, updated_at = excluded.updated_at RETURNING (xmax = 0)",
            platform, enterprise_id or "", team_id or "", data, ts(now))
        return bool(inserted)

    async def find_installation(self, *, platform: str, enterprise_id: str | None,
                                team_id: str | None) -> str | None:
        value = await self._fetchval(
            "SELECT data FROM installations WHERE platform = $1 AND enterprise_id = $2"
            " AND team_id = $3", platform, enterprise_id or "", team_id or "")
        return None if value is None else str(value)

    async def delete_installation(self, *, platform: str, enterprise_id: str | None,
                                  team_id: str | None) -> bool:
        return affected(await self._execute(
            "DELETE FROM installations WHERE platform = $1 AND enterprise_id = $2"
            " AND team_id = $3", platform, enterprise_id or "", team_id or "")) > 0

    async def installed_workspaces(self, *, platform: str) -> list[tuple[str, str]]:
        rows = await self._fetch(
            "SELECT enterprise_id, team_id FROM installations WHERE platform = $1"
            " ORDER BY enterprise_id, team_id", platform)
        return [(str(r[0]), str(r[1])) for r in rows]

    async def issue_oauth_state(self, state: str, *, expires_at: datetime,
                                now: datetime) -> None:
        async with self.transaction() as conn:
            await conn.execute("DELETE FROM oauth_states WHERE expires_at <= $1", ts(now))
            await conn.execute("INSERT INTO oauth_states (state, expires_at) VALUES ($1, $2)",
                               state, ts(expires_at))

    async def consume_oauth_state(self, state: str, *, now: datetime) -> bool:
        expires = await self._fetchval(
            "DELETE FROM oauth_states WHERE state = $1 RETURNING expires_at", state)
        return expires is not None and float(expires) > ts(now)

    async def first_sight_of_request(self, key: str, *, now: datetime,
                                     expires_at: datetime) -> bool:
        """Record a signed request's ``key`` until ``expires_at``; False if any process
        recorded it before (a replay)."""
        async with self.transaction() as conn:
            await conn.execute("DELETE FROM seen_requests WHERE expires_at < $1", ts(now))
            inserted = await conn.fetchval(
                "INSERT INTO seen_requests (key, expires_at) VALUES ($1, $2)"
                " ON CONFLICT (key) DO NOTHING RETURNING true", key, ts(expires_at))
        return bool(inserted)

    # -- deliveries (PostgreSQL migration 0003/0004: see the SQLite twin, 0012) ---------------

    async def begin_delivery(self, key: str, *, platform: str, destination: str, reply: str,
                             note: str, now: datetime) -> Delivery:
        t = ts(now)
        # one statement, one round trip: the oldest expired deliveries go in the same
        # statement (never the one being begun)
        row = await self._fetchrow(
            f"WITH pruned AS ({_PRUNE_DELIVERIES.format('key <> $1')})"
            " INSERT INTO deliveries (key, platform, destination, reply, note, attempts,"
            f" began_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) {_BEGIN_CONFLICT}",
            key, platform, destination, reply, note, t, t - DELIVERY_KEEP_DAYS * 86400.0)
        assert row is not None
        return _delivery(row)

    async def begin_deliveries(self, deliveries: Sequence[NewDelivery], *, now: datetime
                               ) -> list[Delivery]:
        """:meth:`begin_delivery` for each, in one statement (keys are distinct: each is a
        claim's)."""
        if not deliveries:
            return []
        t = ts(now)
        rows = await self._fetch(
            f"WITH pruned AS ({_PRUNE_DELIVERIES.format('key <> ALL($1::text[])')})"
            " INSERT INTO deliveries (key, platform, destination, reply, note, attempts,"
            " began_at, updated_at) SELECT key, platform, destination, reply, note, 1, $6, $6"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
            f" AS u(key, platform, destination, reply, note) {_BEGIN_CONFLICT}",
            [d.key for d in deliveries], [d.platform for d in deliveries],
            [d.destination for d in deliveries], [d.reply for d in deliveries],
            [d.note for d in deliveries], t, t - DELIVERY_KEEP_DAYS * 86400.0)
        by_key = {str(r["key"]): _delivery(r) for r in rows}
        return [by_key[d.key] for d in deliveries]

    async def get_delivery(self, key: str) -> Delivery | None:
        row = await self._fetchrow(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE key = $1", key)
        return None if row is None else _delivery(row)

    async def record_posted_part(self, key: str, *, part: int, total: int,
                                 now: datetime) -> None:
        await self._execute(
            "INSERT INTO deliveries (key, platform, destination, reply, total, posted, began_at,"
            " updated_at) VALUES ($1, '', '', '', $2, $3, $4, $4)"
            " ON CONFLICT (key) DO UPDATE SET total = excluded.total,"
            " posted = greatest(deliveries.posted, excluded.posted),"
            " updated_at = excluded.updated_at", key, total, part + 1, ts(now))


_DELIVERY_COLUMNS = "key, reply, note, posted, total, attempts, began_at"
# the oldest deliveries unchanged for DELIVERY_KEEP_DAYS ($7: the cutoff), a few at a time,
# never one being begun ({}: that condition)
_PRUNE_DELIVERIES = (
    "DELETE FROM deliveries WHERE key IN (SELECT key FROM deliveries WHERE updated_at < $7"
    " AND {} ORDER BY updated_at LIMIT 100)")
# an earlier attempt's message and note are kept; the attempt is counted
_BEGIN_CONFLICT = (
    "ON CONFLICT (key) DO UPDATE SET attempts = deliveries.attempts + 1,"
    " updated_at = excluded.updated_at,"
    " reply = CASE WHEN deliveries.reply = '' THEN excluded.reply ELSE deliveries.reply END,"
    " note = CASE WHEN deliveries.reply = '' THEN excluded.note ELSE deliveries.note END"
    f" RETURNING {_DELIVERY_COLUMNS}")


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(key=str(row["key"]), reply=str(row["reply"]), note=str(row["note"]),
                    posted=int(row["posted"]),
                    total=None if row["total"] is None else int(row["total"]),
                    attempts=int(row["attempts"]), began_at=at(row["began_at"]))
