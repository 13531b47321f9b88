"""Subscriptions and alerts on PostgreSQL.

- "Alert once" is ``UNIQUE (subscription_id, article_id)``: recording twice inserts nothing.
- The per-owner limit holds under concurrent subscribes: the count and the insert run under a
  transaction-level advisory lock on the owner (other owners never wait).
- Delivery is claimed per destination: a process takes a destination only if no other process
  is claiming it (``pg_try_advisory_xact_lock``), then its due alerts ``FOR UPDATE SKIP
  LOCKED``, pushing ``next_attempt_at`` to a lease in the same statement. A process that dies
  mid-delivery delays those alerts only until the lease runs out.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime

import asyncpg

from bot.models import Destination
from bot.store.postgres.articles import PgArticles
from bot.store.postgres.base import (
    Outage,
    PgBase,
    affected,
    at,
    from_ts,
    ids_param,
    ts,
    workspace_filter,
)
from bot.store.records import (
    AddStatus,
    AlertBatch,
    AlertState,
    AlertStats,
    ClaimedAlert,
    OwnerKind,
    Subscription,
)

SUB_COLUMNS = ("id, platform, owner_kind, owner_id, created_by, query, query_key, language,"
               " created_at, paused_at, paused_reason")
_ACTIVE = "paused_at IS NULL"


def subscription_from_row(row: asyncpg.Record) -> Subscription:
    return Subscription(
        id=row["id"], platform=row["platform"], owner_kind=row["owner_kind"],
        owner_id=row["owner_id"], created_by=row["created_by"], query=row["query"],
        query_key=row["query_key"], language=row["language"], created_at=at(row["created_at"]),
        paused_at=from_ts(row["paused_at"]), paused_reason=row["paused_reason"],
    )


def _owner(destination: Destination) -> tuple[OwnerKind, str]:
    if destination.user_id is not None:
        return "user", destination.user_id
    assert destination.channel_id is not None
    return "channel", destination.channel_id


def _owner_key(platform: str, kind: str, owner: str) -> str:
    return f"briefbot owner {platform}\x1f{kind}\x1f{owner}"


class PgAlerts(PgBase):
    def __init__(self, pool: asyncpg.Pool, outage: Outage, articles: PgArticles) -> None:
        super().__init__(pool, outage)
        self._articles = articles

    # -- subscriptions -----------------------------------------------------------------------

    async def add_subscription(
        self, *, platform: str, owner_kind: OwnerKind, owner_id: str, created_by: str,
        query: str, query_key: str, language: str, now: datetime, limit: int,
    ) -> tuple[AddStatus, Subscription | None]:
        async with self.transaction() as conn:
            # one subscribe at a time per owner: the count below cannot go stale
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                               _owner_key(platform, owner_kind, owner_id))
            existing = await conn.fetchrow(
                f"SELECT {SUB_COLUMNS} FROM subscriptions WHERE platform = $1"
                " AND owner_kind = $2 AND owner_id = $3 AND query_key = $4",
                platform, owner_kind, owner_id, query_key)
            if existing is not None and existing["paused_at"] is not None:
                resumed = await conn.fetchrow(
                    "UPDATE subscriptions SET paused_at = NULL, paused_reason = NULL"
                    f" WHERE id = $1 RETURNING {SUB_COLUMNS}", existing["id"])
                assert resumed is not None
                return "resumed", subscription_from_row(resumed)
            if existing is not None:
                return "duplicate", subscription_from_row(existing)
            count = await conn.fetchval(
                "SELECT count(*) FROM subscriptions WHERE platform = $1 AND owner_kind = $2"
                " AND owner_id = $3", platform, owner_kind, owner_id)
            if int(count) >= limit:
                return "limit", None
            created = await conn.fetchrow(
                "INSERT INTO subscriptions (platform, owner_kind, owner_id, created_by, query,"
                " query_key, language, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                f" RETURNING {SUB_COLUMNS}",
                platform, owner_kind, owner_id, created_by, query, query_key, language, ts(now))
        assert created is not None
        return "added", subscription_from_row(created)

    async def get_subscription(self, subscription_id: int) -> Subscription | None:
        row = await self._fetchrow(
            f"SELECT {SUB_COLUMNS} FROM subscriptions WHERE id = $1", subscription_id)
        return None if row is None else subscription_from_row(row)

    async def delete_subscription(self, subscription_id: int) -> bool:
        return affected(await self._execute(
            "DELETE FROM subscriptions WHERE id = $1", subscription_id)) > 0

    async def subscriptions_of(
        self, *, platform: str, owner_kind: OwnerKind, owner_id: str
    ) -> list[Subscription]:
        rows = await self._fetch(
            f"SELECT {SUB_COLUMNS} FROM subscriptions WHERE platform = $1 AND owner_kind = $2"
            " AND owner_id = $3 ORDER BY id", platform, owner_kind, owner_id)
        return [subscription_from_row(r) for r in rows]

    async def channel_subscription_queries(self, *, platform: str, channel_id: str) -> list[str]:
        rows = await self._fetch(
            "SELECT query FROM subscriptions WHERE platform = $1 AND owner_kind = 'channel'"
            " AND owner_id = $2 ORDER BY id", platform, channel_id)
        return [str(r[0]) for r in rows]

    async def channels_subscription_queries(self, channels: Sequence[tuple[str, str]]
                                            ) -> dict[tuple[str, str], list[str]]:
        out: dict[tuple[str, str], list[str]] = {}
        if not channels:
            return out
        rows = await self._fetch(
            "SELECT s.platform, s.owner_id, s.query FROM subscriptions s"
            " JOIN unnest($1::text[], $2::text[]) AS k (platform, channel_id)"
            " ON s.platform = k.platform AND s.owner_kind = 'channel'"
            " AND s.owner_id = k.channel_id ORDER BY s.id",
            [c[0] for c in channels], [c[1] for c in channels])
        for row in rows:
            out.setdefault((row[0], row[1]), []).append(str(row[2]))
        return out

    async def subscriptions_after(self, after_id: int, *, limit: int = 10_000
                                  ) -> list[Subscription]:
        rows = await self._fetch(
            f"SELECT {SUB_COLUMNS} FROM subscriptions WHERE id > $1 AND {_ACTIVE}"
            " ORDER BY id LIMIT $2", after_id, limit)
        return [subscription_from_row(r) for r in rows]

    async def subscriptions_by_ids(self, ids: Sequence[int]) -> list[Subscription]:
        rows = await self._fetch(
            f"SELECT {SUB_COLUMNS} FROM subscriptions WHERE id = ANY($1::bigint[])"
            f" AND {_ACTIVE} ORDER BY id", ids_param(ids))
        return [subscription_from_row(r) for r in rows]

    async def subscription_ids(self) -> set[int]:
        rows = await self._fetch(f"SELECT id FROM subscriptions WHERE {_ACTIVE}")
        return {int(r[0]) for r in rows}

    async def subscriptions_signature(self) -> tuple[int, int, int, float]:
        row = await self._fetchrow(
            "SELECT (SELECT count(*) FROM subscriptions),"
            " (SELECT coalesce(max(id), 0) FROM subscriptions),"
            " (SELECT count(*) FROM subscriptions WHERE paused_at IS NOT NULL),"
            " (SELECT coalesce(sum(paused_at), 0) FROM subscriptions"
            " WHERE paused_at IS NOT NULL)")
        assert row is not None
        paused = int(row[2])
        return (int(row[0]) - paused, int(row[1]), paused, float(row[3]))

    async def pause_destination(
        self, destination: Destination, *, reason: str, now: datetime,
    ) -> list[int]:
        kind, owner = _owner(destination)
        async with self.transaction() as conn:
            rows = await conn.fetch(
                "UPDATE subscriptions SET paused_at = $1, paused_reason = $2"
                f" WHERE platform = $3 AND owner_kind = $4 AND owner_id = $5 AND {_ACTIVE}"
                " RETURNING id", ts(now), reason[:500], destination.platform, kind, owner)
            await conn.execute(
                "UPDATE alerts SET state = 'skipped', last_error = $1 WHERE state = 'pending'"
                " AND subscription_id IN (SELECT id FROM subscriptions WHERE platform = $2"
                " AND owner_kind = $3 AND owner_id = $4 AND paused_at IS NOT NULL)",
                reason[:500], destination.platform, kind, owner)
        return sorted(int(r[0]) for r in rows)

    async def resume_subscriptions(
        self, *, platform: str, owner_kind: OwnerKind, owner_id: str,
        subscription_id: int | None = None,
    ) -> list[int]:
        rows = await self._fetch(
            "UPDATE subscriptions SET paused_at = NULL, paused_reason = NULL"
            " WHERE platform = $1 AND owner_kind = $2 AND owner_id = $3"
            " AND paused_at IS NOT NULL AND ($4::bigint IS NULL OR id = $4) RETURNING id",
            platform, owner_kind, owner_id, subscription_id)
        return sorted(int(r[0]) for r in rows)

    async def pause_workspace_subscriptions(self, *, platform: str, workspace: str,
                                            id_prefix: str | None, reason: str,
                                            now: datetime) -> int:
        return affected(await self._execute(
            "UPDATE subscriptions SET paused_at = $1, paused_reason = $2, paused_workspace = $3"
            f" WHERE platform = $4 AND {_ACTIVE} AND {workspace_filter('owner_id', 5)}",
            ts(now), reason[:500], workspace, platform, id_prefix))

    async def resume_workspace_subscriptions(self, *, platform: str, workspace: str) -> int:
        async with self.transaction() as conn:
            status = await conn.execute(
                "UPDATE subscriptions SET paused_at = NULL, paused_reason = NULL,"
                " paused_workspace = NULL WHERE platform = $1 AND paused_workspace = $2"
                " AND paused_at IS NOT NULL", platform, workspace)
            await conn.execute(  # resumed by hand meanwhile: just forget the mark
                "UPDATE subscriptions SET paused_workspace = NULL"
                " WHERE platform = $1 AND paused_workspace = $2", platform, workspace)
        return affected(status)

    # -- alerts ------------------------------------------------------------------------------

    async def record_alerts(
        self, *, article_id: int, matches: Sequence[tuple[int, Sequence[str]]],
        now: datetime, due: datetime, muted_channels: Collection[tuple[str, str]] = (),
    ) -> int:
        """Record one pending alert per (subscription, article) never recorded before; skip a
        subscription deleted or paused meanwhile, and a channel's in ``muted_channels``
        (platform, channel id). The article is marked as matched in the same transaction."""
        muted = [f"{platform} {channel}" for platform, channel in muted_channels]
        async with self.transaction() as conn:
            await self._articles.mark_matched(conn, article_id, now=now)
            if not matches:
                return 0
            rows = await conn.fetch(
                "INSERT INTO alerts (subscription_id, article_id, matched, created_at,"
                " next_attempt_at) SELECT s.id, $1, m.matched, $2, $3"
                " FROM unnest($4::bigint[], $5::text[]) AS m(sub, matched)"
                f" JOIN subscriptions s ON s.id = m.sub AND s.{_ACTIVE}"
                " WHERE NOT (s.owner_kind = 'channel'"
                " AND s.platform || ' ' || s.owner_id = ANY($6::text[])) ORDER BY s.id"
                " ON CONFLICT (subscription_id, article_id) DO NOTHING RETURNING id",
                article_id, ts(now), ts(due), [int(s) for s, _ in matches],
                [json.dumps(list(t), ensure_ascii=False) for _, t in matches], muted)
        return len(rows)

    async def claim_due_alerts(
        self, *, now: datetime, window_seconds: float, lease_seconds: float,
        max_per_destination: int, max_destinations: int = 50,
    ) -> list[AlertBatch]:
        t = ts(now)
        claimed: list[tuple[Destination, list[int]]] = []
        async with self.transaction() as conn:
            owners = await conn.fetch(
                "SELECT s.platform, s.owner_kind, s.owner_id FROM alerts a"
                " JOIN subscriptions s ON s.id = a.subscription_id"
                " WHERE a.state = 'pending' AND a.next_attempt_at <= $1 AND s.paused_at IS NULL"
                " GROUP BY s.platform, s.owner_kind, s.owner_id"
                " ORDER BY min(a.next_attempt_at) LIMIT $2", t, max_destinations)
            for platform, owner_kind, owner_id in owners:
                if not await conn.fetchval(
                        "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 1))",
                        _owner_key(platform, owner_kind, owner_id)):
                    continue  # another process is claiming this destination right now
                # a MATERIALIZED CTE, run once: a LIMIT ... SKIP LOCKED subquery inlined
                # into the UPDATE may be rescanned and lock more rows than LIMIT allows
                rows = await conn.fetch(
                    "WITH due AS MATERIALIZED (SELECT a.id FROM alerts a"
                    " JOIN subscriptions s ON s.id = a.subscription_id"
                    " WHERE s.platform = $2 AND s.owner_kind = $3 AND s.owner_id = $4"
                    " AND a.state = 'pending' AND a.next_attempt_at <= $5"
                    " AND s.paused_at IS NULL ORDER BY a.created_at, a.id LIMIT $6"
                    " FOR UPDATE OF a SKIP LOCKED)"
                    " UPDATE alerts SET attempts = attempts + 1, next_attempt_at = $1"
                    " WHERE id IN (SELECT id FROM due) RETURNING id",
                    t + lease_seconds, platform, owner_kind, owner_id, t + window_seconds,
                    max_per_destination)
                if not rows:
                    continue
                destination = (Destination(platform=platform, user_id=owner_id)
                               if owner_kind == "user"
                               else Destination(platform=platform, channel_id=owner_id))
                claimed.append((destination, sorted(int(r[0]) for r in rows)))
        return [AlertBatch(destination=d, alerts=tuple(await self._claimed(ids)))
                for d, ids in claimed]

    async def _claimed(self, ids: Sequence[int]) -> list[ClaimedAlert]:
        rows = await self._fetch(
            "SELECT a.id, a.subscription_id, a.article_id, a.matched, a.attempts, s.query"
            " FROM alerts a JOIN subscriptions s ON s.id = a.subscription_id"
            " WHERE a.id = ANY($1::bigint[])", ids_param(ids))
        articles = await self._articles.articles_by_ids([int(r["article_id"]) for r in rows])
        claimed = [
            ClaimedAlert(
                id=row["id"], subscription_id=row["subscription_id"], query=row["query"],
                article=articles[row["article_id"]], matched=tuple(json.loads(row["matched"])),
                attempts=row["attempts"],
            )
            for row in rows
            if row["article_id"] in articles  # deleted meanwhile: its alert went with it
        ]
        claimed.sort(key=lambda c: (c.article.published_at or c.article.ingested_at, c.id))
        return claimed

    async def assign_delivery_keys(self, ids: Sequence[int], *, key: str) -> dict[int, str]:
        if not ids:
            return {}
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE alerts SET delivery_key = $1 WHERE id = ANY($2::bigint[])"
                " AND delivery_key IS NULL", key, ids_param(ids))
            rows = await conn.fetch(
                "SELECT id, delivery_key FROM alerts WHERE id = ANY($1::bigint[])",
                ids_param(ids))
        return {int(r["id"]): str(r["delivery_key"]) for r in rows}

    async def release_alerts(self, ids: Sequence[int], *, now: datetime) -> None:
        if not ids:
            return
        await self._execute(
            "UPDATE alerts SET next_attempt_at = $1, attempts = greatest(attempts - 1, 0)"
            " WHERE id = ANY($2::bigint[]) AND state = 'pending'", ts(now), ids_param(ids))

    async def mark_alerts_sent(self, ids: Sequence[int], *, now: datetime) -> None:
        await self._execute(
            "UPDATE alerts SET state = 'sent', sent_at = $1, last_error = NULL"
            " WHERE id = ANY($2::bigint[])", ts(now), ids_param(ids))

    async def mark_alerts_retry(
        self, ids: Sequence[int], *, error: str, now: datetime, base_seconds: float,
        max_seconds: float, max_attempts: int,
    ) -> None:
        await self._execute(
            "UPDATE alerts SET last_error = $1,"
            " state = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'pending' END,"
            " next_attempt_at = $3 + least($4::double precision,"
            " $5 * power(2, least(attempts - 1, 30)))"
            " WHERE id = ANY($6::bigint[]) AND state = 'pending'",
            error[:500], max_attempts, ts(now), float(max_seconds), float(base_seconds),
            ids_param(ids))

    async def mark_alerts_skipped(self, ids: Sequence[int], *, error: str) -> None:
        await self._execute(
            "UPDATE alerts SET state = 'skipped', last_error = $1 WHERE id = ANY($2::bigint[])",
            error[:500], ids_param(ids))

    async def next_alert_due(self) -> datetime | None:
        return from_ts(await self._fetchval(
            "SELECT min(a.next_attempt_at) FROM alerts a JOIN subscriptions s"
            " ON s.id = a.subscription_id WHERE a.state = 'pending' AND s.paused_at IS NULL"))

    async def alert_stats(self, subscription_ids: Sequence[int]) -> dict[int, AlertStats]:
        if not subscription_ids:
            return {}
        rows = await self._fetch(
            "SELECT subscription_id, count(*) FILTER (WHERE state = 'sent'),"
            " count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'failed'),"
            " count(*) FILTER (WHERE state = 'skipped'), max(sent_at) FROM alerts"
            " WHERE subscription_id = ANY($1::bigint[]) GROUP BY subscription_id",
            ids_param(subscription_ids))
        return {
            int(r[0]): AlertStats(sent=r[1], pending=r[2], failed=r[3], skipped=r[4],
                                  last_sent_at=from_ts(r[5]))
            for r in rows
        }

    async def alerts_for_article(self, article_id: int) -> list[AlertState]:
        rows = await self._fetch(
            "SELECT id, subscription_id, state, attempts, next_attempt_at, last_error, matched"
            " FROM alerts WHERE article_id = $1 ORDER BY subscription_id", article_id)
        return [
            AlertState(id=r["id"], subscription_id=r["subscription_id"], state=r["state"],
                       attempts=r["attempts"], next_attempt_at=from_ts(r["next_attempt_at"]),
                       last_error=r["last_error"], matched=tuple(json.loads(r["matched"])))
            for r in rows
        ]
