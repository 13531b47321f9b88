"""Transitional: the feed records now live in :mod:`bot.store.ports` (this module goes once
every import names it)."""

from bot.store.records import KNOWN_STATUSES, Feed, SeenItem

__all__ = ["KNOWN_STATUSES", "Feed", "SeenItem"]
