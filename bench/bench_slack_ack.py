"""Ack latency of Slack's /brief over HTTP while the bot ingests (and summarises) articles.

Real slack-bolt serves signed slash-command requests on 127.0.0.1; answers go to the fake
Slack from ``tests/fakes/slack.py``. Meanwhile a task ingests new articles back to back, so
Sumy runs in the summariser's worker thread the whole time. Slack gives a command 3 s; the
goal is a p99 ack under 100 ms. The event loop's own lag is measured too (a ticker that
should wake every 10 ms): summarising must never block it.

    python bench/bench_slack_ack.py [--requests 1000] [--concurrency 4] [--no-ingest]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fakes.slack import BOT_TOKEN, FakeSlack  # noqa: E402

from adapters.slack_adapter import SlackAdapter  # noqa: E402
from bot.config import default_config  # noqa: E402
from bot.engine import BriefingEngine  # noqa: E402
from bot.models import ArticleDraft  # noqa: E402

SECRET = "bench-signing-secret"
SAMPLE = REPO / "samples" / "2022-05-31-us-rocket-systems-ukraine.txt"
COMMANDS = ("", "rocket", "help", "1", "ukraine artillery", "weapons public")


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={sig}"}


async def ingest_forever(engine: BriefingEngine, text: str, counter: list[int]) -> None:
    paragraphs = [p for p in text.splitlines() if p.strip()]
    n = 0
    while True:
        n += 1
        # rotate the paragraphs and add a unique line so every article is new
        k = n % max(1, len(paragraphs))
        body = "\n".join([*paragraphs[k:], *paragraphs[:k], f"Bench article number {n}."])
        await engine.ingest(ArticleDraft(text=body, title=f"Bench article {n}",
                                         url=f"https://bench.example/{n}", source="Bench"))
        counter[0] += 1


async def loop_lag(samples: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(0.01)
        samples.append(loop.time() - start - 0.01)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(requests: int, concurrency: int, *, ingest: bool = True) -> None:
    fake = await FakeSlack(users={f"U{i}": {"is_admin": i == 0} for i in range(7)}).start()
    with tempfile.TemporaryDirectory() as tmp:
        base = default_config()
        config = replace(
            base,
            storage=replace(base.storage, path=str(Path(tmp) / "bench.db")),
            slack=replace(base.slack, api_base_url=fake.api_url, http_host="127.0.0.1",
                          http_port=0, post_interval_seconds=0.0),
        )
        engine = await BriefingEngine.open(config)
        text = SAMPLE.read_text(encoding="utf-8")
        await ingest_forever_once(engine, text)
        adapter = SlackAdapter(engine, bot_token=BOT_TOKEN, signing_secret=SECRET)
        await adapter.start()
        url = f"http://127.0.0.1:{adapter.port}/slack/events"
        ingested = [0]
        lags: list[float] = []
        background = [asyncio.create_task(loop_lag(lags))]
        if ingest:
            background.append(asyncio.create_task(ingest_forever(engine, text, ingested)))
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(requests):
            queue.put_nowait(i)

        async def client(session: aiohttp.ClientSession) -> None:
            while not queue.empty():
                i = queue.get_nowait()
                form = {"command": "/brief", "text": COMMANDS[i % len(COMMANDS)],
                        "user_id": f"U{i % 7}", "channel_id": "C1", "team_id": "T1",
                        "response_url": fake.response_url(str(i))}
                body = urlencode(form)
                start = time.perf_counter()
                async with session.post(url, data=body.encode(), headers=signed(body)) as resp:
                    await resp.read()
                latencies.append(time.perf_counter() - start)
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

        began = time.perf_counter()
        try:
            async with aiohttp.ClientSession() as session:
                await asyncio.gather(*(client(session) for _ in range(concurrency)))
            elapsed = time.perf_counter() - began
            # let the answers that are still being written reach the fake
            await fake.wait_for(lambda: len(fake.responses) >= requests, within=60)
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await adapter.close()
            await engine.close()
            await fake.close()
    ms = [x * 1000 for x in latencies]
    lag_ms = [x * 1000 for x in lags]
    print(f"requests: {requests} (concurrency {concurrency}) in {elapsed:.1f} s; "
          f"HTTP statuses {statuses}; answers received {len(fake.responses)}")
    print(f"articles ingested (summarised) meanwhile: {ingested[0]}")
    print(f"ack latency ms: median {statistics.median(ms):.1f}  p90 {pct(ms, 0.9):.1f}  "
          f"p99 {pct(ms, 0.99):.1f}  max {max(ms):.1f}")
    print(f"event loop lag ms (10 ms ticker): median {statistics.median(lag_ms):.1f}  "
          f"p99 {pct(lag_ms, 0.99):.1f}  max {max(lag_ms):.1f}")


async def ingest_forever_once(engine: BriefingEngine, text: str) -> None:
    """One article stored before the clock starts, so /brief has something to answer."""
    await engine.ingest(ArticleDraft(text=text, title="Rocket systems for Ukraine",
                                     url="https://bench.example/0", source="Bench"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-ingest", action="store_true", help="baseline: no ingest load")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, ingest=not args.no_ingest))
