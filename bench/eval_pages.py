"""Real pages and feeds through briefbot's intake: what a reader would meet.

Pages are read exactly as a fetched page is (:func:`bot.ingest.pages.article_from_page`, then
the configured summary with the article's own language). Feeds go through
:func:`bot.ingest.feeds.parse_feed` with the media type their test server would send. Nothing
is copied into the project: point the script at checkouts of public test corpora.

    python bench/eval_pages.py --trafilatura TRAFILATURA/tests   # evaldata.py + cache/ + eval/
    python bench/eval_pages.py --pages DIR                       # any *.html (+ NAME.json)
    python bench/eval_pages.py --feeds FEEDPARSER/tests          # every *.xml / *.json

For trafilatura's pages, ``evaldata.py`` lists per page snippets the main text must hold
("with") and must not ("without"); a ``NAME.json`` beside a page in ``--pages`` may do the
same (``{"url", "with": [...], "without": [...]}``). Printed:

* refused pages (and why), and pages whose extracted text misses a "with" snippet;
* summaries holding a "without" snippet (furniture in the summary);
* summary sentences cut mid-sentence: ending on a number with a full stop that the article
  continues after ("am 14." / "September um 13 Uhr"), opening in lower case, or ending
  without end punctuation;
* summaries restating the title;
* sentences of the article text cut at a number with a full stop (a date, an ordinal) or
  before a lower-case word, split by the article's own language rules;
* for feeds: documents refused, by reason.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.errors import BriefbotError  # noqa: E402
from bot.ingest.feeds import parse_feed  # noqa: E402
from bot.ingest.pages import article_from_page  # noqa: E402
from bot.language import resolve_language  # noqa: E402
from bot.newsum import restates  # noqa: E402
from bot.summarize import summarize_text  # noqa: E402
from bot.text import split_paragraphs, split_sentences  # noqa: E402

MIN_TEXT_CHARS = 200      # [ingest] min_text_chars default
TITLE_LIMIT = 120         # [ingest] title_max_chars default
_ORDINAL_END = re.compile(r"(?:^|\s)\d{1,4}\.$")
_TERMINAL = re.compile(r"[.!?…\"'”’»)\]]$")
# a sentence of the article ending on "14." or "1er" / "3.º" while its paragraph goes on
_CUT_AT_NUMBER = re.compile(r"(?:^|\s)(?:\d{1,2}\.|\d{1,2}(?:er|e|º|ª|\.º|\.ª))$")


@dataclass
class Page:
    name: str
    html: bytes
    url: str
    with_: list[str] = field(default_factory=list)
    without: list[str] = field(default_factory=list)


@dataclass
class Tally:
    pages: int = 0
    refused: list[str] = field(default_factory=list)
    missing_with: list[str] = field(default_factory=list)
    furniture: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)
    restated: list[str] = field(default_factory=list)
    text_cut: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    sentences: int = 0
    seconds: float = 0.0


def _evaldata(tests: Path) -> dict[str, dict[str, Any]]:
    """``EVAL_PAGES`` from trafilatura's ``tests/evaldata.py``, read as a literal (not run)."""
    tree = ast.parse((tests / "evaldata.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "EVAL_PAGES" for t in node.targets):
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict)
            return value
    raise SystemExit(f"no EVAL_PAGES in {tests / 'evaldata.py'}")


def trafilatura_pages(tests: Path, limit: int | None) -> Iterator[Page]:
    for url, spec in list(_evaldata(tests).items())[:limit]:
        for folder in ("cache", "eval"):
            path = tests / folder / spec["file"]
            if path.exists():
                yield Page(spec["file"], path.read_bytes(), url, list(spec.get("with", ())),
                           list(spec.get("without", ())))
                break


def folder_pages(folder: Path, limit: int | None) -> Iterator[Page]:
    for path in sorted(folder.glob("*.htm*"))[:limit]:
        sidecar = path.with_suffix(".json")
        spec = json.loads(sidecar.read_text()) if sidecar.exists() else {}
        yield Page(path.name, path.read_bytes(), spec.get("url") or f"https://{path.stem}/",
                   spec.get("with", []), spec.get("without", []))


def cut_mid_sentence(sentence: str, text: str) -> bool:
    if sentence[:1].islower():
        return True
    if not _TERMINAL.search(sentence):
        # cut, unless it is all that is left of its line (a paragraph without a full stop)
        at = text.find(sentence)
        return at < 0 or text[at + len(sentence): at + len(sentence) + 1] not in ("", "\n")
    if _ORDINAL_END.search(sentence):
        # the article goes on after it in the same paragraph: a date or an ordinal was cut
        at = text.find(sentence)
        after = text[at + len(sentence): at + len(sentence) + 3] if at >= 0 else ""
        return bool(after[:1] == " " and after[1:2].isalpha())
    return False


def run_pages(pages: Iterator[Page], *, sentences: int, show: bool) -> Tally:
    tally = Tally()
    started = time.perf_counter()
    for page in pages:
        tally.pages += 1
        try:
            draft = article_from_page(page.html, url=page.url, charset=None,
                                      min_text_chars=MIN_TEXT_CHARS, title_limit=TITLE_LIMIT)
        except BriefbotError as exc:
            tally.refused.append(f"{page.name}: {exc}")
            continue
        missing = [w for w in page.with_ if w not in draft.text]
        if missing:
            tally.missing_with.append(f"{page.name}: {missing[:2]}")
        summary = summarize_text(draft.text, title=draft.title, sentences=sentences,
                                 language="auto", declared_language=draft.language)
        language = resolve_language(draft.language, draft.text)
        for paragraph in split_paragraphs(draft.text):
            split = split_sentences(paragraph, language=language)
            for sentence, following in itertools.pairwise(split):
                if _CUT_AT_NUMBER.search(sentence) or following[:1].islower():
                    tally.text_cut.append(
                        f"{page.name} ({language}): {sentence[-50:]!r} | {following[:30]!r}")
        tally.titles.append(f"{page.name}: {draft.title!r} [{draft.source}]")
        tally.sentences += len(summary)
        for sentence in summary:
            bad = [w for w in page.without if w in sentence]
            if bad:
                tally.furniture.append(f"{page.name}: {bad[0]!r} in {sentence[:100]!r}")
            if cut_mid_sentence(sentence, draft.text):
                tally.cut.append(f"{page.name}: {sentence[-80:]!r}")
            if restates(draft.title, sentence):
                tally.restated.append(f"{page.name}: {sentence[:80]!r}")
        if show:
            print(f"\n# {page.name} [{draft.source}] {draft.title!r}")
            for sentence in summary:
                print(f"  - {sentence}")
    tally.seconds = time.perf_counter() - started
    return tally


def _media_type(doc: bytes) -> str:
    """The Content-type feedparser's test server sends for a document (text/xml otherwise)."""
    match = re.search(rb"Header:\s*Content-type:\s*([\w.+/-]+)", doc[:2000], re.IGNORECASE)
    return match.group(1).decode().lower() if match else "text/xml"


def run_feeds(folder: Path, limit: int | None) -> None:
    paths = sorted(p for p in folder.rglob("*") if p.suffix in (".xml", ".json", ".rss",
                                                                ".atom", ".rdf"))[:limit]
    reasons: Counter[str] = Counter()
    added = entries = 0
    examples: dict[str, str] = {}
    started = time.perf_counter()
    now = datetime.now(UTC)
    for path in paths:
        doc = path.read_bytes()
        try:
            parsed = parse_feed(doc, url="http://example.com/feed", content_type=_media_type(doc),
                                now=now)
        except BriefbotError as exc:
            reason = re.sub(r" at line \d+.*", "", str(exc))[:90]
            reasons[reason] += 1
            examples.setdefault(reason, str(path.relative_to(folder)))
            continue
        added += 1
        entries += len(parsed.entries)
    seconds = time.perf_counter() - started
    print(f"\n## feeds: {len(paths)} documents under {folder}")
    print(f"added {added}, refused {sum(reasons.values())} ({entries} entries; {seconds:.1f} s)")
    for reason, count in reasons.most_common():
        print(f"  {count:4d}  {reason}  (e.g. {examples[reason]})")


def report(label: str, tally: Tally, sentences: int, *, show_titles: bool = False) -> None:
    print(f"\n## pages: {label} ({tally.pages} pages, {sentences} sentences a summary, "
          f"{tally.seconds:.1f} s)")
    rows = [("refused", tally.refused), ("text misses a 'with' snippet", tally.missing_with),
            ("summary holds a 'without' snippet", tally.furniture),
            ("summary sentence cut mid-sentence", tally.cut),
            ("summary restates the title", tally.restated),
            ("article sentence cut at a number (date, ordinal) or before lower case",
             tally.text_cut)]
    print(f"summarised {tally.pages - len(tally.refused)}, summary sentences {tally.sentences}")
    for name, items in rows:
        print(f"{name}: {len(items)}")
        for item in items:
            print(f"    {item}")
    if show_titles:
        print("titles:")
        for item in tally.titles:
            print(f"    {item}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trafilatura", type=Path, metavar="TESTS",
                        help="trafilatura's tests/ folder (evaldata.py, cache/, eval/)")
    parser.add_argument("--pages", type=Path, metavar="DIR", help="a folder of *.html pages")
    parser.add_argument("--feeds", type=Path, metavar="DIR", help="a folder of feed documents")
    parser.add_argument("--limit", type=int, help="at most this many pages/feeds per source")
    parser.add_argument("--sentences", type=int, default=3)
    parser.add_argument("--show", action="store_true", help="print every summary")
    args = parser.parse_args()
    if not (args.trafilatura or args.pages or args.feeds):
        parser.error("give --trafilatura, --pages and/or --feeds")
    if args.trafilatura:
        tally = run_pages(trafilatura_pages(args.trafilatura, args.limit),
                          sentences=args.sentences, show=args.show)
        report(f"trafilatura evaldata under {args.trafilatura}", tally, args.sentences,
               show_titles=args.show)
    if args.pages:
        tally = run_pages(folder_pages(args.pages, args.limit), sentences=args.sentences,
                          show=args.show)
        report(str(args.pages), tally, args.sentences, show_titles=args.show)
    if args.feeds:
        run_feeds(args.feeds, args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
