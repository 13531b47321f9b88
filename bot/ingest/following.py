"""Which channel follows which feed, as a chat channel changes it: the rules of adding and
removing a feed from a channel (the ``/brief feeds`` verbs only parse and render).

Feeds are shared: a feed is polled once for everyone, and every channel that follows it gets
its articles. So in a chat channel, removing a feed means "this channel stops following it";
the feed itself is deleted only when no other channel follows it. The console (the operator at
the terminal) deletes it outright.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import UserError
from bot.ingest.intake import AddedFeed, find_feed
from bot.ingest.poller import FeedPoller
from bot.ingest.urls import unwrap_link
from bot.models import Caller
from bot.permissions import require_shared_admin
from bot.store.ports import Feed, FeedStore


@dataclass(frozen=True, slots=True)
class FeedRemoval:
    feed: Feed
    deleted: bool    # the feed is gone: not polled any more (its articles stay)
    unlinked: bool   # this channel had chosen the feed (it was linked here)
    others: int      # channels that still follow it (when not deleted)


async def add_feed(poller: FeedPoller, caller: Caller, url: str) -> AddedFeed:
    """Add the feed at ``url`` (a shared change: an admin, not from a DM) and let the caller's
    channel follow it; fetched through ``poller``'s fetcher."""
    require_shared_admin(caller, "add feeds")
    url = unwrap_link(url)
    if not url:
        raise UserError("Add which feed? Try `/brief feeds add https://example.com/feed.xml`.")
    async with poller.intake() as intake:
        return await intake.add_feed(url, channel=caller.channel)


async def remove_feed(feeds: FeedStore, caller: Caller, ref: str) -> FeedRemoval:
    """Remove feed ``ref`` (``#id``, id or URL) for ``caller``: this channel stops following it
    and receiving its articles, and the feed is deleted once nobody follows it."""
    require_shared_admin(caller, "remove feeds")
    if not ref:
        raise UserError("Remove which feed? Give its number or URL (see `/brief feeds`).")
    feed = await find_feed(feeds, ref)
    if feed is None:
        raise UserError("There is no such feed. `/brief feeds` lists them with their numbers.")
    channel = caller.channel
    if channel is not None and channel.platform != "console":
        assert channel.channel_id is not None
        unlinked = await feeds.unlink_channel_feed(
            platform=channel.platform, channel_id=channel.channel_id, feed_id=feed.id)
        others = await feeds.feed_follower_count(feed.id)
        if others:
            # Other channels chose this feed: it stays for them. This channel's admin still
            # stops its articles reaching here (digest and channel alerts), wherever it was
            # added: an admin can always stop what is delivered into their channel.
            await feeds.mute_channel_feed(
                platform=channel.platform, channel_id=channel.channel_id, feed_id=feed.id)
            return FeedRemoval(feed, deleted=False, unlinked=unlinked, others=others)
    await feeds.remove_feed(feed.id)
    return FeedRemoval(feed, deleted=True, unlinked=False, others=0)
