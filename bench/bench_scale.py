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
import contextlib
import hashlib
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
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


Timing = tuple[float, float, float]  # median ms: wall, CPU of this process, CPU of the server


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int,
                server: int | None = None) -> Timing:
    """Median wall and CPU milliseconds (CPU: this process, every thread, and on PostgreSQL
    the backend process that answered, ``server``; on a loaded machine the wall time mostly
    measures the wait for a core)."""
    await fn()  # warm: caches, the first page reads
    wall, cpu, spent = [], [], []
    for _ in range(repeat):
        s0, t0, c0 = backend_cpu(server), time.perf_counter(), time.process_time()
        await fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        spent.append((backend_cpu(server) - s0) * 1000)
    return statistics.median(wall), statistics.median(cpu), statistics.mean(spent)


async def reads(store: Store, repeat: int, server: int | None = None) -> dict[str, Timing]:
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
        "/brief football (7%)": lambda: store.articles.search_articles("football", limit=5),
        '/brief "told reporters" (rare phrase, common words)': lambda: (
            store.articles.search_articles('"told reporters"', limit=5)),
        "/brief zanzibarr (no match, OR too)": lambda: store.articles.search_articles(
            "zanzibarr", limit=5),
        "did you mean (goverment)": lambda: store.articles.suggest_terms("goverment"),
        "/brief N (one article)": lambda: store.articles.get_article(mid),
        "feeds list (+ item counts)": lambda: asyncio.gather(
            store.feeds.list_feeds(), store.feeds.feed_item_counts()),
        "alerts (subscriptions + stats)": lambda: store.alerts.alert_stats(subs),
    }
    return {name: await timed(fn, repeat, server) for name, fn in checks.items()}


async def ingest_rate(database: str, count: int, eval_dir: Path) -> float:
    """Articles per second through the real engine (news summarizer) into this store."""
    sentences, titles = sentence_pool(eval_dir)
    config = default_config()
    pg = database.startswith("postgresql:")
    config = replace(config, storage=replace(config.storage, url=database if pg else "",
                                             path=config.storage.path if pg else database))
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


PG_STATE = Path("/tmp/pgscale")  # the bench's own PostgreSQL: kept for re-runs
TICKS = os.sysconf("SC_CLK_TCK")
# the articles' search index: dropped while a big build loads, made again at the end (faster
# than keeping it up to date row by row)
SEARCH_INDEX = "articles_search"


@contextlib.asynccontextmanager
async def postgres_server(url: str | None, pgdata: Path) -> AsyncIterator[str]:
    """An admin URL: ``url`` (a server someone runs), else a pgserver in ``pgdata`` (kept on
    disk for the next run, stopped when this process ends)."""
    if url:
        yield url
        return
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    await asyncio.to_thread(partial(pgdata.mkdir, parents=True, exist_ok=True))
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        uri = str(server.get_uri())
        for setting in ("synchronous_commit = off", "max_wal_size = '4GB'",
                        "maintenance_work_mem = '512MB'"):
            await _admin(uri, f"ALTER SYSTEM SET {setting}")
        await _admin(uri, "SELECT pg_reload_conf()")
        yield uri
    finally:
        server.cleanup()


async def _admin(url: str, sql: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _with_db(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def pg_database(admin_url: str, articles: int) -> str:
    name = f"scale_{articles}"
    if not await _admin(admin_url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
        await _admin(admin_url, f"CREATE DATABASE {name}")
    return _with_db(admin_url, name)


async def build_postgres(store: Any, total: int, *, batch_size: int, eval_dir: Path,
                         state: Path) -> float:
    """The same articles and feed items as :func:`build` (ids 1..N, as a fresh SQLite store
    gives them), loaded with COPY in batches, one transaction each (resumable); the "did you
    mean" words of each batch added with it. A big build drops the search index first and
    makes it again at the end (its definition kept in ``state`` until then)."""
    pool = store.pool
    have = int(await pool.fetchval("SELECT coalesce(max(id), 0) FROM articles"))
    saved = state / f"{await pool.fetchval('SELECT current_database()')}.{SEARCH_INDEX}.sql"
    if have < total:
        sentences, titles = sentence_pool(eval_dir)
        feeds = await store.feeds.list_feeds()
        for n in range(len(feeds), FEEDS):
            await store.feeds.add_feed(f"https://news{n}.example/feed", now=START,
                                       next_poll_at=START + 2 * YEAR)
        definition = await pool.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = $1", SEARCH_INDEX)
        if definition and total - have > 100_000:
            await asyncio.to_thread(partial(state.mkdir, parents=True, exist_ok=True))
            await asyncio.to_thread(saved.write_text, definition)
            await pool.execute(f"DROP INDEX {SEARCH_INDEX}")
        t0 = time.perf_counter()
        done = 0
        columns = ("id", "title", "text", "summary", "url", "canonical_url", "source",
                   "author", "published_at", "ingested_at", "content_hash", "feed_id",
                   "backlog", "alerts_matched_at")
        item_columns = ("feed_id", "item_key", "guid", "link", "status", "attempts", "note",
                        "first_seen_at")
        while have < total:
            count = min(batch_size, total - have)
            batch = make_batch(have, count, total, sentences, titles)
            rows = [(have + k + 1, a.title, a.draft.text, json.dumps(list(a.summary)),
                     a.draft.url, a.canonical_url, a.draft.source, a.draft.author,
                     None if a.draft.published_at is None else a.draft.published_at.timestamp(),
                     a.ingested_at.timestamp(), a.content_hash, a.draft.feed_id, False,
                     a.ingested_at.timestamp()) for k, a in enumerate(batch)]
            now = batch[-1].ingested_at.timestamp()
            items = [(a.draft.feed_id, a.canonical_url, None, a.canonical_url, "backlog", 1,
                      "scale benchmark", now) for a in batch]
            async with pool.acquire() as conn, conn.transaction():
                await conn.copy_records_to_table("articles", records=rows, columns=columns)
                await conn.copy_records_to_table("feed_items", records=items,
                                                 columns=item_columns)
                await conn.execute(
                    "INSERT INTO article_terms (term) SELECT DISTINCT lexeme FROM articles,"
                    " unnest(search) AS u(lexeme) WHERE id > $1 AND id <= $2"
                    " AND length(lexeme) BETWEEN 3 AND 40 ON CONFLICT (term) DO NOTHING",
                    have, have + count)
            have += count
            done += count
            rate = done / (time.perf_counter() - t0)
            print(f"  built {have:,}/{total:,} ({rate:,.0f} articles/s)", flush=True)
        await pool.execute("SELECT setval(pg_get_serial_sequence('articles', 'id'),"
                           " (SELECT max(id) FROM articles))")
    else:
        t0, done = time.perf_counter(), 0
    if await asyncio.to_thread(saved.is_file):
        if not await pool.fetchval("SELECT 1 FROM pg_indexes WHERE indexname = $1",
                                   SEARCH_INDEX):
            started = time.perf_counter()
            await pool.execute(await asyncio.to_thread(saved.read_text))
            print(f"  search index made in {time.perf_counter() - started:.0f} s", flush=True)
        await asyncio.to_thread(saved.unlink)
    if done:
        started = time.perf_counter()
        await pool.execute("VACUUM ANALYZE")  # as autovacuum would after a bulk load
        print(f"  VACUUM ANALYZE in {time.perf_counter() - started:.0f} s", flush=True)
    return done / (time.perf_counter() - t0) if done else 0.0


def backend_cpu(pid: int | None) -> float:
    """CPU seconds of one PostgreSQL backend process (on this machine), from /proc."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


async def on_postgres(args: argparse.Namespace) -> None:
    """Build (or continue) the store in PostgreSQL and read it as :func:`main` does on SQLite.
    The server: ``--postgres URL`` or BRIEFBOT_TEST_POSTGRES_URL, else a pgserver of its own
    in /tmp/pgscale (kept for re-runs; stopped when this ends). One database per size."""
    from bot.store.backends import open_database

    url = args.postgres if args.postgres != "auto" else ""
    url = url or os.environ.get("BRIEFBOT_TEST_POSTGRES_URL", "")
    async with postgres_server(url or None, PG_STATE / "pgdata") as admin_url:
        database = await pg_database(admin_url, args.articles)
        store: Any = await open_database(database, pool_size=1)
        try:
            rate = await build_postgres(store, args.articles, batch_size=args.batch,
                                        eval_dir=args.eval_dir, state=PG_STATE)
            if rate:
                print(f"built at {rate:,.0f} articles/s (COPY in batches)")
            async with store.pool.acquire() as conn:
                backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
            # the server elsewhere: this process's CPU only
            pid = backend if await asyncio.to_thread(os.path.exists, f"/proc/{backend}") else None
            results = await reads(store, args.repeat, pid)
            size, _ = await store.size()
            settings = {r[0]: r[1] for r in await store.pool.fetch(
                "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN"
                " ('shared_buffers', 'work_mem', 'server_version', 'synchronous_commit')")}
        finally:
            await store.close()
        ingest = (await ingest_rate(database, args.ingest, args.eval_dir)
                  if args.ingest else 0.0)
    print(f"\n## {args.articles:,} articles on PostgreSQL ({database.split('?')[0]}; "
          + ", ".join(f"{k} {v}" for k, v in sorted(settings.items())) + ")")
    report(results, ingest, f"{size / 1e6:,.0f} MB (pg_database_size)")


def report(results: dict[str, Timing], ingest: float, size: str) -> None:
    print("| read | median ms (wall) | median ms (CPU, bot) | mean ms (CPU, server) |")
    print("|---|---|---|---|")
    for name, (wall, cpu, server) in results.items():
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {server:.2f} |")
    print(f"| ingest (engine, news summarizer, sequential) | {ingest:.0f} articles/s | | |")
    print(f"| database | {size} | | |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--db", type=Path, help="store to build or continue "
                        "(default bench/.scale/scale-N.db)")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--ingest", type=int, default=100, help="articles for the ingest rate")
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--postgres", metavar="URL", nargs="?", const="auto",
                        help="build and read on PostgreSQL instead: the server at URL, else "
                        "BRIEFBOT_TEST_POSTGRES_URL, else a pgserver kept in /tmp/pgscale")
    parser.add_argument("--steady", type=int, metavar="DAYS",
                        help="instead: retention under a steady feed for DAYS days")
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--keep-days", type=int, default=7)
    args = parser.parse_args()
    if args.steady:
        await steady(args.steady, args.per_day, args.keep_days, args.eval_dir)
        return
    if args.postgres:
        await on_postgres(args)
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
    ingest = await ingest_rate(str(path), args.ingest, args.eval_dir) if args.ingest else 0.0
    print(f"\n## {args.articles:,} articles ({path})")
    report(results, ingest, f"{size / 1e6:,.0f} MB ({free / 1e6:,.0f} MB free)")


if __name__ == "__main__":
    asyncio.run(main())
