"""The feeds repository: every statement on ``feeds``, ``channel_feeds``, ``channel_feed_mutes``
and ``feed_items``.

Feeds with their health, the channels that follow them, the items seen. Polling is claimed
atomically (:meth:`SQLiteFeeds.claim_due_feeds` moves ``next_poll_at`` out to a lease in the
same transaction that selects the feed), so two bot processes never poll one feed at once;
items are recorded under ``PRIMARY KEY (feed_id, item_key)``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from bot.store.records import Feed, SeenItem
from bot.store.sqlite.db import Database, from_ts, marks, to_ts, ts

_FEED_COLUMNS = (
    "id, url, title, added_at, site_url, etag, last_modified, body_hash, primed, next_poll_at,"
    " last_polled_at, last_success_at, last_error, last_error_at, consecutive_failures,"
    " last_result"
)


def feed_from_row(row: sqlite3.Row) -> Feed:
    return Feed(
        id=row["id"], url=row["url"], title=row["title"], added_at=ts(row["added_at"]),
        site_url=row["site_url"], etag=row["etag"], last_modified=row["last_modified"],
        body_hash=row["body_hash"],
        primed=bool(row["primed"]), next_poll_at=ts(row["next_poll_at"]),
        last_polled_at=from_ts(row["last_polled_at"]),
        last_success_at=from_ts(row["last_success_at"]),
        last_error=row["last_error"], last_error_at=from_ts(row["last_error_at"]),
        consecutive_failures=row["consecutive_failures"], last_result=row["last_result"],
    )


class SQLiteFeeds:
    """:class:`bot.store.ports.FeedStore` on SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def channel_feed_ids(self, *, platform: str, channel_id: str) -> list[int]:
        """Ids of the feeds this channel follows (empty: the channel follows all articles)."""
        rows = await self._db.fetchall(
            "SELECT feed_id FROM channel_feeds WHERE platform = ? AND channel_id = ?"
            " ORDER BY feed_id",
            (platform, channel_id),
        )
        return [int(r[0]) for r in rows]

    # -- feeds ----------------------------------------------------------------------------

    async def add_feed(self, url: str, *, now: datetime, next_poll_at: datetime,
                       title: str | None = None) -> tuple[Feed, bool]:
        """The feed for ``url``, created if new; (feed, created)."""
        async with self._db.transaction() as db:
            async with db.execute(
                "INSERT INTO feeds (url, title, added_at, next_poll_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (url) DO NOTHING RETURNING " + _FEED_COLUMNS,
                (url, title, to_ts(now), to_ts(next_poll_at)),
            ) as cur:
                row = await cur.fetchone()
            created = row is not None
            if row is None:
                async with db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url = ?",
                                      (url,)) as cur:
                    row = await cur.fetchone()
        assert row is not None
        return feed_from_row(row), created

    async def link_channel_feed(self, *, platform: str, channel_id: str, feed_id: int) -> bool:
        """Let a channel follow a feed (lifting a mute); False if it already did."""
        async with self._db.transaction() as db:
            await db.execute(
                "DELETE FROM channel_feed_mutes WHERE platform = ? AND channel_id = ?"
                " AND feed_id = ?", (platform, channel_id, feed_id))
            async with db.execute(
                "INSERT INTO channel_feeds (platform, channel_id, feed_id) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING", (platform, channel_id, feed_id),
            ) as cur:
                return cur.rowcount > 0

    async def mute_channel_feed(self, *, platform: str, channel_id: str, feed_id: int) -> bool:
        """A channel refuses a feed's articles (its digest, its channel alerts) and stops
        following it; False if it already refused them."""
        async with self._db.transaction() as db:
            await db.execute(
                "DELETE FROM channel_feeds WHERE platform = ? AND channel_id = ? AND feed_id = ?",
                (platform, channel_id, feed_id))
            async with db.execute(
                "INSERT INTO channel_feed_mutes (platform, channel_id, feed_id) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING", (platform, channel_id, feed_id),
            ) as cur:
                return cur.rowcount > 0

    async def channels_muting_feed(self, feed_id: int) -> frozenset[tuple[str, str]]:
        """(platform, channel id) of every channel that refuses this feed's articles."""
        rows = await self._db.fetchall(
            "SELECT platform, channel_id FROM channel_feed_mutes WHERE feed_id = ?", (feed_id,))
        return frozenset((str(r[0]), str(r[1])) for r in rows)

    async def channel_muted_feed_ids(self, *, platform: str, channel_id: str) -> list[int]:
        """Ids of the feeds whose articles this channel refuses."""
        rows = await self._db.fetchall(
            "SELECT feed_id FROM channel_feed_mutes WHERE platform = ? AND channel_id = ?"
            " ORDER BY feed_id", (platform, channel_id))
        return [int(r[0]) for r in rows]

    async def channels_feed_ids(self, channels: Sequence[tuple[str, str]]
                                ) -> dict[tuple[str, str], list[int]]:
        return await self._by_channel("channel_feeds", channels)

    async def channels_muted_feed_ids(self, channels: Sequence[tuple[str, str]]
                                      ) -> dict[tuple[str, str], list[int]]:
        return await self._by_channel("channel_feed_mutes", channels)

    async def _by_channel(self, table: str, channels: Sequence[tuple[str, str]]
                          ) -> dict[tuple[str, str], list[int]]:
        """Feed ids of ``table`` (channel_feeds or channel_feed_mutes) per channel, one read:
        the channels go in as one JSON array of [platform, channel id] pairs."""
        out: dict[tuple[str, str], list[int]] = {}
        if not channels:
            return out
        rows = await self._db.fetchall(
            f"SELECT c.platform, c.channel_id, c.feed_id FROM json_each(?) k JOIN {table} c"
            " ON c.platform = json_extract(k.value, '$[0]')"
            " AND c.channel_id = json_extract(k.value, '$[1]')"
            " ORDER BY c.platform, c.channel_id, c.feed_id",
            (json.dumps([list(c) for c in channels]),))
        for platform, channel_id, feed_id in rows:
            out.setdefault((platform, channel_id), []).append(int(feed_id))
        return out

    async def unlink_channel_feed(self, *, platform: str, channel_id: str,
                                  feed_id: int) -> bool:
        """Stop a channel following a feed; False if it did not."""
        async with self._db.transaction() as db, db.execute(
            "DELETE FROM channel_feeds WHERE platform = ? AND channel_id = ? AND feed_id = ?",
            (platform, channel_id, feed_id),
        ) as cur:
            return cur.rowcount > 0

    async def feed_follower_count(self, feed_id: int) -> int:
        """How many channels follow a feed."""
        row = await self._db.fetchone(
            "SELECT count(*) FROM channel_feeds WHERE feed_id = ?", (feed_id,)
        )
        return int(row[0]) if row else 0

    async def get_feed(self, feed_id: int) -> Feed | None:
        row = await self._db.fetchone(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE id = ?", (feed_id,))
        return None if row is None else feed_from_row(row)

    async def find_feed(self, url: str) -> Feed | None:
        row = await self._db.fetchone(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url = ?", (url,))
        return None if row is None else feed_from_row(row)

    async def list_feeds(self) -> list[Feed]:
        rows = await self._db.fetchall(f"SELECT {_FEED_COLUMNS} FROM feeds ORDER BY id")
        return [feed_from_row(r) for r in rows]

    async def remove_feed(self, feed_id: int) -> bool:
        """Stop polling a feed (its articles stay); False if there was no such feed."""
        async with self._db.transaction() as db, db.execute(
            "DELETE FROM feeds WHERE id = ?", (feed_id,)
        ) as cur:
            return cur.rowcount > 0

    async def claim_due_feeds(self, *, now: datetime, lease_until: datetime,
                              limit: int = 10_000, all_feeds: bool = False) -> list[Feed]:
        """Feeds due at ``now`` (every feed with ``all_feeds``), claimed until ``lease_until``.

        The claim is the move of ``next_poll_at`` to the lease, in one transaction: another
        process sees the feed as not due. A process that dies mid-poll loses the claim when
        the lease runs out.
        """
        where = "1" if all_feeds else "next_poll_at <= ?"
        params: list[object] = [] if all_feeds else [to_ts(now)]
        async with self._db.transaction() as db:
            async with db.execute(
                f"SELECT {_FEED_COLUMNS} FROM feeds WHERE {where}"
                " ORDER BY next_poll_at, id LIMIT ?", (*params, limit),
            ) as cur:
                rows = list(await cur.fetchall())
            if rows:
                ids = [r["id"] for r in rows]
                await db.execute(
                    f"UPDATE feeds SET next_poll_at = ? WHERE id IN ({marks(len(ids))})",
                    (to_ts(lease_until), *ids),
                )
        return [feed_from_row(r) for r in rows]

    async def release_feed_claims(self, feed_ids: Sequence[int], *, lease_until: datetime,
                                  now: datetime) -> int:
        if not feed_ids:
            return 0
        async with self._db.transaction() as db, db.execute(
            "UPDATE feeds SET next_poll_at = ?"
            f" WHERE id IN ({marks(len(feed_ids))}) AND next_poll_at = ?",
            (to_ts(now), *feed_ids, to_ts(lease_until)),
        ) as cur:
            return max(cur.rowcount, 0)

    async def next_feed_poll_at(self) -> datetime | None:
        row = await self._db.fetchone("SELECT min(next_poll_at) FROM feeds")
        return None if row is None else from_ts(row[0])

    async def record_feed_success(
        self, feed_id: int, *, now: datetime, next_poll_at: datetime, etag: str | None,
        last_modified: str | None, body_hash: str | None, result: str,
        title: str | None = None, site_url: str | None = None, primed: bool = True,
    ) -> None:
        """A poll worked: store the validators for the next conditional GET, reset failures."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, body_hash = ?, next_poll_at = ?,"
                " last_polled_at = ?, last_success_at = ?, consecutive_failures = 0,"
                " last_result = ?, title = coalesce(?, title), site_url = coalesce(?, site_url),"
                " primed = max(primed, ?) WHERE id = ?",
                (etag, last_modified, body_hash, to_ts(next_poll_at), to_ts(now), to_ts(now),
                 result, title, site_url, int(primed), feed_id),
            )

    async def record_feed_failure(self, feed_id: int, *, now: datetime, error: str,
                                  next_poll_at: datetime) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE feeds SET next_poll_at = ?, last_polled_at = ?, last_error = ?,"
                " last_error_at = ?, consecutive_failures = consecutive_failures + 1,"
                " last_result = ? WHERE id = ?",
                (to_ts(next_poll_at), to_ts(now), error, to_ts(now), "error", feed_id),
            )

    # -- items ----------------------------------------------------------------------------

    async def seen_feed_items(self, feed_id: int, *, keys: Sequence[str],
                              guids: Sequence[str]) -> dict[str, SeenItem]:
        """What the feed's items were recorded as, by key and by ``"guid:" + guid``."""
        seen: dict[str, SeenItem] = {}
        for start in range(0, max(len(keys), len(guids)), 400):
            key_part, guid_part = keys[start:start + 400], guids[start:start + 400]
            rows = await self._db.fetchall(
                "SELECT item_key, guid, status, attempts, article_id FROM feed_items"
                f" WHERE feed_id = ? AND (item_key IN ({marks(len(key_part))})"
                f" OR guid IN ({marks(len(guid_part))}))",
                (feed_id, *key_part, *guid_part),
            )
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
        """Record what became of an item; a pending item counts one more attempt."""
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO feed_items (feed_id, item_key, guid, link, article_id, status,"
                " attempts, note, first_seen_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (feed_id, item_key) DO UPDATE SET status = excluded.status,"
                " article_id = coalesce(excluded.article_id, article_id),"
                " attempts = attempts + 1, note = excluded.note",
                (feed_id, key, guid, link, article_id, status, note, to_ts(now)),
            )

    async def record_backlog_items(self, feed_id: int, items: Sequence[tuple[str, str | None,
                                                                           str | None]], *,
                                   now: datetime, note: str) -> None:
        """Remember many (key, guid, link) items as seen but not stored, in one transaction."""
        async with self._db.transaction() as db:
            await db.executemany(
                "INSERT INTO feed_items (feed_id, item_key, guid, link, status, attempts, note,"
                " first_seen_at) VALUES (?, ?, ?, ?, 'backlog', 1, ?, ?)"
                " ON CONFLICT (feed_id, item_key) DO NOTHING",
                [(feed_id, key, guid, link, note, to_ts(now)) for key, guid, link in items],
            )

    async def feed_item_counts(self) -> dict[int, dict[str, int]]:
        """Items per feed and status (kept by triggers on feed_items, migration 0011: one
        row per feed and status, however many items were ever seen)."""
        rows = await self._db.fetchall(
            "SELECT feed_id, status, n FROM feed_item_counts WHERE n > 0")
        counts: dict[int, dict[str, int]] = {}
        for feed_id, status, n in rows:
            counts.setdefault(int(feed_id), {})[str(status)] = int(n)
        return counts

    async def prune_feed_items(self, *, before: datetime, limit: int) -> int:
        """Forget up to ``limit`` items first seen before ``before``. An item still shown by
        its feed after that would be taken in again, so callers leave a margin beyond the
        articles' retention."""
        async with self._db.transaction() as db, db.execute(
            "DELETE FROM feed_items WHERE rowid IN (SELECT rowid FROM feed_items"
            " WHERE first_seen_at < ? ORDER BY first_seen_at LIMIT ?)",
            (to_ts(before), limit),
        ) as cur:
            return max(cur.rowcount, 0)
