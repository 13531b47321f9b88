"""Discord's ``[discord]`` section, its secret and when ``briefbot run`` starts it.

Light on purpose (no discord.py import): the config loader reads it at every start through
:data:`adapters.platforms.DISCORD`. The adapter itself is :mod:`adapters.discord_adapter`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Secrets, option
from bot.errors import ConfigError

TOKEN = "DISCORD_TOKEN"


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    guild_ids: tuple[int, ...] = ()
    manager_roles: tuple[str, ...] = ()
    # /brief answers directly when ready this fast, else defers first (Discord allows 3 s)
    defer_after_seconds: float = option(1.0, min=0, max=2.5)
    # pace digest/alert fan-out under Discord's global limit of 50 requests a second
    max_messages_per_second: float = option(25.0, min=0.5, max=50)
    send_concurrency: int = option(4, min=1, max=50)
    # shards (Discord requires them past 2,500 guilds): 0 = one gateway session. With N, this
    # process runs the shards in shard_ids (every one of the N when empty) through
    # discord.py's AutoShardedClient; several processes can each run a part of them.
    shard_count: int = option(0, min=0, max=1_000_000)
    shard_ids: tuple[int, ...] = ()


def check(config: DiscordConfig) -> None:
    count, ids = config.shard_count, config.shard_ids
    if ids and not count:
        raise ConfigError("[discord] shard_ids needs shard_count (how many shards the bot has "
                          "in all, across every process)")
    bad = [i for i in ids if not 0 <= i < count]
    if bad:
        raise ConfigError(f"[discord] shard_ids {bad[0]} is not a shard of {count}: shard ids "
                          f"go from 0 to {count - 1}")
    if len(set(ids)) != len(ids):
        raise ConfigError("[discord] shard_ids names a shard twice")


def wanted(config: DiscordConfig, secrets: Secrets) -> bool:
    return secrets.get(TOKEN) is not None
