"""SQLite and PostgreSQL side by side, in one run: ingest, /brief search at N stored articles,
a rate-limit slot, and a digest pass for many channels with one process and with three.

The corpus is bench_digest's (``--articles`` stored over a week, ``--feeds`` feeds,
``--channels`` channels whose digest is due at the same minute). It is built in a SQLite file,
and copied into PostgreSQL with ``briefbot db copy``'s code (its time is printed too). The
PostgreSQL server is a throwaway ``pgserver`` (dev extra) unless ``--postgres URL`` names one
(a role that may CREATE DATABASE). Prints numbers; asserts nothing about time.

- ingest: ``--ingest`` new articles through the store (dedupe constraints, search index,
  word list; the summary is given: Sumy's cost is the same on both), by 4 concurrent tasks.
- search: ``/brief WORDS`` as the engine runs it (all words, then any word), median and p95.
- slots: what taking a deployment-wide rate-limit slot costs a post (bot/ratelimit.py).
- digests: one scheduler pass over every due channel, in 1 and in 3 ``DigestScheduler``
  processes started together (each on its own connection; a channel is posted once in all),
  with each process's CPU seconds, the PostgreSQL server's CPU and the load.

    python bench/bench_backends.py [--articles 100000] [--channels 10000] [--postgres URL]
                                   [--parts search,ingest,slots,digests]
                                   [--runs sqlite:1,sqlite:3,postgres:1,postgres:3]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_digest import build_database

from bot.models import ArticleDraft
from bot.store import open_store
from bot.store.backends import open_database
from bot.store.postgres.copy import copy_database

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parent.parent

WORKER = """
import asyncio, json, os, resource, sys, time
from dataclasses import replace
from datetime import datetime
from bot.config import default_config
from bot.digests.scheduler import DigestScheduler
from bot.app import digest_kit, open_app
from bot.publish import RecordingPublisher

async def main() -> None:
    base = default_config()
    cfg = replace(base, storage=replace(base.storage, url=sys.argv[1], pool_size=4))
    now = datetime.fromisoformat(sys.argv[4])
    app = await open_app(cfg, clock=lambda: now)
    engine = app.engine
    publisher = RecordingPublisher(platform="slack")
    engine.add_publisher(publisher)
    engine.summarizer.load()  # as `briefbot run` does at start: not the pass's cost
    open(sys.argv[2] + "." + sys.argv[3], "w").close()
    while not os.path.exists(sys.argv[2]):
        await asyncio.sleep(0.005)
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    result = await DigestScheduler(digest_kit(engine), owner=sys.argv[3]).run_due()
    used = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"sent": len(result.sent), "empty": len(result.empty),
                      "seconds": time.perf_counter() - started,
                      "cpu": used.ru_utime - cpu.ru_utime + used.ru_stime - cpu.ru_stime}))
    await app.close()

asyncio.run(main())
"""


def start_pgserver(folder: str) -> tuple[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    server = pgserver.get_server(folder, cleanup_mode="delete")
    return server.get_uri(), server


async def admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def with_db(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def bench_ingest(database: str, n: int, label: str) -> None:
    store = await open_database(database)
    rng = random.Random(3)
    try:
        async def one(i: int) -> None:
            words = " ".join(f"w{rng.randrange(50_000)}" for _ in range(300))
            await store.articles.add_article(
                ArticleDraft(text=words, url=f"https://ingest.example/{i}"),
                title=f"Ingested story {i}", summary=[words[:200]],
                content_hash=hashlib.sha256(f"ingest{i}".encode()).hexdigest(),
                canonical_url=f"https://ingest.example/{i}", ingested_at=NOW)

        started = time.perf_counter()
        for start in range(0, n, 4):
            await asyncio.gather(*(one(i) for i in range(start, min(n, start + 4))))
        elapsed = time.perf_counter() - started
        print(f"{label}: ingest {n} articles (4 at a time): {n / elapsed:,.0f} articles/s")
    finally:
        await store.close()


async def bench_search(database: str, label: str, stored: int) -> None:
    store = await open_database(database)
    rng = random.Random(5)
    queries = ([f"term{rng.randrange(20_000)}x" for _ in range(20)]
               + ["government", "market talks", "police court minister", "said officials",
                  f"term{rng.randrange(20_000)}x vote", "nothingmatches"] * 3)
    try:
        await store.articles.search_articles("warm up", limit=5)
        times = []
        for q in queries:
            started = time.perf_counter()
            await store.articles.search_articles(q, limit=5)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        print(f"{label}: /brief search at {stored:,} articles ({len(times)} queries): "
              f"median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
              f"max {times[-1]:.1f} ms")
    finally:
        await store.close()


async def bench_slots(database: str, label: str, n: int = 2000) -> None:
    """What a rate-limit slot costs a post (bot/ratelimit.py): ``n`` slots of one bucket at a
    rate high enough never to wait, so only the taking is timed."""
    from bot.ratelimit import Rate, rate_limiter

    store = await open_database(database)
    try:
        limiter = rate_limiter(store, {"discord": Rate(per_second=1e9)})
        await limiter.acquire("discord", "bench")
        started = time.perf_counter()
        for _ in range(n):
            await limiter.acquire("discord", "bench")
        per = (time.perf_counter() - started) / n * 1e6
        where = "shared through the database" if limiter.deployment_wide else "in memory"
        print(f"{label}: rate-limit slot ({where}): {per:,.0f} µs per post")
    finally:
        await store.close()


def server_cpu(data_dir: str | None) -> float:
    """CPU seconds used so far by the PostgreSQL server (the postmaster, its live processes
    and the backends it has reaped), from /proc: the server runs on this machine's cores."""
    if not data_dir:
        return 0.0
    try:
        postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(stat.parent.name), int(fields[1])
            if pid == postmaster:
                total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
            elif ppid == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / tick
    except (OSError, ValueError):
        return 0.0


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def digest_pass(database: str, processes: int, label: str, tmp: Path,
                data_dir: str | None = None) -> None:
    go = tmp / f"go-{label.replace(' ', '_')}-{processes}"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, database, str(go), f"p{i}",
                               NOW.isoformat()], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=REPO)
             for i in range(processes)]
    while not all(Path(f"{go}.p{i}").exists() for i in range(processes)):
        if any(p.poll() is not None for p in procs):
            raise SystemExit(procs[0].communicate()[1])
        time.sleep(0.01)
    before, load_before = server_cpu(data_dir), load()
    started = time.perf_counter()
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=3600)
        if p.returncode != 0:
            raise SystemExit(err)
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    time.sleep(0.5)  # the server reaps the closed connections' backends
    server = server_cpu(data_dir) - before
    sent = sum(r["sent"] + r["empty"] for r in results)
    handled = ", ".join(str(r["sent"] + r["empty"]) for r in results)
    cpu = ", ".join(f"{r['cpu']:.1f}" for r in results)
    total = sum(r["cpu"] for r in results) + server
    on_server = f"; server CPU {server:.1f} s" if data_dir else ""
    print(f"{label}: digest pass, {processes} process(es): {sent} channels handled in "
          f"{wall:.1f} s wall ({handled} per process; CPU s per process {cpu}{on_server}; "
          f"CPU in all {total:.1f} s, {total / max(1, sent) * 1000:.2f} ms a channel"
          f"{f', server {server / max(1, sent) * 1000:.2f} ms' if data_dir else ''}; "
          f"load {load_before} -> {load()})")


async def main_async(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    server = None
    try:
        base_file = tmp / "base.db"
        store = await open_store(base_file)
        await store.close()
        started = time.perf_counter()
        build_database(base_file, articles=args.articles, feeds=args.feeds,
                       channels=args.channels, now=NOW - timedelta(minutes=1), seed=7)
        print(f"setup: {args.articles:,} articles, {args.channels:,} channels in SQLite in "
              f"{time.perf_counter() - started:.1f} s")
        admin_url = args.postgres
        if not admin_url:
            admin_url, server = start_pgserver(str(tmp / "pg"))
            await admin(admin_url, "ALTER SYSTEM SET synchronous_commit = off")
            await admin(admin_url, "SELECT pg_reload_conf()")
            print("postgres: pgserver (PostgreSQL 16), synchronous_commit off, on this machine")
        await admin(admin_url, "DROP DATABASE IF EXISTS bench_base WITH (FORCE)")
        await admin(admin_url, "CREATE DATABASE bench_base")
        started = time.perf_counter()
        copied = await copy_database(str(base_file), with_db(admin_url, "bench_base"))
        rows = sum(c.rows for c in copied)
        print(f"db copy: {rows:,} rows in {time.perf_counter() - started:.1f} s")

        copies: list[tuple[str, str]] = []

        async def fresh(label: str) -> str:
            if label == "sqlite":
                path = tmp / f"run{len(copies)}.db"
                await asyncio.to_thread(shutil.copy, base_file, path)
                copies.append((label, str(path)))
                return str(path)
            name = f"bench_run{len(copies)}"
            await admin(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await admin(admin_url, f"CREATE DATABASE {name} TEMPLATE bench_base")
            copies.append((label, name))
            return with_db(admin_url, name)

        parts = set(args.parts.split(","))
        backends = [b for b in ("sqlite", "postgres") if b in args.backends.split(",")]
        if "search" in parts:
            for label in backends:
                await bench_search(await fresh(label), label, args.articles)
        if "ingest" in parts:
            for label in backends:
                await bench_ingest(await fresh(label), args.ingest, label)
        if "slots" in parts:
            for label in backends:
                await bench_slots(await fresh(label), label)
        if "digests" in parts:
            data_dir = None
            if "postgres" in backends:
                import asyncpg

                conn = await asyncpg.connect(admin_url)
                try:
                    data_dir = await conn.fetchval("SHOW data_directory")
                except asyncpg.PostgresError:  # not allowed to see it: no server CPU
                    data_dir = None
                finally:
                    await conn.close()
            runs = [(label, int(n)) for label, _, n in (r.partition(":") for r in
                                                         args.runs.split(","))]
            for label, processes in runs:
                if label in backends:
                    digest_pass(await fresh(label), processes, label, tmp,
                                data_dir if label == "postgres" else None)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--ingest", type=int, default=2_000)
    parser.add_argument("--parts", default="search,ingest,slots,digests",
                        help="which measures, comma-separated (default: all four)")
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="which backends, comma-separated (default: both)")
    parser.add_argument("--runs", default="sqlite:1,sqlite:3,postgres:1,postgres:3",
                        help="digest passes to time, BACKEND:PROCESSES in order, comma-separated"
                             " (sqlite:1,postgres:3,postgres:3,sqlite:1 alternates the two the"
                             " issue compares, so a load that drifts weighs on both)")
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get(
        "BRIEFBOT_TEST_POSTGRES_URL", ""))
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
