"""Summary cost against input size: time and peak memory from a file's bytes to its summary.

Every case runs in a fresh child process (so one case's memory never counts in the next) that
imports briefbot, warms up on a small article, then reads the input through the file entry
point (``parse_bytes``: decoding, HTML extraction, the article text cap) and summarises it
with ``summarize_text``. It prints the parse and summary CPU times (the child's own, so other
work on a shared machine barely moves them), the summary's wall-clock time and the peak
resident memory above the child's baseline after the warm-up. A child that exceeds
``--memory-limit`` or ``--timeout`` is reported as such (before issue 14: 17 GB for 5 MB).

Inputs are synthetic and deterministic: ``text`` is news-like prose (sentences of 8 to 30
words drawn from a Zipf-distributed vocabulary of 6,000 words, paragraphs of 2 to 5
sentences); ``short`` is the pathological page of thousands of two-word sentences
("Dalo mirek. Tesa vorun. ..."), in paragraphs of 12, or all on one line (``short-line``;
``lower-line``: in lower case, so that the sentence splitter joins them into one);
``-html`` wraps either in an HTML page of ``<p>`` paragraphs.

    python bench/bench_summary_cost.py                          # the table in BENCHMARKS.md
    python bench/bench_summary_cost.py --sizes 10k,195k --kinds short-html --algorithms news
    python bench/bench_summary_cost.py --algorithms all --sizes 1M   # every Sumy algorithm

Wall-clock on a shared machine: read the load (``uptime``) beside the numbers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("text", "short", "short-line", "lower-line", "text-html", "short-html")
DEFAULT_SIZES = "10k,100k,195k,1M,5M"
_UNITS = {"k": 1_000, "K": 1_000, "M": 1_000_000}


def parse_size(text: str) -> int:
    text = text.strip()
    if text and text[-1] in _UNITS:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    return int(text)


def _vocabulary(rng: random.Random, n: int) -> list[str]:
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        word = "".join(rng.choice(consonants) + rng.choice(vowels)
                       for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.5:
            word += rng.choice(consonants)
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


def make_paragraphs(kind: str, size: int, *, seed: int = 14) -> list[str]:
    """Paragraphs whose text adds up to about ``size`` characters."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng, 6_000)
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(vocab))))
    paragraphs: list[str] = []
    total = 0
    while total < size:
        sentences = []
        for _ in range(rng.randint(2, 5) if kind == "text" else 12):
            count = rng.randint(8, 30) if kind == "text" else 2
            picked = rng.choices(vocab, cum_weights=cumulative, k=count)
            sentences.append(" ".join(picked).capitalize() + ".")
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        total += len(paragraph) + 1
    return paragraphs


def make_input(kind: str, size: int) -> tuple[bytes, str]:
    """The file's bytes and its suffix."""
    base = kind.removesuffix("-html").removesuffix("-line")
    paragraphs = make_paragraphs("short" if base == "lower" else base, size)
    if kind.endswith("-line"):  # one paragraph: the whole file on one line
        paragraphs = [" ".join(paragraphs)]
    if base == "lower":  # every sentence opens in lower case: the splitter joins them all
        paragraphs = [p.lower() for p in paragraphs]
    if kind.endswith("-html"):
        body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
        page = ("<!doctype html><html><head><title>A very long page</title></head><body>"
                f"<article><h1>A very long page</h1>{body}</article></body></html>")
        return page.encode(), ".html"
    return "\n".join(paragraphs).encode(), ".txt"


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_one(kind: str, size: int, algorithm: str) -> dict[str, object]:
    """In the child: warm up, then parse and summarise one input."""
    sys.path.insert(0, str(ROOT))
    from bot.ingest.files import parse_bytes
    from bot.summarize import summarize_text

    data, suffix = make_input(kind, size)
    warm, warm_suffix = make_input("text", 3_000)
    draft = parse_bytes(warm, name="warm" + warm_suffix, title_limit=120, suffix=warm_suffix)
    summarize_text(draft.text, title=draft.title, algorithm=algorithm)
    baseline = _rss_peak_mb()
    started = time.process_time()
    draft = parse_bytes(data, name="input" + suffix, title_limit=120, suffix=suffix)
    parsed = time.process_time()
    wall = time.perf_counter()
    summary = summarize_text(draft.text, title=draft.title, algorithm=algorithm)
    done = time.process_time()
    return {
        "bytes": len(data),
        "text_chars": len(draft.text),
        "parse_ms": 1000 * (parsed - started),
        "summary_ms": 1000 * (done - parsed),
        "summary_wall_ms": 1000 * (time.perf_counter() - wall),
        "peak_mb": _rss_peak_mb() - baseline,
        "sentences": len(summary),
    }


def measure(kind: str, size: int, algorithm: str, *, memory_mb: int,
            timeout: float) -> dict[str, object]:
    """One case in a fresh child process limited to ``memory_mb`` of address space."""

    def limit() -> None:
        cap = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    command = [sys.executable, __file__, "--child", kind, str(size), algorithm]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")  # BLAS's threads reserve address space
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=limit, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        if "MemoryError" in tail or done.returncode < 0:
            return {"error": f"over {memory_mb:,} MB ({tail[:60]})"}
        return {"error": tail[:100]}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _human(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n / 1_000:g} KB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"comma-separated input sizes (default {DEFAULT_SIZES})")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--algorithms", default="news",
                        help="comma-separated summarizer algorithms, or 'all'")
    parser.add_argument("--memory-limit", type=int, default=4_000, metavar="MB",
                        help="address-space limit of each child (default 4000)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per case")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, size, algorithm = args.child
        print(json.dumps(run_one(kind, int(size), algorithm)))
        return 0
    if args.algorithms == "all":
        sys.path.insert(0, str(ROOT))
        from bot.summarize import ALGORITHMS

        algorithms = list(ALGORITHMS)
    else:
        algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print("\n| algorithm | input | size | text chars | parse CPU ms | summary CPU ms | "
          "summary wall ms | peak MB above baseline |")
    print("|---|---|---|---|---|---|---|---|")
    for algorithm in algorithms:
        for kind in kinds:
            for size in sizes:
                r = measure(kind, size, algorithm, memory_mb=args.memory_limit,
                            timeout=args.timeout)
                if "error" in r:
                    print(f"| {algorithm} | {kind} | {_human(size)} | | | {r['error']} | | |",
                          flush=True)
                    continue
                print(f"| {algorithm} | {kind} | {_human(size)} | {r['text_chars']:,} | "
                      f"{r['parse_ms']:.0f} | {r['summary_ms']:.0f} | "
                      f"{r['summary_wall_ms']:.0f} | {r['peak_mb']:.0f} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
