"""Commands that only read the store start without the heavy libraries: Sumy, NLTK and numpy
load with the first summary, trafilatura with the first page extraction, a platform SDK with its
adapter (issue 11: `briefbot --help` used to pay ~1.4 s of imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine import BriefingEngine
from bot.models import ArticleDraft

HEAVY = ("sumy", "nltk", "numpy", "trafilatura", "discord", "slack_bolt", "slack_sdk")

PROBE = (
    "import contextlib, io, sys\n"
    "from bot.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    try:\n"
    "        code = main(sys.argv[1:])\n"
    "    except SystemExit as exc:\n"
    "        code = exc.code\n"
    f"heavy = sorted({{n.split('.')[0] for n in sys.modules}} & set({HEAVY!r}))\n"
    "print(code, ','.join(heavy))\n"
)


def loaded_by(*argv: str) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.stdout, done.stderr
    code, _, heavy = done.stdout.strip().partition(" ")
    return code, heavy


def test_help_and_version_load_no_heavy_library() -> None:
    assert loaded_by("--help") == ("0", "")
    assert loaded_by("--version") == ("0", "")


async def test_reading_commands_load_no_heavy_library(
        engine: BriefingEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fixed(text: str, **options: object) -> tuple[str, ...]:
        return ("Rocket systems were sent.",)

    # store an article without summarising it here (this process may have loaded Sumy anyway)
    monkeypatch.setattr(engine.summarizer, "summarize", fixed)
    article = (await engine.ingest(ArticleDraft(title="Rockets", text="Rocket systems were "
                                                "sent to the front on Tuesday."))).article
    db = engine.config.storage.database
    assert loaded_by("--db", db, "feeds", "list") == ("0", "")
    assert loaded_by("--db", db, "brief") == ("0", "")
    assert loaded_by("--db", db, "brief", str(article.id)) == ("0", "")
    # a topic search reads Sumy's stop-word list ("the" alone is refused), not Sumy
    assert loaded_by("--db", db, "brief", "rocket") == ("0", "")
    assert loaded_by("--db", db, "brief", "the") == ("2", "")  # refused: a user error


def test_the_probe_sees_a_heavy_import() -> None:
    """The check can fail: summarising a file does load Sumy."""
    sample = Path(__file__).resolve().parent.parent / "samples"
    path = next(sample.glob("*.txt"))
    code, heavy = loaded_by("summarize", str(path), "--sentences", "1")
    assert code == "0" and "sumy" in heavy.split(",")
