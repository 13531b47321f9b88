"""The record types the store hands out (shared with every backend)."""

from bot.store.records import (
    AddStatus,
    AlertBatch,
    AlertState,
    AlertStats,
    ClaimedAlert,
    ClaimState,
    DigestArticle,
    DigestClaim,
    DigestSchedule,
    Feed,
    LastDigest,
    MissedDigest,
    OwnerKind,
    SeenItem,
    Subscription,
)

__all__ = [
    "AddStatus", "AlertBatch", "AlertState", "AlertStats", "ClaimState", "ClaimedAlert",
    "DigestArticle", "DigestClaim", "DigestSchedule", "Feed", "LastDigest", "MissedDigest",
    "OwnerKind", "SeenItem", "Subscription",
]
