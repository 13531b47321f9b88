"""The Discord adapter end to end: real discord.py against a local gateway and REST API.

Every test starts :class:`discord_fake.FakeDiscord` on 127.0.0.1 and the real adapter against
it (``[discord] api_base_url`` / ``gateway_url``), then acts as Discord would: dispatches
interactions, refuses late or over-long answers, rate-limits, drops the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import discord
import pytest
from discord_fake import (
    GUILD_ID,
    FakeDiscord,
)

from adapters.discord_adapter import (
    DiscordAdapter,
)
from bot.config import Config
from bot.engine import BriefingEngine
from bot.models import ArticleDraft

USER_ID = 930000000000000777

ROCKET_TEXT = (
    "The United States will send advanced rocket systems to Ukraine, officials said on "
    "Tuesday. The systems can strike targets up to 80 kilometres away. Officials said the "
    "rockets would help Ukraine defend against the offensive in the Donbas region. Russia "
    "warned that the deliveries would escalate the conflict. The package is worth 700 million "
    "dollars and includes helicopters, anti-tank weapons and ammunition."
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    yield server
    await server.close()


@pytest.fixture
def discord_config(config: Config, fake: FakeDiscord) -> Config:
    return replace(config, discord=replace(
        config.discord, api_base_url=fake.api_base_url, gateway_url=fake.gateway_url,
    ))


@pytest.fixture(autouse=True)
def _restore_discord_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter points discord.py at the fake; put discord.py back after each test."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


Start = Callable[..., Any]


@pytest.fixture
async def start_bot(make_engine: Callable[..., Any], discord_config: Config
                    ) -> AsyncIterator[Start]:
    """Start engine + adapter against the fake; everything is stopped after the test."""
    tasks: list[asyncio.Task[None]] = []

    async def start(cfg: Config | None = None, **discord_keys: Any
                    ) -> tuple[BriefingEngine, DiscordAdapter]:
        cfg = cfg or discord_config
        if discord_keys:
            cfg = replace(cfg, discord=replace(cfg.discord, **discord_keys))
        engine: BriefingEngine = await make_engine(cfg)
        adapter = DiscordAdapter(engine, "fake-token", guild_ready_timeout=0.05)
        engine.add_publisher(adapter)
        tasks.append(asyncio.create_task(adapter.run()))
        await asyncio.wait_for(adapter.wait_until_ready(), 5)
        return engine, adapter

    yield start
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def add_article(engine: BriefingEngine, *, title: str = "US to send rocket systems",
                      text: str = ROCKET_TEXT, url: str = "https://news.example/rockets"
                      ) -> int:
    result = await engine.ingest(ArticleDraft(
        text=text, title=title, url=url, source="Example News",
        published_at=datetime(2022, 5, 31, 9, 30, tzinfo=UTC)))
    return result.article.id


def content_of(payload: dict[str, Any]) -> str:
    return payload.get("content") or ""


# -- startup, command sync -------------------------------------------------------------------


async def test_connects_with_guilds_intent_only_and_syncs_brief(
    fake: FakeDiscord, start_bot: Start
) -> None:
    _, adapter = await start_bot()
    assert fake.identifies[0]["intents"] == discord.Intents(guilds=True).value
    assert [c["name"] for c in fake.commands[None]] == ["brief"]
    option = fake.commands[None][0]["options"][0]
    assert option["name"] == "text" and option["autocomplete"] is True
    assert option["required"] is False
    assert adapter.client.get_guild(GUILD_ID) is not None


async def test_help_is_answered_at_once_and_privately(
    fake: FakeDiscord, start_bot: Start
) -> None:
    await start_bot()
    state = await fake.answered(await fake.interact("help"))
    assert not state.deferred
    callback = state.callbacks[0]
    assert callback["type"] == 4
    assert callback["data"]["flags"] & 64  # ephemeral
    assert "/brief" in callback["data"]["content"]
    assert callback["data"]["allowed_mentions"] == {"parse": []}
