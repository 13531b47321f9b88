"""``briefbot ARGS`` run in the test's own process, for command-line tests that are about what
a command prints, stores and exits with rather than about the process (signals, start-up
imports, a terminal): ``bot.cli.main`` with its own standard streams, working folder and
environment, as ``python -m bot`` gives it. A new interpreter costs ~0.5 s of CPU before
the command starts, and ~2 s when it summarises (Sumy, NLTK, numpy load again each time)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bot.cli import main


class _Stream(io.TextIOWrapper):
    """A standard stream backed by bytes (``.buffer`` works) that is not a terminal."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8", errors="replace",
                         write_through=True)

    def text(self) -> str:
        self.flush()
        raw = self.buffer
        assert isinstance(raw, io.BytesIO)
        return raw.getvalue().decode("utf-8", errors="replace")


def run_briefbot(*args: str, stdin: str = "", cwd: Path | str | None = None,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """What ``subprocess.run([python, "-m", "bot", *args], input=stdin, cwd=cwd,
    env={**os.environ, **env}, capture_output=True, text=True)`` gives, without the new
    process. Not for ``briefbot run`` (it installs signal handlers) nor tests about imports."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved = sys.stdin, sys.stdout, sys.stderr
    out, err = _Stream(), _Stream()
    sys.stdin, sys.stdout, sys.stderr = _Stream(stdin.encode("utf-8")), out, err
    try:
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            if not isinstance(exc.code, int | None):
                print(exc.code, file=sys.stderr)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["briefbot", *args], code, out.text(), err.text())
