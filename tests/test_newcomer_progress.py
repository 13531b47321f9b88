"""Long CLI work shows progress and ends with totals; Ctrl-C says how to continue (issue 16)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.progress import Progress
from tests import processes
from tests.in_process import run_briefbot

BODY = ("The council approved the {n} budget on Monday after a long debate in the chamber. "
        "Members said the {n} plan would pay for new roads and two schools in the district. "
        "Opponents argued that the {n} costs were far higher than the first estimates showed. ")


def write_articles(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"story-{n:03d}.txt").write_text(
            " date 2024-01-02 " + BODY.format(n=f"item{n}") * 2, encoding="utf-8")


def test_piped_progress_names_each_item_then_totals() -> None:
    out, err = io.StringIO(), io.StringIO()
    with Progress(3, unit="file", order=("stored", "already known", "refused"),
                  out=out, err=err, tty=False) as progress:
        progress.item("a.txt", "stored", "a.txt\t#1\tA\t(stored)")
        progress.item("b.txt", "already known")
        progress.item("c.txt", "refused", "briefbot: refused c.txt: empty")
    assert out.getvalue().splitlines() == ["a.txt\t#1\tA\t(stored)", "b.txt\talready known"]
    assert err.getvalue().splitlines() == ["briefbot: refused c.txt: empty",
                                           "1 stored, 1 already known, 1 refused: c.txt."]


def test_terminal_progress_draws_a_bar_and_shows_only_problems() -> None:
    out, err = io.StringIO(), io.StringIO()
    with Progress(2, unit="file", order=("stored", "refused"), out=out, err=err,
                  tty=True) as progress:
        progress.item("a.txt", "stored", "a.txt stored")
        progress.item("b.txt", "refused", "refused b.txt: too short")
    assert out.getvalue() == ""
    text = err.getvalue()
    assert "refused b.txt: too short" in text and "a.txt stored" not in text
    assert "0/2 [" in text and "files/s" in text  # the bar drawn
    assert text.rstrip().endswith("1 stored, 1 refused: b.txt.")


def test_interrupted_progress_says_how_far_and_how_to_continue() -> None:
    err = io.StringIO()
    try:
        with Progress(40, unit="file", order=("stored", "refused"), out=io.StringIO(),
                      err=err, tty=False) as progress:
            for _ in range(12):
                progress.item("x", "stored")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert err.getvalue().strip() == ("stopped after 12 of 40 files (12 stored); run the same "
                                      "command to continue")


def test_ctrl_c_during_folder_ingest_then_the_same_command_continues(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    write_articles(folder, 120)
    db = str(tmp_path / "p.db")
    cmd = [sys.executable, "-m", "bot", "--db", db, "ingest", str(folder)]
    env = {**os.environ, "BRIEFBOT_CONFIG": ""}
    proc = processes.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith(str(folder / "story-000.txt") + "\t#1\t") and "(stored)" in first
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped after " in err and " of 120 files (" in err
    assert err.rstrip().endswith("run the same command to continue")
    done_before = 1 + len(rest.splitlines())
    assert done_before < 120
    again = run_briefbot(*cmd[3:], env={"BRIEFBOT_CONFIG": ""})  # in this process: quicker
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("(already known)") >= done_before - 1
    stored = again.stdout.count("(stored)")
    assert f"{stored} stored, " in again.stderr
    assert stored + again.stdout.count("(already known)") == 120


def test_summarize_jsonl_totals_and_ctrl_c_then_continue(tmp_path: Path) -> None:
    import json

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": n, "text": BODY.format(n=f"rec{n}") * 3}) + "\n"
                           for n in range(400)) + "not json\n")
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "bot", "summarize", "--jsonl", str(src), "-o", str(out)]
    env = {**os.environ, "BRIEFBOT_CONFIG": ""}
    proc = processes.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env)
    deadline = time.monotonic() + 120
    while not (out.exists() and out.read_text().count("\n") >= 3):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped after " in err and " of 401 records (" in err
    assert err.rstrip().endswith("run the same command to continue")
    first = len(out.read_text().splitlines())
    assert 3 <= first < 400
    again = run_briefbot(*cmd[3:], env={"BRIEFBOT_CONFIG": ""})  # in this process: quicker
    assert again.returncode == 1, again.stderr  # the line that is no JSON
    assert f"already holds {first} summaries" in again.stderr or \
        f"already holds {first - 1} summaries" in again.stderr  # a line cut by Ctrl-C
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]
    assert sorted({r["id"] for r in rows}) == list(range(400))  # every record, once
    assert len(rows) == 400
    assert "summarised, " in again.stderr and "1 failed: line 401 is not JSON" in again.stderr
