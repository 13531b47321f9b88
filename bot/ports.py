"""What a feature needs besides storage, as small protocols: post a reply, ingest an article,
run CPU work off the event loop, know which platforms are running. Storage has its own ports
(:mod:`bot.store.ports`); time is a :data:`bot.clock.Clock`.

The engine (:class:`bot.engine.BriefingEngine`) provides each one (``engine.deliver``,
``engine.ingest``, ``engine.summarizer.run``, ``engine.platforms``) and the composition root
(:mod:`bot.app`) hands them to the features, so no feature sees the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from bot.models import Article, ArticleDraft, Destination, Reply

__all__ = ["Deliver", "Ingest", "IngestResult", "Offload", "Platforms"]


@dataclass(frozen=True, slots=True)
class IngestResult:
    article: Article
    created: bool  # False: it was already stored, ``article`` is the stored one


class Deliver(Protocol):
    """Post ``reply`` to ``destination`` through its platform's adapter; raises
    :class:`~bot.errors.DeliveryError` (``permanent=False`` when no adapter for it runs)."""

    async def __call__(self, destination: Destination, reply: Reply, /) -> None: ...


class Ingest(Protocol):
    """Store ``draft`` if it is new (summarised once) and tell the new-article listeners;
    ``notify=False`` stores without alerting (a feed's backlog)."""

    async def __call__(self, draft: ArticleDraft, /, *, notify: bool = True) -> IngestResult: ...


class Offload(Protocol):
    """Run ``func(*args)`` off the event loop (the summarizer's worker) and return its result."""

    async def __call__(self, func: Callable[..., Any], /, *args: Any) -> Any: ...


# The platforms this process can post to now (adapters register as they start).
Platforms = Callable[[], Collection[str]]
