"""The offline tokenizer: sentence splits on news abbreviations, quotes and decimals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.text import OfflineTokenizer, split_sentences, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The U.S. Army said Mr. Smith left No. 10 Downing St. at 9 a.m. on Tuesday. "
            "He paid $3.5 million.",
            ["The U.S. Army said Mr. Smith left No. 10 Downing St. at 9 a.m. on Tuesday.",
             "He paid $3.5 million."],
        ),
        (
            "“We will win,” he said. “They will not.” Then he left.",
            ["“We will win,” he said.", "“They will not.”", "Then he left."],
        ),
        (
            "Dr. Jones met Gen. Milley in Washington, D.C. The talks lasted 2.5 hours.",
            ["Dr. Jones met Gen. Milley in Washington, D.C.", "The talks lasted 2.5 hours."],
        ),
        ("It was 5 p.m. The U.K. government responded.",
         ["It was 5 p.m.", "The U.K. government responded."]),
        ("Sen. Warren voted no. The bill failed.", ["Sen. Warren voted no.", "The bill failed."]),
        ("They met in Jan. and talked for 3.75 hours.",
         ["They met in Jan. and talked for 3.75 hours."]),
        ("Acme Inc. said profits rose. Shares jumped.",
         ["Acme Inc. said profits rose.", "Shares jumped."]),
        ("no punctuation at all in this line", ["no punctuation at all in this line"]),
        ("", []),
    ],
)
def test_sentence_splits(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_words_keep_inner_apostrophes_and_hyphens_and_drop_punctuation() -> None:
    assert words("He didn't see the well-known F-35, did he?") == (
        "He", "didn't", "see", "the", "well-known", "F-35", "did", "he",
    )


def test_sumy_tokenizer_interface() -> None:
    tok = OfflineTokenizer("english")
    assert tok.language == "english"
    assert tok.to_sentences("One here. Two there.") == ("One here.", "Two there.")
    assert tok.to_words("Rockets, drones!") == ("Rockets", "drones")


def test_summaries_need_no_nltk_data(tmp_path: Path) -> None:
    """A fresh install has no NLTK data: summarising must work with NLTK's search path empty."""
    code = (
        "import nltk; nltk.data.path[:] = []\n"
        "from bot.summarize import summarize_text\n"
        "s = summarize_text('One sentence here. Another one there. A third follows.',"
        " sentences=2, algorithm='lexrank')\n"
        "assert len(s) == 2, s\n"
        "print('ok')\n"
    )
    env = {**os.environ, "NLTK_DATA": str(tmp_path / "none"), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
