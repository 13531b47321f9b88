"""The subscriptions and alerts repository: every statement on ``subscriptions`` and ``alerts``.

The "alert once" rule is the UNIQUE (subscription_id, article_id) constraint: recording an
alert twice (a restart, a re-ingest, two processes) inserts nothing the second time. Delivery
is claimed atomically: a claim pushes ``next_attempt_at`` forward by a lease inside one
immediate transaction, so two dispatchers never send the same alert, and a process that dies
mid-delivery only delays it until the lease runs out.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime

import aiosqlite

from bot.models import Destination
from bot.store.records import (
    AddStatus,
    AlertBatch,
    AlertState,
    AlertStats,
    ClaimedAlert,
    OwnerKind,
    Subscription,
)
from bot.store.sqlite.articles import SQLiteArticles
from bot.store.sqlite.db import Database, from_ts, marks, to_ts, ts, workspace_filter

_SUB_COLUMNS = ("id, platform, owner_kind, owner_id, created_by, query, query_key, language,"
                " created_at, paused_at, paused_reason")
_ACTIVE = "paused_at IS NULL"


def _subscription(row: sqlite3.Row) -> Subscription:
    return Subscription(
        id=row["id"], platform=row["platform"], owner_kind=row["owner_kind"],
        owner_id=row["owner_id"], created_by=row["created_by"], query=row["query"],
        query_key=row["query_key"], language=row["language"], created_at=ts(row["created_at"]),
        paused_at=from_ts(row["paused_at"]), paused_reason=row["paused_reason"],
    )


def _owner(destination: Destination) -> tuple[OwnerKind, str]:
    if destination.user_id is not None:
        return "user", destination.user_id
    assert destination.channel_id is not None
    return "channel", destination.channel_id


class SQLiteAlerts:
    """:class:`bot.store.ports.AlertStore` on SQLite (subscriptions and their alerts)."""

    def __init__(self, db: Database, articles: SQLiteArticles) -> None:
        self._db = db
        self._articles = articles

    # -- subscriptions -----------------------------------------------------------------------

    async def add_subscription(
        self, *, platform: str, owner_kind: OwnerKind, owner_id: str, created_by: str,
        query: str, query_key: str, language: str, now: datetime, limit: int,
    ) -> tuple[AddStatus, Subscription | None]:
        """Store a subscription unless the owner holds ``limit`` already or this very query.

        Returns ("added", new) or ("duplicate", existing) or ("limit", None); the count and
        the insert happen in one immediate transaction, so the limit holds under races.
        Subscribing again to a paused subscription's query resumes it: ("resumed", it).
        """
        async with self._db.transaction() as db:
            async with db.execute(
                f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE platform = ? AND owner_kind = ?"
                " AND owner_id = ? AND query_key = ?",
                (platform, owner_kind, owner_id, query_key),
            ) as cur:
                existing = await cur.fetchone()
            if existing is not None and existing["paused_at"] is not None:
                async with db.execute(
                    "UPDATE subscriptions SET paused_at = NULL, paused_reason = NULL"
                    f" WHERE id = ? RETURNING {_SUB_COLUMNS}", (existing["id"],),
                ) as cur:
                    resumed = await cur.fetchone()
                assert resumed is not None
                return "resumed", _subscription(resumed)
            if existing is not None:
                return "duplicate", _subscription(existing)
            async with db.execute(
                "SELECT count(*) FROM subscriptions WHERE platform = ? AND owner_kind = ?"
                " AND owner_id = ?",
                (platform, owner_kind, owner_id),
            ) as cur:
                row = await cur.fetchone()
            if row is not None and int(row[0]) >= limit:
                return "limit", None
            async with db.execute(
                "INSERT INTO subscriptions (platform, owner_kind, owner_id, created_by, query,"
                " query_key, language, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                f" RETURNING {_SUB_COLUMNS}",
                (platform, owner_kind, owner_id, created_by, query, query_key, language,
                 to_ts(now)),
            ) as cur:
                created = await cur.fetchone()
        assert created is not None
        return "added", _subscription(created)

    async def get_subscription(self, subscription_id: int) -> Subscription | None:
        row = await self._db.fetchone(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,))
        return None if row is None else _subscription(row)

    async def delete_subscription(self, subscription_id: int) -> bool:
        """Remove a subscription and its alerts (pending ones are never sent)."""
        async with self._db.transaction() as db, db.execute(
            "DELETE FROM subscriptions WHERE id = ?", (subscription_id,)
        ) as cur:
            return cur.rowcount > 0

    async def subscriptions_of(
        self, *, platform: str, owner_kind: OwnerKind, owner_id: str
    ) -> list[Subscription]:
        rows = await self._db.fetchall(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE platform = ? AND owner_kind = ?"
            " AND owner_id = ? ORDER BY id",
            (platform, owner_kind, owner_id),
        )
        return [_subscription(r) for r in rows]

    async def channel_subscription_queries(self, *, platform: str, channel_id: str) -> list[str]:
        """The queries a channel subscribed to (the digest ranks what the channel cares about)."""
        rows = await self._db.fetchall(
            "SELECT query FROM subscriptions WHERE platform = ? AND owner_kind = 'channel'"
            " AND owner_id = ? ORDER BY id",
            (platform, channel_id),
        )
        return [str(r[0]) for r in rows]

    async def channels_subscription_queries(self, channels: Sequence[tuple[str, str]]
                                            ) -> dict[tuple[str, str], list[str]]:
        out: dict[tuple[str, str], list[str]] = {}
        if not channels:
            return out
        rows = await self._db.fetchall(
            "SELECT s.platform, s.owner_id, s.query FROM json_each(?) k JOIN subscriptions s"
            " ON s.platform = json_extract(k.value, '$[0]') AND s.owner_kind = 'channel'"
            " AND s.owner_id = json_extract(k.value, '$[1]') ORDER BY s.id",
            (json.dumps([list(c) for c in channels]),))
        for platform, channel_id, query in rows:
            out.setdefault((platform, channel_id), []).append(str(query))
        return out

    async def subscriptions_after(self, after_id: int, *, limit: int = 10_000
                                  ) -> list[Subscription]:
        """Active (not paused) subscriptions with an id above ``after_id``, by id (loading
        the index in pages)."""
        rows = await self._db.fetchall(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE id > ? AND {_ACTIVE}"
            " ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [_subscription(r) for r in rows]

    async def subscriptions_by_ids(self, ids: Sequence[int]) -> list[Subscription]:
        """The active subscriptions among ``ids``, by id (resumed ones, back into the index)."""
        found: list[Subscription] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            rows = await self._db.fetchall(
                f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE id IN ({marks(len(chunk))})"
                f" AND {_ACTIVE} ORDER BY id", chunk)
            found.extend(_subscription(r) for r in rows)
        return found

    async def subscription_ids(self) -> set[int]:
        """Ids of the active (not paused) subscriptions."""
        rows = await self._db.fetchall(f"SELECT id FROM subscriptions WHERE {_ACTIVE}")
        return {int(r[0]) for r in rows}

    async def subscriptions_signature(self) -> tuple[int, int, int, float]:
        """(active count, highest id, paused count, sum of pause times): changes whenever any
        process adds, removes, pauses or resumes a subscription."""
        # separate sub-selects: SQLite counts a whole table and reads max(id) without a scan,
        # and the paused ones come from their partial index (this runs for every article)
        row = await self._db.fetchone(
            "SELECT (SELECT count(*) FROM subscriptions),"
            " (SELECT coalesce(max(id), 0) FROM subscriptions),"
            " (SELECT count(*) FROM subscriptions WHERE paused_at IS NOT NULL),"
            " (SELECT total(paused_at) FROM subscriptions WHERE paused_at IS NOT NULL)")
        if row is None:
            return (0, 0, 0, 0.0)
        paused = int(row[2])
        return (int(row[0]) - paused, int(row[1]), paused, float(row[3]))

    async def pause_destination(
        self, destination: Destination, *, reason: str, now: datetime,
    ) -> list[int]:
        """Pause every active subscription whose alerts go to ``destination`` (it refused
        for good) and skip their pending alerts. Returns the ids paused now."""
        kind, owner = _owner(destination)
        async with self._db.transaction() as db:
            async with db.execute(
                "UPDATE subscriptions SET paused_at = ?, paused_reason = ?"
                f" WHERE platform = ? AND owner_kind = ? AND owner_id = ? AND {_ACTIVE}"
                " RETURNING id",
                (to_ts(now), reason[:500], destination.platform, kind, owner),
            ) as cur:
                ids = sorted(int(r[0]) for r in await cur.fetchall())
            await db.execute(
                "UPDATE alerts SET state = 'skipped', last_error = ? WHERE state = 'pending'"
                " AND subscription_id IN (SELECT id FROM subscriptions WHERE platform = ?"
                " AND owner_kind = ? AND owner_id = ? AND paused_at IS NOT NULL)",
                (reason[:500], destination.platform, kind, owner),
            )
        return ids

    async def resume_subscriptions(
        self, *, platform: str, owner_kind: OwnerKind, owner_id: str,
        subscription_id: int | None = None,
    ) -> list[int]:
        """Resume the owner's paused subscriptions (or only ``subscription_id``); their ids."""
        sql = ("UPDATE subscriptions SET paused_at = NULL, paused_reason = NULL"
               " WHERE platform = ? AND owner_kind = ? AND owner_id = ? AND paused_at IS NOT NULL")
        params: tuple[object, ...] = (platform, owner_kind, owner_id)
        if subscription_id is not None:
            sql += " AND id = ?"
            params += (subscription_id,)
        async with self._db.transaction() as db, db.execute(sql + " RETURNING id", params) as cur:
            return sorted(int(r[0]) for r in await cur.fetchall())

    async def pause_workspace_subscriptions(self, *, platform: str, workspace: str,
                                            id_prefix: str | None, reason: str,
                                            now: datetime) -> int:
        where, args = workspace_filter("owner_id", id_prefix)
        async with self._db.transaction() as db, db.execute(
            "UPDATE subscriptions SET paused_at = ?, paused_reason = ?, paused_workspace = ?"
            f" WHERE platform = ? AND {_ACTIVE} AND {where}",
            (to_ts(now), reason[:500], workspace, platform, *args),
        ) as cur:
            return cur.rowcount

    async def resume_workspace_subscriptions(self, *, platform: str, workspace: str) -> int:
        async with self._db.transaction() as db:
            async with db.execute(
                "UPDATE subscriptions SET paused_at = NULL, paused_reason = NULL,"
                " paused_workspace = NULL WHERE platform = ? AND paused_workspace = ?"
                " AND paused_at IS NOT NULL",
                (platform, workspace),
            ) as cur:
                resumed = cur.rowcount
            await db.execute(  # resumed by hand meanwhile: just forget the mark
                "UPDATE subscriptions SET paused_workspace = NULL"
                " WHERE platform = ? AND paused_workspace = ?", (platform, workspace))
        return resumed

    # -- alerts ------------------------------------------------------------------------------

    async def record_alerts(
        self, *, article_id: int, matches: Sequence[tuple[int, Sequence[str]]],
        now: datetime, due: datetime, muted_channels: Collection[tuple[str, str]] = (),
    ) -> int:
        """Record one pending alert per (subscription, article) never recorded before.

        Returns how many are new. A subscription deleted or paused meanwhile is skipped, and so
        is the subscription of a channel in ``muted_channels`` ((platform, channel id): the
        channels that refuse the article's feed). The article is marked as matched in the same
        transaction (with or without matches).
        """
        muted = [f"{platform} {channel}" for platform, channel in muted_channels]
        unmuted = (f" AND NOT (s.owner_kind = 'channel' AND s.platform || ' ' || s.owner_id"
                   f" IN ({marks(len(muted))}))" if muted else "")
        # one statement for every match of the article (issue 17: not one per subscription)
        pairs = json.dumps([[subscription_id, list(terms)] for subscription_id, terms in matches],
                           ensure_ascii=False)
        mark_matched = self._articles.mark_matched

        def record(db: sqlite3.Connection) -> int:  # one trip to the writer's thread
            mark_matched(db, article_id, now=now)
            if not matches:
                return 0
            cur = db.execute(
                "INSERT INTO alerts (subscription_id, article_id, matched, created_at,"
                " next_attempt_at) SELECT s.id, ?, json_extract(m.value, '$[1]'), ?, ?"
                " FROM json_each(?) m JOIN subscriptions s"
                " ON s.id = json_extract(m.value, '$[0]')"
                f" WHERE s.{_ACTIVE}{unmuted}"
                " ORDER BY m.key"
                " ON CONFLICT (subscription_id, article_id) DO NOTHING",
                (article_id, to_ts(now), to_ts(due), pairs, *muted),
            )
            return max(cur.rowcount, 0)

        return await self._db.write(record)

    async def claim_due_alerts(
        self, *, now: datetime, window_seconds: float, lease_seconds: float,
        max_per_destination: int, max_destinations: int = 50,
    ) -> list[AlertBatch]:
        """Claim due alerts, grouped by destination, in one immediate transaction.

        A destination is due when one of its pending alerts is; its batch takes every pending
        alert that falls due within ``window_seconds`` from now (those recorded in the batching
        window), oldest first, at most ``max_per_destination``. Claimed alerts get one more
        attempt and are leased: not due again before ``lease_seconds``.
        """
        t = to_ts(now)
        assert t is not None
        claimed: list[tuple[Destination, list[int]]] = []
        async with self._db.transaction() as db:
            async with db.execute(
                "SELECT s.platform, s.owner_kind, s.owner_id FROM alerts a"
                " JOIN subscriptions s ON s.id = a.subscription_id"
                " WHERE a.state = 'pending' AND a.next_attempt_at <= ? AND s.paused_at IS NULL"
                " GROUP BY s.platform, s.owner_kind, s.owner_id"
                " ORDER BY min(a.next_attempt_at) LIMIT ?",
                (t, max_destinations),
            ) as cur:
                owners = list(await cur.fetchall())
            for platform, owner_kind, owner_id in owners:
                async with db.execute(
                    "SELECT a.id FROM alerts a JOIN subscriptions s ON s.id = a.subscription_id"
                    " WHERE s.platform = ? AND s.owner_kind = ? AND s.owner_id = ?"
                    " AND a.state = 'pending' AND a.next_attempt_at <= ? AND s.paused_at IS NULL"
                    " ORDER BY a.created_at, a.id LIMIT ?",
                    (platform, owner_kind, owner_id, t + window_seconds, max_per_destination),
                ) as cur:
                    ids = [int(r[0]) for r in await cur.fetchall()]
                await db.execute(
                    "UPDATE alerts SET attempts = attempts + 1, next_attempt_at = ?"
                    f" WHERE id IN ({marks(len(ids))})",
                    (t + lease_seconds, *ids),
                )
                destination = (Destination(platform=platform, user_id=owner_id)
                               if owner_kind == "user"
                               else Destination(platform=platform, channel_id=owner_id))
                claimed.append((destination, ids))
        batches = []
        for destination, ids in claimed:
            batches.append(AlertBatch(destination=destination,
                                      alerts=tuple(await self._claimed(ids))))
        return batches

    async def _claimed(self, ids: Sequence[int]) -> list[ClaimedAlert]:
        rows = await self._db.fetchall(
            "SELECT a.id, a.subscription_id, a.article_id, a.matched, a.attempts, s.query"
            " FROM alerts a JOIN subscriptions s ON s.id = a.subscription_id"
            f" WHERE a.id IN ({marks(len(ids))})",
            ids,
        )
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

    async def mark_alerts_sent(self, ids: Sequence[int], *, now: datetime) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE alerts SET state = 'sent', sent_at = ?, last_error = NULL"
                f" WHERE id IN ({marks(len(ids))})",
                (to_ts(now), *ids),
            )

    async def mark_alerts_retry(
        self, ids: Sequence[int], *, error: str, now: datetime, base_seconds: float,
        max_seconds: float, max_attempts: int,
    ) -> None:
        """After a failed delivery: due again after base * 2^(attempts-1) seconds (at most
        ``max_seconds``), or ``failed`` once ``max_attempts`` deliveries were tried."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE alerts SET last_error = ?,"
                " state = CASE WHEN attempts >= ? THEN 'failed' ELSE 'pending' END,"
                " next_attempt_at = ? + min(?, ? * (1 << min(attempts - 1, 30)))"
                f" WHERE id IN ({marks(len(ids))}) AND state = 'pending'",
                (error[:500], max_attempts, to_ts(now), max_seconds, base_seconds, *ids),
            )

    async def mark_alerts_skipped(self, ids: Sequence[int], *, error: str) -> None:
        """The destination refused for good (DMs closed, channel gone): never retried."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE alerts SET state = 'skipped', last_error = ?"
                f" WHERE id IN ({marks(len(ids))})",
                (error[:500], *ids),
            )

    async def assign_delivery_keys(self, ids: Sequence[int], *, key: str) -> dict[int, str]:
        if not ids:
            return {}
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE alerts SET delivery_key = ?"
                f" WHERE id IN ({marks(len(ids))}) AND delivery_key IS NULL", (key, *ids))
            async with db.execute(
                f"SELECT id, delivery_key FROM alerts WHERE id IN ({marks(len(ids))})", ids,
            ) as cur:
                return {int(r[0]): str(r[1]) for r in await cur.fetchall()}

    async def release_alerts(self, ids: Sequence[int], *, now: datetime) -> None:
        if not ids:
            return
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE alerts SET next_attempt_at = ?, attempts = max(attempts - 1, 0)"
                f" WHERE id IN ({marks(len(ids))}) AND state = 'pending'",
                (to_ts(now), *ids))

    async def next_alert_due(self) -> datetime | None:
        row = await self._db.fetchone(
            "SELECT min(a.next_attempt_at) FROM alerts a JOIN subscriptions s"
            " ON s.id = a.subscription_id WHERE a.state = 'pending' AND s.paused_at IS NULL")
        return None if row is None else from_ts(row[0])

    @staticmethod
    async def pending_article_ids(db: aiosqlite.Connection, article_ids: Sequence[int]
                                  ) -> set[int]:
        """Inside the caller's transaction: which of these articles have an alert pending."""
        found: set[int] = set()
        for start in range(0, len(article_ids), 500):
            chunk = list(article_ids[start:start + 500])
            async with db.execute(
                "SELECT DISTINCT article_id FROM alerts WHERE state = 'pending'"
                f" AND article_id IN ({marks(len(chunk))})", chunk,
            ) as cur:
                found.update(int(r[0]) for r in await cur.fetchall())
        return found

    async def alert_stats(self, subscription_ids: Sequence[int]) -> dict[int, AlertStats]:
        if not subscription_ids:
            return {}
        # kept by triggers on alerts (migration 0011): one row per subscription, however
        # many alerts it has had
        rows = await self._db.fetchall(
            "SELECT subscription_id, sent, pending, failed, skipped, last_sent_at"
            " FROM subscription_alert_counts"
            f" WHERE subscription_id IN ({marks(len(subscription_ids))})"
            " AND sent + pending + failed + skipped > 0",
            subscription_ids,
        )
        return {
            int(r[0]): AlertStats(sent=r[1], pending=r[2], failed=r[3], skipped=r[4],
                                  last_sent_at=from_ts(r[5]))
            for r in rows
        }

    async def alerts_for_article(self, article_id: int) -> list[AlertState]:
        """The alerts recorded for one article, by subscription (delivery state included)."""
        rows = await self._db.fetchall(
            "SELECT id, subscription_id, state, attempts, next_attempt_at, last_error, matched"
            " FROM alerts WHERE article_id = ? ORDER BY subscription_id", (article_id,))
        return [
            AlertState(id=r["id"], subscription_id=r["subscription_id"], state=r["state"],
                       attempts=r["attempts"], next_attempt_at=from_ts(r["next_attempt_at"]),
                       last_error=r["last_error"], matched=tuple(json.loads(r["matched"])))
            for r in rows
        ]
