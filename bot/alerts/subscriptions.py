"""Whose subscription is whose, as a chat user changes them: the rules of subscribing,
unsubscribing and resuming (the ``/brief`` alert verbs only parse and render).

A user subscription belongs to the person (alerts by direct message); a channel subscription
belongs to the channel and posts for everyone in it, so adding, removing or resuming one needs
an admin of that channel. Someone else's subscription is answered exactly like a missing one
(its number says nothing about who has it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.alerts.query import CompiledQuery
from bot.errors import UserError
from bot.models import Caller
from bot.permissions import require_admin, require_channel
from bot.store.ports import AddStatus, AlertStore, OwnerKind, Subscription


@dataclass(frozen=True, slots=True)
class Subscribed:
    status: AddStatus          # "added", "duplicate", "resumed" ("limit" is refused)
    subscription: Subscription
    paused: tuple[Subscription, ...]  # the owner's other subscriptions that are paused


async def subscribe(alerts: AlertStore, caller: Caller, kind: OwnerKind,
                    query: CompiledQuery, *, language: str, now: datetime,
                    limit: int) -> Subscribed:
    """Subscribe the caller (``"user"``) or their channel (``"channel"``: an admin's call) to
    ``query``; at most ``limit`` subscriptions an owner."""
    owner = caller.user_id
    if kind == "channel":
        owner = require_channel(caller, "add channel alerts")
        require_admin(caller, "add alerts to this channel")
    status, sub = await alerts.add_subscription(
        platform=caller.platform, owner_kind=kind, owner_id=owner, created_by=caller.user_id,
        query=query.text, query_key=query.key, language=language, now=now, limit=limit)
    if status == "limit":
        whose = "You have" if kind == "user" else "This channel has"
        raise UserError(f"{whose} {limit} subscriptions, the most allowed: remove one with "
                        "`/brief unsubscribe <id>` (`/brief alerts` lists them).")
    assert sub is not None
    paused: tuple[Subscription, ...] = ()
    if status == "added":
        paused = tuple(s for s in await alerts.subscriptions_of(
            platform=caller.platform, owner_kind=kind, owner_id=owner) if s.paused)
    return Subscribed(status, sub, paused)


async def owned_subscription(alerts: AlertStore, caller: Caller, sub_id: int, *,
                             action: str) -> Subscription:
    """Subscription #``sub_id`` if it is the caller's, or their channel's and they may
    ``action`` it (an admin); else the same UserError as for a number that does not exist."""
    sub = await alerts.get_subscription(sub_id)
    if sub is None or sub.platform != caller.platform or sub.owner_id != (
            caller.user_id if sub.owner_kind == "user" else caller.channel_id):
        raise UserError(f"You have no subscription #{sub_id}. `/brief alerts` lists yours.")
    if sub.owner_kind == "channel":
        require_admin(caller, f"{action} this channel's alerts")
    return sub


async def unsubscribe(alerts: AlertStore, caller: Caller, sub_id: int) -> Subscription:
    """Delete the caller's (or, for an admin, their channel's) subscription #``sub_id``."""
    sub = await owned_subscription(alerts, caller, sub_id, action="remove")
    await alerts.delete_subscription(sub_id)
    return sub


async def resume(alerts: AlertStore, caller: Caller, sub_id: int | None = None) -> list[int]:
    """Resume paused subscriptions: #``sub_id`` (the caller's or their channel's), else all
    the caller's own and, for an admin, this channel's. The ids resumed ([] if none was
    paused)."""
    platform = caller.platform
    if sub_id is not None:
        sub = await owned_subscription(alerts, caller, sub_id, action="resume")
        if not sub.paused:
            return []
        return await alerts.resume_subscriptions(
            platform=platform, owner_kind=sub.owner_kind, owner_id=sub.owner_id,
            subscription_id=sub_id)
    resumed = await alerts.resume_subscriptions(platform=platform, owner_kind="user",
                                                owner_id=caller.user_id)
    if caller.channel_id is not None and caller.is_admin:
        resumed += await alerts.resume_subscriptions(
            platform=platform, owner_kind="channel", owner_id=caller.channel_id)
    return resumed
