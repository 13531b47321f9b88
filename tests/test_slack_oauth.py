"""Slack in many workspaces: the real bolt OAuth flow, per-workspace tokens, uninstall.

Everything runs against the fake Slack of ``tests/fakes/slack.py``: its authorize page plays
the person who clicks "Allow", ``oauth.v2.access`` mints a token per workspace, and every Web
API call records the workspace of the token it carried, so "posted with its own token" is
checked at the fake, and a channel of one workspace refuses another workspace's token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml
from conftest import FixedClock, alerts_of
from fakes.slack import BOT_TOKEN, CLIENT_ID, CLIENT_SECRET, FakeSlack

from adapters.platforms import SLACK
from adapters.slack_adapter import BOT_SCOPES, HOME_TEAM_KEY, SlackAdapter
from bot.app import digest_kit
from bot.config import Config
from bot.digests.scheduler import DigestScheduler
from bot.engine import BriefingEngine
from bot.errors import ConfigError
from bot.models import ArticleDraft
from tests import processes

SECRET = "test-signing-secret"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack(users={
        "UADMIN1": {"is_admin": True}, "UADMIN2": {"is_admin": True},
        "UPLAIN1": {"is_admin": False}, "UPLAIN2": {"is_admin": False},
    }).start()
    server.add_team("T2", "Second Team")
    server.channel_teams.update({"C1": "T1", "C2": "T2", "DUADMIN1": "T1", "DUADMIN2": "T2"})
    yield server
    await server.close()


@pytest.fixture
def oauth_config(config: Config, fake: FakeSlack) -> Config:
    return SLACK.configure(
        config, api_base_url=fake.api_url, http_host="127.0.0.1", http_port=0,
        post_interval_seconds=0.0, client_id=CLIENT_ID,
        oauth_authorize_url=fake.authorize_url, admins=("T2:UPLAIN2", "UPLAIN1"),
    )


@pytest.fixture
async def engine(make_engine: Callable[..., Any], oauth_config: Config) -> BriefingEngine:
    eng: BriefingEngine = await make_engine(oauth_config)
    return eng


@pytest.fixture
async def adapter(engine: BriefingEngine, fake: FakeSlack) -> AsyncIterator[SlackAdapter]:
    slack = SlackAdapter(engine, signing_secret=SECRET, client_secret=CLIENT_SECRET)
    engine.add_publisher(slack)
    await slack.start()
    fake.redirect_url = f"http://127.0.0.1:{slack.port}/slack/oauth_redirect"
    yield slack
    await slack.close()


# -- helpers: a browser, and Slack's signed requests ----------------------------------------


def port_of(target: SlackAdapter | int) -> int:
    """The port of a running adapter, or of a `briefbot run` process."""
    if isinstance(target, int):
        return target
    assert target.port is not None
    return target.port


class Browser:
    """Follows the install flow as a browser would, keeping the state cookie by hand (aiohttp
    keeps no cookie for a bare IP address, and bolt marks it Secure)."""

    def __init__(self, target: SlackAdapter | int) -> None:
        self.base = f"http://127.0.0.1:{port_of(target)}"
        self.cookie = ""

    async def start(self) -> str:
        """Open /slack/install; return the Add to Slack link."""
        async with aiohttp.ClientSession() as session, session.get(
                f"{self.base}/slack/install") as resp:
            assert resp.status == 200
            page = await resp.text()
            self.cookie = resp.headers["Set-Cookie"].split(";", 1)[0]
        found = re.search(r'<a href="([^"]+)"', page)
        assert found is not None and "Add to Slack" in page
        return html.unescape(found.group(1))

    async def authorize(self, link: str) -> str:
        """Click Allow (or Cancel) at Slack; return where Slack sends the browser back."""
        async with aiohttp.ClientSession() as session, session.get(
                link, allow_redirects=False) as resp:
            assert resp.status == 302, await resp.text()
            return resp.headers["Location"]

    async def back(self, url: str, *, cookie: bool = True) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if cookie and self.cookie else {}
        async with aiohttp.ClientSession() as session, session.get(
                url, headers=headers, allow_redirects=False) as resp:
            return resp.status, await resp.text()


async def install(adapter: SlackAdapter, fake: FakeSlack, team: str) -> tuple[int, str]:
    browser = Browser(adapter)
    link = await browser.start()
    fake.approve_next(team)
    return await browser.back(await browser.authorize(link))


def signed(body: str, content_type: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": f"v0={digest}"}


async def post(adapter: SlackAdapter | int, body: str, content_type: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port_of(adapter)}/slack/events", data=body.encode(),
            headers=signed(body, content_type)) as resp:
        return resp.status, await resp.text()


async def command(adapter: SlackAdapter | int, fake: FakeSlack, text: str, *, team: str, user: str,
                  channel: str) -> str:
    """Send /brief from a workspace; return the answer's text (through its response_url)."""
    name = f"{team}-{len(fake.responses)}-{time.monotonic_ns()}"
    body = urlencode({
        "token": "legacy", "team_id": team, "team_domain": team.lower(), "channel_id": channel,
        "channel_name": "general", "user_id": user, "user_name": user.lower(),
        "command": "/brief", "text": text, "api_app_id": "A1",
        "response_url": fake.response_url(name), "trigger_id": "1.2.3",
    })
    status, _ = await post(adapter, body, "application/x-www-form-urlencoded")
    assert status == 200
    answer = await fake.wait_for(lambda: [r for r in fake.responses if r.method == name])
    return json.dumps(answer[0].args, ensure_ascii=False)


async def event(adapter: SlackAdapter, team: str, payload: dict[str, Any]) -> int:
    body = json.dumps({
        "token": "legacy", "team_id": team, "api_app_id": "A1", "type": "event_callback",
        "event": {**payload, "event_ts": "1.0"}, "event_id": f"Ev{time.monotonic_ns()}",
        "event_time": int(time.time()), "authorizations": [],
    })
    status, _ = await post(adapter, body, "application/json")
    return status


async def until(check: Callable[[], Any], within: float = 5.0) -> None:
    """Wait for an effect of an event: bolt acks events first and handles them afterwards."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the event had no effect in time"
        await asyncio.sleep(0.01)


async def paused(engine: BriefingEngine, owner: str) -> bool:
    subs = await engine.store.alerts.subscriptions_of(platform="slack", owner_kind="user",
                                               owner_id=owner)
    return bool(subs) and all(s.paused for s in subs)


def rocket(n: int) -> ArticleDraft:
    return ArticleDraft(
        title=f"Rocket launch number {n} reaches orbit",
        text=(f"A rocket launched on flight {n} reached orbit this morning. The rocket carried "
              f"three satellites for weather research. Engineers said flight {n} went to plan. "
              "The next launch is planned for the spring, weather permitting."),
        url=f"https://news.example/rocket-{n}", source="Example News")


async def deliver_alerts(engine: BriefingEngine, clock: FixedClock) -> None:
    clock.advance(seconds=engine.config.alerts.batch_seconds + 1)  # alerts wait to batch up
    await alerts_of(engine).dispatch_due()


def digests_to(fake: FakeSlack, channel: str) -> list[Any]:
    return [c for c in fake.posts(channel) if "digest" in json.dumps(c.blocks).lower()
            or "briefing" in str(c.args.get("text", "")).lower()]


async def setup_two_workspaces(adapter: SlackAdapter, fake: FakeSlack) -> None:
    for team in ("T1", "T2"):
        status, page = await install(adapter, fake, team)
        assert status == 200 and "briefbot is installed" in page, page
    for team, n in (("T1", "1"), ("T2", "2")):
        answer = await command(adapter, fake, "digest 13:00 UTC", team=team,
                               user=f"UADMIN{n}", channel=f"C{n}")
        assert "13:00" in answer, answer
        answer = await command(adapter, fake, "subscribe rocket", team=team,
                               user=f"UADMIN{n}", channel=f"C{n}")
        assert "Subscribed" in answer, answer


# -- two workspaces, end to end --------------------------------------------------------------


async def test_two_workspaces_each_get_only_their_own_digest_and_alerts_with_their_token(
        adapter: SlackAdapter, engine: BriefingEngine, fake: FakeSlack,
        clock: FixedClock) -> None:
    await setup_two_workspaces(adapter, fake)
    (t1_token,), (t2_token,) = fake.tokens_of("T1"), fake.tokens_of("T2")
    assert t1_token != t2_token
    # bolt checks each token with auth.test once (the install's own check), not per request
    checked = [c.token for c in fake.calls_to("auth.test")]
    assert checked.count(t1_token) <= 2 and checked.count(t2_token) <= 2, checked
    # the data: T1 installed first and became home (bare ids); T2's ids are qualified
    assert await engine.platform_state(HOME_TEAM_KEY) == "T1"
    assert await engine.store.digests.get_digest_schedule(platform="slack", channel_id="C1")
    assert await engine.store.digests.get_digest_schedule(platform="slack", channel_id="T2:C2")

    await engine.ingest(rocket(1))
    await deliver_alerts(engine, clock)
    clock.advance(hours=1, minutes=1)
    await DigestScheduler(digest_kit(engine)).run_due()

    for n, token in (("1", t1_token), ("2", t2_token)):
        dms = fake.posts(f"DUADMIN{n}")
        assert len(dms) == 1 and "Rocket launch number 1" in json.dumps(dms[0].blocks)
        assert dms[0].token == token
        digest = fake.posts(f"C{n}")
        assert len(digest) == 1, f"workspace {n} got {len(digest)} digest posts"
        assert digest[0].token == token and digest[0].team == f"T{n}"
        assert "Rocket launch number 1" in json.dumps(digest[0].blocks)
    # every Web API call after the installs carried a valid token of its own workspace
    assert all(c.team is not None for c in fake.calls if c.method != "oauth.v2.access")
    opened = fake.calls_to("conversations.open")
    assert {(c.args["users"], c.team) for c in opened} == {("UADMIN1", "T1"), ("UADMIN2", "T2")}


async def test_uninstall_pauses_one_workspace_and_reinstall_resumes_it(
        adapter: SlackAdapter, engine: BriefingEngine, fake: FakeSlack,
        clock: FixedClock) -> None:
    await setup_two_workspaces(adapter, fake)
    fake.uninstall("T2")
    assert await event(adapter, "T2", {"type": "app_uninstalled"}) == 200
    await until(lambda: paused(engine, "T2:UADMIN2"))
    assert await engine.store.platform.find_installation(
        platform="slack", enterprise_id=None, team_id="T2") is None
    schedule = await engine.store.digests.get_digest_schedule(platform="slack", channel_id="T2:C2")
    assert schedule is not None and not schedule.enabled
    assert schedule.disabled_reason is not None and "removed" in schedule.disabled_reason
    (sub,) = await engine.store.alerts.subscriptions_of(platform="slack", owner_kind="user",
                                                 owner_id="T2:UADMIN2")
    assert sub.paused and sub.paused_reason and "removed" in sub.paused_reason
    answer = await command(adapter, fake, "rocket", team="T2", user="UADMIN2", channel="C2")
    assert "not installed" in answer  # refused at once, whatever bolt remembered of the token
    # T1 is untouched
    t1 = await engine.store.digests.get_digest_schedule(platform="slack", channel_id="C1")
    assert t1 is not None and t1.enabled

    calls_before = len(fake.calls)
    await engine.ingest(rocket(1))
    await deliver_alerts(engine, clock)
    clock.advance(hours=1, minutes=1)
    await DigestScheduler(digest_kit(engine)).run_due()
    new_calls = fake.calls[calls_before:]
    assert sorted(c.args["channel"] for c in new_calls if c.method == "chat.postMessage") == [
        "C1", "DUADMIN1"]
    assert all(c.team == "T1" for c in new_calls)  # nothing tried with T2's dead token

    status, page = await install(adapter, fake, "T2")
    assert status == 200 and "briefbot is installed" in page
    schedule = await engine.store.digests.get_digest_schedule(platform="slack", channel_id="T2:C2")
    assert schedule is not None and schedule.enabled and schedule.disabled_reason is None
    (sub,) = await engine.store.alerts.subscriptions_of(platform="slack", owner_kind="user",
                                                 owner_id="T2:UADMIN2")
    assert not sub.paused
    clock.advance(hours=23)  # the next day, before the digest
    await engine.ingest(rocket(2))
    await deliver_alerts(engine, clock)
    clock.advance(hours=1)
    await DigestScheduler(digest_kit(engine)).run_due()
    (new_token,) = fake.tokens_of("T2")
    (dm,) = [c for c in fake.posts("DUADMIN2") if "number 2" in json.dumps(c.blocks)]
    assert dm.token == new_token
    assert [c.token for c in fake.posts("C2")][-1] == new_token
    assert len(fake.posts("C1")) == 2  # T1's digest both days


async def test_the_home_workspace_uninstalling_pauses_its_bare_ids_only(
        adapter: SlackAdapter, engine: BriefingEngine, fake: FakeSlack) -> None:
    await setup_two_workspaces(adapter, fake)  # T1 installed first: home, bare ids
    fake.uninstall("T1")
    assert await event(adapter, "T1", {"type": "app_uninstalled"}) == 200
    await until(lambda: paused(engine, "UADMIN1"))
    home = await engine.store.digests.get_digest_schedule(platform="slack", channel_id="C1")
    assert home is not None and not home.enabled
    other = await engine.store.digests.get_digest_schedule(platform="slack", channel_id="T2:C2")
    assert other is not None and other.enabled
    assert not await paused(engine, "T2:UADMIN2")
    status, _ = await install(adapter, fake, "T1")
    assert status == 200
    home = await engine.store.digests.get_digest_schedule(platform="slack", channel_id="C1")
    assert home is not None and home.enabled and not await paused(engine, "UADMIN1")


async def test_revoked_token_during_a_digest_pauses_only_that_workspace(
        adapter: SlackAdapter, engine: BriefingEngine, fake: FakeSlack,
        clock: FixedClock) -> None:
    await setup_two_workspaces(adapter, fake)
    await engine.ingest(rocket(1))
    fake.uninstall("T2")  # the token stops working, and no event arrives (yet)
    clock.advance(hours=1, minutes=1)
    await DigestScheduler(digest_kit(engine)).run_due()
    assert len(fake.posts("C1")) == 1
    schedule = await engine.store.digests.get_digest_schedule(platform="slack", channel_id="T2:C2")
    assert schedule is not None and not schedule.enabled
    assert schedule.disabled_reason and "revoked" in schedule.disabled_reason


async def test_tokens_revoked_event_for_the_bot_removes_the_installation(
        adapter: SlackAdapter, engine: BriefingEngine, fake: FakeSlack) -> None:
    await setup_two_workspaces(adapter, fake)
    assert await event(adapter, "T2", {"type": "tokens_revoked",
                                       "tokens": {"oauth": ["UADMIN2"]}}) == 200
    await asyncio.sleep(0.2)  # handled (and ignored) by then
    assert await engine.store.platform.find_installation(platform="slack", enterprise_id=None,
                                                team_id="T2") is not None  # user tokens only
    assert await event(adapter, "T2", {"type": "tokens_revoked",
                                       "tokens": {"bot": ["UBOTT2"]}}) == 200
    await until(lambda: paused(engine, "T2:UADMIN2"))
    assert await engine.store.platform.find_installation(platform="slack", enterprise_id=None,
                                                team_id="T2") is None
    (sub,) = await engine.store.alerts.subscriptions_of(platform="slack", owner_kind="user",
                                                 owner_id="T2:UADMIN2")
    assert sub.paused and sub.paused_reason and "revoked" in sub.paused_reason


async def test_reinstall_updates_the_installation(
        adapter: SlackAdapter, engine: BriefingEngine, fake: FakeSlack) -> None:
    await install(adapter, fake, "T2")
    (first,) = fake.tokens_of("T2")
    await install(adapter, fake, "T2")
    (second,) = fake.tokens_of("T2")
    assert first != second
    assert await engine.store.platform.installed_workspaces(platform="slack") == [("", "T2")]
    data = await engine.store.platform.find_installation(platform="slack", enterprise_id=None,
                                                team_id="T2")
    assert data is not None and json.loads(data)["bot_token"] == second


async def test_command_from_a_workspace_without_installation_is_refused(
        adapter: SlackAdapter, engine: BriefingEngine, fake: FakeSlack,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await install(adapter, fake, "T1")
    seen: list[str] = []
    real = engine.handle_command

    async def recording(text: str, caller: Any) -> Any:
        seen.append(text)
        return await real(text, caller)

    monkeypatch.setattr(engine, "handle_command", recording)
    answer = await command(adapter, fake, "rocket", team="T9", user="UX", channel="C9")
    assert "not installed" in answer
    assert seen == []
    assert not [c for c in fake.calls if c.method == "chat.postMessage"]


async def test_slack_can_verify_the_events_url(adapter: SlackAdapter) -> None:
    body = json.dumps({"token": "legacy", "challenge": "ch4ll3nge", "type": "url_verification"})
    status, text = await post(adapter, body, "application/json")
    assert status == 200 and "ch4ll3nge" in text


# -- bad input and faults in the install flow ------------------------------------------------


async def _assert_nothing_stored(engine: BriefingEngine, fake: FakeSlack) -> None:
    assert await engine.store.platform.installed_workspaces(platform="slack") == []
    assert await engine.platform_state(HOME_TEAM_KEY) is None


@pytest.mark.parametrize("case", ["denied", "forged state", "no cookie", "replayed state",
                                  "expired code", "oauth.v2.access error"])
async def test_a_failed_install_shows_a_clear_page_logs_and_stores_nothing(
        adapter: SlackAdapter, engine: BriefingEngine, fake: FakeSlack,
        caplog: pytest.LogCaptureFixture, case: str) -> None:
    browser = Browser(adapter)
    link = await browser.start()
    expected = {
        "denied": (200, "cancelled", "access_denied"),
        "forged state": (401, "expired or was already used", "invalid_state"),
        "no cookie": (400, "not opened in the browser", "invalid_browser"),
        "replayed state": (401, "expired or was already used", "invalid_state"),
        "expired code": (401, "did not accept", "invalid_code"),
        "oauth.v2.access error": (401, "did not accept", "invalid_code"),
    }[case]
    if case == "denied":
        fake.deny_next()
    if case == "expired code":
        fake.code_seconds = 0.0
    if case == "oauth.v2.access error":
        fake.fail_next("oauth.v2.access", body={"ok": False, "error": "invalid_client_id"})
    back = await browser.authorize(link)
    with caplog.at_level(logging.INFO):
        if case == "forged state":
            forged = re.sub(r"state=[^&]+", "state=forged", back)
            browser.cookie = "slack-app-oauth-state=forged"
            status, page = await browser.back(forged)
        elif case == "replayed state":  # the same redirect again, after a good install
            first, _ = await browser.back(back)
            assert first == 200
            status, page = await browser.back(back)
        else:
            status, page = await browser.back(back, cookie=case != "no cookie")
    assert (status, expected[1] in page) == (expected[0], True), page
    assert "Nothing was stored" in page or case == "denied"
    assert "Start the installation again" in page and 'href="/slack/install"' in page
    assert f"Slack install failed: {expected[2]}" in caplog.text
    if case == "replayed state":  # the first install stands; the replay exchanged nothing
        assert await engine.store.platform.installed_workspaces(platform="slack") == [("", "T1")]
        assert len(fake.calls_to("oauth.v2.access")) == 1
    else:
        await _assert_nothing_stored(engine, fake)
    assert "xoxb-" not in caplog.text


async def test_bot_tokens_are_never_logged(
        adapter: SlackAdapter, engine: BriefingEngine, fake: FakeSlack, clock: FixedClock,
        caplog: pytest.LogCaptureFixture) -> None:
    # aiosqlite echoes every statement's parameters at DEBUG; briefbot's CLI keeps that logger
    # at INFO even with -v (bot/cli.py), and so does this test
    caplog.set_level(logging.INFO, logger="aiosqlite")
    with caplog.at_level(logging.DEBUG):
        await setup_two_workspaces(adapter, fake)
        await engine.ingest(rocket(1))
        await deliver_alerts(engine, clock)
        clock.advance(hours=1, minutes=1)
        await DigestScheduler(digest_kit(engine)).run_due()
    assert fake.posts("C1") and fake.posts("C2")
    for token in fake.tokens_of("T1") + fake.tokens_of("T2"):
        assert token not in caplog.text
    assert CLIENT_SECRET not in caplog.text


# -- admins and the single workspace's data --------------------------------------------------


async def test_admins_are_per_workspace(adapter: SlackAdapter, fake: FakeSlack) -> None:
    await install(adapter, fake, "T1")
    await install(adapter, fake, "T2")
    assert adapter.home_team == "T1"
    assert await adapter.is_admin("UPLAIN1", team_id="T1")      # bare id: the home workspace
    assert not await adapter.is_admin("UPLAIN1", team_id="T2")  # ... only there
    assert await adapter.is_admin("UPLAIN2", team_id="T2")      # TEAM:USER
    assert not await adapter.is_admin("UPLAIN2", team_id="T1")
    assert await adapter.is_admin("UADMIN2", team_id="T2")      # a workspace admin there
    (check,) = [c for c in fake.calls_to("users.info") if c.args["user"] == "UADMIN2"]
    assert check.team == "T2"  # asked with that workspace's token
    # a plain member cannot set a digest in their workspace
    answer = await command(adapter, fake, "digest 13:00 UTC", team="T2", user="UPLAIN1",
                           channel="C2")
    assert "admin" in answer.lower() and "13:00" not in answer.split("admin")[0][-5:]


async def test_single_workspace_data_carries_on_in_the_home_workspace(
        make_engine: Callable[..., Any], config: Config, oauth_config: Config, fake: FakeSlack,
        clock: FixedClock) -> None:
    single_cfg = SLACK.configure(oauth_config, client_id="")
    single = await make_engine(single_cfg)
    one = SlackAdapter(single, bot_token=BOT_TOKEN, signing_secret=SECRET)
    await one.start()
    try:
        reply = await single.handle_command("digest 13:00 UTC", _admin_caller("C1"))
        assert "13:00" in reply.text
    finally:
        await one.close()
    await single.close()
    # the same database, now serving many workspaces
    engine: BriefingEngine = await make_engine(oauth_config)
    many = SlackAdapter(engine, signing_secret=SECRET, client_secret=CLIENT_SECRET)
    engine.add_publisher(many)
    await many.start()
    fake.redirect_url = f"http://127.0.0.1:{many.port}/slack/oauth_redirect"
    try:
        assert many.home_team == "T1"  # recorded by the single-workspace run
        await install(many, fake, "T2")
        await install(many, fake, "T1")
        (t1_token,) = fake.tokens_of("T1")
        await engine.ingest(rocket(1))
        clock.advance(hours=1, minutes=1)
        await DigestScheduler(digest_kit(engine)).run_due()
        (digest,) = fake.posts("C1")
        assert digest.token == t1_token  # the old channel, with its workspace's new token
    finally:
        await many.close()


def _admin_caller(channel: str) -> Any:
    from bot.models import Caller

    return Caller(platform="slack", user_id="UADMIN1", channel_id=channel, is_admin=True)


# -- configuration and the manifest ----------------------------------------------------------


def test_distribution_needs_its_secrets_and_http_mode(engine: BriefingEngine) -> None:
    with pytest.raises(ConfigError, match="SLACK_CLIENT_SECRET"):
        SlackAdapter(engine, signing_secret=SECRET)
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        SlackAdapter(engine, client_secret=CLIENT_SECRET)
    with pytest.raises(ConfigError, match="Socket Mode"):
        SlackAdapter(engine, app_token="xapp-1", signing_secret=SECRET,
                     client_secret=CLIENT_SECRET)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("client_id", "xoxb-not-an-id", "not a Client ID"),
    ("redirect_url", "ftp://host/slack/oauth_redirect", "redirect_url must be an https URL"),
    ("redirect_url", "https://host/elsewhere", "must end with /slack/oauth_redirect"),
    ("oauth_authorize_url", "slack.com/oauth", "oauth_authorize_url must be an https URL"),
])
def test_bad_distribution_settings_are_refused_naming_the_key(
        engine: BriefingEngine, key: str, value: str, message: str) -> None:
    bad = replace(SLACK.section(engine.config), **{key: value})
    with pytest.raises(ConfigError, match=message):
        SlackAdapter(engine, signing_secret=SECRET, client_secret=CLIENT_SECRET, config=bad)


def test_distribution_manifest_has_redirect_events_and_the_same_scopes() -> None:
    single = yaml.safe_load((REPO / "adapters" / "slack_manifest.yaml").read_text("utf-8"))
    many = yaml.safe_load(
        (REPO / "adapters" / "slack_manifest_distributed.yaml").read_text("utf-8"))
    assert set(single["oauth_config"]["scopes"]["bot"]) == set(BOT_SCOPES)
    assert set(many["oauth_config"]["scopes"]["bot"]) == set(BOT_SCOPES)
    assert many["oauth_config"]["redirect_urls"] == [
        "https://YOUR-HOST/slack/oauth_redirect"]
    events = many["settings"]["event_subscriptions"]
    assert events["request_url"] == "https://YOUR-HOST/slack/events"
    assert set(events["bot_events"]) == {"app_uninstalled", "tokens_revoked"}
    assert many["settings"]["socket_mode_enabled"] is False
    (cmd,) = many["features"]["slash_commands"]
    assert cmd["url"] == "https://YOUR-HOST/slack/events"


# -- the repository methods (bot/store/ports.py), on SQLite ---------------------------------


async def test_an_install_state_is_accepted_once_and_only_before_it_expires(
        engine: BriefingEngine, clock: FixedClock) -> None:
    platform = engine.store.platform
    now = clock()
    await platform.issue_oauth_state("s1", expires_at=now + timedelta(minutes=10), now=now)
    await platform.issue_oauth_state("s2", expires_at=now + timedelta(minutes=10), now=now)
    assert await platform.consume_oauth_state("s1", now=now)
    assert not await platform.consume_oauth_state("s1", now=now)  # replayed
    assert not await platform.consume_oauth_state("never-issued", now=now)  # forged
    assert not await platform.consume_oauth_state("s2", now=now + timedelta(minutes=11))


async def test_pausing_a_workspace_selects_its_rows_and_resume_undoes_only_that(
        engine: BriefingEngine, clock: FixedClock) -> None:
    home, other = _admin_caller("C1"), _admin_caller("T2:C2")
    for caller in (home, other):
        await engine.handle_command("digest 13:00 UTC", caller)
        await engine.handle_command("subscribe channel rocket", caller)
    # a subscription its owner's destination paused for another reason stays paused
    from bot.models import Destination

    await engine.store.alerts.pause_destination(
        Destination(platform="slack", channel_id="T2:C2"), reason="channel gone", now=clock())
    await engine.handle_command("subscribe channel launch", other)
    store = engine.store
    now = clock()
    assert await store.digests.pause_workspace_digests(
        platform="slack", workspace="T2", id_prefix="T2:", reason="removed", now=now) == 1
    assert await store.alerts.pause_workspace_subscriptions(
        platform="slack", workspace="T2", id_prefix="T2:", reason="removed", now=now) == 1
    home_digest = await store.digests.get_digest_schedule(platform="slack", channel_id="C1")
    assert home_digest is not None and home_digest.enabled
    assert await store.digests.resume_workspace_digests(platform="slack", workspace="T2",
                                                        now=now) == 1
    assert await store.alerts.resume_workspace_subscriptions(platform="slack",
                                                             workspace="T2") == 1
    subs = await store.alerts.subscriptions_of(platform="slack", owner_kind="channel",
                                               owner_id="T2:C2")
    assert [(s.query, s.paused_reason) for s in subs] == [("rocket", "channel gone"),
                                                          ("launch", None)]
    # the home workspace's rows are the ids without a workspace prefix
    assert await store.digests.pause_workspace_digests(
        platform="slack", workspace="T1", id_prefix=None, reason="removed", now=now) == 1
    t2 = await store.digests.get_digest_schedule(platform="slack", channel_id="T2:C2")
    assert t2 is not None and t2.enabled


async def test_briefbot_slack_lists_the_installed_workspaces_without_tokens(
        adapter: SlackAdapter, engine: BriefingEngine, fake: FakeSlack, oauth_config: Config,
        capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio as aio

    from bot.cli import main

    await install(adapter, fake, "T1")
    await install(adapter, fake, "T2")
    code = await aio.to_thread(main, ["--db", oauth_config.storage.database, "slack"])
    out = capsys.readouterr().out
    assert code == 0
    assert "home workspace (its ids are stored bare): T1" in out
    assert re.search(r"^T2\tSecond Team\tinstalled \d{4}-\d\d-\d\d \d\d:\d\d UTC by UINSTALLER$",
                     out, re.MULTILINE), out
    for token in fake.tokens_of("T1") + fake.tokens_of("T2"):
        assert token not in out


# -- the real `briefbot run` process --------------------------------------------------------


async def test_briefbot_run_serves_the_install_flow_and_each_workspace(
        tmp_path: Path, fake: FakeSlack) -> None:
    """`briefbot run` with [slack] client_id and the two secrets in the environment: the
    install page, a workspace installing, and its /brief answered — no bot token anywhere."""
    import os
    import signal
    import socket
    import sys

    with socket.socket() as probe:  # a free port for the process to listen on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[slack]\napi_base_url = "{fake.api_url}"\nclient_id = "{CLIENT_ID}"\n'
        f'oauth_authorize_url = "{fake.authorize_url}"\nhttp_host = "127.0.0.1"\n'
        f"http_port = {port}\npost_interval_seconds = 0.0\n", encoding="utf-8")
    env = {**os.environ, "SLACK_CLIENT_SECRET": CLIENT_SECRET, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_BOT_TOKEN": "", "SLACK_APP_TOKEN": "", "DISCORD_TOKEN": ""}
    proc = await processes.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "--db", str(tmp_path / "run.db"),
        "run", "--no-console", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    fake.redirect_url = f"http://127.0.0.1:{port}/slack/oauth_redirect"
    try:
        browser = Browser(port)
        deadline = time.monotonic() + 60
        while True:  # until it listens
            try:
                link = await browser.start()
                break
            except aiohttp.ClientConnectionError:
                assert time.monotonic() < deadline, "briefbot run never listened"
                await asyncio.sleep(0.2)
        fake.approve_next("T2")
        status, page = await browser.back(await browser.authorize(link))
        assert status == 200 and "installed in Second Team" in page
        answer = await command(port, fake, "help", team="T2", user="UPLAIN2", channel="C2")
        assert "/brief" in answer
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = err.decode()
    assert proc.returncode == 0, log
    assert "distributed mode" in log and "installed in team T2" in log
    assert "Traceback" not in log
    for token in fake.tokens_of("T2"):
        assert token not in log
