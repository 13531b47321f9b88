"""The cost of one summary is bounded, whatever the article (issue 14, item 1).

Before: a page of thousands of two-word sentences took gigabytes (the news ranker built dense
sentence x sentence and sentence x vocabulary matrices), files and standard input had no text
cap, and one bad article stopped a folder ingest or a `summarize --jsonl` batch. These tests
assert the bounds themselves (what the ranker sees, matrix sizes, peak allocations, the text
kept), never a duration: bench/bench_summary_cost.py measures time.
"""

from __future__ import annotations

import json
import random
import tracemalloc
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from test_cli import run_cli

from bot.engine import BriefingEngine
from bot.ingest.files import parse_bytes
from bot.models import ArticleDraft
from bot.newsum import RANK_WINDOW, NewsSummarizer, _Candidate
from bot.summarize import (
    ALGORITHMS,
    MAX_PARAGRAPH_CHARS,
    NEWS_MAX_SENTENCES,
    STOCK_MAX_SENTENCES,
    build_document,
    summarize_text,
)
from bot.text import (
    MAX_ARTICLE_CHARS,
    first_sentences,
    language_kit,
    split_paragraphs,
    split_sentences,
)

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su", "da", "gu")


@lru_cache(maxsize=1)
def _short_pool() -> tuple[str, ...]:
    rng = random.Random(14)

    def word() -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))

    return tuple(f"{word().capitalize()} {word()}." for _ in range(7_919))


def short_sentences(count: int, *, per_paragraph: int = 12) -> str:
    """The pathological page: ``count`` two-word sentences from a large vocabulary."""
    pool = _short_pool()
    sentences = [pool[i % len(pool)] for i in range(count)]
    return "\n".join(" ".join(sentences[i:i + per_paragraph])
                     for i in range(0, count, per_paragraph))


NEWS_PROSE = (
    "The city council approved a new budget for public transport on Monday. The budget adds "
    "forty buses and extends night service on six routes. Council member Ana Ruiz said the "
    "plan would cut waiting times across the city by a third. Critics argued that the budget "
    "ignores cycling lanes and pedestrian safety. The transport authority will publish new "
    "timetables in March. "
)


class RecordingNews(NewsSummarizer):
    """The real news summarizer, noting what its ranking step was given."""

    seen: list[tuple[int, tuple[int, ...]]]  # (candidates ranked, similarity matrix shape)

    def _select(self, candidates: Sequence[_Candidate], scores: np.ndarray,
                similarity: np.ndarray, count: int) -> list[_Candidate]:
        self.seen.append((len(candidates), similarity.shape))
        return super()._select(candidates, scores, similarity, count)


def test_news_ranks_a_bounded_window_of_thousands_of_short_sentences() -> None:
    kit = language_kit("english")
    document = build_document(short_sentences(3_000), title="A page", kit=kit)
    assert len(document.sentences) == 3_000  # the whole document reaches the summarizer
    summarizer = RecordingNews(kit, title="A page")
    summarizer.seen = []
    picked = summarizer(document, 3)
    assert len(picked) == 3
    [(ranked, shape)] = summarizer.seen
    assert ranked == RANK_WINDOW
    assert shape == (RANK_WINDOW, RANK_WINDOW)


def test_sentences_past_the_window_still_count_in_centrality() -> None:
    # the window's sentence that the rest of the article repeats is central; without the
    # sentences after the window it would look like any other
    kit = language_kit("english")
    filler = short_sentences(RANK_WINDOW + 50, per_paragraph=1).splitlines()
    echo = "Harbour cranes collapsed near warehouse district."
    lines = [*filler[:RANK_WINDOW], *([echo] * 40), *filler[RANK_WINDOW:]]
    lines[RANK_WINDOW - 10] = echo.replace("collapsed", "toppled")
    summarizer = NewsSummarizer(kit)
    candidates = summarizer._candidates(build_document("\n".join(lines), title=None, kit=kit))
    scores, _ = summarizer._score(candidates, "")
    assert len(scores) == RANK_WINDOW
    late = RANK_WINDOW - 10
    assert scores[late] > max(scores[late - 5:late]) + 0.5


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_summarises_a_huge_page_in_bounded_memory(algorithm: str) -> None:
    text = short_sentences(13_000)  # 195,000 characters, just under the article cap
    tracemalloc.start()
    try:
        summary = summarize_text(text, title="A page of short sentences", algorithm=algorithm)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 1 <= len(summary) <= 3
    # before: a dense 13,000 x 13,000 similarity matrix alone was 1.35 GB
    assert peak < 40_000_000, f"{algorithm} peaked at {peak / 1e6:.0f} MB"


def test_summarizers_read_a_bounded_number_of_sentences() -> None:
    kit = language_kit("english")
    text = short_sentences(20_000)
    for limit in (STOCK_MAX_SENTENCES, NEWS_MAX_SENTENCES):
        document = build_document(text, title="T", kit=kit, max_sentences=limit)
        assert len(document.sentences) == limit
        assert [str(s) for s in document.sentences] == [
            s for p in split_paragraphs(text) for s in split_sentences(p)][:limit]
    one_line = build_document(text.replace("\n", " "), title=None, kit=kit, max_sentences=5)
    assert [str(s) for s in one_line.sentences] == split_sentences(text[:400])[:5]


def test_a_file_on_one_line_is_split_only_as_far_as_read() -> None:
    # lower-case-led sentences join into one: the whole line would be a single "sentence"
    line = short_sentences(13_000).replace("\n", " ").lower()
    kit = language_kit("english")
    document = build_document(line, title=None, kit=kit, max_sentences=NEWS_MAX_SENTENCES)
    [sentence] = document.sentences
    assert len(str(sentence)) <= MAX_PARAGRAPH_CHARS < len(line)
    assert line.startswith(str(sentence))
    assert len(summarize_text(line)) == 1


def test_first_sentences_of_a_long_paragraph_are_its_first_sentences() -> None:
    paragraph = " ".join([NEWS_PROSE] * 400)  # ~150,000 characters on one line
    whole = split_sentences(paragraph)
    for count in (1, 3, 70, 200, 1_000, 5_000):
        assert first_sentences(paragraph, count) == whole[:count]


def test_a_multi_megabyte_file_is_read_up_to_the_article_cap() -> None:
    data = short_sentences(200_000).encode()  # 3 MB
    assert len(data) > 10 * MAX_ARTICLE_CHARS
    draft = parse_bytes(data, name="big.txt", title_limit=120, suffix=".txt")
    assert MAX_ARTICLE_CHARS // 2 < len(draft.text) <= MAX_ARTICLE_CHARS
    assert data.decode().startswith(draft.text)  # cut at a paragraph boundary
    assert data.decode()[len(draft.text)] == "\n"


def test_an_html_file_is_read_up_to_the_article_cap() -> None:
    body = "".join(f"<p>{NEWS_PROSE} Item {i} closes it.</p>" for i in range(800))
    page = f"<html><head><title>Budget</title></head><body><article>{body}</article></body></html>"
    draft = parse_bytes(page.encode(), name="big.html", title_limit=120, suffix=".html")
    assert MAX_ARTICLE_CHARS // 2 < len(draft.text) <= MAX_ARTICLE_CHARS


async def test_the_engine_caps_any_draft_it_stores(engine: BriefingEngine) -> None:
    text = "\n".join([NEWS_PROSE] * 700)  # ~300,000 characters, from no capped source
    result = await engine.ingest(ArticleDraft(text=text, title="Budget", source="test"))
    assert len(result.article.text) <= MAX_ARTICLE_CHARS
    assert text.startswith(result.article.text)


def test_a_multi_megabyte_standard_input_is_summarised() -> None:
    done = run_cli("summarize", "-", stdin=short_sentences(100_000))  # 1.5 MB
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 3


def test_one_bad_record_never_stops_a_jsonl_batch(tmp_path: Path) -> None:
    folder = tmp_path
    records = [
        {"id": "a", "text": NEWS_PROSE},
        {"id": "huge", "text": short_sentences(150_000)},  # 2.2 MB
        {"id": "bad", "text": NEWS_PROSE, "title": 123},
        {"id": "c", "text": NEWS_PROSE, "title": "Budget"},
    ]
    src = folder / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    done = run_cli("summarize", "--jsonl", str(src), "-n", "2")
    assert done.returncode == 0, done.stderr  # before: a TypeError traceback after line 2
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "huge", "bad", "c"]
    assert all(len(r["summary"]) == 2 for r in rows)


def test_a_huge_file_never_stops_a_folder_ingest(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text(NEWS_PROSE)
    (folder / "b-huge.txt").write_text(short_sentences(300_000))  # 4.5 MB
    (folder / "c.txt").write_text(NEWS_PROSE.replace("Monday", "Tuesday") + " It rained.")
    done = run_cli("--db", str(tmp_path / "f.db"), "ingest", str(folder))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.endswith("(stored)") for line in lines)
