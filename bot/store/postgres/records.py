"""The record types the store hands out, in one place for this backend's modules."""

from bot.store.alerts import (
    AddStatus,
    AlertBatch,
    AlertState,
    AlertStats,
    ClaimedAlert,
    OwnerKind,
    Subscription,
)
from bot.store.digests import (
    ClaimState,
    DigestArticle,
    DigestClaim,
    DigestSchedule,
    LastDigest,
    MissedDigest,
)
from bot.store.feeds import Feed, SeenItem

__all__ = [
    "AddStatus", "AlertBatch", "AlertState", "AlertStats", "ClaimState", "ClaimedAlert",
    "DigestArticle", "DigestClaim", "DigestSchedule", "Feed", "LastDigest", "MissedDigest",
    "OwnerKind", "SeenItem", "Subscription",
]
