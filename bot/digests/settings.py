"""A channel's daily digest as a chat user changes it: who may (the ``/brief digest`` verb only
parses and renders).

A digest posts for everyone in the channel, so setting, stopping or posting one now is a
channel admin's call; a member who asks for one now gets a private preview that records
nothing (posting moves where the next scheduled digest starts).
"""

from __future__ import annotations

from datetime import datetime

from bot.digests.rules import DailyTime, Occurrence, next_occurrence
from bot.models import Caller
from bot.permissions import require_admin, require_channel
from bot.store.ports import DigestStore


def may_change(caller: Caller, action: str) -> str:
    """The caller's channel id if they may change its digest (``action`` names what they
    tried, for the refusal); PermissionDenied or UserError otherwise."""
    channel = require_channel(caller, action)
    require_admin(caller, "change this channel's digest")
    return channel


def may_post_now(caller: Caller) -> bool:
    """Whether ``/brief digest now`` posts (an admin) or previews privately (a member)."""
    return caller.is_admin


async def set_digest(digests: DigestStore, caller: Caller, rule: DailyTime, *,
                     now: datetime) -> Occurrence:
    """Set the caller's channel's digest to ``rule``; the first occurrence after ``now``."""
    channel = may_change(caller, "set a daily digest")
    first = next_occurrence(rule, after=now)
    await digests.set_digest_schedule(platform=caller.platform, channel_id=channel, rule=rule,
                                      first=first, by=caller.user_id, now=now)
    return first


async def stop_digest(digests: DigestStore, caller: Caller, *, now: datetime) -> bool:
    """Turn the caller's channel's digest off; False if it had none."""
    channel = may_change(caller, "stop the daily digest")
    return await digests.disable_digest(
        platform=caller.platform, channel_id=channel,
        reason=f"turned off by {caller.display_name or caller.user_id}",
        by=caller.user_id, now=now)
