"""What the processes of one test run share: a folder, made by the process that starts the
others (pytest-xdist's controller) and deleted when the run ends, and values computed once in
it for every worker instead of once in each."""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

RUN = "BRIEFBOT_TEST_RUN"  # the run's folder; the workers inherit it
T = TypeVar("T")


def start_run() -> str:
    folder = tempfile.mkdtemp(prefix="briefbot-run-")
    os.environ[RUN] = folder
    return folder


def end_run() -> None:
    folder = os.environ.pop(RUN, "")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def once(key: str, compute: Callable[[], T]) -> T:
    """``compute()``, done once per run: the first worker to ask computes it (the others wait
    for it) and every worker reads its result. Without a run folder (one process): computed
    here. For deterministic results of the code under test that are slow to make (a parsed
    page), not for state a test changes."""
    folder = os.environ.get(RUN, "")
    if not folder:
        return compute()
    path = Path(folder) / "once" / f"{key}.pickle"
    path.parent.mkdir(exist_ok=True)
    with open(path.with_suffix(".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            value: T = pickle.loads(path.read_bytes())
            return value
        value = compute()
        part = path.with_suffix(".part")
        part.write_bytes(pickle.dumps(value))
        part.replace(path)
        return value
