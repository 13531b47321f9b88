"""Discord's global rate limit is per bot token: three `briefbot run` processes on one
PostgreSQL, one token, together keep to ``[discord] max_messages_per_second``, measured at the
fake Discord (every request's arrival time), not per process."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bot.digests.rules import DailyTime, next_occurrence
from bot.models import ArticleDraft
from bot.store.postgres import open_postgres_store
from tests.discord_fake import FakeDiscord
from tests.processes import create_subprocess_exec, stop_processes

REPO = Path(__file__).resolve().parent.parent
RATE = 10
CHANNELS = [str(920000000000001000 + i) for i in range(45)]


def busiest_second(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t - start < 1.0)
                for i, start in enumerate(times)), default=0)


async def test_three_processes_keep_to_one_discord_rate(tmp_path: Path,
                                                        postgres_url: str) -> None:
    fake = FakeDiscord(global_limit=1000, channel_limit=(100, 5.0))  # measure, never refuse
    await fake.start()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[discord]\napi_base_url = "{fake.api_base_url}"\ngateway_url = "{fake.gateway_url}"\n'
        f"max_messages_per_second = {RATE}\nsend_concurrency = 4\n"
        "[digest]\nlease_seconds = 30\nretry_seconds = 1\nwake_interval_seconds = 0.2\n"
        "concurrency = 8\n", encoding="utf-8")
    env = {**os.environ, "DISCORD_TOKEN": "fake-token", "SLACK_BOT_TOKEN": "",
           "SLACK_APP_TOKEN": "", "BRIEFBOT_CONFIG": "", "BRIEFBOT_DATABASE_URL": postgres_url}
    logs = [(tmp_path / f"run{i}.log").open("wb") for i in range(3)]
    procs = [await create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "run", "--no-console", env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=log,
        cwd=REPO) for log in logs]
    try:
        await fake.wait_for(lambda: len(fake.identifies) >= 3, within=90)
        await asyncio.sleep(0.5)
        # every process is up: now 45 digests fall due at once
        now = datetime.now(UTC)
        store = await open_postgres_store(postgres_url, pool_size=1)
        try:
            await store.articles.add_article(
                ArticleDraft(text="Rocket systems were sent to the front line today.",
                             url="https://wire.example/rockets", source="Wire"),
                title="Rocket systems for the front", summary=["Rocket systems were sent."],
                content_hash="rockets", canonical_url="https://wire.example/rockets",
                ingested_at=now - timedelta(minutes=5))
            rule = DailyTime(hour=(now - timedelta(minutes=1)).hour,
                             minute=(now - timedelta(minutes=1)).minute, timezone="UTC")
            first = next_occurrence(rule, after=now - timedelta(minutes=2))
            for channel in CHANNELS:
                await store.digests.set_digest_schedule(
                    platform="discord", channel_id=channel, rule=rule, first=first, by="1",
                    now=now)
        finally:
            await store.close()

        def posts() -> list[float]:
            return [c.at for c in fake.calls
                    if c.method == "POST" and c.path.startswith("/channels/")
                    and c.path.endswith("/messages") and c.status == 200]

        await fake.wait_for(lambda: len(posts()) >= len(CHANNELS), within=90)
        await asyncio.sleep(1)
        times = sorted(posts())
        assert sorted(int(ch) for ch in fake.messages) == sorted(int(c) for c in CHANNELS)
        assert len(times) == len(CHANNELS)
        conn = await asyncpg.connect(postgres_url)
        try:
            senders = await conn.fetchval(
                "SELECT count(DISTINCT split_part(claimed_by, ':', 2)) FROM digest_runs")
        finally:
            await conn.close()
        assert senders >= 2  # the work was shared
        rate = (len(times) - 1) / (times[-1] - times[0])
        busiest = busiest_second(times)
        print(f"\n{len(times)} posts by {senders} processes at the fake: {rate:.1f}/s over "
              f"{times[-1] - times[0]:.2f} s, busiest second {busiest} (limit {RATE}/s)")
        assert busiest <= RATE + 3, busiest  # window edges, arrival jitter under load (a
        # limiter per process gives 19-30 here)
        assert rate <= RATE * 1.1
    finally:
        await stop_processes(*procs)
        await fake.close()
        for log in logs:
            log.close()
