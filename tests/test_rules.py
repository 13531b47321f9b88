"""The business rules the /brief verbs used to hold, tested where they live now: whose
subscription is whose (bot.alerts.subscriptions), what removing a feed from a channel means
(bot.ingest.following), who may change a channel's digest (bot.digests.settings), who may
change what (bot.permissions). No grammar involved."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.alerts import subscriptions
from bot.alerts.query import compile_query
from bot.digests import settings
from bot.digests.rules import DailyTime
from bot.engine import BriefingEngine
from bot.errors import PermissionDenied, UserError
from bot.ingest import following
from bot.models import Caller
from bot.permissions import require_shared_admin

ANN = Caller(platform="slack", user_id="UANN", channel_id="C1")
BOB = Caller(platform="slack", user_id="UBOB", channel_id="C1")
ADMIN = Caller(platform="slack", user_id="UADM", channel_id="C1", is_admin=True)
OTHER_ADMIN = Caller(platform="slack", user_id="UADM2", channel_id="C2", is_admin=True)


async def test_only_the_owner_or_a_channel_admin_changes_a_subscription(
        engine: BriefingEngine) -> None:
    alerts, now = engine.store.alerts, engine.clock()
    mine = (await subscriptions.subscribe(alerts, ANN, "user", compile_query("rocket"),
                                          language="english", now=now, limit=5)).subscription
    with pytest.raises(PermissionDenied):  # a member may not add a channel subscription
        await subscriptions.subscribe(alerts, BOB, "channel", compile_query("moon"),
                                      language="english", now=now, limit=5)
    ours = (await subscriptions.subscribe(alerts, ADMIN, "channel", compile_query("moon"),
                                          language="english", now=now, limit=5)).subscription
    # someone else's is answered as if it did not exist, whoever asks
    for caller in (BOB, ADMIN):
        with pytest.raises(UserError, match=f"no subscription #{mine.id}"):
            await subscriptions.unsubscribe(alerts, caller, mine.id)
    with pytest.raises(PermissionDenied):  # the channel's: its members see it, admins change it
        await subscriptions.unsubscribe(alerts, BOB, ours.id)
    with pytest.raises(UserError, match=f"no subscription #{ours.id}"):  # another channel
        await subscriptions.resume(alerts, OTHER_ADMIN, ours.id)
    assert await subscriptions.resume(alerts, ANN, mine.id) == []  # not paused
    assert (await subscriptions.unsubscribe(alerts, ADMIN, ours.id)).id == ours.id
    assert (await subscriptions.unsubscribe(alerts, ANN, mine.id)).id == mine.id
    assert await alerts.get_subscription(mine.id) is None


async def test_removing_a_followed_feed_in_a_channel_only_stops_it_there(
        engine: BriefingEngine) -> None:
    feeds, now = engine.store.feeds, engine.clock()
    feed, _ = await feeds.add_feed("https://example.com/feed.xml", now=now,
                                   next_poll_at=now + timedelta(hours=1))
    for channel in ("C1", "C2"):
        await feeds.link_channel_feed(platform="slack", channel_id=channel, feed_id=feed.id)
    with pytest.raises(PermissionDenied):
        await following.remove_feed(feeds, BOB, str(feed.id))
    removal = await following.remove_feed(feeds, ADMIN, f"#{feed.id}")
    assert (removal.deleted, removal.unlinked, removal.others) == (False, True, 1)
    assert await feeds.get_feed(feed.id) is not None  # C2 still follows it
    assert await feeds.channel_muted_feed_ids(platform="slack", channel_id="C1") == [feed.id]
    removal = await following.remove_feed(feeds, OTHER_ADMIN, feed.url)  # the last follower
    assert removal.deleted and await feeds.get_feed(feed.id) is None
    with pytest.raises(UserError, match="no such feed"):
        await following.remove_feed(feeds, ADMIN, str(feed.id))


def test_shared_things_are_not_changed_from_a_direct_message() -> None:
    dm_admin = Caller(platform="slack", user_id="UADM", channel_id="D1", is_admin=True,
                      in_dm=True)
    with pytest.raises(PermissionDenied, match="direct message"):
        require_shared_admin(dm_admin, "add feeds")
    require_shared_admin(ADMIN, "add feeds")


async def test_a_channel_digest_is_an_admins_call(engine: BriefingEngine) -> None:
    digests, now = engine.store.digests, engine.clock()
    rule = DailyTime(hour=8, minute=30, timezone="Europe/Berlin")
    with pytest.raises(PermissionDenied):
        await settings.set_digest(digests, BOB, rule, now=now)
    with pytest.raises(UserError, match="in a channel"):
        await settings.set_digest(digests, Caller(platform="slack", user_id="UADM",
                                                  is_admin=True), rule, now=now)
    assert not await settings.stop_digest(digests, ADMIN, now=now)  # none yet
    first = await settings.set_digest(digests, ADMIN, rule, now=now)
    assert first.due_at > now
    assert await digests.get_digest_schedule(platform="slack", channel_id="C1") is not None
    with pytest.raises(PermissionDenied):
        await settings.stop_digest(digests, BOB, now=now)
    assert await settings.stop_digest(digests, ADMIN, now=now)
    assert settings.may_post_now(ADMIN) and not settings.may_post_now(BOB)
