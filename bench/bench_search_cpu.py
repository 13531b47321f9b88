"""``/brief <words>`` CPU per query on SQLite and PostgreSQL, by kind of query.

Wall time on a shared machine mostly measures the other processes; this prints the CPU each
query costs: the bot process (``time.process_time``) and, on PostgreSQL, the server backend that
answered it (read from ``/proc/<pid>/stat``: the server must run on this machine, as the
throwaway pgserver does). The corpus is bench_backends' (bench_digest's ``--articles`` over a
week), built in SQLite and copied into PostgreSQL with ``briefbot db copy``'s code.

    python bench/bench_search_cpu.py [--articles 100000] [--repeat 3] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backends import NOW, admin, start_pgserver, with_db
from bench_digest import build_database

from bot.store import open_store
from bot.store.backends import open_database
from bot.store.postgres.copy import copy_database

TICKS = os.sysconf("SC_CLK_TCK")


def kinds() -> dict[str, list[str]]:
    rng = random.Random(5)
    return {
        "rare word": [f"term{rng.randrange(20_000)}x" for _ in range(20)],
        "common words": ["government", "said", "market talks", "police court minister",
                         "said officials", f"term{rng.randrange(20_000)}x vote"],
        "phrase": ['"said officials"', '"government week"', '"police court"'],
        "no match": ["nothingmatches", "governmnet"],
        "accents": ["café", "São Paulo"],
    }


def visible(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").exists()


def server_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


async def measure(database: str, label: str, repeat: int) -> None:
    store: Any = await open_database(database, pool_size=1)
    pid = None
    if hasattr(store, "pool"):  # PostgreSQL: the one connection's server process
        async with store.pool.acquire() as conn:
            pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
        if not visible(pid):  # the server is not on this machine: the bot's CPU only
            pid = None
    try:
        for kind, queries in kinds().items():
            for q in queries:  # warm: caches, the first plan
                await store.articles.search_articles(q, limit=5)
            s0, c0, w0 = server_cpu(pid), time.process_time(), time.perf_counter()
            for _ in range(repeat):
                for q in queries:
                    await store.articles.search_articles(q, limit=5)
            n = repeat * len(queries)
            server = (server_cpu(pid) - s0) / n * 1000
            bot = (time.process_time() - c0) / n * 1000
            wall = (time.perf_counter() - w0) / n * 1000
            where = f"server {server:6.2f} ms + bot {bot:5.2f} ms" if pid else f"bot {bot:6.2f} ms"
            print(f"{label:8s} {kind:13s} CPU/query: {where}   (wall {wall:6.1f} ms)")
    finally:
        await store.close()


async def main_async(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    server = None
    try:
        base = tmp / "base.db"
        store = await open_store(base)
        await store.close()
        build_database(base, articles=args.articles, feeds=200, channels=10,
                       now=NOW - timedelta(minutes=1), seed=7)
        await measure(str(base), "sqlite", args.repeat)
        url = args.postgres
        if not url:
            url, server = start_pgserver(str(tmp / "pg"))
        await admin(url, "DROP DATABASE IF EXISTS bench_search WITH (FORCE)")
        await admin(url, "CREATE DATABASE bench_search")
        target = with_db(url, "bench_search")
        await copy_database(str(base), target)
        await measure(target, "postgres", args.repeat)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get(
        "BRIEFBOT_TEST_POSTGRES_URL", ""))
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
