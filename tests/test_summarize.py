"""Summaries: every algorithm by name, article order, offline, bad requests."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.config import SummarizerConfig
from bot.errors import InputError
from bot.summarize import ALGORITHMS, Summarizer, shorten, summarize_text

ARTICLE = "\n".join(
    [
        "The city council approved a new budget for public transport on Monday.",
        "The budget adds forty buses and extends night service on six routes.",
        "Council member Ana Ruiz said the plan would cut waiting times across the city.",
        "Critics argued that the budget ignores cycling lanes and pedestrian safety.",
        "The transport authority will publish new timetables in March.",
        "Bus drivers' unions welcomed the extra routes but asked for more staff.",
        "The mayor is expected to sign the budget next week.",
        "Residents can comment on the timetables online until the end of February.",
    ]
)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_algorithm_summarises_in_article_order(algorithm: str) -> None:
    summary = summarize_text(ARTICLE, title="Council approves transport budget",
                             sentences=3, algorithm=algorithm)
    assert 1 <= len(summary) <= 3
    sentences = ARTICLE.splitlines()
    positions = [sentences.index(s) for s in summary]
    assert positions == sorted(positions), "summary must keep the article's sentence order"


def test_expected_algorithms_are_selectable() -> None:
    expected = {"lexrank", "lsa", "luhn", "textrank", "kl", "sumbasic", "edmundson", "reduction"}
    assert expected <= set(ALGORITHMS)


def test_edmundson_works_without_a_title() -> None:
    assert summarize_text(ARTICLE, sentences=2, algorithm="edmundson")


def test_more_sentences_than_the_article_has_returns_the_article() -> None:
    summary = summarize_text(ARTICLE, sentences=10_000, algorithm="lexrank")
    assert list(summary) == ARTICLE.splitlines()


def test_zero_sentences_and_unknown_algorithm_are_clear_errors() -> None:
    with pytest.raises(InputError, match="at least 1 sentence"):
        summarize_text(ARTICLE, sentences=0)
    with pytest.raises(InputError, match="unknown summarizer algorithm 'magic'"):
        summarize_text(ARTICLE, algorithm="magic")


def test_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="language 'klingon'"):
        summarize_text(ARTICLE, language="klingon")


def test_one_sentence_and_unpunctuated_text() -> None:
    assert summarize_text("Just one sentence here.", sentences=3) == ("Just one sentence here.",)
    text = "no sentence punctuation at all just words " * 5
    assert summarize_text(text, sentences=3, algorithm="lexrank") == (text.strip(),)
    (news,) = summarize_text(text, sentences=3, algorithm="news")
    assert news.rstrip(".") == text.strip()
    assert summarize_text("   \n  ", sentences=3) == ()


def test_duplicate_sentences_appear_once() -> None:
    text = "Rockets hit the depot. Rockets hit the depot. Officials confirmed the strike."
    summary = summarize_text(text, sentences=3, algorithm="lead")
    assert summary == ("Rockets hit the depot.", "Officials confirmed the strike.")


def test_overlong_sentence_is_cut_at_a_word_with_an_ellipsis() -> None:
    long = "word " * 400 + "end."
    (sentence,) = summarize_text(long, sentences=1, max_sentence_chars=200)
    assert len(sentence) <= 200
    assert sentence.endswith("…")
    assert not sentence[:-1].endswith(" ")
    assert shorten("short", 10) == "short"


async def test_summarizer_runs_off_the_event_loop() -> None:
    summarizer = Summarizer(SummarizerConfig(algorithm="lexrank"))
    seen: list[str] = []
    original = summarize_text

    def spy(*args: object, **kwargs: object) -> tuple[str, ...]:
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    import bot.summarize as module

    module_summarize = module.summarize_text
    module.summarize_text = spy  # type: ignore[assignment]
    try:
        summary = await summarizer.summarize(ARTICLE)
    finally:
        module.summarize_text = module_summarize  # type: ignore[assignment]
        summarizer.close()
    assert len(summary) == 3
    assert seen and seen[0] != threading.main_thread().name
    assert seen[0].startswith("summarize")
    await asyncio.sleep(0)


def test_a_numeric_failure_in_an_algorithm_falls_back_to_the_lead(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import numpy

    import bot.summarize as module

    def broken(kit: object, title: object) -> object:
        def run(document: object, count: int) -> object:
            raise numpy.linalg.LinAlgError("SVD did not converge")

        return run

    monkeypatch.setitem(module._FACTORIES, "lsa", broken)
    summary = summarize_text(ARTICLE, sentences=2, algorithm="lsa")
    assert list(summary) == ARTICLE.splitlines()[:2]
    assert "lsa failed" in caplog.text


def test_the_config_knows_every_algorithm_and_language_the_summarizer_has() -> None:
    """config.py validates names without loading Sumy: its lists must match the real ones."""
    import importlib.resources

    from bot import config, summarize, text

    assert config.ALGORITHMS == summarize.ALGORITHMS
    stop_words = importlib.resources.files("sumy") / "data" / "stopwords"
    usable = set()
    for entry in stop_words.iterdir():
        language = entry.name.removesuffix(".txt")
        try:
            text.language_kit(language)
        except Exception:
            continue
        usable.add(language)
    assert usable == text.SUMY_LANGUAGES


def test_stop_words_read_without_sumy_are_sumys() -> None:
    """bot.text reads Sumy's stop-word files itself (a topic search must not import Sumy):
    the lists must be the ones Sumy's get_stop_words gives, for every language it has."""
    from sumy.utils import get_stop_words

    from bot import text

    for language in sorted(text.SUMY_LANGUAGES):
        text._stop_words.cache_clear()
        assert text.stop_words(language) == {w.casefold() for w in get_stop_words(language)}
    text._stop_words.cache_clear()
    assert "the" in text.stop_words("auto")
