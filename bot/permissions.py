"""Who may change what: the permission rules every feature applies, in one place.

A channel's settings (its digest, its alerts) need an admin of that channel; feeds are shared by
every channel (their articles reach every digest and alert), so they are never changed from a
direct message, whoever sends it. The platform says who is an admin (:attr:`Caller.is_admin`,
set by the adapter); these rules say what that allows. A refusal is a
:class:`~bot.errors.PermissionDenied` fit to show.
"""

from __future__ import annotations

from bot.errors import PermissionDenied, UserError
from bot.models import Caller


def require_admin(caller: Caller, action: str) -> None:
    """Refuse unless ``caller`` may change this channel's settings."""
    if not caller.is_admin:
        raise PermissionDenied(f"Only {caller.admin_hint} may {action}.")


def require_shared_admin(caller: Caller, action: str) -> None:
    """Refuse unless ``caller`` is an admin of a channel in a server or workspace (what is
    shared by every channel is not changed from a direct message)."""
    if caller.in_dm:
        raise PermissionDenied(
            f"Feeds are shared by every channel, so they are not changed from a direct "
            f"message: {action} in a channel, as {caller.admin_hint}.")
    require_admin(caller, action)


def require_channel(caller: Caller, action: str) -> str:
    """The caller's channel id; a UserError when the command came from outside a channel."""
    if caller.channel_id is None:
        raise UserError(f"Run this in a channel to {action}.")
    return caller.channel_id
