"""Articles summarised per second, sequentially on one core: news beside LexRank.

Reads the eval sets (``../shared/data/eval``, never copied into the project) and summarises
every article with each system in turn (article by article, so a change in machine load hits
both alike), the path the bot uses (:func:`bot.summarize.summarize_text`, cnndm at 3 sentences,
bbc at the reference's count). The process is pinned to one CPU. Prints articles per second and
milliseconds per article for each system and set. Issue 17's goal: news >= 150/s on BBC and
>= 100/s on CNN/DM.

    python bench/bench_summary_rate.py                      # both sets, news and lexrank
    python bench/bench_summary_rate.py --sets bbc --limit 500 --systems news
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.summarize import summarize_text  # noqa: E402

EVAL_DIR = next((d / "shared" / "data" / "eval" for d in ROOT.parents
                 if (d / "shared" / "data" / "eval").is_dir()),
                ROOT.parent / "shared" / "data" / "eval")
SETS = {"cnndm": "cnndm_dev.jsonl", "bbc": "bbc_news_summary.jsonl"}


def load(name: str, limit: int | None) -> list[tuple[str, str | None, int]]:
    """(text, title, sentences) of each article of the set."""
    rows = []
    with (EVAL_DIR / SETS[name]).open(encoding="utf-8") as stream:
        for line in stream:
            raw = json.loads(line)
            reference = [s for s in raw["summary"].splitlines() if s.strip()]
            count = 3 if name == "cnndm" else max(1, len(reference))
            rows.append((raw["text"], raw.get("title") or None, count))
    if limit and limit < len(rows):
        rows = [rows[i * len(rows) // limit] for i in range(limit)]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="bbc,cnndm")
    parser.add_argument("--systems", default="news,lexrank")
    parser.add_argument("--limit", type=int, help="N articles of each set, evenly spaced")
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin to (default 0)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load: {load_avg}; one CPU ({args.cpu}); threads: "
          f"{len(os.listdir('/proc/self/task')) if os.path.isdir('/proc/self/task') else '?'}")
    summarize_text("Warm up. The tokenizer model loads once.", sentences=1)
    print("\n| set | articles | system | articles/s | ms/article |")
    print("|---|---|---|---|---|")
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        rows = load(name, args.limit)
        spent = dict.fromkeys(systems, 0.0)
        for text, title, count in rows:
            for system in systems:
                started = time.process_time()
                summarize_text(text, title=title, sentences=count, algorithm=system,
                               max_sentence_chars=600)
                spent[system] += time.process_time() - started
        for system in systems:
            print(f"| {name} | {len(rows)} | {system} | {len(rows) / spent[system]:.0f} | "
                  f"{1000 * spent[system] / len(rows):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
