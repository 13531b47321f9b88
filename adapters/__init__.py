"""Platform adapters: Slack (slack-bolt), Discord (discord.py) and the local console.

:func:`select_adapters` picks what ``briefbot run`` starts: every platform whose token is set
(for Slack in many workspaces: ``[slack] client_id``), else the console. Platform libraries are
imported only when their adapter is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.base import Adapter
    from bot.config import Secrets
    from bot.engine import BriefingEngine


def select_adapters(engine: BriefingEngine, secrets: Secrets) -> list[Adapter]:
    adapters: list[Adapter] = []
    if secrets.slack_bot_token or engine.config.slack.client_id:  # one workspace, or many
        from adapters.slack_adapter import SlackAdapter

        adapters.append(SlackAdapter.from_secrets(engine, secrets))
    if secrets.discord_token:
        from adapters.discord_adapter import DiscordAdapter

        adapters.append(DiscordAdapter(engine, secrets.discord_token))
    if not adapters:
        from adapters.console import ConsoleAdapter

        adapters.append(ConsoleAdapter(engine))
    return adapters
