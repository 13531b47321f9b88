"""Kill real ``briefbot run`` processes while they post, and count what the platform got.

The harness behind tests/test_exactly_once.py (few cycles) and bench/bench_exactly_once.py
(the full loop). One SQLite database holds ``channels`` channels with a digest due now and
``people`` people with alerts waiting; a local fake of the platform (Slack or Discord) answers
every message ``latency`` seconds after accepting it (the hard case: a process stopped in that
second never learns that its post went through). ``briefbot run --no-console`` processes are
started one after another; each is stopped by the next signal of ``signals`` (SIGKILL or
SIGTERM) as soon as the platform accepted a post of its own (a digest part, every other time an
alert), so every stop lands mid-post. A
last process runs until everything is delivered. Counted at the fake: the channels that got a
digest story more than once, and the (person, article) alerts delivered more than once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.digests.rules import DailyTime, next_occurrence
from bot.models import ArticleDraft
from bot.store import open_store
from tests import processes
from tests.discord_fake import FakeDiscord
from tests.fakes.slack import BOT_TOKEN, FakeSlack

REPO = Path(__file__).resolve().parent.parent

DISCORD_TOKEN = "exactly-once-token"
FIRST_DISCORD_ID = 960000000000000001


@dataclass(frozen=True)
class Scenario:
    platform: str  # "slack" or "discord"
    workdir: Path
    channels: int = 8
    people: int = 4
    alerts_each: int = 2  # articles each person is alerted about
    stories: int = 12  # articles in every digest (more than one message on Discord)
    latency: float = 1.0
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGKILL)
    lease_seconds: float = 10.0
    concurrency: int = 8  # [digest] concurrency: digests one process posts at once
    within: float = 120.0  # the last process must have delivered everything by then
    seed: int = 1
    log: Callable[[str], None] = lambda line: None


@dataclass
class Outcome:
    platform: str
    digests_more_than_once: int = 0  # channels with a story posted twice
    digests_missing: int = 0  # channels missing a story
    alerts_more_than_once: int = 0  # (person, article) delivered twice
    alerts_missing: int = 0
    alerts_expected: int = 0
    messages: int = 0  # messages the platform holds
    settled_by_platform: int = 0  # Discord: creates a nonce answered; Slack: history lookups
    stops: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.platform:8} digests to {self.channels_line()}; alerts "
                f"{self.alerts_expected} deliveries: {self.alerts_more_than_once} more than "
                f"once, {self.alerts_missing} missing; "
                f"stops {dict(self.stops)}; {self.messages} messages "
                f"({self.settled_by_platform} {self.settled_how()}); {self.seconds:.0f} s")

    def settled_how(self) -> str:
        return ("creates answered by nonce" if self.platform == "discord"
                else "history lookups on resume")

    def channels_line(self) -> str:
        return (f"channels: {self.digests_more_than_once} got a digest more than once, "
                f"{self.digests_missing} missing a story")


def _channel_ids(s: Scenario) -> list[str]:
    if s.platform == "slack":
        return [f"CX{i:03d}" for i in range(s.channels)]
    return [str(FIRST_DISCORD_ID + i) for i in range(s.channels)]


def _people(s: Scenario) -> list[str]:
    if s.platform == "slack":
        return [f"UX{i:03d}" for i in range(s.people)]
    return [str(FIRST_DISCORD_ID + 10_000 + i) for i in range(s.people)]


def _story(n: int) -> str:
    return f"Story{n:03d}"


_MARKER = re.compile(r"Story\d{3}")


async def prepare(s: Scenario, db: Path, now: datetime) -> dict[str, set[str]]:
    """The database: digests due now, articles, alerts waiting; returns who expects which
    alert markers."""
    store = await open_store(db)
    try:
        due = now - timedelta(minutes=1)
        rule = DailyTime(hour=due.hour, minute=due.minute, timezone="UTC")
        first = next_occurrence(rule, after=now - timedelta(minutes=2))
        for channel in _channel_ids(s):
            await store.digests.set_digest_schedule(
                platform=s.platform, channel_id=channel, rule=rule, first=first, by="U0",
                now=now)
        words = ["rocket", "harbour", "tariff", "glacier", "vaccine", "satellite", "drought",
                 "railway", "election", "copper", "reactor", "festival", "orchard", "bridge"]
        articles = []
        for n in range(s.stories):
            word = words[n % len(words)]
            title = f"{_story(n)} {word} report number {n}"
            text = (f"{title}. The {word} story number {n} was reported today by the wire, "
                    f"with details about {word} {n} that nobody else had.")
            article = await store.articles.add_article(
                ArticleDraft(text=text, title=title, url=f"https://wire.example/{n}",
                             source="Wire"),
                title=title, summary=(text.split(". ")[1] + ".",), content_hash=f"h{n}",
                canonical_url=f"https://wire.example/{n}",
                ingested_at=now - timedelta(minutes=30))
            assert article is not None
            articles.append(article)
        expected: dict[str, set[str]] = {}
        rng = random.Random(s.seed)
        for person in _people(s):
            _, sub = await store.alerts.add_subscription(
                platform=s.platform, owner_kind="user", owner_id=person, created_by=person,
                query=person, query_key=person, language="english", now=now, limit=5)
            assert sub is not None
            chosen = rng.sample(articles, min(s.alerts_each, len(articles)))
            for article in chosen:
                await store.alerts.record_alerts(
                    article_id=article.id, matches=[(sub.id, ["report"])], now=now, due=now)
            expected[person] = {a.title.split()[0] for a in chosen}
        return expected
    finally:
        await store.close()


class Platform:
    """What the harness needs of a fake: start, accepted messages by channel, stop."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.slack: FakeSlack | None = None
        self.discord: FakeDiscord | None = None

    async def start(self) -> None:
        if self.s.platform == "slack":
            self.slack = FakeSlack(post_delay=self.s.latency, accept_first=True)
            for person in _people(self.s):
                self.slack.users[person] = {"name": person}
            await self.slack.start()
        else:
            self.discord = FakeDiscord(post_delay=self.s.latency, global_limit=10_000,
                                       channel_limit=(1000, 1.0))
            await self.discord.start()

    async def close(self) -> None:
        if self.slack is not None:
            await self.slack.close()
        if self.discord is not None:
            await self.discord.close()

    def config(self) -> str:
        if self.slack is not None:
            return (f'[slack]\napi_base_url = "{self.slack.api_url}"\nhttp_host = "127.0.0.1"\n'
                    "http_port = 0\npost_interval_seconds = 0\n")
        assert self.discord is not None
        return (f'[discord]\napi_base_url = "{self.discord.api_base_url}"\n'
                f'gateway_url = "{self.discord.gateway_url}"\nmax_messages_per_second = 50\n'
                "send_concurrency = 8\n")

    def env(self) -> dict[str, str]:
        if self.slack is not None:
            return {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "",
                    "SLACK_SIGNING_SECRET": "s3cret", "DISCORD_TOKEN": ""}
        return {"DISCORD_TOKEN": DISCORD_TOKEN, "SLACK_BOT_TOKEN": "", "SLACK_APP_TOKEN": "",
                "SLACK_SIGNING_SECRET": ""}

    def accepted(self) -> dict[str, list[str]]:
        """Every message the platform accepted, as text, by channel (DMs by person)."""
        out: dict[str, list[str]] = {}
        if self.slack is not None:
            for channel, messages in self.slack.history.items():
                person = channel[1:] if channel.startswith("D") else None
                out.setdefault(person or channel, []).extend(
                    f"{m.get('text', '')} {json.dumps(m.get('blocks') or [])}"
                    for m in messages)
            return out
        assert self.discord is not None
        for channel_id, bodies in list(self.discord.messages.items()):
            person = self.discord.dm_channels.get(channel_id)
            key = str(person) if person is not None else str(channel_id)
            for body in bodies:
                titles = " ".join(str(e.get("title", "")) for e in body.get("embeds") or ())
                out.setdefault(key, []).append(f"{body.get('content') or ''} {titles}")
        return out

    def count(self, keys: Collection[str] | None = None) -> int:
        return sum(len(v) for k, v in self.accepted().items() if keys is None or k in keys)

    async def changed(self, within: float, keys: Collection[str] | None = None) -> None:
        """Until the platform accepted one more message (to ``keys`` only, if given)."""
        fake: Any = self.slack if self.slack is not None else self.discord
        before = self.count(keys)
        await fake.wait_for(lambda: self.count(keys) > before, within=within)


def markers_in(text: str) -> set[str]:
    """The stories a message shows (each counted once per message)."""
    return set(_MARKER.findall(text))


def tally(s: Scenario, accepted: dict[str, list[str]], expected: dict[str, set[str]],
          outcome: Outcome) -> None:
    stories = {_story(n) for n in range(s.stories)}
    for channel in _channel_ids(s):
        seen = Counter(m for text in accepted.get(channel, []) for m in markers_in(text))
        outcome.digests_more_than_once += any(n > 1 for n in seen.values())
        outcome.digests_missing += any(seen[story] == 0 for story in stories)
    for person, markers in expected.items():
        seen = Counter(m for text in accepted.get(person, []) for m in markers_in(text))
        outcome.alerts_expected += len(markers)
        outcome.alerts_more_than_once += sum(n > 1 for n in seen.values())
        outcome.alerts_missing += sum(seen[m] == 0 for m in markers)
    outcome.messages = sum(len(v) for v in accepted.values())


async def run_scenario(s: Scenario) -> Outcome:
    started = time.monotonic()
    s.workdir.mkdir(parents=True, exist_ok=True)
    db = s.workdir / f"{s.platform}.db"
    for stale in s.workdir.glob(f"{s.platform}.db*"):
        stale.unlink()
    platform = Platform(s)
    await platform.start()
    outcome = Outcome(platform=s.platform)
    try:
        expected = await prepare(s, db, datetime.now(UTC))
        cfg = s.workdir / f"{s.platform}.toml"
        cfg.write_text(
            platform.config()
            + f"[digest]\nlease_seconds = {s.lease_seconds}\nretry_seconds = 1\n"
            f"wake_interval_seconds = 0.5\nconcurrency = {s.concurrency}\n"
            f"max_items = {s.stories}\ngrace_hours = 24\n"
            f"[alerts]\nlease_seconds = {s.lease_seconds}\nbatch_seconds = 0\n"
            "retry_base_seconds = 1\n", encoding="utf-8")
        env = {**os.environ, **platform.env(), "BRIEFBOT_DATABASE_URL": ""}
        log_path = s.workdir / f"{s.platform}.log"
        total_channels, total_alerts = len(_channel_ids(s)), sum(len(v) for v in
                                                                  expected.values())

        def alerts_done() -> bool:
            accepted = platform.accepted()
            return all(markers <= {m for text in accepted.get(person, [])
                                   for m in markers_in(text)}
                       for person, markers in expected.items())

        def done() -> bool:
            accepted = platform.accepted()
            stories = {_story(n) for n in range(s.stories)}
            for channel in _channel_ids(s):
                if not stories <= {m for text in accepted.get(channel, [])
                                   for m in markers_in(text)}:
                    return False
            for person, markers in expected.items():
                if not markers <= {m for text in accepted.get(person, [])
                                   for m in markers_in(text)}:
                    return False
            return True

        with log_path.open("ab") as log:
            for index, sig in enumerate([*s.signals, None]):
                proc = await processes.create_subprocess_exec(
                    sys.executable, "-m", "bot", "--config", str(cfg), "--db", str(db), "run",
                    "--no-console", env=env, stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL, stderr=log, cwd=REPO)
                try:
                    if sig is None:  # the last process: until everything is delivered
                        fake: Any = platform.slack or platform.discord
                        await fake.wait_for(done, within=s.within)
                        await asyncio.sleep(s.latency + 1.0)  # a second copy would land now
                        proc.send_signal(signal.SIGTERM)
                        await asyncio.wait_for(proc.wait(), 60)
                        break
                    if done():
                        s.log(f"  everything delivered before stop {index + 1}")
                        proc.send_signal(signal.SIGTERM)
                        await asyncio.wait_for(proc.wait(), 60)
                        break
                    # stop it just after the platform accepted one of its posts (its answer
                    # still on the way): a digest part, or every other time an alert
                    keys = set(_people(s)) if index % 2 else set(_channel_ids(s))
                    if index % 2 and alerts_done():
                        keys = set(_channel_ids(s))
                    with contextlib.suppress(TimeoutError):
                        await platform.changed(within=s.within, keys=keys)
                    proc.send_signal(sig)
                    code = await asyncio.wait_for(proc.wait(), 60)
                    outcome.stops[sig.name] += 1
                    s.log(f"  stop {index + 1}: {sig.name} (exit {code}); "
                          f"{platform.count()} messages so far")
                finally:
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()
        tally(s, platform.accepted(), expected, outcome)
        outcome.settled_by_platform = (
            platform.discord.nonce_hits if platform.discord is not None
            else len(platform.slack.calls_to("conversations.history")) if platform.slack
            else 0)
        assert total_channels and total_alerts
    finally:
        await platform.close()
    outcome.seconds = time.monotonic() - started
    return outcome
