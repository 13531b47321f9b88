"""Ingest throughput and summary cost per algorithm, on the eval sets in ../shared/data/eval.

Prints articles per second for the whole ingest path (parse the plain-text format, summarise,
store in a real SQLite file) and milliseconds per summary for each algorithm. Run:

    python bench/bench_ingest.py [--limit N] [--eval-dir ../shared/data/eval]

Numbers are wall-clock on whatever the machine is doing: read them as orders of magnitude and
compare rows measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bot.app import open_app
from bot.config import default_config
from bot.ingest.files import parse_bytes
from bot.summarize import ALGORITHMS, summarize_text

HERE = Path(__file__).resolve().parent
DEFAULT_EVAL = HERE.parent.parent / "shared" / "data" / "eval"


def load(path: Path, limit: int) -> list[dict[str, str]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rows.append(json.loads(line))
            if len(rows) >= limit:
                break
    return rows


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_ingest(records: list[dict[str, str]], algorithm: str) -> dict[str, float]:
    base = default_config()
    with tempfile.TemporaryDirectory() as tmp:
        config = replace(
            base,
            storage=replace(base.storage, path=str(Path(tmp) / "bench.db")),
            summarizer=replace(base.summarizer, algorithm=algorithm),
        )
        engine = (await open_app(config)).engine
        try:
            per_article: list[float] = []
            words_600: list[float] = []
            started = time.perf_counter()
            for record in records:
                data = f" date 2024-01-01 {record['text']}".encode()
                t0 = time.perf_counter()
                draft = parse_bytes(data, name=f"{record['id']}.txt", title_limit=120)
                await engine.ingest(draft)
                elapsed = time.perf_counter() - t0
                per_article.append(elapsed)
                if 450 <= len(record["text"].split()) <= 750:
                    words_600.append(elapsed)
            total = time.perf_counter() - started
        finally:
            await engine.close()
    return {
        "articles_per_s": len(records) / total,
        "median_ms": statistics.median(per_article) * 1000,
        "p95_ms": pct(per_article, 0.95) * 1000,
        "median_ms_600w": statistics.median(words_600) * 1000 if words_600 else float("nan"),
        "n_600w": len(words_600),
    }


def bench_algorithms(records: list[dict[str, str]], sentences: int) -> dict[str, float]:
    out = {}
    for algorithm in ALGORITHMS:
        t0 = time.perf_counter()
        for record in records:
            summarize_text(record["text"], title=record.get("title") or None,
                           sentences=sentences, algorithm=algorithm)
        out[algorithm] = (time.perf_counter() - t0) / len(records) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--limit", type=int, default=200, help="articles per set")
    args = parser.parse_args()
    sets = {
        "cnndm_dev": load(args.eval_dir / "cnndm_dev.jsonl", args.limit),
        "bbc_news_summary": load(args.eval_dir / "bbc_news_summary.jsonl", args.limit),
    }
    default_algorithm = default_config().summarizer.algorithm
    print("## Ingest (parse + summarise + store, one process, sequential)")
    print("| set | algorithm | articles | articles/s | median ms | p95 ms |"
          " median ms, 450-750 words (n) |")
    print("|---|---|---|---|---|---|---|")
    for name, records in sets.items():
        for algorithm in dict.fromkeys([default_algorithm, "lexrank"]):
            r = asyncio.run(bench_ingest(records, algorithm))
            print(f"| {name} | {algorithm} | {len(records)} | {r['articles_per_s']:.0f} | "
                  f"{r['median_ms']:.1f} | {r['p95_ms']:.1f} | "
                  f"{r['median_ms_600w']:.1f} ({r['n_600w']:.0f}) |")
    print()
    print("## Milliseconds per summary (3 sentences), by algorithm")
    names = list(ALGORITHMS)
    print("| set | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for name, records in sets.items():
        ms = bench_algorithms(records, 3)
        print(f"| {name} | " + " | ".join(f"{ms[a]:.1f}" for a in names) + " |")


if __name__ == "__main__":
    main()
