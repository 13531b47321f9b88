"""The seam the engine delivers through: a Publisher posts a Reply to a Destination.

Adapters implement it (``adapters/base.py`` adds start/stop). Tests use
:class:`RecordingPublisher`, a real in-memory publisher, instead of mocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bot.errors import DeliveryError
from bot.models import Destination, Reply


@runtime_checkable
class Publisher(Protocol):
    """Posts messages on one platform. ``deliver`` raises DeliveryError when refused."""

    @property
    def platform(self) -> str: ...

    async def deliver(self, destination: Destination, reply: Reply) -> None: ...


@dataclass
class RecordingPublisher:
    """Keeps what it was asked to post; ``fail_with`` makes the next deliveries fail."""

    platform: str = "console"
    sent: list[tuple[Destination, Reply]] = field(default_factory=list)
    fail_with: DeliveryError | None = None

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((destination, reply))
