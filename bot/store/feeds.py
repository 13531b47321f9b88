"""Feed queries. The intake feature owns this module and extends it."""

from __future__ import annotations

from bot.store.base import StoreBase


class FeedQueries(StoreBase):
    async def channel_feed_ids(self, *, platform: str, channel_id: str) -> list[int]:
        """Ids of the feeds this channel follows (empty: the channel follows all articles)."""
        rows = await self._fetchall(
            "SELECT feed_id FROM channel_feeds WHERE platform = ? AND channel_id = ?"
            " ORDER BY feed_id",
            (platform, channel_id),
        )
        return [int(r[0]) for r in rows]
