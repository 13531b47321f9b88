"""The Slack adapter end to end: real slack-bolt and slack_sdk against a fake Slack on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml
from conftest import alerts_of, run_sql
from fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack, check_message

from adapters import select_adapters
from adapters.platforms import PLATFORMS, SLACK
from adapters.slack_adapter import ADMIN_HINT, SlackAdapter
from adapters.slack_blocks import MAX_BLOCKS, MAX_MESSAGE_CHARS, escape, render_reply
from adapters.slack_config import SlackConfig
from bot.app import digest_kit
from bot.config import Config, Secrets
from bot.engine import BriefingEngine
from bot.errors import ConfigError, DeliveryError
from bot.models import Caller, Destination, Item, Reply, ReplyKind
from tests import processes

SECRET = "test-signing-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack(users={
        "UWSADMIN": {"is_admin": True},
        "UOWNER": {"is_owner": True},
        "UUSER": {"is_admin": False, "is_owner": False},
    }).start()
    yield server
    await server.close()


@pytest.fixture
def slack_config(config: Config, fake: FakeSlack) -> Config:
    return SLACK.configure(
        config, api_base_url=fake.api_url, http_host="127.0.0.1", http_port=0,
        post_interval_seconds=0.0, admins=("UCFGADMIN",),
    )


@pytest.fixture
async def slack_engine(make_engine: Callable[..., Any], slack_config: Config,
                       sample_path: Path) -> BriefingEngine:
    engine: BriefingEngine = await make_engine(slack_config)
    await engine.ingest_file(sample_path)
    return engine


@pytest.fixture
async def http_adapter(slack_engine: BriefingEngine) -> AsyncIterator[SlackAdapter]:
    adapter = SlackAdapter(slack_engine, bot_token=BOT_TOKEN, signing_secret=SECRET)
    slack_engine.add_publisher(adapter)
    await adapter.start()
    yield adapter
    await adapter.close()


def command_form(fake: FakeSlack, text: str, *, user: str = "UUSER", channel: str = "C1",
                 response: str = "1") -> dict[str, str]:
    return {
        "token": "legacy", "team_id": "T1", "team_domain": "fake", "channel_id": channel,
        "channel_name": "general", "user_id": user, "user_name": "someone",
        "command": "/brief", "text": text, "api_app_id": "A1",
        "response_url": fake.response_url(response), "trigger_id": "1.2.3",
    }


def signed_headers(body: str, *, secret: str = SECRET, timestamp: int | None = None
                   ) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


async def post_command(adapter: SlackAdapter, body: str, headers: dict[str, str]
                       ) -> tuple[int, str]:
    url = f"http://127.0.0.1:{adapter.port}/slack/events"
    async with aiohttp.ClientSession() as session, session.post(
            url, data=body.encode(), headers=headers) as resp:
        return resp.status, await resp.text()


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


# -- /brief over HTTP -----------------------------------------------------------------------


async def test_signed_brief_over_http_is_acked_then_answered_with_blocks(
        http_adapter: SlackAdapter, fake: FakeSlack) -> None:
    body = urlencode(command_form(fake, "rocket"))
    status, text = await post_command(http_adapter, body, signed_headers(body))
    assert status == 200
    assert text == ""  # the ack is empty; the answer follows through response_url
    answer = (await fake.wait_for(lambda: fake.responses))[0]
    assert answer.args["response_type"] == "ephemeral"
    blocks = answer.blocks
    assert blocks[0]["type"] == "section"
    assert "Briefing on “rocket”" in blocks[0]["text"]["text"]
    title = blocks[1]["text"]["text"]
    assert title.startswith("*") and "rocket" in title.lower()
    context = blocks[2]
    assert context["type"] == "context"
    assert "<!date^" in context["elements"][0]["text"]  # the reader's own time zone
    summary = blocks[3]["text"]["text"]
    assert summary.startswith("• ")
    assert "Briefing on" in answer.args["text"]  # plain-text fallback for notifications
    assert check_message(blocks) is None


async def test_public_posts_the_answer_in_the_channel(
        http_adapter: SlackAdapter, fake: FakeSlack) -> None:
    body = urlencode(command_form(fake, "rocket public"))
    status, _ = await post_command(http_adapter, body, signed_headers(body))
    assert status == 200
    answer = (await fake.wait_for(lambda: fake.responses))[0]
    assert answer.args["response_type"] == "in_channel"


@pytest.mark.parametrize("case", ["bad signature", "stale timestamp", "no headers",
                                  "no signature"])
async def test_unsigned_or_stale_requests_get_401_and_never_reach_the_engine(
        http_adapter: SlackAdapter, slack_engine: BriefingEngine, fake: FakeSlack,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, case: str) -> None:
    seen: list[str] = []
    real = slack_engine.handle_command

    async def recording(text: str, caller: Caller) -> Reply:
        seen.append(text)
        return await real(text, caller)

    monkeypatch.setattr(slack_engine, "handle_command", recording)
    body = urlencode(command_form(fake, "bad", response="bad"))
    headers = {
        "bad signature": signed_headers(body, secret="not-the-secret"),
        "stale timestamp": signed_headers(body, timestamp=int(time.time()) - 6 * 60),
        "no headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "no signature": {k: v for k, v in signed_headers(body).items()
                         if k != "X-Slack-Signature"},
    }[case]
    with caplog.at_level(logging.DEBUG):
        status, _ = await post_command(http_adapter, body, headers)
    assert status == 401
    assert "token=legacy" not in caplog.text and "response_url" not in caplog.text
    # A good request afterwards is answered, and it is the only one the engine saw.
    good = urlencode(command_form(fake, "good", response="good"))
    assert (await post_command(http_adapter, good, signed_headers(good)))[0] == 200
    await fake.wait_for(lambda: fake.responses)
    await asyncio.sleep(0.05)
    assert seen == ["good"]
    assert [r.method for r in fake.responses] == ["good"]


async def test_a_replayed_signed_request_is_refused_even_by_another_process(
        http_adapter: SlackAdapter, slack_engine: BriefingEngine, fake: FakeSlack,
        make_engine: Callable[..., Any], slack_config: Config, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Issue 14: a captured request (an admin's `digest off`) replayed within the 5-minute
    window is refused with 401, by this process and by another one on the same database."""
    seen: list[str] = []
    real = slack_engine.handle_command

    async def recording(text: str, caller: Caller) -> Reply:
        seen.append(text)
        return await real(text, caller)

    monkeypatch.setattr(slack_engine, "handle_command", recording)
    body = urlencode(command_form(fake, "digest off", user="UWSADMIN", response="once"))
    headers = signed_headers(body)
    assert (await post_command(http_adapter, body, headers))[0] == 200
    await fake.wait_for(lambda: fake.responses)
    with caplog.at_level(logging.INFO):
        assert (await post_command(http_adapter, body, headers))[0] == 401
    assert "replayed" in caplog.text and "response_url" not in caplog.text
    other_engine = await make_engine(slack_config)
    other = SlackAdapter(other_engine, bot_token=BOT_TOKEN, signing_secret=SECRET)
    await other.start()
    try:
        assert (await post_command(other, body, headers))[0] == 401
    finally:
        await other.close()
    # the same command signed afresh (a new timestamp) is a new request
    again = signed_headers(body, timestamp=int(time.time()) + 1)
    assert (await post_command(http_adapter, body, again))[0] == 200
    await fake.wait_for(lambda: len(fake.responses) >= 2)
    await asyncio.sleep(0.05)
    assert seen == ["digest off", "digest off"]


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", " 17", "١٢٣", "9" * 40, "-5"])
async def test_a_malformed_timestamp_gets_401_not_a_traceback(
        http_adapter: SlackAdapter, fake: FakeSlack, caplog: pytest.LogCaptureFixture,
        timestamp: str) -> None:
    body = urlencode(command_form(fake, "rocket", response="ts"))
    headers = {**signed_headers(body), "X-Slack-Request-Timestamp": timestamp}
    with caplog.at_level(logging.DEBUG):
        status, _ = await post_command(http_adapter, body, headers)
    assert status == 401
    assert "Traceback" not in caplog.text and "ValueError" not in caplog.text
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)
    await asyncio.sleep(0.05)
    assert fake.responses == []


async def test_response_urls_never_reach_a_log_line_even_at_debug(
        http_adapter: SlackAdapter, fake: FakeSlack, debug_log: io.StringIO) -> None:
    """Issue 14: ``-v`` logged response_urls (slack-bolt's and slack_sdk's DEBUG lines too),
    also for a replayed request and one with a bad signature."""
    body = urlencode(command_form(fake, "rocket", response="secret-hook-1"))
    headers = signed_headers(body)
    assert (await post_command(http_adapter, body, headers))[0] == 200
    await fake.wait_for(lambda: fake.responses)
    assert (await post_command(http_adapter, body, headers))[0] == 401  # a replay
    forged = urlencode(command_form(fake, "rocket", response="secret-hook-2"))
    bad = signed_headers(forged, secret="not-the-secret")
    assert (await post_command(http_adapter, forged, bad))[0] == 401
    await asyncio.sleep(0.05)
    logged = debug_log.getvalue()
    assert "/resp/" not in logged and "secret-hook" not in logged, logged
    assert "[redacted]" in logged  # the SDKs did log them


async def test_errors_are_ephemeral_and_say_what_to_do(
        http_adapter: SlackAdapter, fake: FakeSlack) -> None:
    body = urlencode(command_form(fake, "999999 public"))
    await post_command(http_adapter, body, signed_headers(body))
    answer = (await fake.wait_for(lambda: fake.responses))[0]
    assert answer.args["response_type"] == "ephemeral"
    assert "There is no article #999999" in answer.blocks[0]["text"]["text"]


# -- Socket Mode ----------------------------------------------------------------------------


async def test_brief_through_socket_mode(slack_engine: BriefingEngine, fake: FakeSlack) -> None:
    adapter = SlackAdapter(slack_engine, bot_token=BOT_TOKEN, app_token=APP_TOKEN)
    assert adapter.mode == "socket"
    await adapter.start()
    try:
        assert fake.calls_to("apps.connections.open")[0].headers["Authorization"] == (
            f"Bearer {APP_TOKEN}")
        payload = command_form(fake, "rocket", response="sock")
        ack = await fake.push({"envelope_id": "env-1", "type": "slash_commands",
                               "accepts_response_payload": True, "payload": payload})
        assert ack["envelope_id"] == "env-1"
        answer = (await fake.wait_for(lambda: fake.responses))[0]
        assert answer.method == "sock"
        assert "Briefing on “rocket”" in answer.blocks[0]["text"]["text"]
    finally:
        await adapter.close()


async def test_refused_app_token_is_a_clear_error(slack_engine: BriefingEngine,
                                                  fake: FakeSlack) -> None:
    adapter = SlackAdapter(slack_engine, bot_token=BOT_TOKEN, app_token="xapp-wrong")
    with pytest.raises(ConfigError, match=r"SLACK_APP_TOKEN.*invalid_auth"):
        await adapter.start()
    await adapter.close()


async def test_refused_bot_token_is_a_clear_error(slack_engine: BriefingEngine,
                                                  fake: FakeSlack) -> None:
    adapter = SlackAdapter(slack_engine, bot_token="xoxb-wrong", signing_secret=SECRET)
    with pytest.raises(ConfigError, match=r"SLACK_BOT_TOKEN.*invalid_auth") as info:
        await adapter.start()
    await adapter.close()
    assert "xoxb-wrong" not in str(info.value)


def test_http_mode_without_signing_secret_is_refused(slack_engine: BriefingEngine) -> None:
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        SlackAdapter(slack_engine, bot_token=BOT_TOKEN)


def test_swapped_tokens_are_named(slack_engine: BriefingEngine) -> None:
    with pytest.raises(ConfigError, match="look swapped") as info:
        SlackAdapter(slack_engine, bot_token="xapp-1-secret", app_token="xoxb-secret")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(("key", "value"), [("api_base_url", "slack.com/api"),
                                            ("command", "brief"), ("http_path", "slack")])
def test_bad_slack_settings_are_refused_naming_the_key(
        slack_engine: BriefingEngine, slack_config: Config, key: str, value: str) -> None:
    bad = replace(SLACK.section(slack_config), **{key: value})
    with pytest.raises(ConfigError, match=rf"\[slack\] {key} must"):
        SlackAdapter(slack_engine, bot_token=BOT_TOKEN, signing_secret=SECRET, config=bad)


def test_select_adapters_starts_slack_when_its_token_is_set(
        slack_engine: BriefingEngine) -> None:
    adapters = select_adapters(slack_engine, Secrets({"SLACK_BOT_TOKEN": BOT_TOKEN,
                                                      "SLACK_SIGNING_SECRET": SECRET}), PLATFORMS)
    assert [a.platform for a in adapters] == ["slack"]
    assert select_adapters(slack_engine, Secrets(), PLATFORMS)[0].platform == "console"
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        select_adapters(slack_engine, Secrets({"SLACK_BOT_TOKEN": BOT_TOKEN}), PLATFORMS)


# -- delivering digests and alerts ----------------------------------------------------------


def make_item(n: int, *, title: str | None = None, summary: tuple[str, ...] | None = None,
              url: str | None = None) -> Item:
    return Item(
        title=title or f"Story number {n}",
        url=url or f"https://news.example/{n}",
        source="Example News",
        published_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
        summary=summary or (f"First sentence of story {n}.", f"Second sentence of story {n}."),
        article_id=n,
    )


async def test_digest_posts_block_kit_to_its_channel(http_adapter: SlackAdapter,
                                                     fake: FakeSlack) -> None:
    reply = Reply(text="Your daily briefing", items=(make_item(1), make_item(2)),
                  kind=ReplyKind.DIGEST, ephemeral=False, footer="2 stories since yesterday")
    await http_adapter.deliver(Destination(platform="slack", channel_id="CDIGEST"), reply)
    (call,) = fake.calls_to("chat.postMessage")
    assert call.args["channel"] == "CDIGEST"
    assert call.args["unfurl_links"] is False
    types = [b["type"] for b in call.blocks]
    assert types == ["header", "section", "context", "section", "divider",
                     "section", "context", "section", "context"]
    assert call.blocks[0]["text"] == {"type": "plain_text", "text": "Your daily briefing",
                                      "emoji": True}
    assert call.blocks[1]["text"]["text"] == "*<https://news.example/1|Story number 1>*"
    assert "Example News" in call.blocks[2]["elements"][0]["text"]
    assert "#1" in call.blocks[2]["elements"][0]["text"]
    assert call.blocks[3]["text"]["text"] == (
        "• First sentence of story 1.\n• Second sentence of story 1.")
    assert call.args["text"].startswith("Your daily briefing")


async def test_alert_goes_to_the_subscriber_by_dm_or_to_the_channel(
        http_adapter: SlackAdapter, fake: FakeSlack) -> None:
    alert = Reply(text="New match for “rocket”", items=(make_item(7),), kind=ReplyKind.ALERT,
                  ephemeral=False)
    await http_adapter.deliver(Destination(platform="slack", user_id="USUB"), alert)
    await http_adapter.deliver(Destination(platform="slack", user_id="USUB"), alert)
    assert [c.args["users"] for c in fake.calls_to("conversations.open")] == ["USUB"]  # cached
    await http_adapter.deliver(Destination(platform="slack", channel_id="CALERTS"), alert)
    posts = fake.calls_to("chat.postMessage")
    assert [p.args["channel"] for p in posts] == ["DUSUB", "DUSUB", "CALERTS"]
    assert all(p.blocks[1]["text"]["text"].startswith("*<https://news.example/7|")
               for p in posts)


async def test_rate_limited_post_is_retried_after_retry_after(http_adapter: SlackAdapter,
                                                              fake: FakeSlack) -> None:
    from bot.metrics import REGISTRY

    def limited() -> float:
        return REGISTRY.get_sample_value("briefbot_platform_rate_limited_total",
                                         {"platform": "slack"}) or 0.0

    before = limited()
    fake.fail_next("chat.postMessage", status=429, headers={"Retry-After": "0"},
                   body={"ok": False, "error": "ratelimited"})
    reply = Reply(items=(make_item(1),), kind=ReplyKind.DIGEST, ephemeral=False)
    await http_adapter.deliver(Destination(platform="slack", channel_id="C1"), reply)
    assert limited() == before + 1  # GET /metrics counts platform 429s
    calls = fake.calls_to("chat.postMessage")
    assert len(calls) == 2
    assert calls[0].args == calls[1].args


async def test_rate_limit_that_persists_is_a_temporary_failure(
        slack_engine: BriefingEngine, slack_config: Config, fake: FakeSlack) -> None:
    from bot.metrics import REGISTRY

    def limited() -> float:
        return REGISTRY.get_sample_value("briefbot_platform_rate_limited_total",
                                         {"platform": "slack"}) or 0.0

    before = limited()
    adapter = SlackAdapter(slack_engine, bot_token=BOT_TOKEN, signing_secret=SECRET,
                           config=replace(SLACK.section(slack_config), max_retries=0))
    fake.fail_next("chat.postMessage", status=429, headers={"Retry-After": "30"},
                   body={"ok": False, "error": "ratelimited"})
    reply = Reply(items=(make_item(1),), kind=ReplyKind.DIGEST, ephemeral=False)
    with pytest.raises(DeliveryError) as info:
        await adapter.deliver(Destination(platform="slack", channel_id="C1"), reply)
    assert info.value.permanent is False
    assert limited() == before + 1  # the last 429, not retried, is counted too


@pytest.mark.parametrize("code", ["not_in_channel", "channel_not_found", "is_archived"])
async def test_removed_channel_is_a_permanent_delivery_error(
        http_adapter: SlackAdapter, fake: FakeSlack, code: str) -> None:
    fake.removed_channels["CGONE"] = code
    reply = Reply(items=(make_item(1),), kind=ReplyKind.DIGEST, ephemeral=False)
    with pytest.raises(DeliveryError, match=code) as info:
        await http_adapter.deliver(Destination(platform="slack", channel_id="CGONE"), reply)
    assert info.value.permanent is True


async def test_revoked_token_is_not_permanent(http_adapter: SlackAdapter,
                                              fake: FakeSlack) -> None:
    # One revoked token fails every channel: that must not disable every digest.
    fake.fail_next("chat.postMessage", body={"ok": False, "error": "token_revoked"})
    reply = Reply(items=(make_item(1),), kind=ReplyKind.DIGEST, ephemeral=False)
    with pytest.raises(DeliveryError) as info:
        await http_adapter.deliver(Destination(platform="slack", channel_id="C1"), reply)
    assert info.value.permanent is False


async def test_article_text_cannot_ping_or_link(http_adapter: SlackAdapter,
                                                fake: FakeSlack) -> None:
    evil = make_item(
        3,
        title="<!channel> Rockets & <@U123> <https://evil.example|click> @here",
        summary=("<!here> attention <@U123>: see <https://evil.example|this>.",
                 "Plain @everyone and <!subteam^S1> too."),
        url="https://news.example/a?b=1&c=<x>|y",
    )
    evil = replace(evil, source="<!everyone> Wire", note="matched: <@U999>")
    reply = Reply(text="Alert for <!channel>", items=(evil,), kind=ReplyKind.ALERT,
                  ephemeral=False)
    await http_adapter.deliver(Destination(platform="slack", channel_id="C1"), reply)
    (call,) = fake.calls_to("chat.postMessage")
    posted = all_text(call.blocks) + call.args["text"]
    for forbidden in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<@U999>",
                      "<!subteam", "<https://evil.example", "@here", "@everyone"):
        assert forbidden not in posted
    assert "&lt;!channel&gt; Rockets &amp; &lt;@U123&gt;" in posted
    # the only link is the title's, with the URL's own special characters neutralised
    assert call.blocks[1]["text"]["text"].startswith(
        "*<https://news.example/a?b=1&amp;c=%3Cx%3E%7Cy|&lt;!channel&gt;")


async def test_long_digest_is_split_within_limits_and_nothing_is_lost(
        http_adapter: SlackAdapter, fake: FakeSlack) -> None:
    long_sentence = "A long sentence about rockets and artillery systems. " * 9
    items = tuple(make_item(n, summary=(long_sentence, long_sentence, f"End of {n}."))
                  for n in range(1, 41))
    reply = Reply(text="Daily briefing", items=items, kind=ReplyKind.DIGEST, ephemeral=False)
    await http_adapter.deliver(Destination(platform="slack", channel_id="C1"), reply)
    posts = fake.calls_to("chat.postMessage")
    assert len(posts) > 1
    seen_titles: list[str] = []
    for post in posts:
        assert check_message(post.blocks) is None  # Slack would accept it
        assert len(post.blocks) <= MAX_BLOCKS
        assert post.blocks[-1]["type"] != "divider"
        text = all_text(post.blocks)
        seen_titles += [f"Story number {n}" for n in range(1, 41)
                        if f"|Story number {n}>" in text]
    assert seen_titles == [f"Story number {n}" for n in range(1, 41)]  # in order, each once
    ends = sum(all_text(p.blocks).count("End of ") for p in posts)
    assert ends == 40
    assert posts[1].args["text"].startswith("Daily briefing (2/")


async def test_messages_to_one_channel_are_paced(
        slack_engine: BriefingEngine, slack_config: Config, fake: FakeSlack) -> None:
    adapter = SlackAdapter(slack_engine, bot_token=BOT_TOKEN, signing_secret=SECRET,
                           config=replace(SLACK.section(slack_config), post_interval_seconds=0.2))
    reply = Reply(items=(make_item(1),), kind=ReplyKind.ALERT, ephemeral=False)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(adapter.deliver(Destination(platform="slack", channel_id="C1"),
                                           reply) for _ in range(3)))
    assert loop.time() - start >= 0.4
    other = loop.time()
    await adapter.deliver(Destination(platform="slack", channel_id="C2"), reply)
    assert loop.time() - other < 0.2  # another channel does not wait for C1
    assert len(fake.calls_to("chat.postMessage")) == 4


async def test_answer_beyond_five_response_url_posts_goes_through_the_web_api(
        http_adapter: SlackAdapter, fake: FakeSlack) -> None:
    big = "word " * 500
    items = tuple(make_item(n, summary=(big, big, big, big)) for n in range(1, 15))
    caller = Caller(platform="slack", user_id="UUSER", channel_id="C1")
    reply = Reply(text="Many", items=items)
    parts = len(render_reply(reply))
    assert parts > 5
    await http_adapter.send_answer(reply, caller=caller, response_url=fake.response_url("r"))
    assert len(fake.responses) == 5
    ephemeral = fake.calls_to("chat.postEphemeral")
    assert len(ephemeral) == parts - 5
    assert all(c.args["user"] == "UUSER" and c.args["channel"] == "C1" for c in ephemeral)


# -- permissions ----------------------------------------------------------------------------


async def test_admins_are_configured_users_and_workspace_admins_or_owners(
        http_adapter: SlackAdapter, fake: FakeSlack) -> None:
    assert await http_adapter.is_admin("UCFGADMIN")
    assert not fake.calls_to("users.info")  # the config answers without asking Slack
    assert await http_adapter.is_admin("UWSADMIN")
    assert await http_adapter.is_admin("UOWNER")
    assert not await http_adapter.is_admin("UUSER")
    assert not await http_adapter.is_admin("UUNKNOWN")  # users.info failed: not an admin
    assert not await http_adapter.is_admin("UUSER")
    assert not await http_adapter.is_admin("UUNKNOWN")
    asked = [c.args["user"] for c in fake.calls_to("users.info")]
    assert asked.count("UUSER") == 1  # cached
    assert asked.count("UUNKNOWN") == 1  # a failure is remembered briefly too


async def test_command_caller_carries_admin_status_and_hint(
        http_adapter: SlackAdapter, slack_engine: BriefingEngine, fake: FakeSlack,
        monkeypatch: pytest.MonkeyPatch) -> None:
    callers: list[Caller] = []
    real = slack_engine.handle_command

    async def recording(text: str, caller: Caller) -> Reply:
        callers.append(caller)
        return await real(text, caller)

    monkeypatch.setattr(slack_engine, "handle_command", recording)
    for user, name in (("UWSADMIN", "a"), ("UUSER", "u")):
        body = urlencode(command_form(fake, "help", user=user, response=name))
        await post_command(http_adapter, body, signed_headers(body))
    await fake.wait_for(lambda: len(fake.responses) == 2)
    by_user = {c.user_id: c for c in callers}
    assert by_user["UWSADMIN"].is_admin and not by_user["UUSER"].is_admin
    assert by_user["UUSER"].admin_hint == ADMIN_HINT
    assert by_user["UUSER"].channel_id == "C1"


# -- rendering ------------------------------------------------------------------------------


def test_escape_neutralises_markup_and_broadcasts() -> None:
    assert escape("a & b <!here> <@U1>") == "a &amp; b &lt;!here&gt; &lt;@U1&gt;"
    assert "@channel" not in escape("hey @channel")


def test_one_item_bigger_than_a_message_is_split_between_its_blocks() -> None:
    sentence = "x" * 590 + " end."
    item = make_item(1, summary=tuple(f"{sentence} {i}" for i in range(30)))
    messages = render_reply(Reply(items=(item,), kind=ReplyKind.DIGEST))
    assert len(messages) >= 2
    text = "".join(all_text(list(m.blocks)) for m in messages)
    for i in range(30):
        assert f"end. {i}" in text
    for m in messages:
        assert check_message(list(m.blocks)) is None
        assert m.chars <= MAX_MESSAGE_CHARS


def test_title_without_a_safe_url_is_not_linked() -> None:
    (message,) = render_reply(Reply(items=(make_item(1, url="javascript:alert(1)"),)))
    assert message.blocks[0]["text"]["text"] == "*Story number 1*"


def test_manifest_declares_the_command_and_only_the_scopes_used() -> None:
    path = Path(__file__).resolve().parent.parent / "adapters" / "slack_manifest.yaml"
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == SlackConfig().command
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands", "chat:write", "im:write", "users:read", "channels:history", "groups:history",
        "im:history"}
    assert manifest["settings"]["socket_mode_enabled"] is True


# -- the real `briefbot run` process --------------------------------------------------------


async def test_briefbot_run_serves_slack_in_socket_mode_and_stops_on_sigterm(
        tmp_path: Path, fake: FakeSlack, sample_path: Path) -> None:
    import os
    import signal
    import sys

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[slack]\napi_base_url = "{fake.api_url}"\n', encoding="utf-8")
    db = tmp_path / "run.db"
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN,
           "SLACK_SIGNING_SECRET": "", "DISCORD_TOKEN": ""}
    ingest = await processes.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "--db", str(db), "ingest",
        str(sample_path), env=env, stdout=asyncio.subprocess.DEVNULL)
    assert await ingest.wait() == 0
    proc = await processes.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "--db", str(db), "run",
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        await fake.wait_for(lambda: fake.connected, within=60)
        ack = await fake.push({"envelope_id": "run-1", "type": "slash_commands",
                               "payload": command_form(fake, "rocket public", response="run")})
        assert ack["envelope_id"] == "run-1"
        answer = (await fake.wait_for(lambda: fake.responses, within=30))[0]
        assert answer.args["response_type"] == "in_channel"
        assert "Briefing on “rocket”" in answer.blocks[0]["text"]["text"]
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = err.decode()
    assert proc.returncode == 0, log
    assert "Socket Mode connected" in log
    assert "Traceback" not in log and "WARNING" not in log
    assert BOT_TOKEN not in log and APP_TOKEN not in log


# -- through the digest feature -------------------------------------------------------------


async def brief(adapter: SlackAdapter, fake: FakeSlack, text: str, *, user: str,
                channel: str = "C1") -> str:
    """Run one signed /brief over HTTP; the answer's text as the user sees it."""
    name = f"r{len(fake.responses)}-{user}"
    body = urlencode(command_form(fake, text, user=user, channel=channel, response=name))
    status, _ = await post_command(adapter, body, signed_headers(body))
    assert status == 200
    answer = await fake.wait_for(
        lambda: next((r for r in fake.responses if r.method == name), None))
    return "\n".join(b["text"]["text"] for b in answer.blocks if b["type"] == "section")


async def test_a_dm_owns_its_digest_but_changes_no_feed_and_an_admin_stops_any_feed(
        http_adapter: SlackAdapter, slack_engine: BriefingEngine, fake: FakeSlack) -> None:
    """Issue 14, the same review for Slack: in a DM a member sets a personal digest; nobody,
    not even a workspace admin, changes feeds from a DM; a workspace admin stops a feed that
    other channels follow reaching their channel."""
    text = await brief(http_adapter, fake, "digest 08:00 UTC", user="UUSER", channel="D1")
    assert "Only" not in text
    schedule = await slack_engine.store.digests.get_digest_schedule(platform="slack",
                                                                    channel_id="D1")
    assert schedule is not None and schedule.enabled
    text = await brief(http_adapter, fake, "feeds add https://news.example/rss",
                       user="UWSADMIN", channel="D1")
    assert "direct message" in text
    feed, _ = await slack_engine.store.feeds.add_feed(
        "https://elsewhere.example/rss", now=slack_engine.clock(),
        next_poll_at=slack_engine.clock())
    await slack_engine.store.feeds.link_channel_feed(platform="slack", channel_id="C2",
                                                     feed_id=feed.id)
    text = await brief(http_adapter, fake, f"feeds remove {feed.id}", user="UUSER")
    assert text.startswith("Only")
    text = await brief(http_adapter, fake, f"feeds remove {feed.id}", user="UWSADMIN")
    assert "no longer receives articles of feed" in text
    assert await slack_engine.store.feeds.channel_muted_feed_ids(
        platform="slack", channel_id="C1") == [feed.id]


async def test_non_admin_may_not_change_a_digest_and_is_told_who_may(
        http_adapter: SlackAdapter, slack_engine: BriefingEngine, fake: FakeSlack) -> None:
    said = await brief(http_adapter, fake, "digest 13:00 UTC", user="UUSER")
    assert said == f"Only {ADMIN_HINT} may change this channel's digest."
    assert await slack_engine.store.digests.get_digest_schedule(platform="slack",
                                                                channel_id="C1") is None
    # a workspace admin (users.info) and a configured admin may
    assert (await brief(http_adapter, fake, "digest 13:00 UTC", user="UWSADMIN")
            ).startswith("Digest set")
    assert (await brief(http_adapter, fake, "digest off", user="UCFGADMIN")
            ).startswith("Digest off")
    assert (await brief(http_adapter, fake, "digest 13:00 UTC", user="UUSER")).startswith("Only")


async def test_scheduled_digest_arrives_in_its_channel_as_block_kit(
        http_adapter: SlackAdapter, slack_engine: BriefingEngine, fake: FakeSlack,
        clock: Any) -> None:
    from bot.digests.scheduler import DigestScheduler

    assert (await brief(http_adapter, fake, "digest 13:00 UTC", user="UWSADMIN",
                        channel="CNEWS")).startswith("Digest set")
    clock.advance(hours=1)
    result = await DigestScheduler(digest_kit(slack_engine)).run_due()
    assert result.sent == ("slack:CNEWS",)
    (post,) = fake.calls_to("chat.postMessage")
    assert post.args["channel"] == "CNEWS"
    assert post.blocks[0]["text"]["text"].startswith("Daily digest")
    title = post.blocks[1]["text"]["text"]
    assert title.startswith("*") and "rocket" in title.lower()
    assert post.blocks[2]["type"] == "context"
    assert post.blocks[-1]["type"] == "context"  # the footer: when the next digest is due
    assert check_message(post.blocks) is None


async def test_channel_the_bot_was_removed_from_gets_its_digest_disabled(
        http_adapter: SlackAdapter, slack_engine: BriefingEngine, fake: FakeSlack,
        clock: Any) -> None:
    from bot.digests.scheduler import DigestScheduler

    assert (await brief(http_adapter, fake, "digest 13:00 UTC", user="UCFGADMIN",
                        channel="CGONE")).startswith("Digest set")
    fake.removed_channels["CGONE"] = "not_in_channel"
    clock.advance(hours=1)
    scheduler = DigestScheduler(digest_kit(slack_engine))
    assert (await scheduler.run_due()).disabled == ("slack:CGONE",)
    schedule = await slack_engine.store.digests.get_digest_schedule(platform="slack",
                                                            channel_id="CGONE")
    assert schedule is not None and not schedule.enabled
    assert schedule.disabled_reason is not None and "not_in_channel" in schedule.disabled_reason
    # it is not tried again the next day, and the channel is told why when it asks
    clock.advance(days=1)
    assert (await scheduler.run_due()).disabled == ()
    assert len(fake.calls_to("chat.postMessage")) == 1
    said = await brief(http_adapter, fake, "digest", user="UUSER", channel="CGONE")
    assert "off" in said and "not_in_channel" in said
    assert "/invite @briefbot" in said  # what to do about it


# -- through the alerts feature -------------------------------------------------------------


async def test_keyword_alert_reaches_the_subscriber_by_dm_escaped(
        http_adapter: SlackAdapter, slack_engine: BriefingEngine, fake: FakeSlack,
        clock: Any, sample_path: Path) -> None:
    from bot.models import ArticleDraft

    said = await brief(http_adapter, fake, "subscribe himars", user="UUSER")
    assert said.startswith("Subscribed")
    refused = await brief(http_adapter, fake, "subscribe channel himars", user="UUSER")
    assert refused == f"Only {ADMIN_HINT} may add alerts to this channel."
    text = await asyncio.to_thread(sample_path.read_text, encoding="utf-8")
    text = text.replace("rocket", "HIMARS rocket", 3)
    result = await slack_engine.ingest(ArticleDraft(
        text=text + "\nReaders said <!channel> and <@U123> should know.",
        title="<!channel> HIMARS for Kyiv <@U123>", url="https://wire.example/himars",
        source="Wire <!here>"))
    assert result.created
    clock.advance(seconds=slack_engine.config.alerts.batch_seconds + 1)
    assert await alerts_of(slack_engine).dispatch_due() == 1
    assert [c.args["users"] for c in fake.calls_to("conversations.open")] == ["UUSER"]
    (post,) = fake.calls_to("chat.postMessage")
    assert post.args["channel"] == "DUUSER"
    posted = all_text(post.blocks) + post.args["text"]
    assert "*<https://wire.example/himars|&lt;!channel&gt; HIMARS for Kyiv &lt;@U123&gt;>*" in (
        posted)
    for forbidden in ("<!channel>", "<!here>", "<@U123>"):
        assert forbidden not in posted
    assert check_message(post.blocks) is None


async def test_briefbot_run_serves_slack_over_http_with_the_signing_secret(
        tmp_path: Path, fake: FakeSlack) -> None:
    import os
    import re
    import signal
    import sys

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[slack]\napi_base_url = "{fake.api_url}"\nhttp_host = "127.0.0.1"\n'
                   'http_port = 0\nhttp_path = "/hooks/slack"\n', encoding="utf-8")
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "",
           "SLACK_SIGNING_SECRET": SECRET, "DISCORD_TOKEN": ""}
    proc = await processes.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "--db", str(tmp_path / "h.db"),
        "run", env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    try:
        port = None
        async with asyncio.timeout(60):
            while port is None:
                line = (await proc.stderr.readline()).decode()
                assert line, "briefbot run ended before listening"
                found = re.search(r"listening on 127\.0\.0\.1:(\d+)/hooks/slack", line)
                port = int(found.group(1)) if found else None
        url = f"http://127.0.0.1:{port}/hooks/slack"
        body = urlencode(command_form(fake, "help", response="http-run"))
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=body.encode(),
                                    headers=signed_headers(body, secret="wrong")) as resp:
                assert resp.status == 401
            async with session.post(url, data=body.encode(), headers=signed_headers(body)) as resp:
                assert resp.status == 200
        answer = (await fake.wait_for(lambda: fake.responses, within=30))[0]
        assert "briefbot keeps this team briefed" in answer.blocks[0]["text"]["text"]
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert SECRET not in err.decode() and BOT_TOKEN not in err.decode()


def test_digest_header_with_markup_falls_back_to_escaped_text() -> None:
    (message,) = render_reply(Reply(text="Digest for <!here> & co", kind=ReplyKind.DIGEST))
    assert message.blocks[0] == {"type": "section", "text": {
        "type": "mrkdwn", "text": "Digest for &lt;!here&gt; &amp; co"}}
    (long,) = render_reply(Reply(text="D" * 151 + "\nsecond line", kind=ReplyKind.DIGEST))
    assert long.blocks[0]["type"] == "section"
    (two,) = render_reply(Reply(text="Daily digest\nNothing new.", kind=ReplyKind.DIGEST))
    assert [b["type"] for b in two.blocks] == ["header", "section"]


# -- feedback while a slow command runs; retries of a long delivery -------------------------


@pytest.fixture
async def slow_page() -> AsyncIterator[str]:
    """A news page on 127.0.0.1 that takes 0.8 s to answer, like a slow news site."""
    text = ("The United States will send advanced rocket systems to Ukraine, officials said. "
            "The systems can strike targets up to 80 kilometres away. Russia warned that the "
            "deliveries would escalate the conflict. The package is worth 700 million dollars "
            "and includes helicopters, anti-tank weapons and ammunition.")

    async def page(request: aiohttp.web.Request) -> aiohttp.web.Response:
        await asyncio.sleep(0.8)
        return aiohttp.web.Response(
            text=f"<html><head><title>Rockets for Ukraine</title></head><body><article>"
                 f"<h1>Rockets for Ukraine</h1><p>{text}</p></article></body></html>",
            content_type="text/html")

    app = aiohttp.web.Application()
    app.router.add_get("/story", page)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/story"
    await runner.cleanup()


async def test_a_link_is_acked_at_once_with_what_is_fetched_then_answered(
        http_adapter: SlackAdapter, fake: FakeSlack, slow_page: str) -> None:
    body = urlencode(command_form(fake, f"<{slow_page}>"))
    loop = asyncio.get_running_loop()
    start = loop.time()
    status, text = await post_command(http_adapter, body, signed_headers(body))
    assert loop.time() - start < 0.5  # the page takes 0.8 s: the ack did not wait for it
    assert status == 200
    assert json.loads(text) == {"text": f"Fetching {slow_page}…", "response_type": "ephemeral"}
    assert not fake.responses
    answer = (await fake.wait_for(lambda: fake.responses, within=10))[0]
    assert "Fetched, summarised and stored as article" in answer.blocks[0]["text"]["text"]


async def test_feeds_add_is_acked_with_a_notice_in_socket_mode(
        slack_engine: BriefingEngine, fake: FakeSlack) -> None:
    adapter = SlackAdapter(slack_engine, bot_token=BOT_TOKEN, app_token=APP_TOKEN)
    await adapter.start()
    try:
        payload = command_form(fake, "feeds add https://127.0.0.1:9/feed.xml?a=1&b=<!here>&c",
                               user="UCFGADMIN", response="sock")
        ack = await fake.push({"envelope_id": "env-2", "type": "slash_commands",
                               "accepts_response_payload": True, "payload": payload})
        assert ack["payload"] == {
            "text": "Fetching the feed https://127.0.0.1:9/feed.xml?a=1&amp;b=&lt;!here&gt;&amp;c…",
            "response_type": "ephemeral"}
        await fake.wait_for(lambda: fake.responses, within=10)  # then the answer follows
        fast = await fake.push({"envelope_id": "env-3", "type": "slash_commands",
                                "accepts_response_payload": True,
                                "payload": command_form(fake, "help", response="sock")})
        assert not fast.get("payload")  # a quick command is acked empty
    finally:
        await adapter.close()


@pytest.mark.parametrize(("text", "notice"), [
    ("rocket", None), ("help", None), ("feeds", None), ("feeds add", None), ("42", None),
    ("ftp://example.com/x", None), ("digest now", None),
    ("https://news.example/a public", "Fetching https://news.example/a…"),
    ("<https://news.example/a|news.example/a>", "Fetching https://news.example/a…"),
    ("/brief FEEDS ADD <https://news.example/rss>", "Fetching the feed https://news.example/rss…"),
    ("https://x.example/<!channel>&<@U1>/x", "Fetching https://x.example/&lt;!channel&gt;&amp;"
                                             "&lt;@U1&gt;/x…"),
])
async def test_slow_notice_only_for_commands_that_fetch(
        text: str, notice: str | None, engine: BriefingEngine) -> None:
    from adapters.slack_adapter import slow_notice

    assert slow_notice(text, engine.commands) == notice
    long = slow_notice("https://news.example/" + "a" * 500, engine.commands)
    assert long is not None and len(long) < 250


def long_digest(n: int = 40) -> Reply:
    sentence = "A long sentence about rockets and artillery systems. " * 9
    items = tuple(make_item(i, summary=(sentence, sentence, f"End of {i}."))
                  for i in range(1, n + 1))
    return Reply(text="Daily digest", items=items, kind=ReplyKind.DIGEST, ephemeral=False,
                 footer="Next digest: tomorrow")


async def test_a_retry_after_a_failed_part_posts_only_the_parts_missing(
        http_adapter: SlackAdapter, fake: FakeSlack) -> None:
    reply = replace(long_digest(), delivery_key="digest:1")
    parts = len(render_reply(reply))
    assert parts >= 3
    where = Destination(platform="slack", channel_id="C1")
    fake.fail_next("chat.postMessage", body={"ok": False, "error": "internal_error"}, after=1)
    with pytest.raises(DeliveryError) as info:
        await http_adapter.deliver(where, reply)
    assert not info.value.permanent
    assert await http_adapter.engine.store.platform.get_delivery("digest:1") is not None
    await http_adapter.deliver(where, reply)  # the scheduler's retry
    posts = fake.calls_to("chat.postMessage")
    assert len(posts) == parts + 1  # part 2 was tried twice, every other part once
    accepted = [p for i, p in enumerate(posts) if i != 1]
    assert [p.args["text"].split("\n")[0] for p in accepted] == [
        f"Daily digest ({k}/{parts})" for k in range(1, parts + 1)]
    assert sum(all_text(p.blocks).count("End of ") for p in accepted) == 40
    # each part names its delivery and position in its metadata
    assert [p.args["metadata"] for p in accepted] == [
        {"event_type": "briefbot_delivery",
         "event_payload": {"key": "digest:1", "part": k, "of": parts}} for k in range(parts)]
    # the delivery is complete: asked again (a process that stopped before recording the
    # digest as sent), nothing is posted
    await http_adapter.deliver(where, reply)
    assert len(fake.calls_to("chat.postMessage")) == parts + 1
    # another delivery of the same content (another key) is posted in full
    await http_adapter.deliver(where, replace(reply, delivery_key="digest:2"))
    assert len(fake.calls_to("chat.postMessage")) == 2 * parts + 1
    # a message without a key (an answer) has no memory: posted whenever asked
    await http_adapter.deliver(where, replace(reply, delivery_key=None))
    assert len(fake.calls_to("chat.postMessage")) == 3 * parts + 1
    # and a DM retry skips what reached the person too
    fake.fail_next("chat.postMessage", body={"ok": False, "error": "internal_error"}, after=2)
    dm_reply = replace(reply, delivery_key="alerts:dm")
    with pytest.raises(DeliveryError):
        await http_adapter.deliver(Destination(platform="slack", user_id="USUB"), dm_reply)
    await http_adapter.deliver(Destination(platform="slack", user_id="USUB"), dm_reply)
    dm = [p for p in fake.calls_to("chat.postMessage") if p.args["channel"] == "DUSUB"]
    assert len(dm) == parts + 1
    assert not fake.calls_to("conversations.history")  # no resumed delivery: never looked


async def test_a_resumed_delivery_finds_the_parts_the_channel_already_shows(
        http_adapter: SlackAdapter, fake: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    # A process posted every part and stopped before recording the last ones (the platform
    # accepted them; the database never heard). The retry, in any process, reads the
    # channel's recent history for messages carrying the delivery's metadata: none is
    # posted twice.
    engine = http_adapter.engine
    ledger = engine.store.platform
    reply = replace(long_digest(), delivery_key="digest:7")
    parts = len(render_reply(reply))
    where = Destination(platform="slack", channel_id="C1")
    fake.history["C1"] = [{"type": "message", "ts": "1.0", "text": "someone else",
                           "_at": time.time()}]
    await ledger.begin_delivery("digest:7", platform="slack", destination="channel:C1",
                                reply="{}", note="", now=engine.clock())
    await http_adapter.deliver(where, reply)
    assert len(fake.posts("C1")) == parts
    await run_sql(engine.store, "UPDATE deliveries SET posted = 1")  # the records lost
    await ledger.begin_delivery("digest:7", platform="slack", destination="channel:C1",
                                reply="{}", note="", now=engine.clock())  # the retry
    await http_adapter.deliver(where, reply)
    assert len(fake.posts("C1")) == parts  # nothing posted again
    [lookup] = fake.calls_to("conversations.history")
    assert lookup.args["channel"] == "C1" and lookup.args["include_all_metadata"] is True
    assert (await ledger.get_delivery("digest:7")).posted == parts  # type: ignore[union-attr]
    # the parts really missing are posted: the history shows only the first two
    fake.history["C1"] = fake.history["C1"][:3]
    await run_sql(engine.store, "UPDATE deliveries SET posted = 0")
    await ledger.begin_delivery("digest:7", platform="slack", destination="channel:C1",
                                reply="{}", note="", now=engine.clock())
    await http_adapter.deliver(where, reply)
    again = fake.posts("C1")[parts:]
    assert [p.args["metadata"]["event_payload"]["part"] for p in again] == list(
        range(2, parts))
    # without the history scopes (an app installed before they were asked for), the retry
    # posts what the database does not know, and says why once
    await run_sql(engine.store, "UPDATE deliveries SET posted = 0")
    await ledger.begin_delivery("digest:7", platform="slack", destination="channel:C1",
                                reply="{}", note="", now=engine.clock())
    fake.fail_next("conversations.history", body={"ok": False, "error": "missing_scope"})
    with caplog.at_level(logging.WARNING):
        await http_adapter.deliver(where, reply)
    assert len(fake.posts("C1")) == 2 * parts - 2 + parts
    assert "cannot read the history of C1" in caplog.text


def test_giant_articles_render_within_every_block_limit() -> None:
    # titles, sources, notes and summaries far beyond what a feed normally holds
    huge = "Rockets & <artillery> *systems* " * 400
    items = tuple(replace(make_item(n, title=huge[: 600 * n], summary=(huge, huge, huge),
                                    url="https://news.example/" + "a|>" * 1500),
                          source=huge[:5000], note="matched: " + huge[:4000])
                  for n in range(1, 8))
    reply = Reply(text="Daily digest · " + "x" * 200 + "\n" + huge, items=items,
                  kind=ReplyKind.DIGEST, ephemeral=False, footer=huge)
    messages = render_reply(reply)
    for message in messages:
        assert check_message(list(message.blocks)) is None
        assert message.chars <= MAX_MESSAGE_CHARS
        assert len(message.text) <= 2100
    text = "".join(all_text(list(m.blocks)) for m in messages)
    assert text.count("matched: ") == 7  # nothing dropped
    # the fake refuses what Slack refuses
    header = {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}
    assert check_message([header]) == check_message([context]) == "invalid_blocks"
