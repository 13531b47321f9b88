"""How long the digest scheduler takes to build and hand off digests for many channels.

Builds a SQLite file with ``--articles`` stored articles (spread over a week, the same story
often reported by several of ``--feeds`` feeds) and ``--channels`` channels whose daily digest
is due at the same minute (the worst case); most channels follow a few feeds, the rest follow
all articles. Then times one scheduler pass (claim, select, cluster, rank, hand off to a
RecordingPublisher, mark sent) with the real store and the real DigestScheduler, and a second
pass a day later (digests since the previous one). Prints numbers; asserts nothing about time.

    python bench/bench_digest.py [--channels 10000] [--articles 50000] [--feeds 200]
        [--dump FILE] [--profile FILE]

``--dump FILE`` writes every posted digest (channel, text, items, footer) as JSON lines, to
compare the digests of two versions of the code on the same corpus (``cmp`` the files);
``--profile FILE`` writes a cProfile of the two timed passes (``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import digest_kit, open_app
from bot.config import default_config
from bot.digests.rules import DailyTime, next_occurrence
from bot.digests.scheduler import DigestScheduler
from bot.engine import BriefingEngine
from bot.publish import RecordingPublisher
from bot.store import open_store

COMMON = ("said officials report new year government people city week plan market help "
          "support state country group company police court minister talks vote").split()


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each of this process's threads so far, by thread id and name (Linux)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        try:
            raw = (task / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        out[f"{task.name}:{name}"] = (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_by_thread(before: dict[str, float], after: dict[str, float]) -> str:
    """The CPU each kind of thread spent between two :func:`thread_cpu` readings."""
    import threading

    names = {str(t.native_id): t.name for t in threading.enumerate()}
    spent: dict[str, float] = {}
    for key, cpu in after.items():
        tid, name = key.split(":", 1)
        name = "event loop" if tid == str(os.getpid()) else names.get(tid, name)
        name = name.rstrip("0123456789").rstrip("-_") or name
        spent[name] = spent.get(name, 0.0) + cpu - before.get(key, 0.0)
    return ", ".join(f"{name} {cpu:.2f}" for name, cpu in
                     sorted(spent.items(), key=lambda kv: -kv[1]) if cpu >= 0.01)


def make_stories(rng: random.Random, n: int, vocabulary: list[str]) -> list[list[str]]:
    return [rng.sample(vocabulary, 12) for _ in range(n)]


def report(rng: random.Random, key: list[str]) -> tuple[str, list[str]]:
    def sentence(k: int) -> str:
        words = [rng.choice(key) if rng.random() < 0.6 else rng.choice(COMMON) for _ in range(k)]
        return " ".join(words).capitalize() + "."

    title = " ".join(rng.sample(key, 6) + rng.sample(COMMON, 2)).capitalize()
    return title, [sentence(14), sentence(12)]


def build_database(path: Path, *, articles: int, feeds: int, channels: int, now: datetime,
                   seed: int) -> None:
    rng = random.Random(seed)
    vocabulary = [f"term{i}x" for i in range(20_000)]
    stories = make_stories(rng, articles // 2, vocabulary)
    db = sqlite3.connect(path)
    now_ts = now.timestamp()
    db.executemany(
        "INSERT INTO feeds (id, url, title, added_at, next_poll_at) VALUES (?, ?, ?, ?, ?)",
        [(f, f"https://feed{f}.example/rss", f"Feed {f}", now_ts, now_ts)
         for f in range(1, feeds + 1)],
    )
    rows = []
    week = 7 * 86_400
    times = sorted(now_ts - rng.random() * week for _ in range(articles))
    for i, ingested in enumerate(times, start=1):
        key = stories[rng.randrange(len(stories))]
        title, summary = report(rng, key)
        feed = rng.randint(1, feeds)
        url = f"https://feed{feed}.example/a/{i}"
        rows.append((i, title, " ".join(summary), json.dumps(summary), url, url,
                     f"Source {feed}", ingested - rng.random() * 3600, ingested,
                     hashlib.sha256(url.encode()).hexdigest(), feed))
    db.executemany(
        "INSERT INTO articles (id, title, text, summary, url, canonical_url, source,"
        " published_at, ingested_at, content_hash, feed_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    rule = DailyTime(hour=8, minute=0, timezone="UTC")
    first = next_occurrence(rule, after=now - timedelta(minutes=1))
    schedules, follows = [], []
    for c in range(channels):
        channel = f"C{c:05d}"
        schedules.append(("slack", channel, 8, 0, "UTC", 127, first.local_date.isoformat(),
                          first.due_at.timestamp(), now_ts - 60))
        if rng.random() < 0.8:  # most channels follow 1-5 feeds; the rest see everything
            for feed in rng.sample(range(1, feeds + 1), rng.randint(1, 5)):
                follows.append(("slack", channel, feed))
    db.executemany(
        "INSERT INTO digest_schedules (platform, channel_id, hour, minute, timezone, weekdays,"
        " enabled, next_local_date, next_due_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?,"
        " ?)", schedules)
    db.executemany("INSERT INTO channel_feeds (platform, channel_id, feed_id) VALUES (?, ?, ?)",
                   follows)
    db.commit()
    db.close()


async def bench(args: argparse.Namespace) -> None:
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    clock_now = [now - timedelta(minutes=1)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = await open_store(path)
        await store.close()
        started = time.perf_counter()
        build_database(path, articles=args.articles, feeds=args.feeds, channels=args.channels,
                       now=clock_now[0], seed=args.seed)
        print(f"setup: {args.articles} articles, {args.feeds} feeds, {args.channels} channels "
              f"in {time.perf_counter() - started:.1f} s")
        base = default_config()
        config = replace(base, storage=replace(base.storage, path=str(path)),
                         digest=replace(base.digest, concurrency=args.concurrency))
        engine = (await open_app(config, clock=lambda: clock_now[0])).engine
        publisher = RecordingPublisher(platform="slack")
        engine.add_publisher(publisher)
        engine.summarizer.load()  # as `briefbot run` does at start: not the pass's cost
        scheduler = DigestScheduler(digest_kit(engine), owner="bench")
        dump = open(args.dump, "w", encoding="utf-8") if args.dump else None  # noqa: SIM115, ASYNC230
        profile = None
        if args.profile:
            import cProfile

            profile = cProfile.Profile()
        try:
            for label, at in (("first digests (last 24 h)", now),
                              ("next day (since the previous digest)", now + timedelta(days=1))):
                if label.startswith("next"):
                    await add_day_of_articles(engine, args, at)
                clock_now[0] = at
                publisher.sent.clear()
                started, cpu = time.perf_counter(), time.process_time()
                main_cpu, threads = time.thread_time(), thread_cpu()
                if profile is not None:
                    profile.enable()
                result = await scheduler.run_due()
                if profile is not None:
                    profile.disable()
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                main_cpu = time.thread_time() - main_cpu
                by_thread = cpu_by_thread(threads, thread_cpu())
                if dump is not None:
                    for where, r in sorted(publisher.sent, key=lambda s: s[0].channel_id or ""):
                        dump.write(json.dumps([where.channel_id, r.text, r.footer, [
                            [i.title, i.url, i.source, str(i.published_at), list(i.summary),
                             i.article_id, i.note] for i in r.items]]) + "\n")
                items = [len(r.items) for _, r in publisher.sent]
                multi = sum(1 for _, r in publisher.sent for i in r.items if i.note[:1] == "+")
                print(f"{label}: {len(result.sent)} digests posted, {len(result.empty)} empty, "
                      f"{len(result.failed)} failed in {elapsed:.2f} s wall, {cpu:.2f} s CPU "
                      f"({main_cpu:.2f} s in the event loop's thread) "
                      f"({elapsed / max(1, args.channels) * 1000:.2f} ms a channel); "
                      f"items a digest: median {statistics.median(items or [0]):.0f}, "
                      f"max {max(items or [0])}; items with +N sources: {multi}\n"
                      f"    CPU s by thread: {by_thread}")
            again = await scheduler.run_due()
            print(f"same minute again: {len(again.sent)} posted (exactly once)")
        finally:
            await engine.close()
            if dump is not None:
                dump.close()
            if profile is not None:
                profile.dump_stats(args.profile)


async def add_day_of_articles(engine: BriefingEngine, args: argparse.Namespace,
                              at: datetime) -> None:
    """Another day's articles (a seventh of the corpus), stored before the next pass."""
    path = engine.store.path
    rng = random.Random(args.seed + 1)
    vocabulary = [f"term{i}x" for i in range(20_000)]
    stories = make_stories(rng, args.articles // 14, vocabulary)
    db = sqlite3.connect(path)
    start_id = db.execute("SELECT max(id) FROM articles").fetchone()[0] + 1
    rows = []
    for n in range(args.articles // 7):
        i = start_id + n
        title, summary = report(rng, stories[rng.randrange(len(stories))])
        feed = rng.randint(1, args.feeds)
        url = f"https://feed{feed}.example/b/{i}"
        ingested = at.timestamp() - 86_400 + n * 86_400 / (args.articles // 7)
        rows.append((i, title, " ".join(summary), json.dumps(summary), url, url,
                     f"Source {feed}", ingested, ingested,
                     hashlib.sha256(url.encode()).hexdigest(), feed))
    db.executemany(
        "INSERT INTO articles (id, title, text, summary, url, canonical_url, source,"
        " published_at, ingested_at, content_hash, feed_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dump", help="write every posted digest here (JSON lines)")
    parser.add_argument("--profile", help="write a cProfile of the timed passes here")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
