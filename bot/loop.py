"""The one way a background service repeats its work (poller, digest scheduler, alerts).

:func:`run_forever` calls a service's ``step`` until the task is cancelled. ``step`` does one
round and returns how long to wait before the next (0: it waited itself). Each round ticks the
service's ``name`` in :mod:`bot.metrics` (``GET /healthz`` reports a loop whose ticks stop). A
round that raises is logged with that name and retried after a backoff that doubles with each
failure in a row (``retry`` seconds up to ``max_retry``); the next good round resets it.
Cancellation is never swallowed: it ends the loop at once, so the service's owner can stop it
cleanly (as discord.py's ``ext.tasks.Loop`` does for a bot).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

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
