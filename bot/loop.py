"""The one way a background service repeats its work (poller, digest scheduler, alerts).

:func:`run_forever` calls a service's ``step`` until the task is cancelled. ``step`` does one
round and returns how long to wait before the next (0: it waited itself). Each round ticks the
service's ``name`` in :mod:`bot.metrics` (``GET /healthz`` reports a loop whose ticks stop). A
round that raises is logged with that name and retried after a backoff that doubles with each
failure in a row (``retry`` seconds up to ``max_retry``); the next good round resets it.
Cancellation is never swallowed: it ends the loop at once, so the service's owner can stop it
cleanly (as discord.py's ``ext.tasks.Loop`` does for a bot).

A graceful stop (SIGTERM) comes before the cancellation: :func:`drain` asks every service that
can (:class:`Drains`: the digest scheduler, the alert service) to claim nothing more and lets the
posts under way finish and be recorded, for a bounded time. Then the services are cancelled, and
each releases the claims it still holds (digests, alerts, feeds) so that another process, or
the next start, takes them at once instead of after their lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import NoReturn, Protocol, runtime_checkable

from bot import metrics

Sleeper = Callable[[float], Awaitable[None]]


def backoff(failures: int, *, retry: float, max_retry: float) -> float:
    """Seconds to wait after ``failures`` failed rounds in a row (``retry``, doubling, capped)."""
    return float(min(max_retry, retry * 2.0 ** max(0, failures - 1)))


async def run_forever(
    step: Callable[[], Awaitable[float]],
    *,
    name: str,
    log: logging.Logger,
    retry: float,
    max_retry: float | None = None,
    sleep: Sleeper = asyncio.sleep,
) -> NoReturn:
    """Run ``step`` round after round until cancelled; see the module docstring."""
    cap = retry if max_retry is None else max(retry, max_retry)
    failures = 0
    while True:
        metrics.tick(name)  # GET /healthz reports a loop whose ticks stop as down
        try:
            delay = await step()
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad round (database busy, a bug) must not end the service
            failures += 1
            delay = backoff(failures, retry=retry, max_retry=cap)
            log.exception("%s: round failed (%d in a row); retrying in %g s",
                          name, failures, delay)
        else:
            failures = 0
        if delay > 0:
            await sleep(delay)


@runtime_checkable
class Drains(Protocol):
    """A service with work in flight that a graceful stop lets finish."""

    name: str

    async def drain(self, seconds: float) -> bool:
        """Start nothing new; wait up to ``seconds`` for what is under way; True if done."""
        ...


async def drain(services: Iterable[object], *, seconds: float,
                log: logging.Logger | None = None) -> bool:
    """Drain every service that can, at once, for at most ``seconds`` in all; True if all
    finished their work in flight."""
    draining = [s for s in services if isinstance(s, Drains)]
    if not draining or seconds <= 0:
        return not draining
    results = await asyncio.gather(*(s.drain(seconds) for s in draining),
                                   return_exceptions=True)
    done = all(r is True for r in results)
    if log is not None:
        log.info("stopping: %s", "in-flight posts finished" if done
                 else f"gave in-flight posts {seconds:g} s; the rest are released")
    return done
