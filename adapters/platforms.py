"""The platforms briefbot runs: one :class:`~adapters.base.AdapterSpec` each, in
:data:`PLATFORMS` (the composition root, :mod:`bot.app`, starts them; the CLI's config loader
reads their sections and secrets before anything opens).

A platform is three files under ``adapters/``: ``<name>_config.py`` (its ``[name]`` section as
a frozen dataclass, the rules across its keys, its secrets' environment variables and when it
starts: no SDK import, the loader reads it at every start), ``<name>_adapter.py`` (the adapter,
which imports the SDK) and its spec here, whose factory imports the adapter only when
``briefbot run`` starts it. Adding one touches no module of ``bot/``: its spec below, one entry
in :data:`PLATFORMS` and its section in ``config.example.toml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters import discord_config, slack_config
from adapters.base import AdapterSpec
from adapters.discord_config import DiscordConfig
from adapters.slack_config import SlackConfig
from bot.config import Secrets
from bot.errors import ConfigError

if TYPE_CHECKING:
    from adapters.base import Adapter
    from bot.engine import BriefingEngine


def _slack(engine: BriefingEngine, config: SlackConfig, secrets: Secrets) -> Adapter:
    from adapters.slack_adapter import SlackAdapter

    if not config.client_id and not secrets.get(slack_config.BOT_TOKEN):
        raise ConfigError("SLACK_BOT_TOKEN is not set")
    return SlackAdapter(engine, bot_token=secrets.get(slack_config.BOT_TOKEN),
                        app_token=secrets.get(slack_config.APP_TOKEN),
                        signing_secret=secrets.get(slack_config.SIGNING_SECRET),
                        client_secret=secrets.get(slack_config.CLIENT_SECRET), config=config)


def _discord(engine: BriefingEngine, config: DiscordConfig, secrets: Secrets) -> Adapter:
    from adapters.discord_adapter import DiscordAdapter

    token = secrets.get(discord_config.TOKEN)
    if token is None:
        raise ConfigError("Set DISCORD_TOKEN to the bot token (Developer Portal > Bot).")
    return DiscordAdapter(engine, token, config=config)


SLACK = AdapterSpec(name="slack", config=SlackConfig, secrets=slack_config.SECRETS,
                    wanted=slack_config.wanted, factory=_slack, check=slack_config.check)
DISCORD = AdapterSpec(name="discord", config=DiscordConfig, secrets=(discord_config.TOKEN,),
                      wanted=discord_config.wanted, factory=_discord, check=discord_config.check)

PLATFORMS: tuple[AdapterSpec[Any], ...] = (SLACK, DISCORD)

__all__ = ["DISCORD", "PLATFORMS", "SLACK"]
