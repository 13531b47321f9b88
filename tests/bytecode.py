"""The project's bytecode, compiled once per run by the process that starts the others.

Every pytest-xdist worker imports the whole suite, and pytest rewrites each test module's
asserts (~3.5 s of CPU for the suite's test files) before compiling it; every new interpreter a
test starts compiles the bot modules it imports. Python keeps that work in ``__pycache__``, but
not where ``PYTHONDONTWRITEBYTECODE`` is set (as on the machine this suite is timed on): then
each of them did it again. Here the controller writes it once, before the workers start, and
they read it (reading is allowed either way): the bot's and the test helpers' modules as
``py_compile`` writes them, the test modules as pytest's own assertion rewriter writes them
(its cache files: checked against the source's hash when read, like any pyc).

Where ``PYTHONDONTWRITEBYTECODE`` is set, the files written here are deleted when the run ends,
so the run leaves the tree as it found it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import py_compile
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLAIN = ("bot", "adapters", "tests")


def _rewritten(path: Path) -> bool:
    """Whether pytest rewrites this module's asserts (the suite's python_files, conftest)."""
    return path.name.startswith("test_") or path.name == "conftest.py"


def _test_files(config: pytest.Config) -> Iterable[Path]:
    yield REPO / "tests" / "conftest.py"
    for arg in config.args:
        path = Path(arg.split("::")[0])
        path = path if path.is_absolute() else Path(config.invocation_params.dir) / path
        if path.is_dir():
            yield from (p for p in path.rglob("test_*.py") if "__pycache__" not in p.parts)
        elif path.suffix == ".py" and _rewritten(path):
            yield path


def compile_run(config: pytest.Config, *, tests: bool) -> list[Path]:
    """Compile what is not compiled yet (the test modules too when ``tests``: for workers to
    read); the files written."""
    written: list[Path] = []
    for root in PLAIN:
        for source in (REPO / root).rglob("*.py"):
            if _rewritten(source) or "__pycache__" in source.parts:
                continue
            pyc = Path(importlib.util.cache_from_source(str(source)))
            existed = pyc.exists()
            try:  # a no-op for an up-to-date pyc
                py_compile.compile(str(source), cfile=str(pyc), doraise=True)
            except (py_compile.PyCompileError, OSError):
                continue
            if not existed:
                written.append(pyc)
    if not tests or config.getoption("assertmode", "rewrite") != "rewrite":
        return written
    try:  # pytest's own cache: its private functions, so only where they are as expected
        from _pytest.assertion import rewrite

        state = config.stash[rewrite.assertstate_key]
        for source in dict.fromkeys(p.resolve() for p in _test_files(config)):
            pyc = rewrite.get_cache_dir(source) / (source.name[:-3] + rewrite.PYC_TAIL)
            if rewrite._read_pyc(source, pyc) is not None:
                continue
            rewrite.try_makedirs(pyc.parent)
            source_hash, code = rewrite._rewrite_test(source, config)
            if rewrite._write_pyc(state, code, source_hash, pyc):
                written.append(pyc)
    except (ImportError, AttributeError, KeyError, TypeError, OSError, SyntaxError):
        pass  # then each worker rewrites them, as before
    return written


def remove(written: list[Path]) -> None:
    """Delete what :func:`compile_run` wrote if this environment asks for no bytecode."""
    if not sys.dont_write_bytecode:
        return
    for pyc in written:
        pyc.unlink(missing_ok=True)
    for folder in {pyc.parent for pyc in written}:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if nothing else is in it
