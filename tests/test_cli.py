"""The briefbot command line and the console adapter, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests import processes
from tests.in_process import run_briefbot

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "2022-05-31-us-rocket-systems-ukraine.txt"


def run_cli(*args: str, stdin: str = "", cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return processes.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
        timeout=120, cwd=cwd, env={**os.environ, **(env or {})}, check=False,
    )


def test_summarize_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summarize", str(SAMPLE)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    body = SAMPLE.read_text(encoding="utf-8")
    assert all(line in body for line in lines)
    assert [body.index(line) for line in lines] == sorted(body.index(line) for line in lines)
    assert not any("2022-05-31" in line or line.startswith("date") for line in lines)


def test_summarize_options_and_stdin(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["summarize", str(SAMPLE), "--sentences", "1", "--algorithm", "luhn"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    done = run_briefbot("summarize", "-", "-n", "2", stdin=SAMPLE.read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summarize", "missing.txt"], "no such file: missing.txt"),
        (["summarize", str(SAMPLE), "--sentences", "0"], "--sentences must be at least 1"),
        (["summarize", str(SAMPLE), "--algorithm", "magic"], "unknown algorithm 'magic'"),
        (["--config", "nope.toml", "brief"], "cannot read config file"),
        (["summarize", str(SAMPLE), "-o", "out.txt"], "--output and --workers go with --jsonl"),
        (["summarize", "--jsonl", "-", "--workers", "0"], "--workers must be at least 1"),
        (["--db", ":memory:", "digest", "--channel", "slak:C1"], "unknown platform 'slak'"),
        (["--db", ":memory:", "digest", "--channel", "slack:"], "--channel needs an id"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                            args: list[str], message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_summarize_jsonl_streams_records(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    records = [
        {"id": "a", "text": "One thing happened. Another thing followed. A third closed it. "
                            "A fourth was extra.", "title": "Things"},
        {"id": "b", "text": "Only one sentence."},
    ]
    src.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n")
    out = tmp_path / "out.jsonl"
    done = run_briefbot("summarize", "--jsonl", str(src), "-o", str(out), "-n", "2")
    assert done.returncode == 1  # one bad line
    assert "line 3 is not JSON" in done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert len(rows[0]["summary"]) == 2
    assert rows[1]["summary"] == ["Only one sentence."]


def test_summarize_jsonl_takes_saved_pages(tmp_path: Path) -> None:
    paragraphs = "".join(
        f"<p>The city council voted on the new tram line for district {i}, and the mayor "
        f"said construction would start in spring after years of planning.</p>"
        for i in range(6))
    html = ("<html lang='en'><head><title>Tram line approved | City Herald</title>"
            "<meta property='og:site_name' content='City Herald'></head><body>"
            "<div class='newsletter-box'><p>Sign up for our newsletter today.</p></div>"
            f"<article><h1>Tram line approved</h1>{paragraphs}</article></body></html>")
    src = tmp_path / "pages.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {"id": "p1", "html": html, "url": "https://herald.example/tram"},
        {"id": "p2", "url": "https://herald.example/empty"},
    ]) + "\n")
    done = run_briefbot("summarize", "--jsonl", str(src), "-n", "2")
    assert done.returncode == 1
    assert 'line 2 has neither a "text" nor an "html" string' in done.stderr
    [row] = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["id"] == "p1" and row["title"] == "Tram line approved"
    assert row["source"] == "City Herald" and len(row["summary"]) == 2
    assert not any("newsletter" in s for s in row["summary"])


def test_ingest_brief_and_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    first = run_briefbot("--db", db, "ingest", str(SAMPLE))
    assert first.returncode == 0, first.stderr
    assert "(stored)" in first.stdout
    second = run_briefbot("--db", db, "ingest", str(SAMPLE))
    assert "(already known)" in second.stdout
    brief = run_briefbot("--db", db, "brief", "Severodonetsk")
    assert brief.returncode == 0
    assert "rocket systems" in brief.stdout
    assert brief.stdout.count("\n  - ") == 3  # the stored three-sentence summary
    missing = run_briefbot("--db", db, "ingest", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_run_console_reads_brief_lines_until_end_of_input(tmp_path: Path) -> None:
    db = str(tmp_path / "console.db")
    assert run_briefbot("--db", db, "ingest", str(SAMPLE)).returncode == 0
    # piped lines: --console (with no terminal, `run` is headless: see test_newcomer_run)
    done = run_cli("--db", db, "run", "--console",
                   stdin="/brief help\n\n/brief Severodonetsk\n",
                   env={"SLACK_BOT_TOKEN": "", "DISCORD_TOKEN": ""})
    assert done.returncode == 0, done.stderr
    assert "/brief search <words>" in done.stdout
    assert "Briefing on “Severodonetsk”" in done.stdout
    assert "Traceback" not in done.stderr


def test_the_engine_imports_no_platform_code() -> None:
    code = (
        "import importlib, pkgutil, sys, bot\n"
        "for m in pkgutil.walk_packages(bot.__path__, 'bot.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "{'discord', 'slack_bolt', 'slack_sdk'})\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_run_stops_cleanly_on_a_signal(tmp_path: Path, sig: str) -> None:
    import signal
    import time

    proc = processes.Popen(
        [sys.executable, "-m", "bot", "--db", str(tmp_path / "sig.db"), "run"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SLACK_BOT_TOKEN": "", "DISCORD_TOKEN": ""},
    )
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        while "running" not in (line := proc.stderr.readline()):  # wait until it is up
            assert line and time.monotonic() < deadline, "briefbot run did not start"
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == (0 if sig == "SIGTERM" else 130)
    assert "Traceback" not in err


def test_ingest_a_folder_of_articles(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    (folder / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text(" date 2024-01-02 The council approved the budget on Monday."
                                  " Members said the plan would pay for new roads and schools."
                                  " Opponents argued that the costs were far higher than the "
                                  "first estimates had shown, and asked for a second vote.")
    (folder / "deeper" / "b.html").write_text(
        "<html><head><title>Bridge reopens</title></head><body><article>"
        + "".join(f"<p>The old bridge reopened to traffic after {n} years of repairs "
                  "downtown, the city said.</p>" for n in ("two", "three", "four", "five"))
        + "</article></body></html>")
    (folder / ".hidden.txt").write_text("Never read.")
    (folder / "notes.bin").write_bytes(b"\x00\x01")
    done = run_briefbot("--db", str(tmp_path / "f.db"), "ingest", str(folder))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.endswith("(stored)") for line in lines)
    assert "Bridge reopens" in done.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run_briefbot("--db", str(tmp_path / "f.db"), "ingest", str(empty))
    assert nothing.returncode == 2 and "holds no .txt or .html files" in nothing.stderr
    assert "1 stored" not in nothing.stderr


def test_brief_digest_now_posts_the_console_digest_on_standard_output(tmp_path: Path) -> None:
    db = str(tmp_path / "now.db")
    assert run_briefbot("--db", db, "ingest", str(SAMPLE)).returncode == 0
    done = run_briefbot("--db", db, "brief", "digest", "now")
    assert done.returncode == 0, done.stderr
    assert "--- digest for #console ---" in done.stdout
    assert "rocket systems" in done.stdout
    assert "Posted a digest here: 1 story." in done.stdout
    assert "no adapter" not in done.stdout
    again = run_briefbot("--db", db, "brief", "digest", "now")  # recorded: nothing new since
    assert again.returncode == 0 and "Nothing new since" in again.stdout


def test_brief_help_explains_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["brief", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "what you would type after /brief" in out and "briefbot brief rocket" in out


def test_a_database_folder_that_cannot_be_made_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["--db", str(blocker / "x.db"), "brief"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("briefbot: error: ") and str(blocker) in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_an_unsupported_language_exits_at_once_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[summarizer]\nlanguage = "klingon"\n')
    # it used to open the database first and then hang on exit
    done = run_cli("--config", str(config), "--db", str(tmp_path / "k.db"), "brief")
    assert done.returncode == 2
    assert done.stderr.startswith("briefbot: [summarizer] language 'klingon'")


def test_summarize_from_a_terminal_says_it_reads_standard_input(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    class Terminal(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(io.BytesIO(SAMPLE.read_bytes())))
    assert main(["summarize", "-n", "1"]) == 0
    captured = capsys.readouterr()
    assert "reading an article from standard input; end it with Ctrl-D" in captured.err
    assert len(captured.out.strip().splitlines()) == 1


def test_run_with_an_unreachable_slack_says_why_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "c.toml"
    config.write_text(f'[slack]\napi_base_url = "http://127.0.0.1:{port}/api/"\n')
    done = run_cli("--config", str(config), "--db", str(tmp_path / "s.db"), "run",
                   env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1",
                        "DISCORD_TOKEN": ""})
    assert done.returncode == 2
    assert "adapter-slack stopped: cannot reach the Slack API" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_warns_when_slack_tokens_lack_the_bot_token(tmp_path: Path) -> None:
    done = run_cli("--db", str(tmp_path / "w.db"), "run", "--console", stdin="/brief help\n",
                   env={"SLACK_BOT_TOKEN": "", "SLACK_APP_TOKEN": "xapp-1", "DISCORD_TOKEN": ""})
    assert done.returncode == 0, done.stderr
    assert "SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not: Slack is not started" in done.stderr
    assert "/brief search <words>" in done.stdout  # the console ran instead


def test_global_options_work_after_the_command_too(tmp_path: Path) -> None:
    db = str(tmp_path / "after.db")
    done = run_briefbot("ingest", str(SAMPLE), "--db", db)
    assert done.returncode == 0 and "(stored)" in done.stdout, done.stderr
    assert "rocket systems" in run_briefbot("--db", db, "brief", "rocket").stdout
    listed = run_briefbot("feeds", "list", "--db", db, "-v")
    assert listed.returncode == 0 and "No feeds yet" in listed.stdout
    assert "aiosqlite" not in listed.stderr  # -v shows briefbot's messages, not every SQL call
    # after `brief` every word is the /brief text, so an option there is explained
    misplaced = run_briefbot("brief", "rocket", "--db", db, cwd=tmp_path)
    assert misplaced.returncode == 2
    assert not (tmp_path / "briefbot.db").exists()  # refused before any database is opened
    assert misplaced.stderr.strip() == (
        "briefbot: --db goes before `brief` (briefbot --db ... brief TEXT): after it, every "
        "word is the /brief text")
