"""Platform adapters: Slack (slack-bolt), Discord (discord.py) and the local console.

Each platform registers itself with an :class:`~adapters.base.AdapterSpec` in a light module
(``slack_config.py``, ``discord_config.py``: its config section, secrets and factory), listed
in :data:`adapters.platforms.PLATFORMS`. :func:`select_adapters` picks what ``briefbot run`` starts:
every platform whose spec wants to run (its token is set; for Slack in many workspaces,
``[slack] client_id``), else the console. Platform libraries are imported only when their
adapter is built.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.base import Adapter, AdapterSpec
    from bot.config import Secrets
    from bot.engine import BriefingEngine


def select_adapters(engine: BriefingEngine, secrets: Secrets,
                    platforms: Iterable[AdapterSpec[Any]]) -> list[Adapter]:
    adapters = [a for a in (spec.start(engine, secrets) for spec in platforms) if a is not None]
    if not adapters:
        from adapters.console import ConsoleAdapter

        adapters.append(ConsoleAdapter(engine))
    return adapters
