"""PostgreSQL faults as an operator meets them: a server that is not there at start (one line
naming host and database, exit non-zero), a wrong password, a missing database, `status` and
`stats` naming the database (never the password); and a server lost while `briefbot run`
works: it keeps serving, retries, loses no work, and logs one line for the outage and one when
it is back, not a traceback per query."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.dburl import parse_database
from bot.digests.rules import DailyTime, next_occurrence
from bot.models import ArticleDraft
from bot.store.postgres import open_postgres_store
from tests import processes
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.in_process import run_briefbot
from tests.postgres_server import (
    PASSWORD_USER,
    CuttableProxy,
    PostgresServer,
    with_database,
)
from tests.processes import create_subprocess_exec, stop_processes

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "2022-05-31-us-rocket-systems-ukraine.txt"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """``briefbot ARGS``: ``briefbot run`` in a new process, other commands in this one."""
    env = {"BRIEFBOT_CONFIG": "", "SLACK_BOT_TOKEN": "", "DISCORD_TOKEN": "", **(env or {})}
    if "run" not in args:
        return run_briefbot(*args, cwd=cwd, env=env)
    return processes.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                         timeout=120, cwd=cwd, check=False, env={**os.environ, **env})


@pytest.mark.parametrize("command", [["run", "--no-console"], ["status"], ["stats"],
                                     ["brief", "rocket"]])
def test_an_unreachable_server_at_start_is_one_line_and_exit_1(
        tmp_path: Path, command: list[str]) -> None:
    port = _free_port()
    url = f"postgresql://bot:s3cret@127.0.0.1:{port}/newsroom"
    done = cli(*command, cwd=tmp_path, env={"BRIEFBOT_DATABASE_URL": url})
    assert done.returncode == 1, done
    assert done.stderr.splitlines() == [
        f"briefbot: error: cannot reach the PostgreSQL server at postgresql 127.0.0.1:{port}"
        "/newsroom: Connection refused"], done.stderr
    assert not list(tmp_path.iterdir())  # no SQLite file made instead


def test_a_wrong_password_and_a_missing_database_are_one_line_each(
        tmp_path: Path, postgres_server: PostgresServer | None, postgres_url: str) -> None:
    assert postgres_server is not None
    missing = cli("status", cwd=tmp_path,
                  env={"BRIEFBOT_DATABASE_URL": postgres_server.url("no_such_db")})
    assert missing.returncode == 1
    assert len(missing.stderr.splitlines()) == 1
    assert "the database no_such_db does not exist" in missing.stderr
    if not postgres_server.password_auth:
        return
    wrong = with_database(postgres_server.admin_url, "postgres").replace(
        "postgres:@", f"{PASSWORD_USER}:wrong-horse@")
    refused = cli("run", "--no-console", cwd=tmp_path, env={"BRIEFBOT_DATABASE_URL": wrong})
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"briefbot: error: PostgreSQL refused the password for user {PASSWORD_USER} at "
        f"{parse_database(wrong).describe()}: check BRIEFBOT_DATABASE_URL (or PGPASSWORD)"]
    assert "wrong-horse" not in refused.stderr


def test_status_and_stats_name_the_postgres_database(tmp_path: Path, postgres_url: str) -> None:
    proxy_free = postgres_url  # pgserver: a unix socket URL without a password
    env = {"BRIEFBOT_DATABASE_URL": proxy_free}
    assert cli("ingest", str(SAMPLE), cwd=tmp_path, env=env).returncode == 0
    name = parse_database(proxy_free).describe()
    status = cli("status", cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert f"database: {name} (BRIEFBOT_DATABASE_URL)" in lines
    assert "articles: 1" in lines and "feeds: 0" in lines
    assert any(line.startswith("size: ") and line.endswith("MB") for line in lines)
    stats = cli("stats", cwd=tmp_path, env=env)
    assert stats.returncode == 0, stats.stderr
    assert f"database   {name}" in stats.stdout.splitlines()
    assert "articles   1" in stats.stdout.splitlines()
    version = cli("--version", cwd=tmp_path, env=env)
    assert f"database: {name} (BRIEFBOT_DATABASE_URL)" in version.stdout
    assert not list(tmp_path.iterdir())  # no SQLite file anywhere near


async def _schedule(url: str, channels: list[str], now: datetime) -> None:
    store = await open_postgres_store(url, pool_size=1)
    try:
        rule = DailyTime(hour=(now - timedelta(minutes=1)).hour,
                         minute=(now - timedelta(minutes=1)).minute, timezone="UTC")
        first = next_occurrence(rule, after=now - timedelta(minutes=2))
        for channel in channels:
            await store.digests.set_digest_schedule(
                platform="slack", channel_id=channel, rule=rule, first=first, by="U0", now=now)
    finally:
        await store.close()


async def test_a_server_lost_while_running_costs_one_log_line_and_no_work(
        tmp_path: Path, postgres_url: str) -> None:
    """`briefbot run` reaches PostgreSQL through a proxy the test cuts for a few seconds.
    Digests posted before the cut stay posted; digests that fall due during it (scheduled
    straight into the database) are posted once each after it; /healthz answers 503 during
    it and 200 after; the log has one line for the outage and one for the return."""
    fake = FakeSlack()
    await fake.start()
    proxy = CuttableProxy(postgres_url)
    await proxy.start()
    name = postgres_url.split("?")[0].rsplit("/", 1)[1]
    now = datetime.now(UTC)
    store = await open_postgres_store(postgres_url, pool_size=1)
    try:
        await store.articles.add_article(
            ArticleDraft(text="Rocket systems were sent to the front line today, officials "
                         "said.", url="https://wire.example/rockets", source="Wire"),
            title="Rocket systems for the front", summary=["Rocket systems were sent."],
            content_hash="rockets", canonical_url="https://wire.example/rockets",
            ingested_at=now - timedelta(minutes=5))
    finally:
        await store.close()
    before, during = ["CB0", "CB1", "CB2"], ["CD0", "CD1", "CD2"]
    await _schedule(postgres_url, before, now)
    health = _free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[slack]\napi_base_url = "{fake.api_url}"\nhttp_host = "127.0.0.1"\nhttp_port = 0\n'
        "post_interval_seconds = 0\n"
        "[digest]\nlease_seconds = 10\nretry_seconds = 1\nwake_interval_seconds = 0.3\n"
        f'[monitoring]\nlisten = "127.0.0.1:{health}"\n', encoding="utf-8")
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "",
           "SLACK_SIGNING_SECRET": "s3cret", "DISCORD_TOKEN": "", "BRIEFBOT_CONFIG": "",
           "BRIEFBOT_DATABASE_URL": proxy.url(name)}
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        proc = await create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(cfg), "run", "--no-console", env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=log,
            cwd=REPO)
    try:
        def posted(channels: list[str]) -> bool:
            return set(channels) <= {c.args.get("channel") for c in fake.posts()}

        await fake.wait_for(lambda: posted(before), within=60)

        async def healthz() -> int:
            async with aiohttp.ClientSession() as http, http.get(
                    f"http://127.0.0.1:{health}/healthz") as response:
                return response.status

        assert await healthz() == 200
        await proxy.cut()
        await _schedule(postgres_url, during, datetime.now(UTC))  # straight in, not via proxy
        await asyncio.sleep(1.5)
        assert await healthz() == 503  # still answering: the database is down
        await asyncio.sleep(3)  # a few rounds of every service meet the outage
        assert proc.returncode is None
        assert not posted(during)
        await proxy.restore()
        await fake.wait_for(lambda: posted(during), within=60)
        assert await healthz() == 200
        await asyncio.sleep(1)
        per_channel = Counter(c.args.get("channel") for c in fake.posts())
        assert per_channel == Counter({c: 1 for c in before + during})
    finally:
        await stop_processes(proc)
        await proxy.close()
        await fake.close()
    text = log_path.read_text(encoding="utf-8", errors="replace")
    where = f"postgresql 127.0.0.1:{proxy.port}/{name}"
    assert sum(f"lost the database {where}" in line for line in text.splitlines()) == 1, text
    assert sum(f"the database {where} is back" in line for line in text.splitlines()) == 1, text
    assert "Traceback" not in text, text


async def test_the_outage_logs_nothing_but_its_line_from_a_failing_query(
        postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """At the store: a query on a lost server raises DatabaseUnavailable (a StoreError),
    the outage is logged once however many queries fail, and once when it is back."""
    from bot.errors import DatabaseUnavailable

    proxy = CuttableProxy(postgres_url)
    await proxy.start()
    name = postgres_url.split("?")[0].rsplit("/", 1)[1]
    store = await open_postgres_store(proxy.url(name), pool_size=2)
    try:
        assert await store.platform.get_meta("x") is None
        await proxy.cut()
        for _ in range(5):
            with pytest.raises(DatabaseUnavailable):
                await store.platform.get_meta("x")
        await proxy.restore()
        for _ in range(3):  # the pool's broken connections are replaced
            try:
                await store.platform.get_meta("x")
                break
            except DatabaseUnavailable:
                await asyncio.sleep(0.1)
        assert await store.platform.get_meta("x") is None
    finally:
        await store.close()
        await proxy.close()
    lost = [r for r in caplog.records if "lost the database" in r.getMessage()]
    back = [r for r in caplog.records if "is back" in r.getMessage()]
    assert len(lost) == 1 and len(back) == 1


async def test_records_that_meet_an_outage_are_dropped_from_the_log() -> None:
    import io
    import logging

    from bot.errors import DatabaseUnavailable, StoreError
    from bot.logs import configure_logging

    stream = io.StringIO()
    handler = configure_logging(level=logging.INFO, fmt="text", stream=stream)
    log = logging.getLogger("briefbot.test")
    try:
        try:
            try:
                raise DatabaseUnavailable("the database postgresql h/db is unreachable")
            except DatabaseUnavailable as exc:
                raise RuntimeError("a round failed") from exc
        except RuntimeError:
            log.exception("digest-scheduler: round failed")
        log.error("listener failed: %s", DatabaseUnavailable("gone"))
        try:
            raise StoreError("the database is full")
        except StoreError:
            log.exception("ingest failed")
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert "round failed" not in text and "listener failed" not in text
    assert "ingest failed" in text and "the database is full" in text


async def test_brief_answers_while_the_database_is_away(postgres_url: str) -> None:
    """A /brief that needs the database gets a short answer saying so (not the generic
    apology), and the next one after the server is back works."""
    from dataclasses import replace

    from bot.app import open_app
    from bot.config import default_config
    from bot.models import Caller

    proxy = CuttableProxy(postgres_url)
    await proxy.start()
    name = postgres_url.split("?")[0].rsplit("/", 1)[1]
    base = default_config()
    app = await open_app(replace(base, storage=replace(base.storage, url=proxy.url(name))))
    caller = Caller(platform="console", user_id="u", channel_id="c", is_admin=True)
    try:
        first = await app.engine.handle_command("rocket", caller)
        assert first.text.startswith("Nothing is stored yet")
        await proxy.cut()
        away = await app.engine.handle_command("rocket", caller)
        assert away.text == ("I can't reach my database right now; please try again in a "
                             "minute.")
        await proxy.restore()
        for _ in range(20):
            back = await app.engine.handle_command("rocket", caller)
            if "can't reach" not in back.text:
                break
            await asyncio.sleep(0.1)
        assert back.text == first.text
    finally:
        await app.close()
        await proxy.close()


def test_a_query_from_before_the_loss_that_succeeds_after_it_does_not_end_the_outage(
        caplog: pytest.LogCaptureFixture) -> None:
    # the mirror of the test below: under load, a query whose answer was on its way when
    # another task noticed the loss finished after it, and "is back" was logged (then "lost"
    # again by the next query) while the server was still down
    import time

    from bot.store.postgres.base import Outage

    outage = Outage("postgresql h:5432/db")
    with caplog.at_level("WARNING", logger="bot.store.postgres.base"):
        in_flight = time.monotonic()
        outage.failed(ConnectionResetError("reset"), started=time.monotonic())
        outage.ok(started=in_flight)  # started before the loss was noticed: no news
        outage.failed(OSError("refused"), started=time.monotonic())  # still the same outage
        outage.ok(started=time.monotonic())  # a query started during the outage: back
    lines = [r.getMessage().split(" (")[0] for r in caplog.records]
    assert lines == ["lost the database postgresql h:5432/db",
                     "the database postgresql h:5432/db is back"]


def test_a_query_from_before_the_return_that_fails_after_it_is_no_new_outage(
        caplog: pytest.LogCaptureFixture) -> None:
    # `briefbot run` once logged a second "lost the database" right after "is back": a query
    # waiting on a connection the cut had broken failed after another had found the server.
    import time

    from bot.store.postgres.base import Outage

    outage = Outage("postgresql h:5432/db")
    with caplog.at_level("WARNING", logger="bot.store.postgres.base"):
        in_flight = time.monotonic()
        outage.failed(ConnectionResetError("reset"), started=in_flight)
        outage.failed(ConnectionResetError("reset"), started=time.monotonic())
        outage.ok()
        outage.failed(ConnectionResetError("reset"), started=in_flight)  # the leftover
        outage.ok()
        outage.failed(OSError("refused"), started=time.monotonic())  # a new outage
    lines = [r.getMessage().split(" (")[0] for r in caplog.records]
    assert lines == ["lost the database postgresql h:5432/db",
                     "the database postgresql h:5432/db is back",
                     "lost the database postgresql h:5432/db"]
