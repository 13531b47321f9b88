"""Alert matching at scale: one 800-word article against 1k, 10k and 100k subscriptions.

Articles are real news (BBC set in ../shared/data/eval), cut to 800 words. Subscriptions are
generated from a news vocabulary the way people write them: one or two topic words or names,
exact phrases taken from the text, exclusions, title-only words and OR alternatives.

Two workloads. "fixed": 1,000 subscriptions drawn from the vocabulary of the very articles
being matched plus the rest drawn from words of other articles (the rest of the world's news):
the matches per article stay the same, so the time shows what the index costs as subscriptions
grow. "corpus": every subscription drawn from the timed articles' vocabulary, so each article
matches about 1% of all subscriptions: the matches (the output) grow with the count, and so
does the time, by the cost of each match. Printed for each size: the time to compile and index
the subscriptions, the median and p99 wall-clock time and the median CPU time to match one
article (analysis included, from the raw title and text), candidates evaluated and matches per
article, and the process's peak memory. Run:

    python bench/bench_matching.py [--sizes 1000,10000,100000] [--articles 200]

Wall-clock on a shared machine: read as orders of magnitude, compare rows of one run.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import resource
import statistics
import time
from collections import Counter
from pathlib import Path

from bot.alerts.matching import SubscriptionIndex
from bot.alerts.query import analyzer_for, compile_query

HERE = Path(__file__).resolve().parent
DEFAULT_EVAL = HERE.parent.parent / "shared" / "data" / "eval"
WORDS = 800


def load_articles(path: Path) -> list[tuple[str, str]]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            words = record["text"].split()
            if len(words) >= 400:
                text = " ".join((words * 2)[:WORDS])  # long enough, then exactly 800 words
                out.append((record.get("title") or words[0], text))
    return out


def vocabulary(articles: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(topic words, two-word phrases) of the corpus: every word type that is no stop word
    and not in more than 3% of the articles (nobody wants an alert for "said"), each as
    likely as any other (most are rare: names, places, topics), and phrases seen twice."""
    analyzer = analyzer_for("english")
    stop = analyzer.stop_words
    df: Counter[str] = Counter()
    bigrams: Counter[str] = Counter()
    for _, text in articles:
        tokens = [w.strip(".,;:!?\"'()").lower() for w in text.split()]
        df.update(set(t for t in tokens if t.isalpha()))
        bigrams.update(set(f"{a} {b}" for a, b in itertools.pairwise(tokens)
                           if a.isalpha() and b.isalpha() and len(a) > 3 and len(b) > 3))
    n = len(articles)
    # nor a word whose stem is a stop word ("wells" -> "well"): such a query is refused
    words = [w for w, c in df.items() if c <= 0.03 * n and len(w) > 2 and w not in stop
             and analyzer.keys(w)[0] not in stop]
    phrases = [p for p, c in bigrams.items() if 2 <= c <= 0.02 * n]
    return sorted(words), sorted(phrases)


def make_query(rng: random.Random, words: list[str], phrases: list[str]) -> str:
    def w() -> str:
        return rng.choice(words)

    kind = rng.random()
    if kind < 0.40:
        return w()
    if kind < 0.60:
        return f"{w()} {w()}"
    if kind < 0.70:
        return f'"{rng.choice(phrases)}"'
    if kind < 0.80:
        return f"{w()} -{w()}"
    if kind < 0.90:
        return f"title:{w()}"
    return f"({w()} OR {w()}) {w()}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(size: int, articles: list[tuple[str, str]], words: list[str], phrases: list[str],
          *, repeat: int, other: tuple[list[str], list[str]] | None) -> dict[str, float]:
    rng = random.Random(size)
    if other is None:
        texts = [make_query(rng, words, phrases) for _ in range(size)]
    else:
        texts = [make_query(rng, words, phrases) for _ in range(min(size, 1000))]
        texts += [make_query(rng, *other) for _ in range(size - len(texts))]
    gc.collect()
    t0 = time.perf_counter()
    index = SubscriptionIndex()
    for i, text in enumerate(texts, start=1):
        index.add(i, compile_query(text))
    load_s = time.perf_counter() - t0
    times: list[float] = []
    cpu: list[float] = []
    candidates: list[int] = []
    matches: list[int] = []
    for title, text in articles[:repeat]:
        t, c = time.perf_counter(), time.process_time()
        found = index.match(title=title, text=text)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        matches.append(len(found))
        candidates.append(len(index.candidates(index.analyzer.analyze(title=title, text=text))))
    times.sort()
    return {
        "size": size,
        "load_s": load_s,
        "median_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
        "cpu_ms": statistics.median(cpu),
        "candidates": statistics.mean(candidates),
        "matches": statistics.mean(matches),
        "rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--articles", type=int, default=200, help="articles timed per size")
    args = parser.parse_args()
    articles = load_articles(args.eval_dir / "bbc_news_summary.jsonl")
    random.Random(0).shuffle(articles)
    timed, rest = articles[: args.articles], articles[args.articles:]
    words, phrases = vocabulary(articles)
    analyzer = analyzer_for("english")
    seen = {key for title, text in timed
            for key in analyzer.analyze(title=title, text=text).terms()}

    def unseen(word: str) -> bool:
        return all(k not in seen for k in analyzer.keys(word))

    other_words, other_phrases = vocabulary(rest)
    other = ([w for w in other_words if unseen(w)],
             [p for p in other_phrases if all(unseen(w) for w in p.split())])
    index = SubscriptionIndex()
    index.add(0, compile_query("warmup"))
    t = time.perf_counter()
    for title, text in articles:  # fills the stem cache, as a running bot's would be
        index.match(title=title, text=text)
    warm = (time.perf_counter() - t) / len(articles) * 1000
    print(f"{len(timed)} timed articles of {WORDS} words; corpus vocabulary {len(words)} words, "
          f"{len(phrases)} phrases; other-news vocabulary {len(other[0])} words, "
          f"{len(other[1])} phrases; first pass (cold stem cache) {warm:.2f} ms/article; "
          f"baseline RSS {peak_rss_mb():.0f} MB")
    print(f"{'workload':>8} {'subs':>8} {'load s':>7} {'median ms':>10} {'p99 ms':>7} "
          f"{'median CPU ms':>13} "
          f"{'candidates':>10} {'matches':>8} {'peak RSS MB':>11}")
    for name, others in (("fixed", other), ("corpus", None)):
        for size in (int(s) for s in args.sizes.split(",")):
            row = bench(size, timed, words, phrases, repeat=args.articles, other=others)
            print(f"{name:>8} {row['size']:>8} {row['load_s']:>7.2f} {row['median_ms']:>10.2f} "
                  f"{row['p99_ms']:>7.2f} {row['cpu_ms']:>13.2f} {row['candidates']:>10.0f} "
                  f"{row['matches']:>8.1f} "
                  f"{row['rss_mb']:>11.0f}")


if __name__ == "__main__":
    main()
