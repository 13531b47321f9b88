"""One channel's digest over a large window, and the proof that the faster digest chooses the
same stories (issue 17, item 4).

Builds a window of ``--articles`` realistic articles from the evaluation sets (BBC and
CNN/DM, ``../shared/data/eval``): each eval article is one story, reported by 1 to 6 of
``--feeds`` sources, each report with its own wording (a title with words left out, another
run of the article's sentences as its summary), spread over the last 24 hours. Then:

1. **Same stories**: the clusters and each ranking (all articles, single feeds, with a
   subscription query) are compared with the algorithm as it was before issue 17
   (``tests/digest_reference.py``): every cluster and every top-``max_items`` must be equal.
2. **One channel's digest** (``/brief digest now`` preview, the real ``DigestPass`` on a real
   SQLite file): CPU milliseconds, the first one after start (articles read and their terms
   computed) and the next ones (medians of ``--repeat``), as the bot answers them.

    python bench/bench_digest_window.py                      # 10,000 articles
    python bench/bench_digest_window.py --articles 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.alerts.query import compile_query  # noqa: E402
from bot.app import digest_kit, open_app  # noqa: E402
from bot.config import default_config  # noqa: E402
from bot.digests import build  # noqa: E402
from bot.digests.build import Ranking, TermCache, digest_now  # noqa: E402
from bot.models import ArticleDraft, Destination  # noqa: E402
from bot.store import open_store  # noqa: E402
from bot.store.ports import DigestArticle, NewArticle  # noqa: E402
from tests import digest_reference as reference  # noqa: E402

EVAL_DIR = next((d / "shared" / "data" / "eval" for d in ROOT.parents
                 if (d / "shared" / "data" / "eval").is_dir()),
                ROOT.parent / "shared" / "data" / "eval")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
QUERIES = ("government", "election", "football OR rugby", "oil prices")


def stories(eval_dir: Path) -> list[tuple[str, list[str]]]:
    """(title, sentences) of every eval article."""
    out = []
    for name in ("bbc_news_summary.jsonl", "cnndm_dev.jsonl"):
        path = eval_dir / name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            text = str(record.get("text") or "")
            sentences = [s.strip().rstrip(".") + "." for s in text.replace("\n", " ").split(". ")
                         if 30 <= len(s.strip()) <= 400]
            title = str(record.get("title") or (sentences[0][:80] if sentences else ""))
            if title and len(sentences) >= 3:
                out.append((title, sentences))
    if not out:
        raise SystemExit(f"no evaluation sets in {eval_dir}")
    return out


def window(count: int, feeds: int, eval_dir: Path, seed: int = 17) -> list[NewArticle]:
    rng = random.Random(seed)
    pool = stories(eval_dir)
    rng.shuffle(pool)
    reports: list[tuple[str, tuple[str, ...], int]] = []
    i = 0
    while len(reports) < count:
        title, sentences = pool[i % len(pool)]
        i += 1
        for _ in range(min(rng.choice((1, 1, 1, 2, 2, 3, 4, 6)), count - len(reports))):
            words = title.split()
            if len(words) > 4 and rng.random() < 0.7:  # another desk's headline
                del words[rng.randrange(len(words))]
            start = rng.randrange(max(1, len(sentences) - 3))
            reports.append((" ".join(words), tuple(sentences[start:start + 3]),
                            rng.randrange(feeds)))
    times = sorted(NOW - timedelta(seconds=rng.random() * 86_000) for _ in reports)
    # reports of a story come close together: order by story, with jitter
    out = []
    for n, ((title, summary, feed), at) in enumerate(zip(reports, times, strict=True)):
        url = f"https://source{feed}.example/{n}"
        out.append(NewArticle(
            draft=ArticleDraft(text=" ".join(summary), title=title, url=url,
                               source=f"Source {feed}", feed_id=feed + 1,
                               published_at=at - timedelta(minutes=rng.randint(0, 90))),
            title=title, summary=summary,
            content_hash=hashlib.sha256(url.encode()).hexdigest(), canonical_url=url,
            ingested_at=at))
    return out


def as_digest_articles(batch: list[NewArticle]) -> list[DigestArticle]:
    return [DigestArticle(id=i, title=a.title, summary=tuple(a.summary), url=a.draft.url,
                          source=a.draft.source, published_at=a.draft.published_at,
                          ingested_at=a.ingested_at, feed_id=a.draft.feed_id)
            for i, a in enumerate(batch, start=1)]


def compare(articles: list[DigestArticle], *, max_items: int) -> None:
    """The faster clustering and ranking against the reference: same clusters, same stories."""
    bags = TermCache().bags(articles, language="english")
    t0 = time.process_time()
    old = reference.cluster_terms(bags, threshold=0.3)
    old_ms = (time.process_time() - t0) * 1000
    t0 = time.process_time()
    new = build.cluster_terms(bags, threshold=0.3)
    new_ms = (time.process_time() - t0) * 1000
    same = old == new
    print(f"clusters: {len(new):,} stories from {len(articles):,} articles, "
          f"{sum(len(c) > 1 for c in new):,} with several reports; identical to the reference: "
          f"{same} (clustering {old_ms:.0f} ms before, {new_ms:.0f} ms now, terms given)")
    clusters = [[articles[i] for i in members] for members in new]
    subsets = {"all articles": clusters}
    for feed in (1, 2, 3):
        subsets[f"feed {feed} only"] = [c2 for c in clusters
                                        if (c2 := [a for a in c if a.feed_id == feed])]
    checks = 0
    for name, chosen in subsets.items():
        for queries in ((), tuple((q, compile_query(q, language="english")) for q in QUERIES)):
            t0 = time.process_time()
            before = reference.rank_stories(chosen, now=NOW, queries=queries)[:max_items]
            t1 = time.process_time()
            after = Ranking(chosen, now=NOW).top(max_items, queries=queries)
            t2 = time.process_time()
            ok = [(s.lead.id, s.sources, s.matched, s.score) for s in before] == [
                (s.lead.id, s.sources, s.matched, s.score) for s in after]
            same = same and ok
            checks += 1
            print(f"ranking, {name}{' + subscriptions' if queries else ''}: top {max_items} "
                  f"identical: {ok} ({(t1 - t0) * 1000:.1f} ms before, "
                  f"{(t2 - t1) * 1000:.1f} ms now)")
    if not same:
        raise SystemExit("the digest chose different stories than the reference")
    print(f"same stories: all {checks} rankings and the clusters are identical")


async def one_channel(batch: list[NewArticle], *, feeds: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "window.db"
        store = await open_store(path)
        for n in range(feeds):
            await store.feeds.add_feed(f"https://source{n}.example/rss", now=NOW,
                                       next_poll_at=NOW + timedelta(days=1))
        await store.articles.add_articles(batch)
        await store.alerts.add_subscription(
            platform="console", owner_kind="channel", owner_id="C1", created_by="U1",
            query="government", query_key="government", language="english", now=NOW,
            limit=100)
        await store.close()
        base = default_config()
        config = replace(base, storage=replace(base.storage, path=str(path)))
        app = await open_app(config, clock=lambda: NOW)
        engine = app.engine
        await engine.summarizer.run(lambda: None)  # the worker thread exists
        channel = Destination(platform="console", channel_id="C1")
        try:
            cpu, wall = [], []
            for _ in range(repeat + 1):
                t0, c0 = time.perf_counter(), time.process_time()
                reply, built = await digest_now(digest_kit(engine), destination=channel, post=False)
                cpu.append((time.process_time() - c0) * 1000)
                wall.append((time.perf_counter() - t0) * 1000)
            assert reply is not None
            # 20 more articles stored: the window is read on from where it was, the terms of
            # the others are kept, the clustering (over the whole window) is done again
            more = [replace(a, canonical_url=f"{a.canonical_url}/more",
                            content_hash=hashlib.sha256(f"more{n}".encode()).hexdigest())
                    for n, a in enumerate(batch[-20:])]
            await engine.store.articles.add_articles(more)
            c0, t0 = time.process_time(), time.perf_counter()
            _, grown = await digest_now(digest_kit(engine), destination=channel, post=False)
            new_cpu = (time.process_time() - c0) * 1000
            new_wall = (time.perf_counter() - t0) * 1000
        finally:
            await app.close()
    print(f"\none channel's digest over a {built.considered:,}-article window "
          f"({built.total_stories:,} stories, {len(built.items)} shown, one subscription):")
    print("| digest | CPU ms | wall ms |")
    print("|---|---|---|")
    print(f"| first after start (window read, terms computed) | {cpu[0]:.0f} | {wall[0]:.0f} |")
    print(f"| the same again (median of {repeat}: clusters kept) | "
          f"{statistics.median(cpu[1:]):.0f} | {statistics.median(wall[1:]):.0f} |")
    print(f"| after 20 new articles ({grown.considered:,}: window read on, terms kept, "
          f"clustered again) | {new_cpu:.0f} | {new_wall:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--no-compare", action="store_true")
    args = parser.parse_args()
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    batch = window(args.articles, args.feeds, args.eval_dir)
    if not args.no_compare:
        compare(as_digest_articles(batch), max_items=default_config().digest.max_items)
    asyncio.run(one_channel(batch, feeds=args.feeds, repeat=args.repeat))


if __name__ == "__main__":
    main()
