"""Frozen data that flows between the engine, the store and the adapters.

Adapters only ever see these types: a :class:`Reply` to render, a :class:`Destination` to post
it to. They never see the store or a Sumy object.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from bot.sanitize import shown

#: The largest id a row can have (SQLite's and PostgreSQL's BIGINT): a bigger number names
#: nothing and must not reach the database (OverflowError).
MAX_ID = 2**63 - 1


def parse_id(text: str) -> int | None:
    """``12`` or ``#12`` as an id, or None when it is no id (not ASCII digits, 0, too big)."""
    digits = text.strip().removeprefix("#")
    if not (digits.isascii() and digits.isdecimal()) or len(digits) > 19:
        return None
    value = int(digits)
    return value if 1 <= value <= MAX_ID else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleDraft:
    """An article as a source produced it, before it is stored and summarised."""

    text: str
    title: str | None = None
    url: str | None = None
    source: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    feed_id: int | None = None
    language: str | None = None   # the language tag the source declared ("de-DE"), if any


@dataclass(frozen=True, slots=True, kw_only=True)
class Article:
    """A stored article with the summary written once at ingest."""

    id: int
    title: str
    text: str
    summary: tuple[str, ...]
    url: str | None
    canonical_url: str | None
    source: str | None
    author: str | None
    published_at: datetime | None
    ingested_at: datetime
    content_hash: str
    feed_id: int | None = None
    backlog: bool = False  # taken in silently with a new feed: never alerted nor digested


@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """Where a message goes: a channel, or a person by direct message."""

    platform: str
    channel_id: str | None = None
    user_id: str | None = None

    def __post_init__(self) -> None:
        if (self.channel_id is None) == (self.user_id is None):
            raise ValueError("a Destination names exactly one of channel_id or user_id")

    @property
    def is_direct(self) -> bool:
        return self.user_id is not None

    def __str__(self) -> str:
        return (
            f"{self.platform}:user:{self.user_id}"
            if self.user_id
            else f"{self.platform}:channel:{self.channel_id}"
        )


class ReplyKind(enum.StrEnum):
    ANSWER = "answer"   # an answer to /brief
    ERROR = "error"     # the user's input was wrong
    DIGEST = "digest"   # a daily digest
    ALERT = "alert"     # a keyword alert


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One article as it appears in a message: adapters render it as a block or an embed.

    Every string here may come from an article and must be escaped by the adapter.
    """

    title: str
    url: str | None = None
    source: str | None = None
    published_at: datetime | None = None
    summary: tuple[str, ...] = ()
    article_id: int | None = None
    note: str = ""  # e.g. "+2 sources" or "matched: rocket"

    def __post_init__(self) -> None:
        # Whatever was stored, or built from parts, is shown as written: no control characters,
        # no bidi override turning "gnp.exe" around (issue 14).
        object.__setattr__(self, "title", shown(self.title))
        object.__setattr__(self, "summary", tuple(shown(s) for s in self.summary))
        object.__setattr__(self, "note", shown(self.note))
        if self.source is not None:
            object.__setattr__(self, "source", shown(self.source))


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """What the engine says: a text line and/or items, the same on every platform.

    ``text`` is written by briefbot (plain text, no markup); ``items`` carry article content.
    ``ephemeral`` replies are shown only to the caller where the platform allows it.
    ``delivery_key`` names the claim a digest or alert message is delivered for (``digest:42``):
    a publisher posts each part of a keyed message at most once, across retries and processes
    (:mod:`bot.outbox`, ``adapters/delivery.py``).
    """

    text: str = ""
    items: tuple[Item, ...] = ()
    kind: ReplyKind = ReplyKind.ANSWER
    ephemeral: bool = True
    footer: str = ""
    delivery_key: str | None = None

    def __post_init__(self) -> None:
        # the text may echo what a user typed (a search) or name a feed: shown as written
        object.__setattr__(self, "text", shown(self.text))
        object.__setattr__(self, "footer", shown(self.footer))

    @property
    def is_error(self) -> bool:
        return self.kind is ReplyKind.ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """Who sent a command, and from where."""

    platform: str
    user_id: str
    channel_id: str | None = None
    is_admin: bool = False   # may change this channel's digest, alerts and feeds
    admin_hint: str = "a channel admin"  # who may, said when a command is refused
    # A direct message with the bot: the person owns the conversation (its digest and alerts
    # are theirs), but nothing shared with other channels (feeds) is changed from here.
    in_dm: bool = False
    display_name: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def channel(self) -> Destination | None:
        if self.channel_id is None:
            return None
        return Destination(platform=self.platform, channel_id=self.channel_id)
