"""Are two trees' ingests the same on every eval article? (issue 17: faster, never different)

For every article of the eval sets (``../shared/data/eval``, read from there, never copied) this
dumps what an ingest decides, from two trees (this one and ``--base``, each in its own
process), and counts the articles on which they agree, field by field:

* ``language``: the detected language (``resolve_language`` on the capped text);
* ``stored`` / ``alerts``: the summary an ingest stores and the alerts it records (subscription
  and matched terms), through ``engine.ingest`` of a bot built as ``briefbot run`` builds it
  (news summarizer, language auto, 100 subscriptions, a fresh SQLite file);
* ``news`` / ``lexrank``: those summarizers at the eval length (the reference's sentences);
* ``analysis`` / ``matches``: the alert analyser's positions and sentences of title and body
  (a hash), and the same 100 subscriptions matched through ``SubscriptionIndex.match``.

Exit status 1 when any article differs (the first differences are printed).

    python bench/compare_ingest.py --base /work/main              # both sets, every article
    python bench/compare_ingest.py --base /work/main --limit 200  # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = next((d / "shared" / "data" / "eval" for d in ROOT.parents
                 if (d / "shared" / "data" / "eval").is_dir()),
                ROOT.parent / "shared" / "data" / "eval")
SETS = {"cnndm": "cnndm_dev.jsonl", "bbc": "bbc_news_summary.jsonl"}
QUERIES = ("election", "oil prices", "football", "government AND budget", '"prime minister"',
           "rocket OR missile", "bank", "film NOT review", "police", "climate")
FIELDS = ("language", "stored", "alerts", "news", "lexrank", "analysis", "matches")


def rows(sets: list[str], limit: int | None) -> list[tuple[str, int, dict[str, Any]]]:
    out = []
    for name in sets:
        with (EVAL_DIR / SETS[name]).open(encoding="utf-8") as stream:
            found = [json.loads(line) for line in stream]
        picked = (range(len(found)) if not limit or limit >= len(found)
                  else [i * len(found) // limit for i in range(limit)])
        out.extend((name, i, found[i]) for i in picked)
    return out


def query(i: int) -> str:
    return QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" OR word{i}")


async def _ingest_all(articles: list[tuple[str, int, dict[str, Any]]],
                      tmp: Path) -> dict[str, tuple[Any, Any]]:
    """Ingest every article through the engine; (stored summary, recorded alerts) by url."""
    from bot.app import open_app
    from bot.config import default_config
    from bot.models import ArticleDraft, Caller

    base = default_config()
    config = replace(base, storage=replace(base.storage, path=str(tmp / "news.db")),
                     summarizer=replace(base.summarizer, algorithm="news"))
    app = await open_app(config)
    try:
        for i in range(100):
            caller = Caller(platform="console", user_id=f"U{i}", channel_id="C1", is_admin=True)
            reply = await app.engine.handle_command(f"subscribe {query(i)}", caller)
            assert not reply.is_error, reply.text
        for name, n, raw in articles:
            await app.engine.ingest(ArticleDraft(text=raw["text"], title=raw.get("title") or None,
                                                 url=f"https://{name}.example/{n}", source=name))
    finally:
        await app.close()
    with sqlite3.connect(tmp / "news.db") as db:
        stored = {url: (json.loads(summary), []) for url, summary in
                  db.execute("SELECT url, summary FROM articles")}
        for url, sub, matched in db.execute(
                "SELECT a.url, s.query, l.matched FROM alerts l JOIN articles a"
                " ON a.id = l.article_id JOIN subscriptions s ON s.id = l.subscription_id"
                " ORDER BY a.url, s.query"):
            stored[url][1].append([sub, json.loads(matched)])
    return stored


def dump(root: Path, sets: list[str], limit: int | None, out: Path) -> None:
    """Write one line per article with what ``root``'s code decides (run in that tree)."""
    sys.path.insert(0, str(root))
    from bot.alerts.matching import SubscriptionIndex
    from bot.alerts.query import analyzer_for, compile_query
    from bot.language import resolve_language
    from bot.summarize import summarize_text
    from bot.text import cap_text

    articles = rows(sets, limit)
    with tempfile.TemporaryDirectory() as tmp:
        stored = asyncio.run(_ingest_all(articles, Path(tmp)))
    index = SubscriptionIndex()
    for i in range(100):
        index.add(i, compile_query(query(i)))
    analyzer = analyzer_for("english")
    with out.open("w", encoding="utf-8") as stream:
        for name, n, raw in articles:
            text, title = raw["text"], raw.get("title") or None
            count = 3 if name == "cnndm" else max(
                1, len([s for s in raw["summary"].splitlines() if s.strip()]))
            doc = analyzer.analyze(title=title or "", text=text)
            analysis = repr([(list(f.positions.items()), f.sentences)
                             for f in (doc.title, doc.body)])
            summary, alerts = stored.get(f"https://{name}.example/{n}", (None, None))
            row = {
                "set": name, "n": n,
                "language": resolve_language(None, cap_text(text)),
                "stored": summary, "alerts": alerts,
                "news": summarize_text(text, title=title, sentences=count, algorithm="news",
                                       max_sentence_chars=600),
                "lexrank": summarize_text(text, title=title, sentences=count,
                                          algorithm="lexrank", max_sentence_chars=600),
                "analysis": hashlib.sha1(analysis.encode()).hexdigest(),
                "matches": index.match(title=title or "", text=text),
            }
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")


def compare(base: Path, mine: Path) -> bool:
    a = [json.loads(line) for line in base.open(encoding="utf-8")]
    b = [json.loads(line) for line in mine.open(encoding="utf-8")]
    if len(a) != len(b):
        print(f"different article counts: {len(a)} and {len(b)}")
        return False
    same = True
    print("| set | " + " | ".join(FIELDS) + " |")
    print("|---|" + "---|" * len(FIELDS))
    for name in dict.fromkeys(r["set"] for r in a):
        pairs = [(x, y) for x, y in zip(a, b, strict=True) if x["set"] == name]
        cells = []
        for field in FIELDS:
            equal = sum(x[field] == y[field] for x, y in pairs)
            cells.append(f"{equal} of {len(pairs)}")
            for x, y in [(x, y) for x, y in pairs if x[field] != y[field]][:3]:
                print(f"  {name} #{x['n']} {field}:\n    base: {x[field]}\n    this: {y[field]}")
            same = same and equal == len(pairs)
        print(f"| {name} | " + " | ".join(cells) + " |")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, help="the other tree (e.g. /work/main)")
    parser.add_argument("--sets", default="cnndm,bbc")
    parser.add_argument("--limit", type=int, help="N articles of each set, evenly spaced")
    parser.add_argument("--dump", type=Path, help="only write this tree's (or --root's) dump")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the dumps are written (the base's is reused while its"
                             " commit, sets and limit are the same)")
    args = parser.parse_args()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if args.dump is not None:
        dump(args.root, sets, args.limit, args.dump)
        return
    if args.base is None:
        parser.error("--base or --dump is needed")

    def run(root: Path, out: Path) -> None:
        command = [sys.executable, __file__, "--root", str(root), "--dump", str(out),
                   "--sets", ",".join(sets)] + (["--limit", str(args.limit)] if args.limit else [])
        subprocess.run(command, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})

    head = subprocess.run(["git", "-C", str(args.base), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(args.base), "status", "--porcelain", "bot"],
                           capture_output=True, text=True).stdout.strip()
    tag = f"{head}-{'-'.join(sets)}-{args.limit or 'all'}"
    base_out = args.keep / f"compare_ingest_base_{tag}.jsonl"
    if dirty or not base_out.exists():
        run(args.base.resolve(), base_out)
    mine = args.keep / "compare_ingest_this.jsonl"
    run(ROOT, mine)
    print(f"base {args.base} at {head}{' (modified)' if dirty else ''}; this tree {ROOT}")
    sys.exit(0 if compare(base_out, mine) else 1)


if __name__ == "__main__":
    main()
