"""Multi-part delivery with resume: the one loop both platform adapters post a digest or an
alert batch through.

A long Reply leaves as several platform messages. A delivery that fails after part k, or whose
process stops, is retried later, perhaps by another process; without a memory, parts 1..k
would be posted again. The memory lives in the database (``store.platform``, table
``deliveries``): a keyed message (``Reply.delivery_key``, set by the feature from its claim,
see :mod:`bot.outbox`) has each part recorded once the platform accepted it, and a retry posts
only the parts after the last one recorded.

One part can still be in doubt: the platform accepted it and the process stopped before the
record. Each platform settles that its own way, through the two hooks an adapter passes:

* ``post(index, message)`` posts one part; Discord sends it with a nonce derived from the key
  and the part (``enforce_nonce``): a repeated create within Discord's window returns the
  message created first instead of a new one;
* ``find_posted(delivery)`` (optional) is asked before a *resumed* delivery posts anything: it
  returns the parts the platform already shows (Slack: a message in the channel's recent
  history carrying the key and part in its metadata); those are recorded, not posted.

A message without a key (an answer to ``/brief``, ``briefbot digest --now``) is simply posted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from bot.store.ports import Delivery

__all__ = ["PartsLedger", "part_nonce", "post_parts"]

log = logging.getLogger(__name__)

M = TypeVar("M")


class PartsLedger(Protocol):
    """What the loop needs of ``store.platform``."""

    async def get_delivery(self, key: str) -> Delivery | None: ...

    async def record_posted_part(self, key: str, *, part: int, total: int,
                                 now: datetime) -> None: ...


def part_nonce(key: str, where: str, index: int) -> str:
    """A Discord nonce for part ``index`` of delivery ``key`` to ``where`` (at most 25
    characters, as Discord allows): the same on every retry, different for any other part."""
    digest = hashlib.sha256(f"{key}\x00{where}\x00{index}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big") >> 1)  # < 2**63: at most 19 digits


async def post_parts(
    messages: Sequence[M],
    *,
    key: str | None,
    ledger: PartsLedger | None,
    post: Callable[[int, M], Awaitable[None]],
    clock: Callable[[], datetime],
    find_posted: Callable[[Delivery], Awaitable[Collection[int]]] | None = None,
    what: str = "message",
    where: str = "?",
) -> int:
    """Post ``messages`` in order, each part of a keyed delivery at most once (see the module
    docstring); returns how many parts were posted now. A part that fails raises whatever
    ``post`` raised: the parts before it stay recorded for the retry."""
    total = len(messages)
    if key is None or ledger is None:
        for index, message in enumerate(messages):
            await post(index, message)
        return total
    delivery = await ledger.get_delivery(key)
    done = 0 if delivery is None else min(delivery.posted, total)
    shown: Collection[int] = ()
    if delivery is not None and delivery.resumed and done < total and find_posted is not None:
        shown = await find_posted(delivery)
    if done:
        log.info("%s to %s: parts 1-%d of %d were posted by an earlier attempt (%s); posting "
                 "the rest", what, where, done, total, key)
    posted = 0
    for index in range(done, total):
        if index in shown:
            log.info("%s to %s: part %d of %d is already in the channel (%s); not posting it "
                     "again", what, where, index + 1, total, key)
        else:
            await post(index, messages[index])
            posted += 1
        await ledger.record_posted_part(key, part=index, total=total, now=clock())
    return posted
