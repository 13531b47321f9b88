"""How many feeds one briefbot process polls per minute, and its memory at that load.

A separate process serves ``--feeds`` RSS 2.0 feeds (``--items`` full-text items each, with
ETags) spread over ``--hosts`` loopback addresses (127.0.0.1, 127.0.0.2, ...), so the
per-host connection bound applies as it would against many publishers. This process polls
them all with the real :class:`~bot.ingest.intake.Intake` on a fresh SQLite file, four rounds:

1. first poll: every feed is new, ``--backlog`` items each are taken in (summarised, stored);
2. unchanged: conditional GETs, every answer a 304;
3. unchanged, the server ignores validators: every feed downloaded, same bytes (body hash),
   not parsed;
4. changed bytes, no new item (``lastBuildDate`` moved): every feed downloaded and parsed,
   every item recognised as seen;
5. one new item in every feed: downloaded, parsed, one article summarised and stored per feed.

Prints feeds/minute per round and the process's peak RSS. Run from the repository root:
``python bench/bench_feeds.py`` (defaults: 1,000 feeds, 10 hosts, 10 items, backlog 2).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import web

from bot.app import feed_kit, open_app
from bot.config import default_config
from bot.ingest.fetch import Fetcher
from bot.ingest.intake import Intake

WORDS = ("council budget river bridge school teachers hospital nurses election mayor energy "
         "prices harbour storm farmers water rail tunnel museum library court ruling police "
         "festival market airport runway science grant vaccine clinic housing rent").split()


def item_text(feed: int, n: int) -> str:
    sentences = []
    for s in range(10):
        w = [WORDS[(feed * 7 + n * 13 + s * 5 + k) % len(WORDS)] for k in range(6)]
        sentences.append(f"Feed {feed} story {n} reports that the {w[0]} {w[1]} plan met "
                         f"the {w[2]} {w[3]} group about the {w[4]} and {w[5]} question {s}.")
    return " ".join(sentences)


def feed_xml(feed: int, version: int, items: int, stamp: int = 0) -> bytes:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    parts = []
    for n in range(version + items - 1, version - 1, -1):  # newest first
        parts.append(
            f"<item><title>Feed {feed} story {n}</title>"
            f"<link>http://news{feed}.example/story/{n}</link><guid>f{feed}-{n}</guid>"
            f"<pubDate>{format_datetime(base + timedelta(hours=n))}</pubDate>"
            f"<description>{escape(item_text(feed, n))}</description></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Bench feed {feed}</title><link>http://news{feed}.example/</link>"
            f"<lastBuildDate>{format_datetime(base + timedelta(minutes=stamp))}</lastBuildDate>"
            f"<description>bench</description>{''.join(parts)}</channel></rss>").encode()


def serve(hosts: int, items: int, ports: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    state = {"version": 0, "stamp": 0, "etags": 1}
    cache: dict[tuple[int, int, int], bytes] = {}

    async def feed(request: web.Request) -> web.StreamResponse:
        i = int(request.match_info["n"])
        v, stamp = state["version"], state["stamp"]
        etag = f'"{i}-{v}-{stamp}"'
        if state["etags"] and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        body = cache.get((i, v, stamp))
        if body is None:
            body = cache[(i, v, stamp)] = feed_xml(i, v, items, stamp)
        headers = {"Content-Type": "application/rss+xml; charset=utf-8"}
        if state["etags"]:
            headers["ETag"] = etag
        return web.Response(body=body, headers=headers)

    async def control(request: web.Request) -> web.StreamResponse:
        action = request.match_info["action"]
        if action == "bump":
            state["version"] += 1
        elif action == "touch":
            state["stamp"] += 1
        elif action == "etags-off":
            state["etags"] = 0
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}.xml", feed)
        app.router.add_get("/control/{action}", control)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for h in range(1, hosts + 1):
            await web.TCPSite(runner, f"127.0.0.{h}", 0, backlog=1024).start()
        found = [(str(a[0]), int(a[1])) for a in runner.addresses]
        ports.put(found)
        await asyncio.Event().wait()

    asyncio.run(main())


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench(args: argparse.Namespace, hosts: list[tuple[str, int]]) -> None:
    base = default_config()
    with tempfile.TemporaryDirectory() as tmp:
        config = replace(
            base,
            storage=replace(base.storage, path=str(Path(tmp) / "bench.db")),
            fetch=replace(base.fetch, allow_private_networks=True),
            feeds=replace(base.feeds, backlog_items=args.backlog),
        )
        engine = (await open_app(config)).engine
        print(f"{args.feeds} feeds x {args.items} items on {len(hosts)} hosts; "
              f"[fetch] max_connections={config.fetch.max_connections}, "
              f"max_connections_per_host={config.fetch.max_connections_per_host}; "
              f"summarizer={config.summarizer.algorithm}")
        now = datetime.now(UTC)
        for i in range(args.feeds):
            host, port = hosts[i % len(hosts)]
            await engine.store.feeds.add_feed(f"http://{host}:{port}/feed/{i}.xml", now=now,
                                        next_poll_at=now)
        print(f"startup RSS {rss_mb():.0f} MB")
        control = f"http://{hosts[0][0]}:{hosts[0][1]}/control/"
        rounds = [("first poll (backlog)", None), ("unchanged (304)", None),
                  ("same bytes, no validators", "etags-off"),
                  ("changed, no new item", "touch"), ("1 new item per feed", "bump")]
        try:
            async with Fetcher(config.fetch) as fetcher:
                intake = Intake(feed_kit(engine), fetcher)
                for name, action in rounds:
                    if action:
                        await fetcher.fetch(control + action)
                    started = time.perf_counter()
                    reports = await intake.poll_all()
                    took = time.perf_counter() - started
                    new = sum(len(r.new) for r in reports)
                    errors = [r.error for r in reports if r.error]
                    print(f"{name:28s} {len(reports)} feeds in {took:6.1f} s = "
                          f"{len(reports) / took * 60:8.0f} feeds/min; {new} articles stored; "
                          f"{len(errors)} errors{' e.g. ' + errors[0] if errors else ''}; "
                          f"peak RSS {rss_mb():.0f} MB")
        finally:
            await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--backlog", type=int, default=2)
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=serve, args=(args.hosts, args.items, ports),
                                     daemon=True)
    server.start()
    try:
        hosts = ports.get(timeout=30)
        asyncio.run(bench(args, hosts))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
