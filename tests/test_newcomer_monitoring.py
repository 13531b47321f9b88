"""Operators: GET /healthz and GET /metrics over real HTTP on 127.0.0.1, and a headless
``briefbot run`` (issue 16, "For operators")."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import FixedClock, alerts_of

from bot import metrics
from bot.app import open_app
from bot.config import Config, config_from_mapping
from bot.engine import BriefingEngine
from bot.errors import ConfigError, DeliveryError
from bot.models import ArticleDraft, Caller
from bot.monitoring import MonitoringServer
from bot.publish import RecordingPublisher
from tests import processes

BODY = ("The rocket launch went ahead on Tuesday after weeks of delays at the coastal site. "
        "Engineers said the rocket performed as expected during the first minutes of flight. "
        "Officials plan a second rocket launch in the spring if funding is approved. ")
ALICE = Caller(platform="console", user_id="alice", channel_id="news", is_admin=False)


@dataclass
class FakeAdapter:
    platform: str
    connected: bool = True

    async def is_connected(self) -> bool:
        return self.connected


@pytest.fixture
async def monitor(engine: BriefingEngine) -> AsyncIterator[tuple[MonitoringServer, FakeAdapter]]:
    chat = FakeAdapter("slack")
    server = MonitoringServer(engine.store.platform, engine.config.monitoring, adapters=[chat],
                              loops=["feed-poller", "alerts"], listen="127.0.0.1:0")
    await server.start()
    yield server, chat
    await server.close()


async def get(server: MonitoringServer, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, \
            session.get(f"http://127.0.0.1:{server.port}{path}") as response:
        return response.status, response.headers["Content-Type"], await response.text()


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


async def test_healthz_ok_then_503_when_an_adapter_drops_or_a_loop_stalls(
        monitor: tuple[MonitoringServer, FakeAdapter]) -> None:
    server, chat = monitor
    metrics.tick("feed-poller")
    metrics.tick("alerts")
    status, ctype, text = await get(server, "/healthz")
    body = json.loads(text)
    assert status == 200 and ctype.startswith("application/json"), text
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["process"]["ok"] and checks["database"] == {"ok": True}
    assert checks["adapters"] == {"slack": {"ok": True}}
    assert checks["loops"]["feed-poller"]["ok"]
    assert checks["loops"]["alerts"]["last_tick_seconds_ago"] < 5

    chat.connected = False
    status, _, text = await get(server, "/healthz")
    body = json.loads(text)
    assert status == 503 and body["status"] == "down"
    assert body["checks"]["adapters"]["slack"] == {"ok": False, "error": "not connected"}

    chat.connected = True
    server.stale_seconds = 10
    metrics._ticks["alerts"] = time.time() - 60  # the alert loop has not gone round for 60 s
    status, _, text = await get(server, "/healthz")
    loops = json.loads(text)["checks"]["loops"]
    assert status == 503 and not loops["alerts"]["ok"] and loops["feed-poller"]["ok"]
    assert loops["alerts"]["error"] == "no round for 60 s"


async def test_healthz_503_when_the_database_is_gone(config: Config, clock: FixedClock) -> None:
    engine = (await open_app(config, clock=clock)).engine
    server = MonitoringServer(engine.store.platform, engine.config.monitoring, listen="127.0.0.1:0")
    await server.start()
    try:
        assert (await get(server, "/healthz"))[0] == 200
        await engine.close()
        status, _, text = await get(server, "/healthz")
        assert status == 503 and json.loads(text)["checks"]["database"]["ok"] is False
    finally:
        await server.close()


async def test_a_loop_that_never_ticked_is_down_only_after_stale_seconds(
        monitor: tuple[MonitoringServer, FakeAdapter]) -> None:
    server, _ = monitor
    server.loops = ["never-started"]
    assert (await get(server, "/healthz"))[0] == 200
    server.started -= server.stale_seconds + 1
    status, _, text = await get(server, "/healthz")
    assert status == 503
    assert json.loads(text)["checks"]["loops"]["never-started"]["error"] == "never went round"


async def test_metrics_count_ingest_summaries_and_alert_outcomes(
        engine: BriefingEngine, publisher: RecordingPublisher, clock: FixedClock,
        monitor: tuple[MonitoringServer, FakeAdapter]) -> None:
    server, _ = monitor
    ingested = sample("briefbot_articles_ingested_total")
    summaries = sample("briefbot_summary_seconds_count")
    delivered = sample("briefbot_alert_messages_total", {"outcome": "delivered"})
    retried = sample("briefbot_alert_messages_total", {"outcome": "retry"})
    failed = sample("briefbot_alert_messages_total", {"outcome": "failed"})

    reply = await engine.handle_command("subscribe rocket", ALICE)
    assert not reply.is_error, reply.text
    for n in range(3):
        await engine.ingest(ArticleDraft(title=f"Rocket launch {n}", text=f"{BODY} Part {n}.",
                                         url=f"https://news.example/rocket/{n}"))
    assert not (await engine.ingest(ArticleDraft(title="Rocket launch 0", text=f"{BODY} Part 0.",
                                                 url="https://news.example/rocket/0"))).created
    assert sample("briefbot_articles_ingested_total") == ingested + 3
    assert sample("briefbot_summary_seconds_count") == summaries + 3
    assert sample("briefbot_summaries_total") >= 3

    alerts = alerts_of(engine)
    publisher.fail_with = DeliveryError("the platform is down", permanent=False)
    clock.advance(minutes=1)
    await alerts.dispatch_due()
    assert sample("briefbot_alert_messages_total", {"outcome": "retry"}) == retried + 1
    publisher.fail_with = None
    clock.advance(hours=2)
    await alerts.dispatch_due()
    assert sample("briefbot_alert_messages_total", {"outcome": "delivered"}) == delivered + 1
    assert sample("briefbot_alert_messages_total", {"outcome": "failed"}) == failed

    status, ctype, text = await get(server, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    for name in ("briefbot_articles_ingested_total", "briefbot_summary_seconds_bucket",
                 'briefbot_feed_polls_total{outcome="not_modified"}',
                 'briefbot_digest_posts_total{outcome="retry"}',
                 "briefbot_event_loop_lag_seconds_count", "briefbot_platform_rate_limited"):
        assert name in text, name


@pytest.mark.parametrize(("listen", "ok"), [
    ("127.0.0.1:9464", True), ("[::1]:9464", True), ("localhost:0", True),
    ("9464", False), ("127.0.0.1:", False), ("http://127.0.0.1:9464", False),
])
def test_listen_is_host_and_port(listen: str, ok: bool) -> None:
    if ok:
        assert config_from_mapping({"monitoring": {"listen": listen}}).monitoring.listen
    else:
        with pytest.raises(ConfigError) as err:
            config_from_mapping({"monitoring": {"listen": listen}})
        assert "[monitoring] listen must be HOST:PORT" in str(err.value)


def test_monitoring_is_off_by_default() -> None:
    assert config_from_mapping({}).monitoring.listen == ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_headless_run_serves_healthz_and_metrics_then_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(f'[monitoring]\nlisten = "127.0.0.1:{port}"\n'
                      '[logging]\nformat = "json"\n')
    env = {**os.environ, "SLACK_BOT_TOKEN": "", "DISCORD_TOKEN": "", "BRIEFBOT_CONFIG": ""}
    proc = processes.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "--db", str(tmp_path / "h.db"),
         "run", "--no-console"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        deadline = time.monotonic() + 60
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status, text = fetch(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                time.sleep(0.2)
                continue
            body = json.loads(text)
            if status == 200 and all(v["last_tick_seconds_ago"] is not None
                                     for v in body["checks"]["loops"].values()):
                break
            time.sleep(0.2)
        assert body.get("status") == "ok", body
        assert set(body["checks"]["loops"]) == {"feed-poller", "digest-scheduler", "alerts",
                                                "retention"}
        assert body["checks"]["adapters"] == {}  # headless: no chat platform
        time.sleep(1.2)  # two lag samples
        status, text = fetch(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        lag = [line for line in text.splitlines()
               if line.startswith("briefbot_event_loop_lag_seconds_count")]
        assert lag and float(lag[0].split()[-1]) >= 1
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in err.splitlines()]  # [logging] format = "json"
    said = [r["message"] for r in records]
    assert any(m.startswith("no Slack or Discord token and --no-console: running headless "
                            "(polling feeds, posting digests, delivering alerts)") for m in said)
    assert any("monitoring: GET /healthz" in m for m in said)


def test_run_with_no_terminal_is_headless_and_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "SLACK_BOT_TOKEN": "", "DISCORD_TOKEN": "", "BRIEFBOT_CONFIG": ""}
    proc = processes.Popen(
        [sys.executable, "-m", "bot", "--db", str(tmp_path / "n.db"), "run"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while "headless" not in (first := proc.stderr.readline()):
            assert first and time.monotonic() < deadline, "no word of running headless"
        time.sleep(1.0)
        assert proc.poll() is None, "a headless run keeps running at end of input"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "no Slack or Discord token and no terminal: running headless" in first
    assert proc.returncode == 0


async def test_stale_seconds_come_from_the_config(make_engine: Callable[..., Any],
                                                  config: Config) -> None:
    engine = await make_engine(replace(config, monitoring=replace(config.monitoring,
                                                                  stale_seconds=42.0)))
    server = MonitoringServer(engine.store.platform, engine.config.monitoring, listen="127.0.0.1:0")
    assert server.stale_seconds == 42.0
    await asyncio.sleep(0)
