"""Transitional: the digest records now live in :mod:`bot.store.ports` (this module goes once
every import names it)."""

from bot.store.records import (
    ClaimState,
    DigestArticle,
    DigestClaim,
    DigestSchedule,
    LastDigest,
    MissedDigest,
)

__all__ = ["ClaimState", "DigestArticle", "DigestClaim", "DigestSchedule", "LastDigest",
           "MissedDigest"]
