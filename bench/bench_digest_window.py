"""One channel's digest over a large window, and the proof that the faster digest chooses the
same stories (issue 17, item 4).

Builds a window of ``--articles`` realistic articles from the evaluation sets (BBC and
CNN/DM, ``../shared/data/eval``): each eval article is one story, reported by 1 to 6 of
``--feeds`` sources, each report with its own wording (a title with words left out, another
run of the article's sentences as its summary), spread over the last 24 hours (``--spread
H``: a story's reports follow it by H hours on average, interleaved with other stories; 0,
the default: one after another). Then:

1. **Clustering at once, and ranking**: the clusters and each ranking (all articles, single
   feeds, with subscription queries) are compared with the algorithm as it was before issue
   17 (``tests/digest_reference.py``): every cluster and every top-``max_items`` must be equal.
2. **Stories kept as articles arrive** against each digest's articles clustered at once (what
   a single channel's digest did before): the day replayed hour by hour as the bot sees it,
   digests at 12:00 and 24:00 for the whole window, each feed and ``--channels`` random sets
   of 2-5 feeds; the same top stories, and how many shown stories are told exactly against
   the stories the reports really tell (and what a pass over many channels did before).
3. **One channel's digest** (``/brief digest now`` preview, the real ``DigestPass`` on a real
   SQLite file): CPU milliseconds, the first one after start (articles read, their terms
   computed, clustered at once), the next ones (medians of ``--repeat``) and after new
   articles arrive, as the bot answers them.

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
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.alerts.query import compile_query  # noqa: E402
from bot.app import digest_kit, open_app  # noqa: E402
from bot.config import default_config  # noqa: E402
from bot.digests import stories as stories_module  # noqa: E402
from bot.digests.build import Ranking, Story, digest_now, shared_state  # noqa: E402
from bot.digests.stories import StoryIndex, TermCache, encode_terms  # noqa: E402
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


def window(count: int, feeds: int, eval_dir: Path, seed: int = 17, *, spread: float = 0.0,
           hours: float = 24.0) -> tuple[list[NewArticle], list[int]]:
    """``count`` reports, oldest first, and the story each tells (an index into the eval
    sets). ``spread`` 0: a story's reports are stored one after another; else each report
    comes a random time after the story breaks (exponential, mean ``spread`` hours), so
    stories interleave as they do in a real feed."""
    rng = random.Random(seed)
    span = hours * 3600 - 400
    pool = stories(eval_dir)
    rng.shuffle(pool)
    reports: list[tuple[str, tuple[str, ...], int]] = []
    truth: list[int] = []
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
            truth.append((i - 1) % len(pool))
    times = sorted(NOW - timedelta(seconds=rng.random() * span) for _ in reports)
    if spread:  # each story breaks at some time; its reports follow it, later
        breaks: dict[int, float] = {}
        ages = [max(0.0, breaks.setdefault(t, rng.random() * span)
                    - rng.expovariate(1 / (spread * 3600))) for t in truth]
        order = sorted(range(len(reports)), key=lambda r: -ages[r])
        reports = [reports[r] for r in order]
        truth = [truth[r] for r in order]
        times = [NOW - timedelta(seconds=ages[r]) for r in order]
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
    return out, truth


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
    new = stories_module.cluster_terms(bags, threshold=0.3)
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


def quality(groups: list[list[DigestArticle]], truth: dict[int, int]) -> tuple[float, float]:
    """B-cubed precision and recall of ``groups`` against the stories the reports tell."""
    told = Counter(truth[a.id] for g in groups for a in g)
    n = sum(told.values())
    precision = recall = 0.0
    for g in groups:
        here = Counter(truth[a.id] for a in g)
        for story, k in here.items():
            precision += k * k / len(g)
            recall += k * k / told[story]
    return precision / n, recall / n


def exactly_told(story: Story, groups_of: dict[int, int], truth: dict[int, int]) -> bool:
    """Whether a shown story holds every report of one story among the digest's, and no
    other: its "+N sources" is right."""
    stories = {truth[a.id] for a in story.articles}
    return len(stories) == 1 and groups_of[truth[story.lead.id]] == len(story.articles)


def compare_kept(articles: list[DigestArticle], truth_list: list[int], *, max_items: int,
                 channels: int, seed: int = 5, stored: bool = True) -> None:
    """The stories kept as articles arrive (new) against clustering each digest's articles at
    once (before), over the day as the bot sees it: the stories start on the first hour's
    articles, grow hour by hour and start again when due; digests at 12:00 and 24:00 of the
    day for the whole window, each single feed and random sets of 2-5 feeds, covering the
    day so far or its last 6 hours. Compared: each digest's top ``max_items`` (the same
    stories in the same order; the same stories; how many of the shown stories are told
    exactly, against the stories the reports really tell) and the whole digest's clusters.

    ``stored`` (the bot since session 4): the stories start once and then only grow, and at
    8:00 the process restarts and reads them back (terms and story ids, as stored); else
    (session 3) they start again, clustered at once, whenever due."""
    rng = random.Random(seed)
    truth = {a.id: t for a, t in zip(articles, truth_list, strict=True)}
    bags = dict(zip((a.id for a in articles), TermCache().bags(articles, language="english"),
                    strict=True))
    start = articles[0].ingested_at
    hour_of = {a.id: int((a.ingested_at - start).total_seconds() // 3600) for a in articles}
    feeds = sorted({a.feed_id for a in articles if a.feed_id is not None})
    sets: list[tuple[str, frozenset[int] | None]] = [("all", None)]
    sets += [(f"feed {f}", frozenset((f,))) for f in feeds]
    for _ in range(channels):
        chosen = frozenset(rng.sample(feeds, rng.randint(2, 5)))
        sets.append((f"feeds {sorted(chosen)}", chosen))
    index = StoryIndex(threshold=0.3)
    rebuilds, added_ms, rebuild_ms = 0, 0.0, 0.0
    totals: Counter[str] = Counter()
    scores: Counter[str] = Counter()  # B-cubed sums
    kinds: dict[str, Counter[str]] = {k: Counter() for k in ("whole window", "one feed",
                                                             "2-5 feeds")}
    diffs: list[str] = []
    held: list[DigestArticle] = []
    for hour in range(25):
        newer = [a for a in articles if hour_of[a.id] == hour]
        t0 = time.process_time()
        if stored and hour == 8 and held:  # a restart: the stories read back from the store
            kept_ids = [a.id for a in held]
            again = StoryIndex(threshold=0.3)
            again.load(kept_ids, [encode_terms(bags[i]) for i in kept_ids],
                       [index.story(i) for i in kept_ids], lo=0, hi=kept_ids[-1])
            index = again
        if not held or (newer and not stored and index.due_rebuild(len(newer))):
            held += newer
            index.rebuild([a.id for a in held], [bags[a.id] for a in held], lo=0)
            rebuilds += 1
            rebuild_ms += (time.process_time() - t0) * 1000
        elif newer:
            held += newer
            index.extend([a.id for a in newer], [bags[a.id] for a in newer])
            added_ms += (time.process_time() - t0) * 1000
        if hour not in (12, 24):
            continue
        now = held[-1].ingested_at
        pool = stories_module.cluster_terms([bags[a.id] for a in held], threshold=0.3)
        pool_of = {held[i].id: n for n, c in enumerate(pool) for i in c}
        for since in (0, hour - 6):
            period = [a for a in held if hour_of[a.id] >= since]
            for name, chosen_feeds in sets:
                mine = [a for a in period if chosen_feeds is None or a.feed_id in chosen_feeds]
                if not mine:
                    continue
                at_once = stories_module.cluster_terms([bags[a.id] for a in mine],
                                                       threshold=0.3)
                before_groups = [[mine[i] for i in c] for c in at_once]
                after_groups = index.group(mine)
                before = reference.rank_stories(before_groups, now=now)[:max_items]
                after = Ranking(after_groups, now=now).top(max_items)
                told = Counter(truth[a.id] for a in mine)
                kind = ("whole window" if chosen_feeds is None else
                        "one feed" if len(chosen_feeds) == 1 else "2-5 feeds")
                kinds[kind]["digests"] += 1
                kinds[kind]["same set"] += {s.lead.id for s in before} == {
                    s.lead.id for s in after}
                kinds[kind]["exact before"] += sum(exactly_told(s, told, truth) for s in before)
                kinds[kind]["exact after"] += sum(exactly_told(s, told, truth) for s in after)
                kinds[kind]["shown"] += len(before)
                pooled: dict[int, list[DigestArticle]] = {}
                for a in mine:
                    pooled.setdefault(pool_of[a.id], []).append(a)
                in_pass = reference.rank_stories(list(pooled.values()), now=now)[:max_items]
                kinds[kind]["pass same set"] += {s.lead.id for s in before} == {
                    s.lead.id for s in in_pass}
                kinds[kind]["exact pass"] += sum(exactly_told(s, told, truth) for s in in_pass)
                totals["digests"] += 1
                same_order = ([(s.lead.id, s.sources) for s in before]
                              == [(s.lead.id, s.sources) for s in after])
                same_set = {s.lead.id for s in before} == {s.lead.id for s in after}
                totals["same order"] += same_order
                totals["same set"] += same_set
                totals["overlap"] += len({s.lead.id for s in before}
                                         & {s.lead.id for s in after})
                totals["shown"] += len(before)
                totals["exact before"] += sum(exactly_told(s, told, truth) for s in before)
                totals["exact after"] += sum(exactly_told(s, told, truth) for s in after)
                for label, groups in (("before", before_groups), ("after", after_groups)):
                    p, r = quality(groups, truth)
                    scores[f"P {label}"] += p
                    scores[f"R {label}"] += r
                if not same_set and len(diffs) < 12 and kind != "one feed":
                    gone = [s for s in before if s.lead.id not in {x.lead.id for x in after}]
                    came = [s for s in after if s.lead.id not in {x.lead.id for x in before}]
                    diffs.append(
                        f"{hour}:00 {name} since {since}:00: only before "
                        + ", ".join(f"{s.lead.id} ({s.sources} sources, exact "
                                    f"{exactly_told(s, told, truth)})" for s in gone)
                        + "; only now " + ", ".join(
                            f"{s.lead.id} ({s.sources} sources, exact "
                            f"{exactly_told(s, told, truth)})" for s in came))
    d = totals["digests"]
    print(f"\nstories kept as articles arrive ("
          f"{'stored: started once, read back at 8:00' if stored else 'started again when due'}"
          f") vs each digest's articles clustered at once "
          f"({d} digests: {len(sets)} channels x 2 periods x 2 times; the stories started "
          f"{rebuilds} times, {rebuild_ms:.0f} ms, and took the other articles one at a time, "
          f"{added_ms:.0f} ms in all):")
    print(f"| top {max_items} | share of digests |")
    print("|---|---|")
    print(f"| the same stories in the same order | {totals['same order'] / d:.1%} |")
    print(f"| the same stories | {totals['same set'] / d:.1%} |")
    print(f"| stories shown by both | {totals['overlap'] / totals['shown']:.1%} of those shown |")
    print(f"stories shown that are told exactly (every report of one real story, no other): "
          f"before {totals['exact before']:,} of {totals['shown']:,}, now "
          f"{totals['exact after']:,}")
    print(f"clusters against the real stories (B-cubed, mean over digests): before precision "
          f"{scores['P before'] / d:.4f} recall {scores['R before'] / d:.4f}; now precision "
          f"{scores['P after'] / d:.4f} recall {scores['R after'] / d:.4f}")
    for kind, counts in kinds.items():
        n = max(1, counts["digests"])
        print(f"  {kind}: {counts['digests']} digests, the same top {max_items} in "
              f"{counts['same set'] / n:.1%} (a big pass before, its articles clustered with "
              f"the whole day's: {counts['pass same set'] / n:.1%}); told exactly: before "
              f"{counts['exact before']} of {counts['shown']} (big pass "
              f"{counts['exact pass']}), now {counts['exact after']}")
    for line in diffs:
        print("  differs:", line)


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
            # new articles stored (other desks' copies of the latest reports): the window is
            # read on from where it was, their terms computed, each added to the stories
            after: list[tuple[int, float, float, int]] = []
            for n, count in enumerate((20, 20, 200)):
                more = [replace(a, canonical_url=f"{a.canonical_url}/more{n}",
                                content_hash=hashlib.sha256(f"more{n}{i}".encode()).hexdigest())
                        for i, a in enumerate(batch[-count:])]
                await engine.store.articles.add_articles(more)
                c0, t0 = time.process_time(), time.perf_counter()
                _, grown = await digest_now(digest_kit(engine), destination=channel,
                                            post=False)
                after.append((count, (time.process_time() - c0) * 1000,
                              (time.perf_counter() - t0) * 1000, grown.considered))
            rebuilds = shared_state(engine.store).rebuilds
        finally:
            await app.close()
        # restarts (a new process each): the stories and their terms are read from the
        # database, not made again
        restarts: list[tuple[float, float]] = []
        for _ in range(repeat):
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--restart-db", str(path),
                stdout=asyncio.subprocess.PIPE)
            out, _ = await child.communicate()
            assert child.returncode == 0
            got = json.loads(out.decode().strip().splitlines()[-1])
            restarts.append((got["cpu"], got["wall"]))
    print(f"\none channel's digest over a {built.considered:,}-article window "
          f"({built.total_stories:,} stories, {len(built.items)} shown, one subscription):")
    print("| digest | CPU ms | wall ms |")
    print("|---|---|---|")
    print(f"| first ever (window read, terms computed, clustered at once, stored) | "
          f"{cpu[0]:.0f} | {wall[0]:.0f} |")
    print(f"| first after a restart (a new process, median of {repeat}: window and stored "
          f"stories read) | "
          f"{statistics.median(c for c, _ in restarts):.0f} | "
          f"{statistics.median(w for _, w in restarts):.0f} |")
    print(f"| the same again (median of {repeat}: stories kept) | "
          f"{statistics.median(cpu[1:]):.0f} | {statistics.median(wall[1:]):.0f} |")
    for count, new_cpu, new_wall, considered in after:
        print(f"| after {count} new articles ({considered:,}: window read on, each added to "
              f"the stories) | {new_cpu:.0f} | {new_wall:.0f} |")
    print(f"(the stories started {rebuilds} time(s): they are stored and then only grow; "
          f"a restart reads them)")


async def restart(path: Path) -> None:
    """One digest in a process that just started on a database holding the stories: CPU and
    wall milliseconds as JSON (the app opened and the summarizer's thread started first, as
    ``briefbot run`` does before any digest)."""
    base = default_config()
    config = replace(base, storage=replace(base.storage, path=str(path)))
    app = await open_app(config, clock=lambda: NOW)
    try:
        await app.engine.summarizer.run(lambda: None)
        channel = Destination(platform="console", channel_id="C1")
        c0, t0 = time.process_time(), time.perf_counter()
        await digest_now(digest_kit(app.engine), destination=channel, post=False)
        cpu, wall = (time.process_time() - c0) * 1000, (time.perf_counter() - t0) * 1000
        assert shared_state(app.engine.store).rebuilds == 0
    finally:
        await app.close()
    print(json.dumps({"cpu": cpu, "wall": wall}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--no-compare", action="store_true")
    parser.add_argument("--spread", type=float, default=0.0,
                        help="hours (mean) a story's reports follow it; 0: one after another")
    parser.add_argument("--session3", action="store_true",
                        help="also compare the stories as session 3 kept them (started again"
                             " when due)")
    parser.add_argument("--channels", type=int, default=20,
                        help="channels following random sets of feeds in the comparison")
    parser.add_argument("--restart-db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.restart_db:
        asyncio.run(restart(args.restart_db))
        return
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    batch, truth = window(args.articles, args.feeds, args.eval_dir, spread=args.spread)
    if not args.no_compare:
        articles = as_digest_articles(batch)
        max_items = default_config().digest.max_items
        compare(articles, max_items=max_items)
        if args.session3:
            compare_kept(articles, truth, max_items=max_items, channels=args.channels,
                         stored=False)
        compare_kept(articles, truth, max_items=max_items, channels=args.channels)
    asyncio.run(one_channel(batch, feeds=args.feeds, repeat=args.repeat))


if __name__ == "__main__":
    main()
