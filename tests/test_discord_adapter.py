"""The Discord adapter end to end: real discord.py against a local gateway and REST API.

Every test starts :class:`discord_fake.FakeDiscord` on 127.0.0.1 and the real adapter against
it (``[discord] api_base_url`` / ``gateway_url``), then acts as Discord would: dispatches
interactions, refuses late or over-long answers, rate-limits, drops the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import logging
import os
import re
import signal
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl
from aiohttp import web
from conftest import REPO, alerts_of, app_of, run_sql
from discord_fake import (
    BASIC_PERMISSIONS,
    CHANNEL_ID,
    EDITORS_ROLE_ID,
    GUILD_ID,
    MANAGE_CHANNELS,
    OWNER_ID,
    FakeDiscord,
    message_problems,
)

from adapters.base import Adapter
from adapters.delivery import part_nonce
from adapters.discord_adapter import (
    BOT_PERMISSIONS,
    DiscordAdapter,
    invite_url,
    point_discord_at,
    suggestions,
)
from adapters.discord_render import escape_text, item_embed, render_messages
from adapters.platforms import DISCORD
from bot.app import LazySummarizer, digest_kit
from bot.commands.router import Context
from bot.config import Config
from bot.engine import BriefingEngine
from bot.errors import BriefbotError, ConfigError, DeliveryError, UserError
from bot.models import ArticleDraft, Destination, Item, Reply, ReplyKind
from tests import processes

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
    return DISCORD.configure(config, api_base_url=fake.api_base_url,
                             gateway_url=fake.gateway_url)


@pytest.fixture(autouse=True)
def _restore_discord_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter points discord.py at the fake; put discord.py back after each test."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


Start = Callable[..., Any]


class ErrorLog(logging.Handler):
    """Errors the adapter logged; a test that expects some takes them out of ``records``."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.logged = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.logged.set()


@pytest.fixture
def adapter_errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    logger = logging.getLogger("adapters.discord_adapter")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
async def start_bot(make_engine: Callable[..., Any], discord_config: Config,
                    adapter_errors: ErrorLog) -> AsyncIterator[Start]:
    """Start engine + adapter against the fake; everything is stopped after the test, which
    fails if the adapter logged an error nobody expected."""
    tasks: list[asyncio.Task[None]] = []

    async def start(cfg: Config | None = None, **discord_keys: Any
                    ) -> tuple[BriefingEngine, DiscordAdapter]:
        cfg = cfg or discord_config
        if discord_keys:
            cfg = DISCORD.configure(cfg, **discord_keys)
        engine: BriefingEngine = await make_engine(cfg)
        # as `briefbot run` does before it connects (App.warm_up): load Sumy/NLTK off the loop,
        # else the first subscribe imports NLTK's stemmer on the event loop (~1.2 s) and is
        # deferred past the 1 s `defer_after_seconds` (2 failures in 9 runs of this file)
        if isinstance(engine.summarizer, LazySummarizer):
            await asyncio.to_thread(engine.summarizer.load)
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
    assert not adapter_errors.records, [r.getMessage() for r in adapter_errors.records]


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
    assert fake.heartbeats >= 1  # discord.py beats as soon as HELLO arrives
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


# -- test-only verbs: a slow one and an admin-only one (registered for one test) ---------------


def add_verb(engine: BriefingEngine, name: str, handler: Any) -> None:
    """Register a test-only verb on this engine's app (verbs are per app)."""
    app_of(engine).commands.add_verb(name, handler, usage=f"/brief {name}", summary="test verb")


def slow_verb(seconds: float, reply: Reply | None = None, error: str = "") -> Any:
    async def handler(ctx: Context, args: str) -> Reply:
        await asyncio.sleep(seconds)
        if error:
            raise UserError(error)
        return reply or ctx.answer(f"slow answer to {args}")
    return handler


async def admin_verb(ctx: Context, args: str) -> Reply:
    ctx.require_admin("change this channel's digest")
    return ctx.answer("digest changed")


# -- discord.py internals we depend on ---------------------------------------------------------


def test_discord_py_internals_we_redirect_still_exist() -> None:
    """If discord.py moves these, the adapter can no longer be pointed at a proxy or a fake."""
    assert isinstance(discord.http.Route.BASE, str)
    assert discord.http.Route.BASE == "https://discord.com/api/v10"
    assert isinstance(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY, yarl.URL)
    point_discord_at(api_base_url="http://127.0.0.1:9/api/v10/", gateway_url="ws://127.0.0.1:9/g/")
    assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:9/api/v10/users/@me"
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:9/g/"


def test_invite_link_asks_for_both_scopes_and_the_documented_permissions() -> None:
    url = invite_url(123)
    assert "scope=bot+applications.commands" in url
    # view channel, send messages, send messages in threads, embed links
    assert BOT_PERMISSIONS.value == (1 << 10) | (1 << 11) | (1 << 38) | (1 << 14)
    assert f"permissions={BOT_PERMISSIONS.value}" in url
    readme = (REPO / "README.md").read_text()
    assert f"permissions={BOT_PERMISSIONS.value}" in readme


async def test_commands_sync_only_when_their_definitions_change(
    fake: FakeDiscord, start_bot: Start, discord_config: Config
) -> None:
    _, first = await start_bot()
    assert len(fake.calls_to("PUT", "/applications/")) == 1
    await first.client.close()
    _, second = await start_bot()  # same database, same definitions: no upload
    assert len(fake.calls_to("PUT", "/applications/")) == 1
    await second.client.close()
    _, third = await start_bot(guild_ids=(GUILD_ID,))  # new target: upload to the guild
    puts = fake.calls_to("PUT", "/applications/")
    assert puts[1].path == f"/applications/{fake.app_id}/guilds/{GUILD_ID}/commands"
    assert [c["name"] for c in fake.commands[GUILD_ID]] == ["brief"]
    assert fake.commands[None] == []  # no longer global: nobody sees /brief twice
    puts_so_far = len(fake.calls_to("PUT", "/applications/"))
    await third.client.close()
    _, fourth = await start_bot(guild_ids=(GUILD_ID,))  # unchanged; the guild's command works
    assert len(fake.calls_to("PUT", "/applications/")) == puts_so_far
    state = await fake.answered(await fake.interact("help", command_guild_id=GUILD_ID))
    assert "/brief" in state.callbacks[0]["data"]["content"]
    await fourth.client.close()
    await start_bot()  # back to global: the guild copy is removed
    assert [c["name"] for c in fake.commands[None]] == ["brief"]
    assert fake.commands[GUILD_ID] == []
    state = await fake.answered(await fake.interact("help"))
    assert "/brief" in state.callbacks[0]["data"]["content"]


# -- /brief -------------------------------------------------------------------------------------


async def test_public_briefing_is_embeds_in_the_channel(
    fake: FakeDiscord, start_bot: Start
) -> None:
    engine, _ = await start_bot()
    article_id = await add_article(engine)
    state = await fake.answered(await fake.interact("rocket public"))
    data = state.callbacks[0]["data"]
    assert state.callbacks[0]["type"] == 4 and not (data.get("flags", 0) & 64)
    embed = data["embeds"][0]
    assert embed["title"] == "US to send rocket systems"
    assert embed["url"] == "https://news.example/rockets"
    assert embed["timestamp"].startswith("2022-05-31T09:30")
    assert embed["footer"]["text"] == f"Example News · #{article_id}"
    assert embed["description"].startswith("• ")
    assert data["allowed_mentions"] == {"parse": []}


async def test_slow_command_is_deferred_then_followed_up(
    fake: FakeDiscord, start_bot: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.deadline = 0.3  # Discord's 3 s, scaled down with the adapter's budget
    engine, _ = await start_bot(defer_after_seconds=0.1)
    add_verb(engine, "slow", slow_verb(0.45))
    state = await fake.answered(await fake.interact("slow things"))
    assert state.deferred
    assert state.callbacks[0]["type"] == 5 and state.callbacks[0]["data"]["flags"] & 64
    assert state.answered_at is not None and state.answered_at - state.created < 0.3
    assert state.original is not None and state.original["content"] == "slow answer to things"
    assert not fake.refused


async def test_interaction_tokens_never_reach_a_log_line_even_at_debug(
    fake: FakeDiscord, start_bot: Start, debug_log: io.StringIO
) -> None:
    """Issue 14: ``-v`` logged interaction tokens (discord.py's own DEBUG lines included)."""
    fake.deadline = 0.3
    engine, _ = await start_bot(defer_after_seconds=0.05)
    add_verb(engine, "slow", slow_verb(0.2, reply=Reply(text="part", items=tuple(
        Item(title=f"Story {i}", summary=("x" * 1500,)) for i in range(5)))))
    state = await fake.answered(await fake.interact("slow things"), followups=1)
    assert state.deferred and state.followups
    logged = debug_log.getvalue()
    assert "/interactions/" in logged and "/webhooks/" in logged  # discord.py did log them
    assert state.token not in logged
    assert "[redacted]" in logged


async def test_a_late_first_answer_is_refused_like_discord_does(
    fake: FakeDiscord, start_bot: Start, monkeypatch: pytest.MonkeyPatch,
    adapter_errors: ErrorLog,
) -> None:
    """The fake enforces the deadline: an adapter that never defers would fail this way."""
    fake.deadline = 0.2
    engine, _ = await start_bot(defer_after_seconds=1.0)  # waits too long before deferring
    add_verb(engine, "slow", slow_verb(0.4))
    state = await fake.interact("slow")
    await fake.wait_for(lambda: fake.refused)
    call, status, body = fake.refused[0]
    assert call.path.endswith("/callback") and status == 404 and "10062" in body
    assert not state.responded
    await asyncio.wait_for(adapter_errors.logged.wait(), 5)
    assert "code 10062" in adapter_errors.records[0].getMessage()
    adapter_errors.records.clear()


async def test_error_after_a_public_defer_is_answered_privately(
    fake: FakeDiscord, start_bot: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = await start_bot(defer_after_seconds=0.05)
    add_verb(engine, "slow", slow_verb(0.3, error="That feed does not exist."))
    state = await fake.answered(await fake.interact("slow public"))
    assert state.deferred and not state.callbacks[0].get("data", {}).get("flags", 0) & 64
    assert state.deleted  # the public "thinking…" placeholder is taken away
    assert state.followups[0]["content"] == "That feed does not exist."
    assert state.followups[0]["flags"] & 64


async def test_permission_refusal_names_the_permission_and_roles(
    fake: FakeDiscord, start_bot: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = await start_bot(manager_roles=("Editors",))
    add_verb(engine, "admin", admin_verb)
    refused = await fake.answered(await fake.interact("admin", user_id=USER_ID))
    data = refused.callbacks[0]["data"]
    assert data["flags"] & 64
    assert data["content"] == ("Only someone with the Manage Channels permission or the role "
                               "Editors may change this channel's digest.")
    by_permission = await fake.answered(await fake.interact(
        "admin", user_id=USER_ID, permissions=BASIC_PERMISSIONS | MANAGE_CHANNELS))
    assert by_permission.callbacks[0]["data"]["content"] == "digest changed"
    by_role = await fake.answered(await fake.interact(
        "admin", user_id=USER_ID, roles=(EDITORS_ROLE_ID,)))
    assert by_role.callbacks[0]["data"]["content"] == "digest changed"
    in_dm = await fake.answered(await fake.interact("admin", user_id=USER_ID, guild=False))
    assert in_dm.callbacks[0]["data"]["content"] == "digest changed"


async def test_a_dm_owns_its_digest_but_changes_no_feed_and_an_admin_stops_any_feed(
    fake: FakeDiscord, start_bot: Start
) -> None:
    """Issue 14: from a DM an ordinary member added a feed whose items reached a server
    channel, and the server's admin could not remove it."""
    engine, _ = await start_bot()
    dm = dict(user_id=USER_ID, guild=False, channel_id=940000000000000001)
    added = await fake.answered(await fake.interact("feeds add https://news.example/rss", **dm))
    assert "direct message" in added.callbacks[0]["data"]["content"]
    digest = await fake.answered(await fake.interact("digest 08:00 UTC", **dm))
    assert "Only" not in digest.callbacks[0]["data"]["content"]
    schedule = await engine.store.digests.get_digest_schedule(platform="discord",
                                                      channel_id="940000000000000001")
    assert schedule is not None and schedule.enabled

    feed, _ = await engine.store.feeds.add_feed("https://elsewhere.example/rss",
                                                now=engine.clock(), next_poll_at=engine.clock())
    await engine.store.feeds.link_channel_feed(platform="discord", channel_id="940000000000000001",
                                               feed_id=feed.id)
    member = await fake.answered(await fake.interact(f"feeds remove {feed.id}", user_id=USER_ID))
    assert member.callbacks[0]["data"]["content"].startswith("Only someone with")
    admin = await fake.answered(await fake.interact(
        f"feeds remove {feed.id}", user_id=USER_ID,
        permissions=BASIC_PERMISSIONS | MANAGE_CHANNELS))
    assert "no longer receives articles of feed" in admin.callbacks[0]["data"]["content"]
    assert await engine.store.feeds.channel_muted_feed_ids(
        platform="discord", channel_id=str(CHANNEL_ID)) == [feed.id]


async def test_autocomplete_offers_verbs_and_time_zones(
    fake: FakeDiscord, start_bot: Start
) -> None:
    engine, _ = await start_bot()
    state = await fake.interact("digest 08:00 europe/be", autocomplete=True)
    await fake.wait_for(lambda: state.callbacks)
    callback = state.callbacks[0]
    assert callback["type"] == 8
    values = [c["value"] for c in callback["data"]["choices"]]
    assert "digest 08:00 Europe/Berlin" in values
    assert all(v.startswith("digest 08:00 Europe/Be") for v in values)
    assert all(len(v) <= 100 for v in values) and len(values) <= 25
    verbs = engine.commands.verbs
    assert suggestions("he", verbs) == ["help"]
    assert suggestions("search rock", verbs) == []
    assert "digest 7:30 America/New_York" in suggestions("digest 7:30 new_y", verbs)
    assert len(suggestions("digest 07:30 ", verbs)) == 25
    assert {"subscribe", "digest", "help"} <= set(suggestions("", verbs))


async def test_commands_still_work_after_a_gateway_reconnect(
    fake: FakeDiscord, start_bot: Start
) -> None:
    await start_bot()
    assert len(fake.identifies) == 1
    await fake.reconnect()
    await fake.wait_for(lambda: fake.resumes and fake.connected)
    assert fake.resumes[0]["session_id"] == "fake-session-1"
    assert len(fake.identifies) == 1  # resumed, not re-identified
    state = await fake.answered(await fake.interact("help"))
    assert "/brief" in state.callbacks[0]["data"]["content"]


async def test_dropped_connection_resumes_or_identifies_again(
    fake: FakeDiscord, start_bot: Start
) -> None:
    await start_bot()
    await fake.drop()
    await fake.wait_for(lambda: fake.resumes and fake.connected)
    state = await fake.answered(await fake.interact("help"))
    assert state.callbacks[0]["type"] == 4
    # The session expired meanwhile: op 9 on RESUME, then a fresh IDENTIFY (discord.py waits
    # out Discord's 5 s between identifies: this test's only slow step).
    await fake.drop(forget_session=True)
    await fake.wait_for(lambda: len(fake.identifies) == 2 and fake.connected, within=10)
    state = await fake.answered(await fake.interact("help"))
    assert state.callbacks[0]["type"] == 4


async def test_a_stopped_client_leaves_no_event_coroutine_behind(
    fake: FakeDiscord, make_engine: Callable[..., Any], discord_config: Config
) -> None:
    # The gateway reader can still dispatch while the client closes (the reconnect test above
    # used to leave one "coroutine 'Client._run_event' was never awaited" for the next test
    # to trip over). Stopped, the client schedules nothing and no handler is left pending.
    engine: BriefingEngine = await make_engine(discord_config)
    adapter = DiscordAdapter(engine, "fake-token", guild_ready_timeout=0.05)
    running = asyncio.create_task(adapter.run())
    await asyncio.wait_for(adapter.wait_until_ready(), 5)
    handler_started = asyncio.Event()

    async def on_slow_event() -> None:
        handler_started.set()
        await asyncio.sleep(60)

    adapter.client.on_slow_event = on_slow_event  # type: ignore[attr-defined]
    adapter.client.dispatch("slow_event")
    await asyncio.wait_for(handler_started.wait(), 5)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert adapter.client.is_closed()
    assert not [t for t in asyncio.all_tasks() if "slow_event" in t.get_name()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adapter.client.dispatch("ready")
        adapter.client.dispatch("slow_event")
        gc.collect()
    assert not [str(w.message) for w in caught if "never awaited" in str(w.message)]


# -- deliveries: digests and alerts ------------------------------------------------------------


def many_items(n: int, *, sentences: int = 3, size: int = 500) -> tuple[Item, ...]:
    return tuple(
        Item(title=f"Story {i}: " + "headline " * 40, url=f"https://news.example/{i}",
             source="Example News", published_at=datetime(2026, 3, 1, 8, tzinfo=UTC),
             summary=tuple(f"Sentence {j} of story {i}. " + "word " * (size // 5)
                           for j in range(sentences)),
             article_id=i)
        for i in range(1, n + 1)
    )


async def test_digest_is_posted_to_its_channel_as_embeds(
    fake: FakeDiscord, start_bot: Start
) -> None:
    engine, _ = await start_bot()
    digest = Reply(text="Your daily digest: 2 stories.", items=many_items(2, size=100),
                   kind=ReplyKind.DIGEST, ephemeral=False, footer="Next digest tomorrow 08:00.")
    await engine.deliver(Destination(platform="discord", channel_id=str(CHANNEL_ID)), digest)
    [posted] = fake.messages[CHANNEL_ID]
    assert posted["content"] == "Your daily digest: 2 stories.\n-# Next digest tomorrow 08:00."
    assert [e["url"] for e in posted["embeds"]] == ["https://news.example/1",
                                                     "https://news.example/2"]


async def test_long_digest_is_split_between_items_within_limits(
    fake: FakeDiscord, start_bot: Start
) -> None:
    engine, _ = await start_bot()
    items = many_items(7, sentences=3, size=600)  # ~2,000 characters an embed
    digest = Reply(text="Digest", items=items, kind=ReplyKind.DIGEST, ephemeral=False)
    await engine.deliver(Destination(platform="discord", channel_id=str(CHANNEL_ID)), digest)
    posted = fake.messages[CHANNEL_ID]
    assert len(posted) >= 3
    assert not fake.refused and all(not message_problems(p) for p in posted)
    urls = [e["url"] for p in posted for e in p["embeds"]]
    assert urls == [f"https://news.example/{i}" for i in range(1, 8)]  # all, in order
    for p in posted:
        for e in p["embeds"]:
            assert e["description"].count("• ") == 3  # no item cut in half


async def test_alert_by_dm_and_closed_dms_are_a_permanent_refusal(
    fake: FakeDiscord, start_bot: Start
) -> None:
    engine, _ = await start_bot()
    alert = Reply(text="New match for “rocket”", items=many_items(1, size=100),
                  kind=ReplyKind.ALERT, ephemeral=False)
    await engine.deliver(Destination(platform="discord", user_id=str(USER_ID)), alert)
    [dm] = fake.dm_messages(USER_ID)
    assert dm["content"] == "New match for “rocket”" and len(dm["embeds"]) == 1
    fake.closed_dms.add(OWNER_ID)
    with pytest.raises(DeliveryError) as closed:
        await engine.deliver(Destination(platform="discord", user_id=str(OWNER_ID)), alert)
    assert closed.value.permanent and "direct messages" in str(closed.value)


@pytest.mark.parametrize(("refusal", "words"), [
    ("deleted", "no longer exists"), ("forbidden", "lost access"),
])
async def test_lost_channel_is_a_permanent_refusal(
    fake: FakeDiscord, start_bot: Start, refusal: str, words: str
) -> None:
    engine, _ = await start_bot()
    (fake.deleted_channels if refusal == "deleted" else fake.forbidden_channels).add(CHANNEL_ID)
    with pytest.raises(DeliveryError) as err:
        await engine.deliver(Destination(platform="discord", channel_id=str(CHANNEL_ID)),
                             Reply(text="digest", kind=ReplyKind.DIGEST, ephemeral=False))
    assert err.value.permanent and words in str(err.value)


async def test_a_429_is_waited_out_and_retried(fake: FakeDiscord, start_bot: Start) -> None:
    from bot.metrics import REGISTRY

    def limited() -> float:
        return REGISTRY.get_sample_value("briefbot_platform_rate_limited_total",
                                         {"platform": "discord"}) or 0.0

    engine, _ = await start_bot()
    before = limited()
    fake.rate_limit_next("POST", f"/channels/{CHANNEL_ID}/messages", retry_after=0.05)
    await engine.deliver(Destination(platform="discord", channel_id=str(CHANNEL_ID)),
                         Reply(text="digest", kind=ReplyKind.DIGEST, ephemeral=False))
    assert fake.rate_limited == 1
    assert limited() == before + 1  # GET /metrics counts platform 429s
    assert len(fake.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")) == 2
    assert [m["content"] for m in fake.messages[CHANNEL_ID]] == ["digest"]


async def test_a_very_long_rate_limit_is_a_temporary_refusal(
    fake: FakeDiscord, start_bot: Start
) -> None:
    engine, _ = await start_bot()
    fake.rate_limit_next("POST", f"/channels/{CHANNEL_ID}/messages", retry_after=3600)
    with pytest.raises(DeliveryError) as err:
        await engine.deliver(Destination(platform="discord", channel_id=str(CHANNEL_ID)),
                             Reply(text="digest", kind=ReplyKind.DIGEST, ephemeral=False))
    assert not err.value.permanent


# -- mention-proof output ----------------------------------------------------------------------

PINGS = re.compile(r"@(everyone|here)\b|<@[!&]?\d+>|<#\d+>|</\w+:\d+>", re.IGNORECASE)


async def test_article_text_cannot_ping_anyone_anywhere(
    fake: FakeDiscord, start_bot: Start
) -> None:
    engine, _ = await start_bot()
    await add_article(
        engine, title="@everyone look <@123> **now**", url="https://news.example/ping",
        text=ROCKET_TEXT + " Readers wrote to @here and <@&456> and <@!789> about <#42>. ")
    await fake.answered(await fake.interact("rocket public"))
    await fake.answered(await fake.interact("@everyone <@123>"))  # echoed in "Nothing found"
    evil = Item(title="@here [click](https://evil.example) <@123>", url="https://n.example/x",
                source="@everyone News", summary=("Ping @everyone and <@123> now.",),
                note="matched: @here")
    await engine.deliver(Destination(platform="discord", channel_id=str(CHANNEL_ID)),
                         Reply(text="Digest for @everyone", items=(evil,),
                               kind=ReplyKind.DIGEST, ephemeral=False))
    payloads = fake.message_payloads()
    assert len(payloads) == 3
    for payload in payloads:
        assert payload["allowed_mentions"] == {"parse": []}
        texts = [payload.get("content") or ""]
        for e in payload.get("embeds", []):
            texts += [e.get("title", ""), e.get("description", ""),
                      e.get("footer", {}).get("text", "")]
        for text in texts:
            assert not PINGS.search(text), text
    title = fake.messages[CHANNEL_ID][0]["embeds"][0]["title"]
    assert "\\[click\\]" in title or "\\[click](" in title  # no masked link
    first = payloads[0]["embeds"][0]["title"]
    assert "\\*\\*now\\*\\*" in first  # markdown escaped, shown as typed


def test_escaping_breaks_mentions_but_keeps_addresses_and_links() -> None:
    assert escape_text("mail press@example.com") == "mail press@example.com"
    assert escape_text("see https://x.example/a_b_c") == "see https://x.example/a_b_c"
    for ping in ("@everyone", "@Here", "<@123>", "<@!123>", "<@&456>", "<#789>", "</brief:1>"):
        assert not PINGS.search(escape_text(ping)) and escape_text(ping) != ping
    assert escape_text("**bold** _it_ `code` > quote") == (
        "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` > quote")


def test_embeds_stay_within_limits_for_giant_articles() -> None:
    giant = Item(title="T" * 1000, url="https://n.example/" + "x" * 3000,
                 summary=("S" * 5000, "*" * 5000), source="s" * 3000, article_id=7)
    embed = item_embed(giant)
    assert len(embed.title or "") <= 256
    assert len(embed.description or "") <= 4096
    assert embed.url is None  # over Discord's URL limit: no link rather than a refusal
    messages = render_messages(Reply(text="x" * 4500, items=(giant,) * 12))
    for m in messages:
        payload = {"content": m.content, "embeds": [e.to_dict() for e in m.embeds]}
        assert not message_problems(payload), message_problems(payload)
    assert sum(len(m.embeds) for m in messages) == 12
    assert "".join(m.content for m in messages).count("x") == 4500  # text split, not cut


async def test_digest_fan_out_is_paced_under_the_global_limit(
    fake: FakeDiscord, start_bot: Start
) -> None:
    fake.global_limit = 20  # a small Discord: unpaced, 30 digests at once would trip it
    engine, _ = await start_bot(max_messages_per_second=18.0, send_concurrency=8)
    channels = [str(700000000000000000 + i) for i in range(30)]
    await asyncio.gather(*(
        engine.deliver(Destination(platform="discord", channel_id=c),
                       Reply(text="digest", kind=ReplyKind.DIGEST, ephemeral=False))
        for c in channels
    ))
    assert fake.rate_limited == 0
    assert all(len(fake.messages[int(c)]) == 1 for c in channels)


# -- through the features: links, alerts, digests ------------------------------------------------


@pytest.fixture
async def slow_page() -> AsyncIterator[str]:
    """A news page on 127.0.0.1 that takes 0.6 s to answer, like a slow news site."""
    async def page(request: web.Request) -> web.Response:
        await asyncio.sleep(0.6)
        paragraphs = "".join(f"<p>{s}.</p>" for s in ROCKET_TEXT.split(". "))
        return web.Response(text=f"<html><head><title>Rockets for Ukraine</title></head>"
                            f"<body><article><h1>Rockets for Ukraine</h1>{paragraphs}"
                            "</article></body></html>", content_type="text/html")
    app = web.Application()
    app.router.add_get("/story", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/story"
    await runner.cleanup()


async def test_a_link_is_fetched_after_deferring(
    fake: FakeDiscord, start_bot: Start, slow_page: str
) -> None:
    fake.deadline = 0.4
    await start_bot(defer_after_seconds=0.1)
    state = await fake.answered(await fake.interact(slow_page), within=10)
    assert state.deferred and state.answered_at is not None
    assert state.answered_at - state.created < 0.4
    assert state.original is not None
    assert state.original["content"] == "Fetched, summarised and stored as article #1."
    assert state.original["embeds"][0]["url"] == slow_page
    assert not fake.refused


async def test_subscriptions_and_their_alerts_by_dm_and_in_the_channel(
    fake: FakeDiscord, start_bot: Start, clock: Any
) -> None:

    engine, _ = await start_bot()
    said = await fake.answered(await fake.interact("subscribe rocket", user_id=USER_ID))
    assert said.callbacks[0]["data"]["content"].startswith("Subscribed #1")
    assert said.callbacks[0]["data"]["flags"] & 64
    refused = await fake.answered(await fake.interact("subscribe channel rocket",
                                                      user_id=USER_ID))
    assert refused.callbacks[0]["data"]["content"] == (
        "Only someone with the Manage Channels permission may add alerts to this channel.")
    for_channel = await fake.answered(await fake.interact(
        "subscribe channel rocket", permissions=BASIC_PERMISSIONS | MANAGE_CHANNELS))
    assert for_channel.callbacks[0]["data"]["content"].startswith("Subscribed #2")
    await add_article(engine, title="@everyone rocket systems <@123>",
                      text=ROCKET_TEXT + " Readers told @here about it.")
    clock.advance(seconds=engine.config.alerts.batch_seconds + 1)
    assert await alerts_of(engine).dispatch_due() == 2  # one by DM, one in the channel
    [in_channel] = fake.messages[CHANNEL_ID]
    assert "rocket systems" in in_channel["embeds"][0]["title"]
    [dm] = fake.dm_messages(USER_ID)
    assert dm["allowed_mentions"] == {"parse": []}
    texts = [dm["content"], *(e["title"] for e in dm["embeds"]),
             *(e.get("description", "") for e in dm["embeds"])]
    assert "rocket systems" in dm["embeds"][0]["title"]
    assert not any(PINGS.search(t) for t in texts)


async def test_closed_dms_get_the_alert_skipped_not_retried(
    fake: FakeDiscord, start_bot: Start, clock: Any
) -> None:

    engine, _ = await start_bot()
    await fake.answered(await fake.interact("subscribe rocket", user_id=USER_ID))
    fake.closed_dms.add(USER_ID)
    article_id = await add_article(engine)
    clock.advance(seconds=engine.config.alerts.batch_seconds + 1)
    assert await alerts_of(engine).dispatch_due() == 0
    [state] = await engine.store.alerts.alerts_for_article(article_id)
    assert state.state == "skipped" and "direct messages" in (state.last_error or "")
    sends = len(fake.calls_to("POST", "/channels/"))
    clock.advance(hours=2)
    assert await alerts_of(engine).dispatch_due() == 0
    assert len(fake.calls_to("POST", "/channels/")) == sends  # never tried again


async def test_digest_set_by_a_manager_arrives_in_its_channel_as_embeds(
    fake: FakeDiscord, start_bot: Start, clock: Any
) -> None:
    from bot.digests.scheduler import DigestScheduler

    engine, _ = await start_bot()
    await add_article(engine)
    refused = await fake.answered(await fake.interact("digest 13:00 UTC", user_id=USER_ID))
    assert refused.callbacks[0]["data"]["content"].startswith(
        "Only someone with the Manage Channels permission may")
    said = await fake.answered(await fake.interact(
        "digest 13:00 UTC", user_id=USER_ID, permissions=BASIC_PERMISSIONS | MANAGE_CHANNELS))
    assert said.callbacks[0]["data"]["content"].startswith("Digest set")
    clock.advance(hours=1)
    result = await DigestScheduler(digest_kit(engine)).run_due()
    assert result.sent == (f"discord:{CHANNEL_ID}",)
    posted = fake.messages[CHANNEL_ID]
    assert posted[0]["content"].startswith("Daily digest")
    assert posted[0]["embeds"][0]["url"] == "https://news.example/rockets"
    assert all(p["allowed_mentions"] == {"parse": []} for p in posted)


async def test_deleted_channel_gets_its_digest_disabled(
    fake: FakeDiscord, start_bot: Start, clock: Any
) -> None:
    from bot.digests.scheduler import DigestScheduler

    engine, _ = await start_bot()
    await add_article(engine)
    said = await fake.answered(await fake.interact(
        "digest 13:00 UTC", permissions=BASIC_PERMISSIONS | MANAGE_CHANNELS))
    assert said.callbacks[0]["data"]["content"].startswith("Digest set")
    fake.deleted_channels.add(CHANNEL_ID)
    clock.advance(hours=1)
    result = await DigestScheduler(digest_kit(engine)).run_due()
    assert result.disabled == (f"discord:{CHANNEL_ID}",)
    schedule = await engine.store.digests.get_digest_schedule(platform="discord",
                                                      channel_id=str(CHANNEL_ID))
    assert schedule is not None and not schedule.enabled
    assert "no longer exists" in (schedule.disabled_reason or "")


# -- the real `briefbot run` process, and what starts it ------------------------------------------


def test_discord_adapter_is_started_when_its_token_is_set(engine: BriefingEngine) -> None:
    from adapters import select_adapters
    from adapters.platforms import PLATFORMS
    from bot.config import secrets_from_env

    [adapter] = select_adapters(
        engine, secrets_from_env({"DISCORD_TOKEN": "t0ken"}, platforms=PLATFORMS), PLATFORMS)
    assert isinstance(adapter, DiscordAdapter) and adapter.platform == "discord"
    assert isinstance(adapter, Adapter)  # a Publisher that runs
    [console] = select_adapters(engine, secrets_from_env({}, platforms=PLATFORMS), PLATFORMS)
    assert console.platform == "console"


async def test_a_refused_token_is_one_clear_error(
    fake: FakeDiscord, make_engine: Callable[..., Any], discord_config: Config
) -> None:
    fake.inject("GET", "/users/@me", 401, {"code": 0, "message": "401: Unauthorized"})
    engine = await make_engine(discord_config)
    adapter = DiscordAdapter(engine, "wrong-token", guild_ready_timeout=0.05)
    with pytest.raises(ConfigError, match="Discord refused DISCORD_TOKEN"):
        await asyncio.wait_for(adapter.run(), 10)


async def test_an_unreachable_discord_is_one_clear_error(
    make_engine: Callable[..., Any], discord_config: Config
) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = DISCORD.configure(discord_config, api_base_url=f"http://127.0.0.1:{port}/api/v10",
                               gateway_url=f"ws://127.0.0.1:{port}/")
    engine = await make_engine(config)
    adapter = DiscordAdapter(engine, "any-token", guild_ready_timeout=0.05)
    with pytest.raises(BriefbotError, match=f"cannot reach Discord at http://127.0.0.1:{port}"):
        await asyncio.wait_for(adapter.run(), 10)


async def test_briefbot_run_serves_discord_and_stops_on_sigterm(
    tmp_path: Path, fake: FakeDiscord, sample_path: Path
) -> None:
    token = "run-token-not-for-logs"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[discord]\napi_base_url = "{fake.api_base_url}"\n'
                   f'gateway_url = "{fake.gateway_url}"\n', encoding="utf-8")
    db = tmp_path / "run.db"
    env = {**os.environ, "DISCORD_TOKEN": token, "SLACK_BOT_TOKEN": "", "SLACK_APP_TOKEN": "",
           "SLACK_SIGNING_SECRET": ""}
    ingest = await processes.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "--db", str(db), "ingest",
        str(sample_path), env=env, stdout=asyncio.subprocess.DEVNULL)
    assert await ingest.wait() == 0
    proc = await processes.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "--db", str(db), "run",
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        await fake.wait_for(lambda: fake.identifies and fake.connected, within=60)
        state = await fake.answered(await fake.interact("rocket public"), within=30)
        data = state.callbacks[0]["data"]
        assert data["content"].startswith("Briefing on “rocket”")
        assert data["embeds"] and data["allowed_mentions"] == {"parse": []}
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = err.decode()
    assert proc.returncode == 0, log
    assert "discord: synced /brief globally" in log
    assert "voice will NOT be supported" not in log  # no noise about features we do not use
    assert "Traceback" not in log
    assert token not in log


async def test_briefbot_discord_prints_the_invite_link_and_syncs_on_request(
    tmp_path: Path, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main as cli_main

    async def main(argv: list[str]) -> int:  # the CLI runs its own event loop, elsewhere
        return await asyncio.to_thread(cli_main, argv)

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[discord]\napi_base_url = "{fake.api_base_url}"\n', encoding="utf-8")
    argv = ["--config", str(cfg), "--db", str(tmp_path / "cli.db"), "discord"]
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert await main(argv) == 2
    assert "Set DISCORD_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("DISCORD_TOKEN", "cli-token")
    assert await main(argv) == 0
    out = capsys.readouterr().out
    assert (f"client_id={fake.app_id}&scope=bot+applications.commands"
            f"&permissions={BOT_PERMISSIONS.value}") in out
    assert "/brief uploaded globally" in out
    assert await main(argv) == 0 and "/brief unchanged globally" in capsys.readouterr().out
    assert await main([*argv, "--force"]) == 0
    assert "/brief uploaded globally" in capsys.readouterr().out
    assert len(fake.calls_to("PUT", "/applications/")) == 2
    assert not fake.identifies  # REST only: no gateway connection


async def test_digest_now_posts_in_the_channel_and_says_so(
    fake: FakeDiscord, start_bot: Start
) -> None:
    engine, _ = await start_bot()
    await add_article(engine)
    manager = {"permissions": BASIC_PERMISSIONS | MANAGE_CHANNELS}
    fake.forbidden_channels.add(CHANNEL_ID)
    refused = await fake.answered(await fake.interact("digest now", **manager))
    assert refused.callbacks[0]["data"]["content"] == (
        "Could not post the digest here: Discord refused the digest for "
        f"discord:channel:{CHANNEL_ID}: the bot lost access to the channel.")
    fake.forbidden_channels.clear()
    said = await fake.answered(await fake.interact("digest now", **manager))
    assert said.callbacks[0]["data"]["content"] == "Posted a digest here: 1 story."
    [posted] = fake.messages[CHANNEL_ID]
    assert posted["embeds"][0]["title"] == "US to send rocket systems"


async def test_a_retry_after_a_failed_part_posts_only_the_parts_missing(
    fake: FakeDiscord, start_bot: Start
) -> None:
    engine, _ = await start_bot()
    digest = Reply(text="Digest", items=many_items(25, sentences=1, size=100),
                   kind=ReplyKind.DIGEST, ephemeral=False, footer="Next digest: tomorrow",
                   delivery_key="digest:1")
    parts = len(render_messages(digest))
    assert parts == 3
    where = Destination(platform="discord", channel_id=str(CHANNEL_ID))
    fake.channel_limit = (100, 1.0)
    fake.inject("POST", f"/channels/{CHANNEL_ID}/messages", 400,
                {"code": 50035, "message": "Invalid Form Body"}, after=1)
    with pytest.raises(DeliveryError) as info:
        await engine.deliver(where, digest)
    assert not info.value.permanent
    assert len(fake.messages[CHANNEL_ID]) == 1
    await engine.deliver(where, digest)  # the scheduler's retry
    posted = fake.messages[CHANNEL_ID]
    urls = [e["url"] for p in posted for e in p["embeds"]]
    assert urls == [f"https://news.example/{i}" for i in range(1, 26)]  # each once, in order
    assert len(fake.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")) == parts + 1
    # every part carries its own nonce, the same on every attempt, enforced
    sent = [c.body for c in fake.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")]
    assert all(b["enforce_nonce"] is True for b in sent)
    assert sent[1]["nonce"] == sent[2]["nonce"]  # part 2, refused then retried
    assert len({sent[0]["nonce"], sent[2]["nonce"], sent[3]["nonce"]}) == 3
    assert [b["nonce"] for b in sent[2:]] == [part_nonce("digest:1", f"channel:{CHANNEL_ID}", k)
                                              for k in (1, 2)]
    # complete: asked again (a process stopped before recording the digest), nothing posted
    await engine.deliver(where, digest)
    assert len(fake.messages[CHANNEL_ID]) == parts
    # another delivery of the same content is posted in full
    await engine.deliver(where, replace(digest, delivery_key="digest:2"))
    assert len(fake.messages[CHANNEL_ID]) == 2 * parts
    # a DM too
    fake.inject("POST", "/channels/", 400, {"code": 50035, "message": "Invalid Form Body"},
                after=2)
    dm = replace(digest, delivery_key="alerts:dm")
    with pytest.raises(DeliveryError):
        await engine.deliver(Destination(platform="discord", user_id=str(USER_ID)), dm)
    await engine.deliver(Destination(platform="discord", user_id=str(USER_ID)), dm)
    assert len(fake.dm_messages(USER_ID)) == parts


async def test_a_part_accepted_but_never_recorded_is_not_posted_twice(
    fake: FakeDiscord, start_bot: Start
) -> None:
    # The process posted every part and stopped before recording them (Discord accepted
    # them; the database never heard). The retry sends the same nonces: Discord (enforce_nonce)
    # answers with the messages created first and creates none.
    engine, _ = await start_bot()
    digest = Reply(text="Digest", items=many_items(25, sentences=1, size=100),
                   kind=ReplyKind.DIGEST, ephemeral=False, delivery_key="digest:9")
    parts = len(render_messages(digest))
    where = Destination(platform="discord", channel_id=str(CHANNEL_ID))
    fake.channel_limit = (100, 1.0)
    await engine.deliver(where, digest)
    assert len(fake.messages[CHANNEL_ID]) == parts
    await run_sql(engine.store, "DELETE FROM deliveries")  # the records lost
    await engine.deliver(where, digest)
    assert len(fake.messages[CHANNEL_ID]) == parts
    assert fake.nonce_hits == parts
    # past Discord's window the nonce no longer holds: that is where exactly-once ends
    fake.nonce_seconds = 0.0
    await run_sql(engine.store, "DELETE FROM deliveries")
    await engine.deliver(where, digest)
    assert len(fake.messages[CHANNEL_ID]) == 2 * parts


def test_embed_links_carry_no_characters_a_url_may_not_hold() -> None:
    item = replace(many_items(1, size=50)[0], url='https://news.example/a?b=1&c=<x>|y>z"`^{}')
    embed = item_embed(item)
    assert embed.url == "https://news.example/a?b=1&c=%3Cx%3E%7Cy%3Ez%22%60%5E%7B%7D"
    assert item_embed(replace(item, url="https://news.example/a b")).url is None
    assert item_embed(replace(item, url="javascript:alert(1)")).url is None
    long = "https://news.example/" + "<" * 700  # 2,100 characters once encoded
    assert item_embed(replace(item, url=long)).url is None


async def test_a_locked_archived_thread_is_a_permanent_refusal(
    fake: FakeDiscord, start_bot: Start
) -> None:
    engine, _ = await start_bot()
    fake.inject("POST", f"/channels/{CHANNEL_ID}/messages", 400,
                {"code": 50083, "message": "Thread is archived"})
    with pytest.raises(DeliveryError) as err:
        await engine.deliver(Destination(platform="discord", channel_id=str(CHANNEL_ID)),
                             Reply(text="digest", kind=ReplyKind.DIGEST, ephemeral=False))
    assert err.value.permanent and "thread is archived" in str(err.value)


# -- shards ---------------------------------------------------------------------------------


async def test_two_processes_each_running_half_the_shards_answer_their_own_guilds(
        start_bot: Start, fake: FakeDiscord) -> None:
    """[discord] shard_count = 2 with shard_ids [0] in one process and [1] in the other: each
    gateway session IDENTIFYs with its shard and gets only its guilds, and every /brief is
    answered once, by the process whose shard holds the guild."""
    second_guild, second_channel = GUILD_ID + (1 << 22), CHANNEL_ID + 7
    assert (GUILD_ID >> 22) % 2 == 0 and (second_guild >> 22) % 2 == 1
    fake.guilds.append(fake.guild_payload(second_guild, second_channel, "Second"))
    _, first = await start_bot(shard_count=2, shard_ids=(0,))
    _, second = await start_bot(shard_count=2, shard_ids=(1,))
    assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(0, 2), (1, 2)]
    assert [g.id for g in first.client.guilds] == [GUILD_ID]
    assert [g.id for g in second.client.guilds] == [second_guild]
    for guild, channel in ((GUILD_ID, CHANNEL_ID), (second_guild, second_channel)):
        state = await fake.answered(await fake.interact("help", guild_id=guild,
                                                        channel_id=channel))
        await asyncio.sleep(0.2)  # a second answer, were there one, would be here by now
        assert len(state.callbacks) == 1
