"""Deployment-wide rate limits (bot/ratelimit.py): slots spaced by the rate, per key, shared
through PostgreSQL by every process on the database, local on SQLite and while the database is
away."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.ratelimit import Rate, RateLimiter, SharedSlots, rate_limiter, secret_key
from bot.store import open_store
from bot.store.postgres import open_postgres_store


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


async def test_slots_are_spaced_by_the_rate_per_key() -> None:
    t = FakeTime()
    limiter = RateLimiter({"discord": Rate(per_second=4)}, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        await limiter.acquire("discord", "token-a")
    await limiter.acquire("discord", "token-b")  # another key: its own bucket
    assert t.slept == [0.25, 0.5]
    t.now += 10  # a quiet spell does not bank slots (burst 1)
    await limiter.acquire("discord", "token-a")
    await limiter.acquire("discord", "token-a")
    assert t.slept == [0.25, 0.5, 0.25]


async def test_a_burst_goes_at_once_then_the_rate_holds() -> None:
    t = FakeTime()
    limiter = RateLimiter({"slack": Rate(per_second=1, burst=3)}, clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        await limiter.acquire("slack", "C1")
    assert t.slept == [1.0, 2.0]


async def test_an_unknown_rate_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="discord"):
        await RateLimiter({"slack": Rate(per_second=1)}).acquire("discord")
    with pytest.raises(ValueError):
        Rate(per_second=0)


def test_a_secret_key_shows_nothing_of_the_secret() -> None:
    key = secret_key("MTIz.very-secret-token")
    assert len(key) == 16 and "secret" not in key
    assert key == secret_key("MTIz.very-secret-token") != secret_key("another")


async def test_on_sqlite_the_limiter_is_this_process(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "b.db")
    try:
        limiter = rate_limiter(store, {"discord": Rate(per_second=50)})
        assert not limiter.deployment_wide
    finally:
        await store.close()


class _Down:
    async def reserve_send_slot(self, bucket: str, *, interval: float, burst: int) -> float:
        raise StoreError("the database postgresql 127.0.0.1/x is unreachable")


async def test_without_the_database_this_process_keeps_pacing_alone() -> None:
    t = FakeTime()
    down = _Down()
    assert isinstance(down, SharedSlots)
    limiter = RateLimiter({"discord": Rate(per_second=2)}, shared=down, clock=t.clock,
                          sleep=t.sleep)
    await limiter.acquire("discord", "k")
    await limiter.acquire("discord", "k")
    assert t.slept == [0.5]


async def test_processes_on_one_postgres_share_the_rate(postgres_url: str) -> None:
    """Three stores (three pools, as three processes have) take 45 slots of one bucket at
    20/s as fast as they can: together they keep to 20/s, not 60."""
    stores = [await open_postgres_store(postgres_url, pool_size=2) for _ in range(3)]
    try:
        built = [rate_limiter(s, {"discord": Rate(per_second=20)}) for s in stores]
        assert all(limiter.deployment_wide for limiter in built)
        sent: list[float] = []
        # Each send is counted at the time its slot is due (when its sleep was to end), not
        # when this test's event loop got round to it: the six senders share one loop, and a
        # loop held up for 0.1 s on a busy machine wakes every sleeper whose slot fell in that
        # time at once (busiest second 23 seen at load 10 with a correct limiter).
        due: dict[object, float] = {}

        async def sleep(seconds: float) -> None:
            due[asyncio.current_task()] = time.monotonic() + seconds
            await asyncio.sleep(seconds)

        limiters = [RateLimiter(b.rates, shared=b.shared, sleep=sleep) for b in built]

        async def sender(limiter: RateLimiter) -> None:
            for _ in range(15):
                await limiter.acquire("discord", "token-hash")
                sent.append(due.pop(asyncio.current_task(), time.monotonic()))

        started = time.monotonic()
        await asyncio.gather(*(sender(limiter) for limiter in limiters
                               for _ in range(2)))  # two concurrent senders each
        elapsed = time.monotonic() - started
        sent.sort()
        busiest = max(sum(1 for t in sent[i:] if t - s < 1.0) for i, s in enumerate(sent))
        assert len(sent) == 90
        assert busiest <= 22, busiest  # 20 a second (+1 for the window's edges, +1 jitter)
        assert elapsed >= 89 / 20 - 0.2
        # another key is not held up by this one
        before = time.monotonic()
        await limiters[0].acquire("discord", "another-token")
        assert time.monotonic() - before < 0.5
    finally:
        for s in stores:
            await s.close()
