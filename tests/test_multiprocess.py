"""Several `briefbot run` processes on one PostgreSQL database share the work.

Three real processes (``python -m bot run --no-console``) serve Slack against the local fake,
each with its own connection pool; 24 channels have a digest due now and 6 people an alert
waiting. One process is killed with SIGKILL while its posts are in flight (the fake answers
chat.postMessage only after a delay, and a post whose sender died is never accepted). The others
take its claims over when the leases (10 s) run out. Counted at the fake: each digest and each
alert exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bot.digests.rules import DailyTime, next_occurrence
from bot.models import ArticleDraft
from bot.store.postgres import open_postgres_store
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.processes import create_subprocess_exec, stop_processes

REPO = Path(__file__).resolve().parent.parent
CHANNELS = [f"CD{i:02d}" for i in range(24)]
PEOPLE = [f"UA{i}" for i in range(6)]


async def _prepare(url: str, now: datetime) -> None:
    store = await open_postgres_store(url, pool_size=2)
    try:
        rule = DailyTime(hour=(now - timedelta(minutes=1)).hour,
                         minute=(now - timedelta(minutes=1)).minute, timezone="UTC")
        first = next_occurrence(rule, after=now - timedelta(minutes=2))
        assert first.due_at <= now
        for channel in CHANNELS:
            await store.digests.set_digest_schedule(
                platform="slack", channel_id=channel, rule=rule, first=first, by="U0", now=now)
        article = await store.articles.add_article(
            ArticleDraft(text="Rocket systems were sent to the front line today, officials "
                         "said, in a package worth 700 million dollars.",
                         url="https://wire.example/rockets", source="Wire"),
            title="Rocket systems for the front", summary=["Rocket systems were sent."],
            content_hash="rockets", canonical_url="https://wire.example/rockets",
            ingested_at=now - timedelta(minutes=5))
        assert article is not None
        subs = []
        for person in PEOPLE:
            _, sub = await store.alerts.add_subscription(
                platform="slack", owner_kind="user", owner_id=person, created_by=person,
                query="rocket", query_key="rocket", language="english", now=now, limit=5)
            assert sub is not None
            subs.append((sub.id, ["rocket"]))
        assert await store.alerts.record_alerts(article_id=article.id, matches=subs, now=now,
                                                due=now) == len(PEOPLE)
    finally:
        await store.close()


async def test_three_processes_one_killed_post_each_digest_and_alert_once(
        tmp_path: Path, postgres_url: str) -> None:
    fake = FakeSlack(post_delay=0.4, cancel_on_disconnect=True)
    for person in PEOPLE:
        fake.users[person] = {"name": person}
    await fake.start()
    now = datetime.now(UTC)
    await _prepare(postgres_url, now)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[slack]\napi_base_url = "{fake.api_url}"\nhttp_host = "127.0.0.1"\nhttp_port = 0\n'
        "post_interval_seconds = 0\n"
        "[digest]\nlease_seconds = 10\nretry_seconds = 1\nwake_interval_seconds = 0.5\n"
        "concurrency = 4\n"
        "[alerts]\nlease_seconds = 10\nbatch_seconds = 0\n", encoding="utf-8")
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "",
           "SLACK_SIGNING_SECRET": "s3cret", "DISCORD_TOKEN": "",
           "BRIEFBOT_DATABASE_URL": postgres_url}
    logs = [(tmp_path / f"run{i}.log").open("wb") for i in range(3)]
    procs = [await create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "run", "--no-console", env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=log, cwd=REPO)
        for log in logs]
    try:
        # wait until a process holds digest claims (it is posting them), then kill that one
        by_pid = {str(p.pid): p for p in procs}
        victim_pid = ""
        conn = await asyncpg.connect(postgres_url)
        try:
            for _ in range(4500):  # 90 s at most
                holders = [r[0].split(":")[1] for r in await conn.fetch(
                    "SELECT claimed_by FROM digest_runs WHERE status = 'claimed'")]
                if holders and holders[0] in by_pid:
                    victim_pid = holders[0]
                    break
                await asyncio.sleep(0.02)
            assert victim_pid, "no process ever held a digest claim"
            victim = f"%:{victim_pid}:%"
            by_pid[victim_pid].send_signal(signal.SIGKILL)
            await by_pid[victim_pid].wait()
            held = await conn.fetch("SELECT id FROM digest_runs WHERE status = 'claimed'"
                                    " AND claimed_by LIKE $1", victim)
        finally:
            await conn.close()
        assert held  # it died holding claims

        def done() -> bool:
            channels = {c.args.get("channel") for c in fake.posts()}
            return set(CHANNELS) <= channels and {f"D{p}" for p in PEOPLE} <= channels

        await fake.wait_for(done, within=120)
        await asyncio.sleep(3)  # anything posted twice would arrive by now
        per_channel = Counter(c.args.get("channel") for c in fake.posts())
        assert {ch: n for ch, n in per_channel.items() if n != 1} == {}
        assert set(per_channel) == set(CHANNELS) | {f"D{p}" for p in PEOPLE}
        # the dead process's claims were taken over after their lease by the others
        conn = await asyncpg.connect(postgres_url)
        try:
            rows = await conn.fetch(
                "SELECT status, claimed_by, attempts FROM digest_runs WHERE id = ANY($1)",
                [r["id"] for r in held])
        finally:
            await conn.close()
        assert all(r["status"] == "sent" and r["attempts"] >= 2 for r in rows)
        assert not any(r["claimed_by"].split(":")[1] == victim_pid for r in rows)
    finally:
        await stop_processes(*procs)
        await fake.close()
        for log in logs:
            log.close()
