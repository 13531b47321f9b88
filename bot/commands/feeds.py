"""The intake verbs: ``/brief <link>`` and ``/brief feeds [add <url> | remove <id|url>]``.

Feed titles, URLs and errors come from strangers' servers: they go out as :class:`Item`
fields (which adapters escape), never in ``Reply.text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from bot.clock import Clock
from bot.commands.router import Commands, Context
from bot.config import FeedsConfig
from bot.errors import UserError
from bot.ingest import following
from bot.ingest.poller import FeedPoller
from bot.ingest.urls import canonical_url, unwrap_link
from bot.models import Item, Reply
from bot.render import to_item
from bot.store.ports import Feed, FeedStore

_FEEDS_USAGE = "/brief feeds [add <url> | remove <id|url>]"


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        span = f"{seconds:.0f} s"
    elif seconds < 5400:
        span = f"{seconds / 60:.0f} min"
    elif seconds < 172_800:
        span = f"{seconds / 3600:.0f} h"
    else:
        span = f"{seconds / 86_400:.0f} days"
    return f"in {span}" if future else f"{span} ago"


def feed_item(feed: Feed, now: datetime, *, counts: dict[str, int] | None = None,
              removed: bool = False) -> Item:
    """A feed and its health as an Item (its strings come from the feed: adapters escape).
    ``removed``: no "Next poll" (there is none)."""
    partly = bool(feed.last_result and "malformed XML" in feed.last_result)
    if partly and not feed.consecutive_failures:
        # a feed cut short or broken: the items before the break were read, not the rest
        lines = [f"Last poll: {_ago(feed.last_success_at, now)}, read only in part "
                 f"({feed.last_result})"]
    else:
        lines = [f"Last success: {_ago(feed.last_success_at, now)}"
                 + (f" ({feed.last_result})" if feed.last_result
                    and not feed.consecutive_failures else "")]
    if feed.consecutive_failures:
        polls = "poll" if feed.consecutive_failures == 1 else "polls"
        lines.append(f"Failing: {feed.consecutive_failures} {polls} in a row; last error "
                     f"{_ago(feed.last_error_at, now)}: {feed.last_error}")
    elif feed.last_error:
        lines.append(f"Last error ({_ago(feed.last_error_at, now)}): {feed.last_error}")
    if not removed:
        lines.append(f"Next poll: {_ago(max(feed.next_poll_at, now), now)}"
                     if feed.next_poll_at > now else "Next poll: now")
    if counts:
        stored = counts.get("stored", 0)
        lines.append(f"Items: {stored} stored"
                     + "".join(f", {n} {k}" for k, n in sorted(counts.items())
                               if k != "stored" and n))
    return Item(
        title=f"#{feed.id} {feed.title or feed.url}",
        url=feed.url,
        summary=tuple(lines),
        note="failing" if feed.consecutive_failures else "",
    )


@dataclass(frozen=True, slots=True)
class FeedDesk:
    """What the feed verbs use: the poller (its fetcher's bounds hold for the whole process),
    the feeds repository, ``[feeds]`` and the clock."""

    poller: FeedPoller
    feeds: FeedStore
    settings: FeedsConfig
    clock: Clock


def _config_feed_urls(settings: FeedsConfig) -> set[str]:
    urls = set()
    for url in settings.urls:
        try:
            urls.add(canonical_url(url))
        except ValueError:
            continue
    return urls


def register(commands: Commands, *, desk: FeedDesk) -> None:
    """``/brief <link>`` and ``/brief feeds``."""
    commands.add_fallback("link", partial(brief_link, desk))
    commands.add_verb("feeds", partial(feeds_verb, desk), usage=_FEEDS_USAGE,
                      summary="list feeds with their health; add or remove one")


async def brief_link(desk: FeedDesk, ctx: Context, args: str) -> Reply:
    url = unwrap_link(args)
    async with desk.poller.intake() as intake:
        brief = await intake.brief_link(url)
    a = brief.article
    text = (f"Already stored as article #{a.id}." if brief.known
            else f"Fetched, summarised and stored as article #{a.id}.")
    return ctx.answer(text, items=(to_item(a),))


async def feeds_verb(desk: FeedDesk, ctx: Context, args: str) -> Reply:
    sub, _, rest = args.partition(" ")
    sub, rest = sub.lower(), rest.strip()
    if sub in ("", "list"):
        return await _list(desk, ctx)
    if sub == "add":
        return await _add(desk, ctx, rest)
    if sub in ("remove", "rm", "delete"):
        return await _remove(desk, ctx, rest)
    raise UserError(f"Usage: `{_FEEDS_USAGE}`.")


async def _list(desk: FeedDesk, ctx: Context) -> Reply:
    feeds = await desk.feeds.list_feeds()
    if not feeds:
        return ctx.answer("No feeds yet. Add one with `/brief feeds add <url>`.")
    now = desk.clock()
    counts = await desk.feeds.feed_item_counts()
    failing = sum(1 for f in feeds if f.consecutive_failures)
    n = len(feeds)
    text = f"{n} feed{'s' if n != 1 else ''}" + (f", {failing} failing" if failing else "")
    minutes = desk.settings.poll_interval_minutes
    text += f"; each is polled every {minutes:g} minutes (failing feeds less often)."
    channel = ctx.caller.channel
    if channel is not None and channel.channel_id is not None:
        followed = await desk.feeds.channel_feed_ids(
            platform=channel.platform, channel_id=channel.channel_id
        )
        if followed:
            text += (" This channel follows " + ", ".join(f"#{i}" for i in followed)
                     + ": its digest shows only their articles.")
        muted = await desk.feeds.channel_muted_feed_ids(
            platform=channel.platform, channel_id=channel.channel_id)
        if muted:
            text += (" This channel receives no articles of "
                     + ", ".join(f"#{i}" for i in muted) + " (removed here).")
    return ctx.answer(text, items=tuple(feed_item(f, now, counts=counts.get(f.id))
                                        for f in feeds))


async def _add(desk: FeedDesk, ctx: Context, url: str) -> Reply:
    added = await following.add_feed(desk.poller, ctx.caller, url)
    feed = added.feed
    now = desk.clock()
    where = " and linked to this channel" if added.linked else ""
    if not added.created:
        text = (f"Already following feed #{feed.id}: nothing added"
                + ("; this channel follows it now." if added.linked else "."))
    else:
        backlog = added.report.backlog if added.report else 0
        text = (f"Added feed #{feed.id}{where}: {backlog} current "
                f"item{'s' if backlog != 1 else ''} stored as backlog, without alerts and "
                "outside digests (digests and alerts show what comes in from now on). New "
                f"items are taken in every {desk.settings.poll_interval_minutes:g} "
                "minutes.")
    return ctx.answer(text, items=(feed_item(feed, now),))


async def _remove(desk: FeedDesk, ctx: Context, ref: str) -> Reply:
    removal = await following.remove_feed(desk.feeds, ctx.caller, ref)
    feed = removal.feed
    if not removal.deleted:
        others = removal.others
        s_, verb_ = ("s", "") if others != 1 else ("", "s")
        was = ("no longer follows feed" if removal.unlinked
               else "no longer receives articles of feed")
        return ctx.answer(
            f"This channel {was} #{feed.id}: none of its articles reach this channel's "
            f"digest or alerts. {others} other channel{s_} still follow{verb_} it, so it is "
            "still polled. `/brief feeds add <its url>` here follows it again.",
            items=(feed_item(feed, desk.clock()),),
        )
    text = f"Removed feed #{feed.id}; its articles stay stored. It is not polled any more."
    if feed.url in _config_feed_urls(desk.settings):
        text += (" It is listed in the config file ([feeds] urls) and comes back at the next "
                 "start unless you remove it there too.")
    return ctx.answer(text, items=(feed_item(feed, desk.clock(), removed=True),))
