"""What an adapter implements: receive commands, deliver replies, digests and alerts.

An adapter turns platform events into :meth:`BriefingEngine.handle_command` calls and turns a
:class:`~bot.models.Reply` into the platform's message format. It holds no business rules and
never touches the store. Delivery is the engine's :class:`~bot.publish.Publisher` seam.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.publish import Publisher

__all__ = ["Adapter", "Publisher"]


@runtime_checkable
class Adapter(Publisher, Protocol):
    """A platform connection: a Publisher that also runs until it is stopped."""

    async def run(self) -> None:
        """Receive commands until cancelled (or, for the console, until end of input)."""
        ...
