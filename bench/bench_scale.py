"""The store at scale: the latency of each read as the store grows (issue 17).

Builds (or continues building: it is resumable) a store of N synthetic-but-realistic articles
in a real SQLite file, through the store in batches: each article is 8-20 sentences drawn
from the BBC and CNN/DM evaluation sets (so word frequencies are those of real news: "said"
is in most articles), spread over a year, from 300 feeds, with the feeds' item records.
Then it prints the median latency of each read the bot answers from the store, the ingest
rate of the real engine (news summarizer) at that size, and the file size. Run:

    python bench/bench_scale.py --articles 10000
    python bench/bench_scale.py --articles 1000000 --db /tmp/scale-1m.db   # minutes; resumable
    python bench/bench_scale.py --steady 45 --per-day 1000 --keep-days 7    # retention
    python bench/bench_scale.py --articles 100000 --ingest 0 --postgres auto # + PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bot.app import open_app
from bot.config import default_config
from bot.models import ArticleDraft
from bot.retention import Retention
from bot.store import open_store
from bot.store.ports import NewArticle, Store

HERE = Path(__file__).resolve().parent
DEFAULT_EVAL = HERE.parent.parent / "shared" / "data" / "eval"
FEEDS = 300
START = datetime(2025, 11, 1, tzinfo=UTC)
YEAR = timedelta(days=365)


def sentence_pool(eval_dir: Path) -> tuple[list[str], list[str]]:
    """Sentences and titles of the evaluation sets (real news text)."""
    sentences: list[str] = []
    titles: list[str] = []
    for name in ("bbc_news_summary.jsonl", "cnndm_dev.jsonl"):
        path = eval_dir / name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            text = str(record.get("text") or record.get("article") or "")
            if record.get("title"):
                titles.append(str(record["title"]))
            for part in text.replace("\n", " ").split(". "):
                part = part.strip()
                if 40 <= len(part) <= 300:
                    sentences.append(part.rstrip(".") + ".")
    if not sentences:
        raise SystemExit(f"no evaluation sets in {eval_dir} (--eval-dir)")
    return sentences, titles or ["News of the day"]


def make_batch(start: int, count: int, total: int, sentences: list[str],
               titles: list[str]) -> list[NewArticle]:
    batch = []
    for i in range(start, start + count):
        rng = random.Random(i)
        body = rng.sample(sentences, rng.randint(8, 20))
        at = START + YEAR * (i / max(total, 1))
        title = f"{rng.choice(titles)} ({i})"
        batch.append(NewArticle(
            draft=ArticleDraft(
                text=" ".join(body), title=title, url=f"https://news{i % FEEDS}.example/a/{i}",
                source=f"news{i % FEEDS}.example", feed_id=1 + i % FEEDS,
                published_at=None if i % 7 == 0 else at - timedelta(minutes=rng.randint(0, 600)),
            ),
            title=title, summary=tuple(body[:3]),
            content_hash=hashlib.sha256(f"scale-{i}".encode()).hexdigest(),
            canonical_url=f"https://news{i % FEEDS}.example/a/{i}", ingested_at=at,
        ))
    return batch


async def build(store: Store, total: int, *, batch_size: int, eval_dir: Path) -> float:
    """Add articles until the store holds ``total``; returns articles per second."""
    have = await store.articles.max_article_id()
    if have >= total:
        return 0.0
    sentences, titles = sentence_pool(eval_dir)
    feeds = await store.feeds.list_feeds()
    for n in range(len(feeds), FEEDS):
        await store.feeds.add_feed(f"https://news{n}.example/feed", now=START,
                                   next_poll_at=START + 2 * YEAR)
    t0 = time.perf_counter()
    done = 0
    while have < total:
        count = min(batch_size, total - have)
        batch = make_batch(have, count, total, sentences, titles)
        await store.articles.add_articles(batch)
        by_feed: dict[int, list[tuple[str, str | None, str | None]]] = {}
        for a in batch:
            assert a.draft.feed_id is not None and a.canonical_url is not None
            by_feed.setdefault(a.draft.feed_id, []).append((a.canonical_url, None,
                                                            a.canonical_url))
        for feed_id, items in by_feed.items():
            await store.feeds.record_backlog_items(feed_id, items, now=batch[-1].ingested_at,
                                                   note="scale benchmark")
        have += count
        done += count
        rate = done / (time.perf_counter() - t0)
        print(f"  built {have:,}/{total:,} ({rate:,.0f} articles/s)", flush=True)
    return done / (time.perf_counter() - t0)


async def subscriptions(store: Store) -> list[int]:
    """A person with a few subscriptions, some with many alerts recorded (once)."""
    now = START + YEAR
    subs = await store.alerts.subscriptions_of(platform="console", owner_kind="user",
                                               owner_id="U1")
    if not subs:
        for q in ("said", "government", "rocket launch", "election", "football"):
            await store.alerts.add_subscription(
                platform="console", owner_kind="user", owner_id="U1", created_by="U1",
                query=q, query_key=q, language="english", now=now, limit=100)
        subs = await store.alerts.subscriptions_of(platform="console", owner_kind="user",
                                                   owner_id="U1")
        newest = await store.articles.newest_articles(limit=2000)
        for article in newest:
            await store.alerts.record_alerts(
                article_id=article.id, matches=[(subs[0].id, ["said"])], now=now, due=now)
    return [s.id for s in subs]


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds (CPU: this process, every thread; on a loaded machine
    the wall time mostly measures the wait for a core)."""
    await fn()  # warm: caches, the first page reads
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        await fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


async def reads(store: Store, repeat: int) -> dict[str, tuple[float, float]]:
    subs = await subscriptions(store)
    await store.articles.refresh_search_terms()  # what maintenance keeps fresh
    mid = max(1, await store.articles.max_article_id() // 2)
    checks: dict[str, Callable[[], Awaitable[Any]]] = {
        "/brief (latest briefing)": lambda: store.articles.latest_articles(5),
        "/brief said (very common)": lambda: store.articles.search_articles("said", limit=5),
        "/brief government (common)": lambda: store.articles.search_articles(
            "government", limit=5),
        "/brief minister election (AND)": lambda: store.articles.search_articles(
            "minister election", limit=5),
        '/brief "prime minister" (phrase)': lambda: store.articles.search_articles(
            '"prime minister"', limit=5),
        "/brief zanzibarr (no match, OR too)": lambda: store.articles.search_articles(
            "zanzibarr", limit=5),
        "did you mean (goverment)": lambda: store.articles.suggest_terms("goverment"),
        "/brief N (one article)": lambda: store.articles.get_article(mid),
        "feeds list (+ item counts)": lambda: asyncio.gather(
            store.feeds.list_feeds(), store.feeds.feed_item_counts()),
        "alerts (subscriptions + stats)": lambda: store.alerts.alert_stats(subs),
    }
    return {name: await timed(fn, repeat) for name, fn in checks.items()}


async def ingest_rate(path: Path, count: int, eval_dir: Path) -> float:
    """Articles per second through the real engine (news summarizer) into this store."""
    sentences, titles = sentence_pool(eval_dir)
    config = default_config()
    config = replace(config, storage=replace(config.storage, path=str(path)))
    app = await open_app(config)  # every feature installed, as `briefbot run` has them
    engine = app.engine
    try:
        rng = random.Random(time.time())
        drafts = [ArticleDraft(text=" ".join(rng.sample(sentences, 12)),
                               title=f"{rng.choice(titles)} {rng.random()}") for _ in range(count)]
        await engine.ingest(drafts[0])
        t0 = time.perf_counter()
        for d in drafts[1:]:
            await engine.ingest(d)
        return (count - 1) / (time.perf_counter() - t0)
    finally:
        await app.close()


def _at(moment: datetime) -> datetime:
    return moment


async def steady(days: int, per_day: int, keep_days: int, eval_dir: Path) -> None:
    """Retention under a steady feed: ``per_day`` articles a day (with their feed items) into
    a fresh store for ``days`` days, the retention service's prune after each day; prints the
    file size each day. With ``keep_days`` the file grows for ``keep_days`` days, then stays
    flat (a new store gives freed pages back: incremental auto-vacuum)."""
    sentences, titles = sentence_pool(eval_dir)
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(Path(tmp) / "steady.db")
        try:
            for n in range(FEEDS):
                await store.feeds.add_feed(f"https://news{n}.example/feed", now=START,
                                           next_poll_at=START + 2 * YEAR)
            print(f"\n## Retention under a steady feed: {per_day:,} articles a day, "
                  f"keep_days = {keep_days}")
            print("| day | articles kept | removed that day | database file MB | free MB |")
            print("|---|---|---|---|---|")
            for day in range(1, days + 1):
                today = START + timedelta(days=day)
                batch = [replace(a, ingested_at=today - timedelta(seconds=k),
                                 draft=replace(a.draft, published_at=None))
                         for k, a in enumerate(make_batch((day - 1) * per_day, per_day,
                                                          days * per_day, sentences, titles))]
                await store.articles.add_articles(batch)
                by_feed: dict[int, list[tuple[str, str | None, str | None]]] = {}
                for a in batch:
                    assert a.draft.feed_id is not None and a.canonical_url is not None
                    by_feed.setdefault(a.draft.feed_id, []).append(
                        (a.canonical_url, None, a.canonical_url))
                for feed_id, items in by_feed.items():
                    await store.feeds.record_backlog_items(feed_id, items, now=today,
                                                           note="steady feed")
                retention = Retention(store, keep_days=keep_days,
                                      clock=partial(_at, today), pause_seconds=0)
                report = await retention.prune_once()
                size, free = await store.size()
                kept = await store.articles.max_article_id() - (await store.articles.
                                                                 article_id_watermark(
                    since=today - timedelta(days=keep_days)))
                print(f"| {day} | {kept:,} | {report.articles:,} | {size / 1e6:,.1f} | "
                      f"{free / 1e6:,.1f} |", flush=True)
        finally:
            await store.close()


async def on_postgres(sqlite_path: Path, url: str, repeat: int) -> dict[str, tuple[float, float]]:
    """The same reads on PostgreSQL: the built SQLite store copied into a fresh database
    (``briefbot``'s own copy tool), then read the same way. ``url`` "auto": a throwaway
    pgserver (the dev extra) in a temporary folder."""
    import warnings

    import asyncpg

    from bot.store.backends import open_database
    from bot.store.postgres.copy import copy_database

    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if url == "auto":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import pgserver
            server = pgserver.get_server(tmp, cleanup_mode="delete")  # type: ignore[attr-defined]
            url = server.get_uri()
        try:
            admin = await asyncpg.connect(url)
            try:
                await admin.execute("DROP DATABASE IF EXISTS scale_bench WITH (FORCE)")
                await admin.execute("CREATE DATABASE scale_bench")
            finally:
                await admin.close()
            from urllib.parse import urlsplit, urlunsplit

            target = urlunsplit(urlsplit(url)._replace(path="/scale_bench"))
            started = time.perf_counter()
            copied = await copy_database(str(sqlite_path), target)
            print(f"postgres: {sum(c.rows for c in copied):,} rows copied in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            store = await open_database(target)
            try:
                return await reads(store, repeat)
            finally:
                await store.close()
        finally:
            if server is not None:
                server.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--db", type=Path, help="store to build or continue "
                        "(default bench/.scale/scale-N.db)")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--ingest", type=int, default=100, help="articles for the ingest rate")
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--postgres", metavar="URL",
                        help="also run the reads on PostgreSQL (a copy of the built store); "
                        "'auto': a throwaway pgserver")
    parser.add_argument("--steady", type=int, metavar="DAYS",
                        help="instead: retention under a steady feed for DAYS days")
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--keep-days", type=int, default=7)
    args = parser.parse_args()
    if args.steady:
        await steady(args.steady, args.per_day, args.keep_days, args.eval_dir)
        return
    path = args.db or HERE / ".scale" / f"scale-{args.articles}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    store = await open_store(path)
    try:
        rate = await build(store, args.articles, batch_size=args.batch, eval_dir=args.eval_dir)
        if rate:
            print(f"built at {rate:,.0f} articles/s (batched through the store)")
        results = await reads(store, args.repeat)
        size, free = await store.size()
    finally:
        await store.close()
    ingest = await ingest_rate(path, args.ingest, args.eval_dir) if args.ingest else 0.0
    pg = await on_postgres(path, args.postgres, args.repeat) if args.postgres else {}
    print(f"\n## {args.articles:,} articles ({path})")
    print("| read | median ms (wall) | median ms (CPU) |")
    print("|---|---|---|")
    for name, (wall, cpu) in results.items():
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
    print(f"| ingest (engine, news summarizer, sequential) | {ingest:.0f} articles/s | |")
    print(f"| database file | {size / 1e6:,.0f} MB ({free / 1e6:,.0f} MB free) | |")
    if pg:
        print(f"\n## {args.articles:,} articles on PostgreSQL (the same store, copied)")
        print("| read | median ms (wall) | median ms (CPU, this process) |")
        print("|---|---|---|")
        for name, (wall, cpu) in pg.items():
            print(f"| {name} | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
