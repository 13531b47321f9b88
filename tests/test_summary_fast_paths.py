"""Summary fast paths (issue 17, item 3): the same output as the slow paths, no idle threads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata

import pytest
from sumy.summarizers.lex_rank import LexRankSummarizer

from bot.newsum import NewsSummarizer
from bot.sanitize import strip_controls
from bot.text import language_kit, normalize_space, words

TRICKY = ("Plain words\tand a tab, NBSP\u00a0here, thin\u2009space, zero\u200bwidth,"
          " soft\u00adhyphen,"
          " bell\x07, escape\x1b[31m, C1\x85\x9b, bidi\u202eoverride\u202c, lone\ud800surrogate,"
          " private\ue000use, unassigned\U000e0080, line\u2028sep, e\u0301 composed, İstanbul,"
          " ΣΑΣ, ﬁ ligature, emoji 👍🏽, trailing   spaces \n")


def _old_normalize_space(text: str) -> str:
    # whole escape sequences go first (issue 14: no "[31m" left behind), then the walk
    text = unicodedata.normalize("NFC", strip_controls(text))
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("text", [TRICKY, "all printable ascii here", "", " \t\n ", "\x00\x01"])
def test_normalize_space_is_what_the_character_walk_gave(text: str) -> None:
    assert normalize_space(text) == _old_normalize_space(text)


def test_news_terms_are_sumy_lexranks_terms() -> None:
    kit = language_kit("english")
    news = NewsSummarizer(kit)
    stock = LexRankSummarizer(kit.stemmer)
    stock.stop_words = kit.stop_words
    assert news._stop_words == stock.stop_words

    class Words:  # what Sumy's _to_words_set reads of a sentence
        def __init__(self, text: str) -> None:
            self.words = words(text)

    for text in (TRICKY, "The Council's votes WERE counted; they're re-counting it, again.",
                 "Ünïcödé ΣΑΣ İstanbul straße CAFÉ"):
        assert news._bag(text) == stock._to_words_set(Words(text))


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS starts no extra thread on 1 CPU")
def test_a_summary_leaves_no_idle_blas_thread() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}}
    code = ("import os, bot.summarize as s; s.summarize_text('The council met on Monday. It "
            "voted on the budget for buses. The mayor signs it next week. People may comment "
            "online.', sentences=2); print(len(os.listdir('/proc/self/task')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    assert done.stdout.strip() == "1"  # before: OpenBLAS kept one more thread per extra core


def _old_strip_controls(text: str, *, newlines: bool = True) -> str:
    from bot import sanitize

    text = sanitize._LINE_BREAKS.sub("\n", text)
    text = sanitize._ESCAPES.sub("", text)
    text = sanitize._CONTROLS.sub("", text)
    return text if newlines else text.replace("\n", " ").replace("\t", " ")


def test_strip_controls_skips_the_three_patterns_only_when_none_can_match() -> None:
    # every character once, alone and between letters, and the tricky texts
    texts = [TRICKY, "plain\ttext\nlines", "", *(f"a{chr(c)}b" for c in range(0x3000))]
    for text in texts:
        for newlines in (True, False):
            assert strip_controls(text, newlines=newlines) == _old_strip_controls(
                text, newlines=newlines), repr(text)


def test_one_kit_and_stem_cache_for_auto_and_english() -> None:
    assert language_kit("auto") is language_kit("english")


def test_casefolded_words_are_each_word_casefolded() -> None:
    from bot.newsum import _casefolded

    tokens = words(TRICKY + " ΣΑΣ’Σ Straße ǅemal İİ ﬃ")
    assert _casefolded(tokens) == [w.casefold() for w in tokens]
    assert _casefolded(()) == []
