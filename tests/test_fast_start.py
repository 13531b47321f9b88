"""Commands that only read the store start without the heavy libraries: Sumy, NLTK and numpy
load with the first summary, trafilatura with the first page extraction, a platform SDK with its
adapter (issue 11: `briefbot --help` used to pay ~1.4 s of imports)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine import BriefingEngine
from bot.models import ArticleDraft

HEAVY = ("sumy", "nltk", "numpy", "trafilatura", "discord", "slack_bolt", "slack_sdk")

# One process imports bot.cli (what any `briefbot` start imports first), then forks a child
# per command: each child starts from exactly the state a new `briefbot` process has before
# main() runs, without paying the interpreter's start and that import again.
PROBE = (
    "import contextlib, io, json, os, sys\n"
    "from bot.cli import main\n"
    "for line in sys.stdin:\n"
    "    read, write = os.pipe()\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        try:\n"
    "            os.close(read)\n"
    "            with contextlib.redirect_stdout(io.StringIO()):\n"
    "                try:\n"
    "                    code = main(json.loads(line))\n"
    "                except SystemExit as exc:\n"
    "                    code = exc.code\n"
    f"            heavy = sorted({{n.split('.')[0] for n in sys.modules}} & set({HEAVY!r}))\n"
    "            os.write(write, f'{code} {\",\".join(heavy)}'.encode())\n"
    "        finally:\n"
    "            os._exit(0)  # a child never goes on with the loop\n"
    "    os.close(write)\n"
    "    with os.fdopen(read, 'rb') as answer:\n"
    "        said = answer.read().decode()\n"
    "    os.waitpid(pid, 0)\n"
    "    print(said, flush=True)\n"
)


def loaded_by_each(*commands: list[str]) -> list[tuple[str, str]]:
    """(exit code, heavy modules loaded) of each command, each run as a new process would."""
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          input="".join(json.dumps(c) + "\n" for c in commands),
                          timeout=120, check=False)
    answers = done.stdout.splitlines()
    assert len(answers) == len(commands), done.stderr
    return [(code, heavy) for code, _, heavy in (a.partition(" ") for a in answers)]


def loaded_by(*argv: str) -> tuple[str, str]:
    [answer] = loaded_by_each(list(argv))
    return answer


def test_help_and_version_load_no_heavy_library() -> None:
    assert loaded_by_each(["--help"], ["--version"]) == [("0", ""), ("0", "")]


async def test_reading_commands_load_no_heavy_library(
        engine: BriefingEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fixed(text: str, **options: object) -> tuple[str, ...]:
        return ("Rocket systems were sent.",)

    # store an article without summarising it here (this process may have loaded Sumy anyway)
    monkeypatch.setattr(engine.summarizer, "summarize", fixed)
    article = (await engine.ingest(ArticleDraft(title="Rockets", text="Rocket systems were "
                                                "sent to the front on Tuesday."))).article
    db = engine.config.storage.database
    assert loaded_by_each(
        ["--db", db, "feeds", "list"],
        ["--db", db, "brief"],
        ["--db", db, "brief", str(article.id)],
        # a topic search reads Sumy's stop-word list ("the" alone is refused), not Sumy
        ["--db", db, "brief", "rocket"],
        ["--db", db, "brief", "the"],  # refused: a user error
    ) == [("0", "")] * 4 + [("2", "")]


def test_the_probe_sees_a_heavy_import() -> None:
    """The check can fail: summarising a file does load Sumy."""
    sample = Path(__file__).resolve().parent.parent / "samples"
    path = next(sample.glob("*.txt"))
    code, heavy = loaded_by("summarize", str(path), "--sentences", "1")
    assert code == "0" and "sumy" in heavy.split(",")
