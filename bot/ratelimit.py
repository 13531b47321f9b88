"""Platform rate limits that hold for the whole deployment, not per process.

Why it exists: Discord's global limit (50 requests a second) is per bot token, and Slack paces
``chat.postMessage`` per channel, whatever number of briefbot processes share the token or the
channel. A limiter in each process lets three processes send three times the rate. So a post
first takes a slot: ``await limiter.acquire("discord", key)``.

Slots are handed out by the generic cell rate algorithm: a bucket keeps one number, the
earliest time the next request may go (``next_at``); taking a slot moves it on by the
interval (1 / rate) and the caller sleeps until its slot. With ``burst`` > 1 up to that many
requests may go at once after a quiet spell. One number per bucket, updated atomically, means:

- on PostgreSQL the buckets are rows, and one statement both reads and moves a bucket (a
  single round trip per post, timed by the database server's clock, so the processes' and
  hosts' clocks never need to agree) — see :class:`SharedSlots`, which the PostgreSQL
  platform repository implements;
- on SQLite the process is the deployment, and the buckets live in memory.

If the database cannot be reached, the limiter falls back to its in-memory buckets (the same
rate in this process) rather than stopping every post; the store logs the outage once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.errors import StoreError

log = logging.getLogger(__name__)

# a slot the database does not hand out within this is taken from the local buckets
SHARED_TIMEOUT = 5.0

__all__ = ["Rate", "RateLimiter", "SharedSlots", "rate_limiter", "secret_key"]


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_second`` requests a second on average, at most ``burst`` at once."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError(f"a rate needs per_second > 0 and burst >= 1, not {self}")

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second


@runtime_checkable
class SharedSlots(Protocol):
    """A store that hands out send slots for every process that shares it."""

    async def reserve_send_slot(self, bucket: str, *, interval: float, burst: int) -> float:
        """Take the next slot of ``bucket`` (one request every ``interval`` seconds, up to
        ``burst`` at once after a pause), atomically across processes; return the seconds
        to wait before using it (0 or less: now)."""
        ...


class RateLimiter:
    """Slots for named rates (``rates``: platform -> Rate), each per key (a token's hash, a
    channel). Shared through ``shared`` when given, else in this process only."""

    def __init__(self, rates: Mapping[str, Rate], *, shared: SharedSlots | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.rates = dict(rates)
        self.shared = shared
        self._clock = clock
        self._sleep = sleep
        self._next_at: dict[str, float] = {}

    @property
    def deployment_wide(self) -> bool:
        return self.shared is not None

    async def acquire(self, platform: str, key: str = "") -> None:
        """Wait for the next slot of ``platform``'s rate for ``key``."""
        rate = self.rates.get(platform)
        if rate is None:
            raise KeyError(f"no rate for {platform!r} (known: {', '.join(self.rates)})")
        bucket = f"{platform}:{key}"
        wait: float
        if self.shared is not None:
            try:
                wait = await asyncio.wait_for(
                    self.shared.reserve_send_slot(bucket, interval=rate.interval,
                                                  burst=rate.burst), SHARED_TIMEOUT)
            except (StoreError, TimeoutError):  # the database is away: pace this process
                wait = self._reserve_here(bucket, rate)  # alone meanwhile
        else:
            wait = self._reserve_here(bucket, rate)
        if wait > 0:
            await self._sleep(wait)

    def _reserve_here(self, bucket: str, rate: Rate) -> float:
        # no await between the read and the write: atomic within the event loop
        now = self._clock()
        tolerance = (rate.burst - 1) * rate.interval
        slot = max(self._next_at.get(bucket, float("-inf")), now - tolerance)
        self._next_at[bucket] = slot + rate.interval
        if len(self._next_at) > 10_000:  # forget buckets that are long idle
            idle = [b for b, t in self._next_at.items() if t < now - 60]
            for b in idle:
                del self._next_at[b]
        return slot - now


def rate_limiter(store: object, rates: Mapping[str, Rate]) -> RateLimiter:
    """A limiter for ``rates`` shared by every process on ``store`` when the store can hand
    out slots (PostgreSQL), else one for this process (SQLite: one process per database)."""
    platform = getattr(store, "platform", None)
    shared = platform if isinstance(platform, SharedSlots) else None
    return RateLimiter(rates, shared=shared)


def secret_key(secret: str) -> str:
    """A bucket key for a credential (Discord's limit is per bot token) that shows nothing
    of it: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]
