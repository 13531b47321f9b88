"""Whole ingests per second on one core: the news summarizer beside LexRank (issue 17, item 3).

Each article of the eval sets (``../shared/data/eval``, never copied into the project) goes
through ``engine.ingest`` (dedupe check, summary, store with its search index, alert matching
against ``--subscriptions`` subscriptions and the alert records) of two bots built as
``briefbot run`` builds them, one summarising with news and one with LexRank, each on its own
fresh SQLite file; article by article, so a change in the machine's load hits both alike. The
process is pinned to one CPU and timed in CPU seconds (every thread of the process). A third
column times the news bot's summary alone (``summarizer.summarize``, language detection
included) and its alert matching alone on the same article, so the rest of an ingest (dedupe,
store, alert records, the trips to the database thread) is the difference. Issue 17's
goal: >= 150 articles/s for BBC, >= 100 for CNN/DM.

    python bench/bench_ingest_rate.py                         # both sets
    python bench/bench_ingest_rate.py --sets bbc --limit 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiosqlite  # noqa: E402

from bot.app import App, open_app  # noqa: E402
from bot.config import default_config  # noqa: E402
from bot.models import ArticleDraft  # noqa: E402

EVAL_DIR = next((d / "shared" / "data" / "eval" for d in ROOT.parents
                 if (d / "shared" / "data" / "eval").is_dir()),
                ROOT.parent / "shared" / "data" / "eval")
SETS = {"bbc": "bbc_news_summary.jsonl", "cnndm": "cnndm_dev.jsonl"}
QUERIES = ("election", "oil prices", "football", "government AND budget", '"prime minister"',
           "rocket OR missile", "bank", "film NOT review", "police", "climate")


def load(name: str, limit: int | None) -> list[ArticleDraft]:
    rows = []
    with (EVAL_DIR / SETS[name]).open(encoding="utf-8") as stream:
        for n, line in enumerate(stream):
            raw = json.loads(line)
            rows.append(ArticleDraft(text=raw["text"], title=raw.get("title") or None,
                                     url=f"https://{name}.example/{n}", source=name))
    if limit and limit < len(rows):
        rows = [rows[i * len(rows) // limit] for i in range(limit)]
    return rows


async def bot(tmp: Path, algorithm: str, subscriptions: int) -> App:
    base = default_config()
    config = replace(base, storage=replace(base.storage, path=str(tmp / f"{algorithm}.db")),
                     summarizer=replace(base.summarizer, algorithm=algorithm))
    app = await open_app(config)
    for i in range(subscriptions):
        query = QUERIES[i % len(QUERIES)]
        reply = await app.engine.handle_command(
            f"subscribe {query}" + ("" if i < len(QUERIES) else f" OR word{i}"),
            _caller(i))
        assert not reply.is_error, reply.text
    return app


def _caller(i: int) -> Any:
    from bot.models import Caller

    return Caller(platform="console", user_id=f"U{i}", channel_id="C1", is_admin=True)


class Trips:
    """Counts the trips to aiosqlite's connection threads."""

    def __init__(self) -> None:
        self.count = 0
        self._real = aiosqlite.Connection._execute

        async def counted(conn: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
            self.count += 1
            return await self._real(conn, fn, *args, **kw)

        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]


async def run(sets: list[str], limit: int | None, subscriptions: int) -> None:
    trips = Trips()
    print("\n| set | articles | system | ingests/s | ms/ingest | of which summary ms |"
          " alert matching ms | the rest ms | trips to the database thread per ingest |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in sets:
        drafts = load(name, limit)
        with tempfile.TemporaryDirectory() as tmp:
            apps = {a: await bot(Path(tmp), a, subscriptions) for a in ("news", "lexrank")}
            for app in apps.values():
                await app.warm_up()  # as `briefbot run` starts (Sumy, the language detector)
                await app.engine.ingest(ArticleDraft(text="Warm up. The tokenizer loads.",
                                                     title="Warm up"))
            spent = {"news": 0.0, "lexrank": 0.0, "summary": 0.0, "matching": 0.0}
            hops = {"news": 0, "lexrank": 0}
            news = apps["news"]
            assert news.alerts is not None
            try:
                for n, draft in enumerate(drafts):
                    # in turns, so neither always finds the caches warmed by the other
                    for system in ("news", "lexrank") if n % 2 else ("lexrank", "news"):
                        before, started = trips.count, time.process_time()
                        await apps[system].engine.ingest(draft)
                        spent[system] += time.process_time() - started
                        hops[system] += trips.count - before
                    # the parts of the news ingest, alone: its summary, its alert matching
                    started = time.process_time()
                    await news.engine.summarizer.summarize(draft.text, title=draft.title,
                                                           language=draft.language)
                    spent["summary"] += time.process_time() - started
                    started = time.process_time()
                    news.alerts.index.match(title=draft.title or "", text=draft.text)
                    spent["matching"] += time.process_time() - started
            finally:
                for app in apps.values():
                    await app.close()
        n = len(drafts)
        for system in ("news", "lexrank"):
            parts = " | | "
            if system == "news":
                rest = spent["news"] - spent["summary"] - spent["matching"]
                parts = " | ".join(f"{1000 * v / n:.2f}" for v in (
                    spent["summary"], spent["matching"], rest))
            print(f"| {name} | {n} | {system} | {n / spent[system]:.0f} | "
                  f"{1000 * spent[system] / n:.2f} | {parts} | {hops[system] / n:.1f} |",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="bbc,cnndm")
    parser.add_argument("--limit", type=int, help="N articles of each set, evenly spaced")
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin to (default 0)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; one CPU ({args.cpu}); "
          f"{args.subscriptions} alert subscriptions")
    asyncio.run(run([s.strip() for s in args.sets.split(",") if s.strip()], args.limit,
                    args.subscriptions))


if __name__ == "__main__":
    main()
