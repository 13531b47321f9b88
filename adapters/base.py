"""What an adapter implements (receive commands, deliver replies, digests and alerts) and how a
platform registers itself (:class:`AdapterSpec`).

An adapter turns platform events into :meth:`BriefingEngine.handle_command` calls and turns a
:class:`~bot.models.Reply` into the platform's message format. It holds no business rules and
never touches the store. Delivery is the engine's :class:`~bot.publish.Publisher` seam.

A platform declares itself with one :class:`AdapterSpec` in a light module of its own (no SDK
import: the config loader reads it at every start): its ``[section]`` of the config file, the
environment variables holding its secrets, when ``briefbot run`` starts it, and the factory
that builds the adapter (importing the SDK then). :data:`adapters.platforms.PLATFORMS` lists the
specs; nothing in ``bot/`` names a platform's section or secrets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from bot.publish import Publisher

if TYPE_CHECKING:
    from bot.config import Config, Secrets
    from bot.engine import BriefingEngine

__all__ = ["Adapter", "AdapterSpec", "Publisher", "section_of"]

C = TypeVar("C")


@runtime_checkable
class Adapter(Publisher, Protocol):
    """A platform connection: a Publisher that also runs until it is stopped."""

    async def run(self) -> None:
        """Receive commands until cancelled (or, for the console, until end of input)."""
        ...


def _no_check(section: Any) -> None:
    return None


def section_of(config: Config, name: str, cls: type[C]) -> C:
    """The ``[name]`` section of ``config`` (its defaults when the file has none): how an
    adapter reads its own section without importing its spec."""
    found = config.platforms.get(name)
    return found if isinstance(found, cls) else cls()


@dataclass(frozen=True, slots=True)
class AdapterSpec(Generic[C]):
    """A platform as the composition root and the config loader see it.

    ``config`` is the frozen dataclass of the platform's ``[name]`` section: its fields are the
    keys, checked like every other section (type, ``min``/``max``/``choices`` metadata made
    with :func:`bot.config.option`). ``check`` adds rules across its keys (raise
    :class:`~bot.errors.ConfigError` naming the key); it runs at load, before anything starts.
    ``secrets`` are the environment variables the platform reads (never the file).
    ``wanted`` says whether ``briefbot run`` starts it (its token is set; it may log why not);
    ``factory`` builds the adapter, importing the platform's SDK only then.
    """

    name: str
    config: type[C]
    secrets: tuple[str, ...]
    wanted: Callable[[C, Secrets], bool]
    factory: Callable[[BriefingEngine, C, Secrets], Adapter]
    check: Callable[[C], None] = _no_check

    def section(self, config: Config) -> C:
        """This platform's section of ``config`` (its defaults when the file has none)."""
        return section_of(config, self.name, self.config)

    def configure(self, config: Config, **changes: Any) -> Config:
        """``config`` with keys of this platform's section changed (tests, benchmarks)."""
        platforms = {**config.platforms, self.name: replace(self.section(config),  # type: ignore[type-var]
                                                            **changes)}
        return replace(config, platforms=platforms)

    def start(self, engine: BriefingEngine, secrets: Secrets) -> Adapter | None:
        """The adapter ``briefbot run`` starts for this platform, or None (not wanted)."""
        section = self.section(engine.config)
        return self.factory(engine, section, secrets) if self.wanted(section, secrets) else None
