"""The records the store hands out: frozen data shared by every backend (SQLite, PostgreSQL).

Features read these; no backend type (a row, a connection) ever leaves the store. Articles
themselves are :class:`bot.models.Article` (the kernel's type, shown by adapters too).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

from bot.models import Article, ArticleDraft, Destination


@dataclass(frozen=True, slots=True, kw_only=True)
class NewArticle:
    """An article to store in a batch (:meth:`ArticleStore.add_articles`), already summarised;
    it counts as matched against the alerts (a batch never alerts)."""

    draft: ArticleDraft
    title: str
    summary: tuple[str, ...]
    content_hash: str
    canonical_url: str | None
    ingested_at: datetime
    backlog: bool = False


KNOWN_STATUSES = ("stored", "backlog", "skipped", "failed")


@dataclass(frozen=True, slots=True, kw_only=True)
class Feed:
    id: int
    url: str
    title: str | None
    added_at: datetime
    site_url: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    primed: bool
    next_poll_at: datetime
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    last_result: str | None

    @property
    def name(self) -> str:
        return self.title or self.url


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenItem:
    status: str
    attempts: int
    article_id: int | None


OwnerKind = Literal["user", "channel"]
AddStatus = Literal["added", "duplicate", "resumed", "limit"]



@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """A stored query and whom its alerts go to."""

    id: int
    platform: str
    owner_kind: OwnerKind
    owner_id: str
    created_by: str
    query: str
    query_key: str
    language: str
    created_at: datetime
    # set when the destination refused for good (migration 0006): no matching until resumed
    paused_at: datetime | None = None
    paused_reason: str | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    @property
    def destination(self) -> Destination:
        if self.owner_kind == "user":
            return Destination(platform=self.platform, user_id=self.owner_id)
        return Destination(platform=self.platform, channel_id=self.owner_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedAlert:
    id: int
    subscription_id: int
    query: str
    article: Article
    matched: tuple[str, ...]
    attempts: int  # including the delivery now under way


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertBatch:
    """Alerts claimed for one destination: delivered as one message."""

    destination: Destination
    alerts: tuple[ClaimedAlert, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class NewDelivery:
    """One message to begin in :meth:`PlatformStateStore.begin_deliveries` (the arguments of
    :meth:`PlatformStateStore.begin_delivery` that differ from message to message)."""

    key: str
    platform: str
    destination: str
    reply: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """A message a claim is delivering (:meth:`PlatformStateStore.begin_delivery`).

    ``reply`` is the message as first built (JSON, see :mod:`bot.outbox`; '' when only parts
    were recorded), ``note`` what the feature recorded with it; ``posted`` parts (in order) of
    ``total`` were accepted by the platform; ``attempts``: how many times it was begun.
    """

    key: str
    reply: str
    note: str
    posted: int
    total: int | None
    attempts: int
    began_at: datetime

    @property
    def resumed(self) -> bool:
        """An earlier attempt (maybe another process's) had begun it."""
        return self.attempts > 1


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertStats:
    sent: int = 0
    pending: int = 0
    failed: int = 0
    skipped: int = 0
    last_sent_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertState:
    id: int
    subscription_id: int
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    matched: tuple[str, ...]


class TimeRule(Protocol):
    """A digest's time of day (the digests feature's ``DailyTime`` is one): the store keeps
    these four values and never computes with them."""

    @property
    def hour(self) -> int: ...

    @property
    def minute(self) -> int: ...

    @property
    def timezone(self) -> str: ...

    @property
    def weekdays(self) -> int: ...


class Due(Protocol):
    """One occurrence of a schedule (the digests feature's ``Occurrence`` is one)."""

    @property
    def local_date(self) -> date: ...

    @property
    def due_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestSchedule:
    platform: str
    channel_id: str
    hour: int
    minute: int
    timezone: str
    weekdays: int
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    next_local_date: date
    next_due_at: datetime
    not_before: datetime | None
    updated_by: str | None
    updated_at: datetime


class ClaimState(enum.StrEnum):
    WON = "won"        # this caller owns the occurrence: build and post it
    HELD = "held"      # another process holds a live lease (or its retry time has not come)
    DONE = "done"      # already sent, empty or skipped: the schedule moved on
    STALE = "stale"    # the schedule changed (off, another time) since it was read


@dataclass(frozen=True, slots=True, kw_only=True)
class LastDigest:
    """The channel's latest digest that was sent (or found nothing new)."""

    run_id: int
    through_article_id: int | None
    period_end: datetime | None
    finished_at: datetime | None
    items: int
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MissedDigest:
    local_date: date
    due_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestClaim:
    state: ClaimState
    run_id: int | None = None
    attempts: int = 0
    last: LastDigest | None = None
    missed: tuple[MissedDigest, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestClaimRequest:
    """One occurrence to claim in :meth:`DigestStore.claim_digests` (the arguments of
    :meth:`DigestStore.claim_digest` that differ from channel to channel)."""

    platform: str
    channel_id: str
    local_date: date
    due_at: datetime
    next_local_date: date   # where the schedule moves if the occurrence is done already
    next_due_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestFinish:
    """One run to record in :meth:`DigestStore.finish_digests` (as
    :meth:`DigestStore.finish_digest`'s arguments)."""

    run_id: int
    sent: bool
    period_start: datetime | None
    period_end: datetime
    through_article_id: int
    items: int
    late: bool
    now: datetime
    following: Due | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestArticle:
    """The columns of an article a digest shows (no article text: never re-summarised)."""

    id: int
    title: str
    summary: tuple[str, ...]
    url: str | None
    source: str | None
    published_at: datetime | None
    ingested_at: datetime
    feed_id: int | None

    @property
    def shown_at(self) -> datetime:
        return self.published_at or self.ingested_at


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryState:
    """The stored stories (:class:`bot.store.ports.StoryStore`): what they were made with
    (``setting``: language and similarity threshold), the article ids they cover (every digest
    article ``lo < id <= hi`` has its story), their ``generation`` (counted up each time they
    start again) and who holds the lease to place new articles, until when."""

    setting: str
    generation: int
    lo: int
    hi: int
    owner: str | None
    lease_until: datetime


# (article id, story: its first article's id, story terms) as stored for one article
StoryRow = tuple[int, int, str]
