"""Summary quality: ROUGE against reference summaries, time per article, dangling openers.

Reads the evaluation sets from ``../shared/data/eval`` (never copied into the project) and
runs every summarizer through :func:`bot.summarize.summarize_text`, the path the bot uses
(offline sentence splitter, Sumy document model, post-processing). Prints, per set and
system, ROUGE-1/2/Lsum F1 x 100 (Google's ``rouge-score``, Porter stemming, ``rougeLsum``
over newline-separated sentences) with 95% bootstrap confidence intervals, milliseconds per
article, and the share of summaries with a dangling opener: a summary sentence that opens
with a pronoun or connective ("He said...", "But the plan...") while the article sentence
right before it was left out.

    python bench/eval_summaries.py                      # every set, every system
    python bench/eval_summaries.py --sets cnndm --limit 40 --systems lead,lexrank,news
    python bench/eval_summaries.py --sets cnndm --half a # tune on one half, check on b
    python bench/eval_summaries.py --save before.jsonl   # keep every summary, then after a
    python bench/eval_summaries.py --same-as before.jsonl  # change: how many are identical

cnndm is summarised at 3 sentences; bbc at the reference's sentence count (its references
are extractive and long; the README of the eval sets explains why lengths must match).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    from rouge_score import rouge_scorer
except ImportError:  # the plain install has no dev extra
    sys.exit("bench/eval_summaries.py needs rouge-score: pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import newsum  # noqa: E402
from bot.newsum import opens_dangling  # noqa: E402
from bot.summarize import ALGORITHMS, summarize_text  # noqa: E402
from bot.text import split_paragraphs, split_sentences  # noqa: E402

# beside the project; from a git worktree (../wt/<name>) the nearest ancestor that has it
EVAL_DIR = next((d / "shared" / "data" / "eval" for d in ROOT.parents
                 if (d / "shared" / "data" / "eval").is_dir()),
                ROOT.parent / "shared" / "data" / "eval")
SETS = {"cnndm": "cnndm_dev.jsonl", "bbc": "bbc_news_summary.jsonl"}
METRICS = ("rouge1", "rouge2", "rougeLsum")
# "lead" is LEAD-3 (LEAD-k on bbc) with the bot's own sentence splitter; "lead-pysbd" (needs
# pysbd, not a dependency) splits with pysbd as the eval README did
DEFAULT_SYSTEMS = (
    *(("lead-pysbd",) if importlib.util.find_spec("pysbd") else ()),
    "lead",
    *[a for a in ALGORITHMS if a not in {"lead", "news"}],
    "news",
)
# a summary sentence longer than a chat message allows is cut; far above news sentences
MAX_SENTENCE_CHARS = 600


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    title: str | None
    text: str
    reference: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Result:
    system: str
    scores: dict[str, np.ndarray]  # metric -> per-article F1 x 100
    ms_per_article: float
    dangling_share: float
    failures: dict[str, int]  # exception name -> articles that raised it (scored as empty)
    summaries: tuple[tuple[str, ...], ...]  # one a record, in order


def load(name: str, *, limit: int | None, half: str | None) -> list[Record]:
    path = EVAL_DIR / SETS[name]
    if not path.is_file():
        sys.exit(f"no eval set at {path}: the sets live in shared/data/eval beside the project")
    records = []
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            raw = json.loads(line)
            reference = tuple(s for s in raw["summary"].splitlines() if s.strip())
            records.append(Record(raw["id"], raw.get("title") or None, raw["text"], reference))
    if half is not None:  # alternate articles: two halves with the same mix of sources
        records = records[0 if half == "a" else 1 :: 2]
    if limit and limit < len(records):  # evenly spaced: every section of the set is in
        records = [records[i * len(records) // limit] for i in range(limit)]
    return records


def article_sentences(text: str) -> list[str]:
    return [s for p in split_paragraphs(text) for s in split_sentences(p)]


def _key(sentence: str) -> str:
    return re.sub(r"\W+", " ", sentence.lower()).strip()


def has_dangling_opener(summary: Sequence[str], sentences: Sequence[str]) -> bool:
    """A summary sentence opens with a back-pointing word and its predecessor is not in it."""
    keys = [_key(s) for s in sentences]
    positions: list[int] = []
    for sentence in summary:
        key = _key(sentence.rstrip("…"))
        found = next((i for i, k in enumerate(keys) if k == key or key in k), -1)
        positions.append(found)
    for sentence, position in zip(summary, positions, strict=True):
        if position <= 0 or not opens_dangling(sentence):
            continue
        if position - 1 not in positions:
            return True
    return False


def bootstrap(values: np.ndarray, *, rounds: int = 1000, seed: int = 7) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(values), size=(rounds, len(values)))
    means = values[samples].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _lead_pysbd(record: Record, count: int) -> tuple[str, ...]:
    """LEAD-k with pysbd splits, as the eval README measured it (pysbd is optional here)."""
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False)
    out: list[str] = []
    for paragraph in split_paragraphs(record.text):
        out.extend(s.strip() for s in segmenter.segment(paragraph) if s.strip())
        if len(out) >= count:
            break
    return tuple(out[:count])


def evaluate(system: str, records: Sequence[Record], *, count: Callable[[Record], int],
             scorer: rouge_scorer.RougeScorer) -> Result:
    per: dict[str, list[float]] = {m: [] for m in METRICS}
    dangling = 0
    elapsed = 0.0
    failures: dict[str, int] = {}
    summaries: list[tuple[str, ...]] = []
    for record in records:
        start = time.perf_counter()
        try:
            if system == "lead-pysbd":
                summary = _lead_pysbd(record, count(record))
            else:
                summary = summarize_text(record.text, title=record.title,
                                         sentences=count(record), algorithm=system,
                                         max_sentence_chars=MAX_SENTENCE_CHARS)
        except Exception as exc:  # a stock algorithm failing on one article (LSA's SVD)
            summary = ()
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
        elapsed += time.perf_counter() - start
        summaries.append(summary)
        scores = scorer.score("\n".join(record.reference), "\n".join(summary))
        for metric in METRICS:
            per[metric].append(scores[metric].fmeasure * 100)
        dangling += has_dangling_opener(summary, article_sentences(record.text))
    return Result(system, {m: np.array(v) for m, v in per.items()},
                  1000 * elapsed / len(records), dangling / len(records), failures,
                  tuple(summaries))


def interleaved_ms(systems: Sequence[str], records: Sequence[Record], *,
                   count: Callable[[Record], int], repeats: int = 3) -> dict[str, float]:
    """Milliseconds per article, the systems timed in turn on each article (best of
    ``repeats``), so a change in machine load hits them alike: the speed comparison."""
    total = dict.fromkeys(systems, 0.0)
    for record in records:
        for system in systems:
            best = float("inf")
            for _ in range(repeats):
                # news memoises stems across articles; start it cold on every article so
                # the comparison never flatters it
                newsum._stem.cache_clear()
                start = time.perf_counter()
                summarize_text(record.text, title=record.title, sentences=count(record),
                               algorithm=system, max_sentence_chars=MAX_SENTENCE_CHARS)
                best = min(best, time.perf_counter() - start)
            total[system] += best
    return {system: 1000 * t / len(records) for system, t in total.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="cnndm,bbc", help="comma-separated: cnndm, bbc")
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                        help="comma-separated algorithm names")
    parser.add_argument("--limit", type=int,
                        help="N articles of each set, evenly spaced through it")
    parser.add_argument("--half", choices=("a", "b"),
                        help="only every other article (a: 1st, 3rd, ...; b: 2nd, 4th, ...)")
    parser.add_argument("--save", type=Path, metavar="FILE",
                        help="write every summary to FILE (JSON lines: set, system, id, summary)")
    parser.add_argument("--same-as", type=Path, metavar="FILE",
                        help="count the summaries identical to those saved in FILE by --save")
    args = parser.parse_args(argv)
    saved: dict[tuple[str, str, str], list[str]] = {}
    if args.same_as:
        with args.same_as.open(encoding="utf-8") as stream:
            for line in stream:
                row = json.loads(line)
                saved[row["set"], row["system"], row["id"]] = row["summary"]
    save = args.save.open("w", encoding="utf-8") if args.save else None
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        records = load(name, limit=args.limit, half=args.half)
        count: Callable[[Record], int] = (
            (lambda r: 3) if name == "cnndm" else (lambda r: max(1, len(r.reference)))
        )
        length = "3 sentences" if name == "cnndm" else "the reference's sentence count"
        print(f"\n## {name} (n={len(records)}, {length})\n")
        print("| system | ROUGE-1 | ROUGE-2 | ROUGE-Lsum | ms/article | dangling opener |")
        print("|---|---|---|---|---|---|")
        results: dict[str, Result] = {}
        for system in systems:
            result = evaluate(system, records, count=count, scorer=scorer)
            results[system] = result
            cells = []
            for metric in METRICS:
                values = result.scores[metric]
                low, high = bootstrap(values)
                cells.append(f"{values.mean():.1f} [{low:.1f}, {high:.1f}]")
            failed = "".join(f" ({n} failed: {name}, scored 0)"
                             for name, n in result.failures.items())
            print(f"| {system}{failed} | {' | '.join(cells)} | {result.ms_per_article:.1f} | "
                  f"{100 * result.dangling_share:.1f}% |", flush=True)
            for record, summary in zip(records, result.summaries, strict=True):
                if save is not None:
                    save.write(json.dumps({"set": name, "system": system, "id": record.id,
                                           "summary": list(summary)}) + "\n")
        if saved:
            print()
            for system, result in results.items():
                before = [saved.get((name, system, r.id)) for r in records]
                known = [(b, list(s)) for b, s in zip(before, result.summaries, strict=True)
                         if b is not None]
                same = sum(b == s for b, s in known)
                print(f"{system}: {same} of {len(known)} summaries identical to {args.same_as}")
        if "news" in results and "lead" in results:
            print("\nnews - lead, paired per article (95% bootstrap interval): " + ", ".join(
                f"{m} {d.mean():+.1f} [{lo:+.1f}, {hi:+.1f}]"
                for m in METRICS
                for d in [results["news"].scores[m] - results["lead"].scores[m]]
                for lo, hi in [bootstrap(d)]
            ))
        if "news" in results and "lexrank" in results:
            ms = interleaved_ms(("lexrank", "news"), records, count=count)
            print("speed, timed in turn on each article (best of 3, news's stem cache cold): "
                  f"lexrank {ms['lexrank']:.1f} ms, news {ms['news']:.1f} ms per article, "
                  f"news / lexrank = {ms['news'] / ms['lexrank']:.2f}x")
    if save is not None:
        save.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
