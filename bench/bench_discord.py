"""Discord: digest fan-out rate to 1,000 channels, and /brief latency while ingesting.

Real, unmodified discord.py runs against the fake Discord of ``tests/discord_fake.py`` on
127.0.0.1, which enforces Discord's global limit (50 requests a second, interactions excluded)
and the per-channel limit (5 messages in 5 s), answering 429 past them.

1. Fan-out: one digest (a line and 5 article embeds) is delivered to each of ``--channels``
   channels at once, as the scheduler does at a popular hour. Prints messages a second and
   how many 429s the fake had to send (goal: none).
2. Interactions: ``--interactions`` ``/brief`` commands (latest, topic, help, number, public)
   are dispatched over the gateway while a task ingests new articles back to back (Sumy runs
   in the summariser's thread the whole time). Latency is from the dispatch to the arrival of
   the interaction callback at the fake (Discord allows 3 s).

    python bench/bench_discord.py [--channels 1000] [--rate 25] [--interactions 300]
                                  [--together]   # interactions during the fan-out
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from discord_fake import FakeDiscord  # noqa: E402

from adapters.discord_adapter import DiscordAdapter  # noqa: E402
from adapters.discord_config import DiscordConfig  # noqa: E402
from adapters.platforms import DISCORD  # noqa: E402
from bot.app import open_app  # noqa: E402
from bot.config import default_config  # noqa: E402
from bot.engine import BriefingEngine  # noqa: E402
from bot.models import ArticleDraft, Destination, Item, Reply, ReplyKind  # noqa: E402

SAMPLE = REPO / "samples" / "2022-05-31-us-rocket-systems-ukraine.txt"
COMMANDS = ("", "rocket", "help", "1", "ukraine artillery", "weapons public")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def digest_reply() -> Reply:
    items = tuple(
        Item(title=f"Story {i}: rocket systems and the war in the east", source="Bench News",
             url=f"https://bench.example/{i}", published_at=datetime(2026, 3, 1, 8, tzinfo=UTC),
             summary=("The first sentence of the summary says what happened.",
                      "The second one says why it matters to the team."), article_id=i)
        for i in range(1, 6)
    )
    return Reply(text="Your daily digest: 5 stories.", items=items, kind=ReplyKind.DIGEST,
                 ephemeral=False)


async def ingest_forever(engine: BriefingEngine, text: str, counter: list[int]) -> None:
    paragraphs = [p for p in text.splitlines() if p.strip()]
    n = 0
    while True:
        n += 1
        k = n % max(1, len(paragraphs))
        body = "\n".join([*paragraphs[k:], *paragraphs[:k], f"Bench article number {n}."])
        await engine.ingest(ArticleDraft(text=body, title=f"Bench article {n}",
                                         url=f"https://bench.example/a/{n}", source="Bench"))
        counter[0] += 1


async def fan_out(fake: FakeDiscord, engine: BriefingEngine, channels: int) -> None:
    reply = digest_reply()
    base = 800000000000000000
    before_429 = fake.rate_limited
    began = time.perf_counter()
    results = await asyncio.gather(*(
        engine.deliver(Destination(platform="discord", channel_id=str(base + i)), reply)
        for i in range(channels)
    ), return_exceptions=True)
    elapsed = time.perf_counter() - began
    failed = [r for r in results if isinstance(r, BaseException)]
    posted = sum(len(fake.messages[base + i]) for i in range(channels))
    print(f"fan-out: {posted} digest messages to {channels} channels in {elapsed:.1f} s = "
          f"{posted / elapsed:.1f} messages/s; 429s from the fake: "
          f"{fake.rate_limited - before_429}; failed deliveries: {len(failed)}")


async def interactions(fake: FakeDiscord, engine: BriefingEngine, count: int) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    ingested = [0]
    ingest = asyncio.create_task(ingest_forever(engine, text, ingested))
    latencies: list[float] = []
    deferred = 0
    try:
        for i in range(count):
            state = await fake.interact(COMMANDS[i % len(COMMANDS)])
            await fake.wait_for(lambda s=state: s.answered_at is not None, within=10)  # type: ignore[misc]
            assert state.answered_at is not None
            latencies.append(state.answered_at - state.created)
            deferred += state.deferred
            await asyncio.sleep(0.01)
    finally:
        ingest.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ingest
    ms = [x * 1000 for x in latencies]
    print(f"interactions: {count} while ingesting ({ingested[0]} articles summarised "
          f"meanwhile); deferred {deferred}; refused by the fake {len(fake.refused)}")
    print(f"first response latency ms: median {statistics.median(ms):.1f}  "
          f"p90 {pct(ms, 0.9):.1f}  p99 {pct(ms, 0.99):.1f}  max {max(ms):.1f}")


async def main(channels: int, rate: float, concurrency: int, count: int, *,
               together: bool = False) -> None:
    fake = await FakeDiscord().start()
    with tempfile.TemporaryDirectory() as tmp:
        base = default_config()
        config = DISCORD.configure(
            replace(base, storage=replace(base.storage, path=str(Path(tmp) / "bench.db"))),
            api_base_url=fake.api_base_url, gateway_url=fake.gateway_url,
            max_messages_per_second=rate, send_concurrency=concurrency,
        )
        engine = (await open_app(config)).engine
        await engine.ingest(ArticleDraft(text=SAMPLE.read_text(encoding="utf-8"),
                                         title="Rocket systems for Ukraine",
                                         url="https://bench.example/0", source="Bench"))
        adapter = DiscordAdapter(engine, "bench-token", guild_ready_timeout=0.05)
        engine.add_publisher(adapter)
        runner = asyncio.create_task(adapter.run())
        try:
            await asyncio.wait_for(adapter.wait_until_ready(), 10)
            print(f"discord.py against the fake; rate {rate}/s, {concurrency} in flight")
            if together:
                await asyncio.gather(fan_out(fake, engine, channels),
                                     interactions(fake, engine, count))
                return
            if channels:
                await fan_out(fake, engine, channels)
            if count:
                await interactions(fake, engine, count)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await engine.close()
            await fake.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--rate", type=float,
                        default=DiscordConfig().max_messages_per_second,
                        help="[discord] max_messages_per_second")
    parser.add_argument("--concurrency", type=int,
                        default=DiscordConfig().send_concurrency)
    parser.add_argument("--interactions", type=int, default=300)
    parser.add_argument("--together", action="store_true",
                        help="run the interactions during the fan-out, not after it")
    args = parser.parse_args()
    asyncio.run(main(args.channels, args.rate, args.concurrency, args.interactions,
                     together=args.together))
