"""The command line as a newcomer meets it (issue 16): one home for the data, what is in use
(`--version`, `status`, `-v`), help with no command, did-you-mean for a mistyped command, and
searches that explain themselves."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.datahome import choose_database
from bot.engine import BriefingEngine
from bot.models import ArticleDraft, Caller
from tests.in_process import run_briefbot

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "2022-05-31-us-rocket-systems-ukraine.txt"
CALLER = Caller(platform="console", user_id="console", channel_id="console", is_admin=True)


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return run_briefbot(*args, cwd=cwd, env={"BRIEFBOT_CONFIG": "", **(env or {})})


def test_the_database_is_the_same_from_every_folder(tmp_path: Path) -> None:
    home = Path(os.environ["XDG_DATA_HOME"]) / "briefbot" / "briefbot.db"
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    assert cli("ingest", str(SAMPLE), cwd=one).returncode == 0
    assert home.is_file() and not (one / "briefbot.db").exists()
    found = cli("brief", "rocket", cwd=two)  # another folder: the same articles
    assert found.returncode == 0 and "Briefing on “rocket”: 1 article" in found.stdout


def test_choices_in_order(tmp_path: Path) -> None:
    env = {"BRIEFBOT_DB": "/e.db"}
    assert choose_database(cli_db="/a.db", configured="/c.db", config_file="c.toml", env=env,
                           cwd=tmp_path).origin == "--db"
    assert choose_database(cli_db=None, configured="/c.db", config_file="c.toml", env=env,
                           cwd=tmp_path).describe() == "/e.db (BRIEFBOT_DB)"
    assert choose_database(cli_db=None, configured="/c.db", config_file="c.toml", env={},
                           cwd=tmp_path).describe() == "/c.db ([storage] path in c.toml)"
    default = choose_database(cli_db=None, configured="", config_file=None, env={}, cwd=tmp_path)
    assert default.path.endswith(os.path.join("briefbot", "briefbot.db")) and not default.legacy
    (tmp_path / "briefbot.db").write_bytes(b"")
    legacy = choose_database(cli_db=None, configured="", config_file=None, env={}, cwd=tmp_path)
    assert legacy.legacy and legacy.path == str(tmp_path / "briefbot.db")


def test_an_existing_briefbot_db_here_keeps_working_and_is_said_once(tmp_path: Path) -> None:
    assert cli("--db", "briefbot.db", "ingest", str(SAMPLE), cwd=tmp_path).returncode == 0
    first = cli("brief", "rocket", cwd=tmp_path)
    assert "Briefing on “rocket”: 1 article" in first.stdout, first.stderr
    assert f"using {tmp_path / 'briefbot.db'}, found in this folder" in first.stderr
    assert "The default database is now" in first.stderr
    second = cli("brief", "rocket", cwd=tmp_path)
    assert "Briefing on “rocket”: 1 article" in second.stdout
    assert "found in this folder" not in second.stderr  # said once


def test_version_status_and_verbose_say_which_config_and_database(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    db = tmp_path / "data" / "b.db"
    config.write_text(f'[storage]\npath = "{db}"\n')
    version = cli("--config", str(config), "--version", cwd=tmp_path)
    assert version.returncode == 0
    assert version.stdout.splitlines() == [
        "briefbot 0.1.0", f"config: {config}",
        f"database: {db} ([storage] path in {config}, not created yet)"]
    before = cli("--config", str(config), "status", cwd=tmp_path)
    assert "does not exist yet" in before.stdout and not db.exists()  # status creates nothing
    assert cli("--config", str(config), "ingest", str(SAMPLE), cwd=tmp_path).returncode == 0
    status = cli("--config", str(config), "status", cwd=tmp_path)
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    assert f"database: {db} ([storage] path in {config})" in lines
    assert "articles: 1" in lines and "feeds: 0" in lines and "alert subscriptions: 0" in lines
    assert any(line.startswith("size: ") and line.endswith("KB") for line in lines)
    verbose = cli("--db", str(db), "-v", "brief", cwd=tmp_path)
    assert f"database: {db} (--db)" in verbose.stderr
    assert "config: none (built-in defaults" in verbose.stderr


def test_no_command_prints_the_help_and_a_typo_gets_a_suggestion(tmp_path: Path) -> None:
    bare = cli(cwd=tmp_path)
    assert bare.returncode == 0 and "usage: briefbot" in bare.stdout
    for name in ("ingest", "feeds", "poll", "run", "discord", "status"):
        assert f"\n    {name} " in bare.stdout  # every command has a description
    assert "a file, a web page or standard input" in bare.stdout
    typo = cli("breif", "rocket", cwd=tmp_path)
    assert typo.returncode == 2
    assert "unknown command 'breif' (did you mean `briefbot brief`?)" in typo.stderr
    run_help = cli("run", "--help", cwd=tmp_path)
    for said in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_TOKEN", "console",
                 "--no-console", "headless"):
        assert said in run_help.stdout, said


async def test_search_on_an_empty_store_says_nothing_is_stored(engine: BriefingEngine) -> None:
    reply = await engine.handle_command("rocket", CALLER)
    assert reply.text.startswith("Nothing is stored yet.")


@pytest.mark.parametrize(("text", "echo"), [
    ('"interest rates"', "“interest rates”"),
    ("“interest rates”", "“interest rates”"),
    ('"interest rates" fed', '"interest rates" fed'),
    ("rates", "“rates”"),
])
async def test_the_echo_never_doubles_quotes(engine: BriefingEngine, text: str,
                                             echo: str) -> None:
    await engine.ingest(ArticleDraft(title="Rates", text="The bank left interest rates alone "
                                     "on Thursday, as the fed had signalled."))
    reply = await engine.handle_command(f"search {text}", CALLER)
    assert reply.text.startswith((f"Briefing on {echo}:", f"Nothing found for {echo}.")), \
        reply.text


@pytest.mark.parametrize("text", ["the", "The of", "it's"])
async def test_a_search_of_stop_words_only_is_refused(engine: BriefingEngine, text: str) -> None:
    await engine.ingest(ArticleDraft(title="Rates", text="The bank left the rates alone."))
    reply = await engine.handle_command(f"search {text}", CALLER)
    assert reply.is_error and "has only common words" in reply.text and not reply.items


async def test_an_acronym_or_a_quoted_phrase_is_no_stop_word(engine: BriefingEngine) -> None:
    await engine.ingest(ArticleDraft(title="US rates", text="The US left its rates alone. "
                                     "The Who played."))
    assert (await engine.handle_command("US", CALLER)).items
    assert not (await engine.handle_command('"The Who"', CALLER)).is_error


LONG = ("The council approved the {n} budget on Monday after a long debate in the chamber. "
        "Members said the {n} plan would pay for new roads and two schools in the district. "
        "Opponents argued that the {n} costs were far higher than the first estimates showed.")


def test_folder_ingest_takes_what_the_readme_promises(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(" date 2024-01-02 " + LONG.format(n="a"))
    (folder / "sub" / "b.htm").write_text(
        "<html><head><title>Bridge reopens</title></head><body><article>"
        + "".join(f"<p>The old bridge reopened to traffic after {n} years of repairs "
                  "downtown, the city said.</p>" for n in ("two", "three", "four", "five"))
        + "</article></body></html>")
    (folder / "README.md").write_text("# My news folder\n\n" + LONG.format(n="readme"))
    (folder / "tiny.txt").write_text("Hello.")
    (folder / "baddate.txt").write_text(" date 2022-13-45 " + LONG.format(n="late"))
    done = cli("--db", str(tmp_path / "f.db"), "ingest", str(folder), cwd=tmp_path)
    assert done.returncode == 2  # one refused
    names = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert sorted(Path(n).name for n in names) == ["a.txt", "b.htm", "baddate.txt"]
    assert "README.md" not in done.stdout + done.stderr  # Markdown is not taken
    assert "tiny.txt: too short to be an article: 6 characters of text; at least 200 " \
        "are needed ([ingest] min_text_chars)" in done.stderr
    assert "warning: " in done.stderr and "baddate.txt: unreadable date '2022-13-45' (write " \
        "date YYYY-MM-DD" in done.stderr
    assert "3 stored, 1 refused: " in done.stderr and done.stderr.rstrip().endswith("tiny.txt.")
    # a file named on its own is read whatever its name
    alone = cli("--db", str(tmp_path / "f.db"), "ingest", str(folder / "README.md"),
                cwd=tmp_path)
    assert alone.returncode == 0 and "(stored)" in alone.stdout
