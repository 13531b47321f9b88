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
