"""Which parts of an unfinished multi-part delivery already reached the platform.

Why it exists: a long Reply (a digest, a batch of alerts) leaves as several platform messages.
When part k>1 fails, the digest scheduler or the alert dispatcher retries the whole Reply;
without a memory, parts 1..k-1 would be posted a second time. Each adapter keeps one
:class:`PostedParts`: while a delivery is under way, every part the platform accepted is
remembered by destination, position and a hash of its content; a retry of the same Reply skips
the parts remembered. A delivery that completes forgets its parts, so the same message sent
again later (a second ``/brief digest now`` that finds nothing new) is posted again.

The memory is bounded (``max_entries``, oldest dropped first) and expires (``ttl_seconds``,
longer than any retry schedule within a digest's grace period). It lives in one process: a
crash between two parts can still repeat the parts before it after a restart.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["PostedParts", "part_keys"]

DEFAULT_TTL_SECONDS = 24 * 3600.0
DEFAULT_MAX_ENTRIES = 10_000


def part_keys(destination: str, payloads: Sequence[Any]) -> list[str]:
    """One key per part: where it goes, its position among how many, and its content."""
    total = len(payloads)
    keys = []
    for index, payload in enumerate(payloads):
        blob = json.dumps([destination, index, total, payload], sort_keys=True, default=str,
                          ensure_ascii=False, separators=(",", ":"))
        keys.append(hashlib.sha256(blob.encode()).hexdigest())
    return keys


class PostedParts:
    """Keys of parts posted by deliveries that have not completed yet (bounded, expiring)."""

    def __init__(self, *, ttl_seconds: float = DEFAULT_TTL_SECONDS,
                 max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._posted: OrderedDict[str, float] = OrderedDict()  # key -> expiry, oldest first

    def __len__(self) -> int:
        self._expire()
        return len(self._posted)

    def _expire(self) -> None:
        now = self._clock()
        while self._posted:
            key, expiry = next(iter(self._posted.items()))
            if expiry > now:
                break
            del self._posted[key]

    def posted(self, key: str) -> bool:
        """Whether a part with this key was posted by a delivery that did not complete."""
        self._expire()
        return key in self._posted

    def remember(self, key: str) -> None:
        """The platform accepted this part."""
        self._posted.pop(key, None)
        self._posted[key] = self._clock() + self.ttl_seconds
        while len(self._posted) > self.max_entries:
            self._posted.popitem(last=False)

    def forget(self, keys: Sequence[str]) -> None:
        """The delivery completed: its parts are no longer pending."""
        for key in keys:
            self._posted.pop(key, None)
