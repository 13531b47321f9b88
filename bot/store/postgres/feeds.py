"""Feeds on PostgreSQL: health, followers, items seen; polls claimed with SKIP LOCKED.

:meth:`PgFeeds.claim_due_feeds` selects due feeds ``FOR UPDATE SKIP LOCKED`` and moves their
``next_poll_at`` to the lease in the same statement: processes claiming at once get disjoint
feeds and never wait for each other; a process that dies mid-poll loses its claim when the
lease runs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from bot.store.postgres.base import PgBase, affected, at, from_ts, ts
from bot.store.records import Feed, SeenItem

FEED_COLUMNS = (
    "id, url, title, added_at, site_url, etag, last_modified, body_hash, primed, next_poll_at,"
    " last_polled_at, last_success_at, last_error, last_error_at, consecutive_failures,"
    " last_result"
)


def feed_from_row(row: asyncpg.Record) -> Feed:
    return Feed(
        id=row["id"], url=row["url"], title=row["title"], added_at=at(row["added_at"]),
        site_url=row["site_url"], etag=row["etag"], last_modified=row["last_modified"],
        body_hash=row["body_hash"], primed=bool(row["primed"]),
        next_poll_at=at(row["next_poll_at"]),
        last_polled_at=from_ts(row["last_polled_at"]),
        last_success_at=from_ts(row["last_success_at"]),
        last_error=row["last_error"], last_error_at=from_ts(row["last_error_at"]),
        consecutive_failures=row["consecutive_failures"], last_result=row["last_result"],
    )


class PgFeeds(PgBase):
    async def channel_feed_ids(self, *, platform: str, channel_id: str) -> list[int]:
        rows = await self._fetch(
            "SELECT feed_id FROM channel_feeds WHERE platform = $1 AND channel_id = $2"
            " ORDER BY feed_id", platform, channel_id)
        return [int(r[0]) for r in rows]

    async def add_feed(self, url: str, *, now: datetime, next_poll_at: datetime,
                       title: str | None = None) -> tuple[Feed, bool]:
        async with self.transaction() as conn:
            row = await conn.fetchrow(
                "INSERT INTO feeds (url, title, added_at, next_poll_at) VALUES ($1, $2, $3, $4)"
                f" ON CONFLICT (url) DO NOTHING RETURNING {FEED_COLUMNS}",
                url, title, ts(now), ts(next_poll_at))
            created = row is not None
            if row is None:
                row = await conn.fetchrow(f"SELECT {FEED_COLUMNS} FROM feeds WHERE url = $1",
                                          url)
        assert row is not None
        return feed_from_row(row), created

    async def link_channel_feed(self, *, platform: str, channel_id: str, feed_id: int) -> bool:
        """Let a channel follow a feed (lifting a mute); False if it already did."""
        async with self.transaction() as conn:
            await conn.execute(
                "DELETE FROM channel_feed_mutes WHERE platform = $1 AND channel_id = $2"
                " AND feed_id = $3", platform, channel_id, feed_id)
            status = await conn.execute(
                "INSERT INTO channel_feeds (platform, channel_id, feed_id) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING", platform, channel_id, feed_id)
        return affected(status) > 0

    async def mute_channel_feed(self, *, platform: str, channel_id: str, feed_id: int) -> bool:
        """A channel refuses a feed's articles (its digest, its channel alerts) and stops
        following it; False if it already refused them."""
        async with self.transaction() as conn:
            await conn.execute(
                "DELETE FROM channel_feeds WHERE platform = $1 AND channel_id = $2"
                " AND feed_id = $3", platform, channel_id, feed_id)
            status = await conn.execute(
                "INSERT INTO channel_feed_mutes (platform, channel_id, feed_id)"
                " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", platform, channel_id, feed_id)
        return affected(status) > 0

    async def channels_muting_feed(self, feed_id: int) -> frozenset[tuple[str, str]]:
        rows = await self._fetch(
            "SELECT platform, channel_id FROM channel_feed_mutes WHERE feed_id = $1", feed_id)
        return frozenset((str(r[0]), str(r[1])) for r in rows)

    async def channel_muted_feed_ids(self, *, platform: str, channel_id: str) -> list[int]:
        rows = await self._fetch(
            "SELECT feed_id FROM channel_feed_mutes WHERE platform = $1 AND channel_id = $2"
            " ORDER BY feed_id", platform, channel_id)
        return [int(r[0]) for r in rows]

    async def channels_feed_ids(self, channels: Sequence[tuple[str, str]]
                                ) -> dict[tuple[str, str], list[int]]:
        return await self._by_channel("channel_feeds", channels)

    async def channels_muted_feed_ids(self, channels: Sequence[tuple[str, str]]
                                      ) -> dict[tuple[str, str], list[int]]:
        return await self._by_channel("channel_feed_mutes", channels)

    async def _by_channel(self, table: str, channels: Sequence[tuple[str, str]]
                          ) -> dict[tuple[str, str], list[int]]:
        out: dict[tuple[str, str], list[int]] = {}
        if not channels:
            return out
        rows = await self._fetch(
            f"SELECT c.platform, c.channel_id, c.feed_id FROM {table} c"
            " JOIN unnest($1::text[], $2::text[]) AS k (platform, channel_id)"
            " ON c.platform = k.platform AND c.channel_id = k.channel_id"
            " ORDER BY c.platform, c.channel_id, c.feed_id",
            [c[0] for c in channels], [c[1] for c in channels])
        for row in rows:
            out.setdefault((row[0], row[1]), []).append(int(row[2]))
        return out

    async def unlink_channel_feed(self, *, platform: str, channel_id: str,
                                  feed_id: int) -> bool:
        status = await self._execute(
            "DELETE FROM channel_feeds WHERE platform = $1 AND channel_id = $2"
            " AND feed_id = $3", platform, channel_id, feed_id)
        return affected(status) > 0

    async def feed_follower_count(self, feed_id: int) -> int:
        return int(await self._fetchval(
            "SELECT count(*) FROM channel_feeds WHERE feed_id = $1", feed_id))

    async def get_feed(self, feed_id: int) -> Feed | None:
        row = await self._fetchrow(f"SELECT {FEED_COLUMNS} FROM feeds WHERE id = $1", feed_id)
        return None if row is None else feed_from_row(row)

    async def find_feed(self, url: str) -> Feed | None:
        row = await self._fetchrow(f"SELECT {FEED_COLUMNS} FROM feeds WHERE url = $1", url)
        return None if row is None else feed_from_row(row)

    async def list_feeds(self) -> list[Feed]:
        return [feed_from_row(r) for r in
                await self._fetch(f"SELECT {FEED_COLUMNS} FROM feeds ORDER BY id")]

    async def remove_feed(self, feed_id: int) -> bool:
        return affected(await self._execute("DELETE FROM feeds WHERE id = $1", feed_id)) > 0

    async def claim_due_feeds(self, *, now: datetime, lease_until: datetime,
                              limit: int = 10_000, all_feeds: bool = False) -> list[Feed]:
        """Feeds due at ``now`` (every unclaimed feed with ``all_feeds``), leased until
        ``lease_until``; the feeds as they were before the claim."""
        prefixed = ", ".join("d." + c.strip() for c in FEED_COLUMNS.split(","))
        rows = await self._fetch(
            f"WITH due AS (SELECT {FEED_COLUMNS} FROM feeds"
            " WHERE $1::boolean OR next_poll_at <= $2"
            " ORDER BY next_poll_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),"
            " claimed AS (UPDATE feeds f SET next_poll_at = $4 FROM due WHERE f.id = due.id)"
            f" SELECT {prefixed} FROM due d ORDER BY d.next_poll_at, d.id",
            all_feeds, ts(now), limit, ts(lease_until))
        return [feed_from_row(r) for r in rows]

    async def release_feed_claims(self, feed_ids: Sequence[int], *, lease_until: datetime,
                                  now: datetime) -> int:
        if not feed_ids:
            return 0
        return affected(await self._execute(
            "UPDATE feeds SET next_poll_at = $1 WHERE id = ANY($2::bigint[])"
            " AND next_poll_at = $3", ts(now), list(feed_ids), ts(lease_until)))

    async def next_feed_poll_at(self) -> datetime | None:
        return from_ts(await self._fetchval("SELECT min(next_poll_at) FROM feeds"))

    async def record_feed_success(
        self, feed_id: int, *, now: datetime, next_poll_at: datetime, etag: str | None,
        last_modified: str | None, body_hash: str | None, result: str,
        title: str | None = None, site_url: str | None = None, primed: bool = True,
    ) -> None:
        await self._execute(
            "UPDATE feeds SET etag = $1, last_modified = $2, body_hash = $3, next_poll_at = $4,"
            " last_polled_at = $5, last_success_at = $5, consecutive_failures = 0,"
            " last_result = $6, title = coalesce($7, title), site_url = coalesce($8, site_url),"
            " primed = primed OR $9 WHERE id = $10",
            etag, last_modified, body_hash, ts(next_poll_at), ts(now), result, title, site_url,
            primed, feed_id)

    async def record_feed_failure(self, feed_id: int, *, now: datetime, error: str,
                                  next_poll_at: datetime) -> None:
        await self._execute(
            "UPDATE feeds SET next_poll_at = $1, last_polled_at = $2, last_error = $3,"
            " last_error_at = $2, consecutive_failures = consecutive_failures + 1,"
            " last_result = 'error' WHERE id = $4",
            ts(next_poll_at), ts(now), error, feed_id)

    async def seen_feed_items(self, feed_id: int, *, keys: Sequence[str],
                              guids: Sequence[str]) -> dict[str, SeenItem]:
        rows = await self._fetch(
            "SELECT item_key, guid, status, attempts, article_id FROM feed_items"
            " WHERE feed_id = $1 AND (item_key = ANY($2::text[]) OR guid = ANY($3::text[]))",
            feed_id, list(keys), list(guids))
        seen: dict[str, SeenItem] = {}
        for r in rows:
            item = SeenItem(status=r["status"], attempts=r["attempts"],
                            article_id=r["article_id"])
            seen[r["item_key"]] = item
            if r["guid"]:
                seen.setdefault("guid:" + r["guid"], item)
        return seen

    async def record_feed_item(
        self, feed_id: int, *, key: str, guid: str | None, link: str | None, status: str,
        now: datetime, article_id: int | None = None, note: str | None = None,
    ) -> None:
        await self._execute(
            "INSERT INTO feed_items (feed_id, item_key, guid, link, article_id, status,"
            " attempts, note, first_seen_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)"
            " ON CONFLICT (feed_id, item_key) DO UPDATE SET status = excluded.status,"
            " article_id = coalesce(excluded.article_id, feed_items.article_id),"
            " attempts = feed_items.attempts + 1, note = excluded.note",
            feed_id, key, guid, link, article_id, status, note, ts(now))

    async def record_backlog_items(self, feed_id: int, items: Sequence[tuple[str, str | None,
                                                                           str | None]], *,
                                   now: datetime, note: str) -> None:
        async with self.transaction() as conn:
            await conn.executemany(
                "INSERT INTO feed_items (feed_id, item_key, guid, link, status, attempts, note,"
                " first_seen_at) VALUES ($1, $2, $3, $4, 'backlog', 1, $5, $6)"
                " ON CONFLICT (feed_id, item_key) DO NOTHING",
                [(feed_id, key, guid, link, note, ts(now)) for key, guid, link in items])

    async def feed_item_counts(self) -> dict[int, dict[str, int]]:
        """Items per feed and status (kept by triggers on feed_items, PG migration 0008: one
        row per feed and status, however many items were ever seen)."""
        rows = await self._fetch(
            "SELECT feed_id, status, n FROM feed_item_counts WHERE n > 0")
        counts: dict[int, dict[str, int]] = {}
        for feed_id, status, n in rows:
            counts.setdefault(int(feed_id), {})[str(status)] = int(n)
        return counts

    async def prune_feed_items(self, *, before: datetime, limit: int) -> int:
        """Forget up to ``limit`` items first seen before ``before``."""
        return affected(await self._execute(  # the batch chosen once (prune_articles)
            "WITH doomed AS MATERIALIZED (SELECT feed_id, item_key FROM feed_items"
            " WHERE first_seen_at < $1 ORDER BY first_seen_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " DELETE FROM feed_items i USING doomed"
            " WHERE i.feed_id = doomed.feed_id AND i.item_key = doomed.item_key",
            ts(before), limit))
