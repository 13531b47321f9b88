"""Shared fixtures: no network but loopback, a real SQLite file per test, a fixed clock."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.service import AlertService
from bot.app import App, open_app
from bot.config import Config, default_config
from bot.engine import BriefingEngine
from bot.publish import RecordingPublisher
from tests import bytecode, processes, shared
from tests.postgres_server import (
    TABLES,
    PostgresServer,
    start_server,
    stop_server,
    unavailable,
)

# A shell starts a background job (`cmd &` without job control) with SIGINT ignored, and every
# process it starts inherits that: the Ctrl-C tests' `briefbot` children would never see the
# signal. Tests run the way a terminal runs them.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "2022-05-31-us-rocket-systems-ukraine.txt"


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host)
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any DNS lookup or connection outside 127.0.0.0/8 and ::1."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise AssertionError(f"test tried to resolve a non-loopback host: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise AssertionError(f"test tried to connect outside loopback: {address!r}")

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        check(address)
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


@pytest.fixture(autouse=True)
def _private_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                       ) -> None:
    """The default database lives in the user data folder: never the real one in a test (the
    CLI's subprocesses inherit this environment)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.delenv("BRIEFBOT_DB", raising=False)


# Tests that take many seconds (most of it waiting on real processes, leases and timers), as
# node id fragments, longest first. They start first, so that under pytest-xdist (one test at a
# time to each worker: --maxschedchunk 1) they overlap the many short tests instead of ending
# the run alone.
SLOW_FIRST = (
    "test_exactly_once.py", "test_multiprocess.py", "test_newcomer_progress.py",
    "test_rate_across_processes.py", "test_postgres_faults.py", "test_fast_start.py",
    "::test_briefbot_run_", "test_real_pages.py", "test_newcomer_monitoring.py",
    "test_cli.py::test_run_", "::test_two_bot_processes_", "test_summary_cost.py",
    "test_digest_cost.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, part in enumerate(SLOW_FIRST) if part in item.nodeid),
                    len(SLOW_FIRST))

    items.sort(key=rank)  # stable: the rest as collected


_exit_status: list[int] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


_written: list[Path] = []


def _controller(config: pytest.Config) -> bool:
    """Whether this process starts pytest-xdist workers (and runs no test itself)."""
    return (not os.environ.get("PYTEST_XDIST_WORKER")
            and bool(getattr(config.option, "numprocesses", None))
            and not getattr(config.option, "collectonly", False))


def pytest_configure(config: pytest.Config) -> None:
    """Before the workers start: the run's bytecode (tests/bytecode.py), folder
    (tests/shared.py) and zygote for ``briefbot`` processes (tests/processes.py), made once
    instead of once per worker."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    controller = _controller(config)
    _written.extend(bytecode.compile_run(config, tests=controller))
    if controller:
        folder = shared.start_run()
        if processes.FORKS and not os.environ.get(processes.FRESH):
            processes.share_zygote(folder)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The zygote stopped, the run's folder and bytecode removed. Then: a test that fails
    before closing a database leaves aiosqlite's (non-daemon) worker thread running, and the
    interpreter would wait for it forever: say so and exit with the session's status instead
    of hanging CI."""
    processes.stop_zygote()
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        shared.end_run()
        bytecode.remove(_written)
    leaked = [t.name for t in threading.enumerate()
              if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if leaked and _exit_status:
        sys.stderr.write(f"\nthreads left running after the tests (unclosed database "
                         f"connections?): {', '.join(leaked)}\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])


# -- PostgreSQL: one server per session (tests/postgres_server.py) ---------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    server, why, handle = start_server()
    _pg_state["why"] = why
    try:
        yield server
    finally:
        stop_server(handle)


_pg_state: dict[str, str] = {}


class _Emptier:
    """Empties this worker's database before each test, over one connection kept for the
    session on an event loop of its own (a new connection per test cost ~10 ms of server CPU:
    a backend started, its catalog caches filled, then dropped)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._conn: Any = None
        self._sql = ""

    def empty(self) -> None:
        self._loop.run_until_complete(self._empty())

    async def _empty(self) -> None:
        """Every table emptied and the ids restarted. DELETE, not TRUNCATE: a test leaves a
        few rows, and TRUNCATE makes new files for every table and index (0.3 s a test under
        load, against 0.04 s; measured in the issue 12 session-2 note). Children before
        parents (TABLES' order); the identity sequences restart at 1 as RESTART IDENTITY
        would."""
        import asyncpg

        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self.url)
                if not self._sql:
                    sequences = [r[0] for r in await self._conn.fetch(
                        "SELECT pg_get_serial_sequence(quote_ident(table_name), column_name)"
                        " FROM information_schema.columns"
                        " WHERE table_schema = current_schema() AND is_identity = 'YES'")]
                    self._sql = "; ".join([f"DELETE FROM {t}" for t in TABLES]
                                          + [f"SELECT setval('{q}', 1, false)"
                                             for q in sequences])
                await self._conn.execute(self._sql)
                return
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
                self._conn = None  # a test cut it (a server restart...): once more, anew
                if attempt == 2:
                    raise

    def close(self) -> None:
        if self._conn is not None:
            self._loop.run_until_complete(self._conn.close())
        self._loop.close()


@pytest.fixture(scope="session")
def _postgres_worker_db(postgres_server: PostgresServer | None) -> Iterator[_Emptier | None]:
    if postgres_server is None:
        yield None
        return
    emptier = _Emptier(postgres_server.url(asyncio.run(postgres_server.create_database())))
    try:
        yield emptier
    finally:
        emptier.close()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer | None,
                 _postgres_worker_db: _Emptier | None) -> str:
    """A migrated, empty PostgreSQL database for this test (skipped without a server)."""
    if postgres_server is None or _postgres_worker_db is None:
        unavailable(_pg_state.get("why", "no PostgreSQL server"))
        raise AssertionError("unreachable")
    _postgres_worker_db.empty()
    return _postgres_worker_db.url


BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once per storage backend."""
    return str(request.param)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite database made once per session (per xdist worker): each test
    starts from a copy. Opening a new file runs every migration (~50 ms of CPU and ~100 ms of
    fsyncs a test); tests/test_store.py checks the migrations on a new file."""
    from bot.store.sqlite import open_store

    path = tmp_path_factory.mktemp("sqlite-template") / "briefbot.db"

    async def make() -> None:
        store = await open_store(path)
        await store.close()

    asyncio.run(make())
    return path


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The test's database: a migrated, empty SQLite file in its tmp folder (a copy of the
    session's template), or an empty PostgreSQL one."""
    if backend == "sqlite":
        path = tmp_path / "briefbot.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return str(path)
    return str(request.getfixturevalue("postgres_url"))


async def run_sql(store: Any, sql: str) -> list[tuple[Any, ...]]:
    """A parameterless statement on either backend, for tests that look at (or break) rows
    no repository method shows; the rows as tuples."""
    pool = getattr(store, "pool", None)
    if pool is not None:  # PostgreSQL
        return [tuple(r) for r in await pool.fetch(sql)]
    async with store.db.transaction() as db, db.execute(sql) as cur:
        return [tuple(r) for r in await cur.fetchall()]


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def config(tmp_path: Path, backend: str, database_url: str) -> Config:
    """The test's config: its own database on the backend under test (``backend``)."""
    base = default_config()
    return replace(
        base,
        storage=replace(base.storage, path=str(tmp_path / "briefbot.db"),
                        url="" if backend == "sqlite" else database_url),
        fetch=replace(base.fetch, allow_private_networks=True),
    )


_APPS: dict[int, App] = {}


def app_of(engine: BriefingEngine) -> App:
    """The app a test engine belongs to (its features: ``app_of(engine).alerts`` ...)."""
    return _APPS[id(engine)]


def alerts_of(engine: BriefingEngine) -> AlertService:
    """The alert service the app wired on ``engine``."""
    service = app_of(engine).alerts
    assert service is not None
    return service


@pytest.fixture
async def make_engine(config: Config, clock: FixedClock) -> AsyncIterator[Callable[..., Any]]:
    """Open apps on the test's SQLite file (several may share it) and return their engines,
    wired by bot.app as production wires them; closed after the test."""
    opened: list[App] = []

    async def make(cfg: Config | None = None, *, clock_: Any = None) -> BriefingEngine:
        app = await open_app(cfg or config, clock=clock_ or clock)
        app.engine.add_publisher(RecordingPublisher(platform="console"))
        opened.append(app)
        _APPS[id(app.engine)] = app
        return app.engine

    yield make
    for app in opened:
        _APPS.pop(id(app.engine), None)
        await app.close()


@pytest.fixture
async def engine(make_engine: Callable[..., Any]) -> BriefingEngine:
    eng: BriefingEngine = await make_engine()
    return eng


@pytest.fixture
def publisher(engine: BriefingEngine) -> RecordingPublisher:
    pub = engine.publishers["console"]
    assert isinstance(pub, RecordingPublisher)
    return pub


@pytest.fixture
def sample_path() -> Path:
    return SAMPLE


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """briefbot's own log handler (as ``-v`` installs it) at DEBUG, written to a string."""
    from bot.logs import configure_logging

    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging(level=logging.DEBUG, fmt="text", stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
