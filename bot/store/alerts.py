"""Transitional: the subscription and alert records now live in :mod:`bot.store.ports` (this
module goes once every import names it)."""

from bot.store.records import (
    AddStatus,
    AlertBatch,
    AlertState,
    AlertStats,
    ClaimedAlert,
    OwnerKind,
    Subscription,
)

__all__ = ["AddStatus", "AlertBatch", "AlertState", "AlertStats", "ClaimedAlert", "OwnerKind",
           "Subscription"]
