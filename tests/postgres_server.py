"""The PostgreSQL server the tests use: started by the tests themselves, one per session.

``BRIEFBOT_TEST_POSTGRES_URL`` (a role allowed to CREATE DATABASE) names a server to use;
otherwise ``pgserver`` (dev extra: a PostgreSQL 16 in its wheel, no contrib extensions) starts
one in a temporary folder, with fsync off (a test database need not survive a power cut).

Each test gets a clean database: one migrated template is made per session, each worker keeps
one database made from it, and every test starts with that database's tables emptied and its
ids restarted (``DELETE`` + ``setval``: 0.04 s a test, where ``TRUNCATE`` took 0.3 s and a
``CREATE DATABASE`` per test 0.2 s or more). A test that needs a database no one migrated
asks for :func:`fresh_database`.

Without a server (no pgserver, no URL) the PostgreSQL half of the suite is skipped, except
under CI (``CI`` set), where that is an error: CI must run both backends.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV_URL = "BRIEFBOT_TEST_POSTGRES_URL"
TEMPLATE = "briefbot_test_template"
# a role that must log in with a password (pgserver trusts every other local connection)
PASSWORD_USER, PASSWORD = "briefbot_pw", "right-horse-battery"

TABLES = ("article_stories", "story_state", "alerts", "subscriptions", "digest_runs",
          "digest_schedules", "feed_items", "feed_item_counts", "article_urls",
          "channel_feeds", "channel_feed_mutes", "feeds", "article_terms", "articles", "meta",
          "installations", "oauth_states", "seen_requests", "deliveries", "send_slots")


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@dataclass
class PostgresServer:
    admin_url: str           # a database to run CREATE DATABASE from
    password_auth: bool      # PASSWORD_USER exists and must give PASSWORD
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        return with_database(self.admin_url, database)

    async def admin(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create_database(self, *, template: str | None = TEMPLATE) -> str:
        name = f"briefbot_test_{os.getpid()}_{next(self._names)}"
        await self.admin(f'CREATE DATABASE "{name}"'
                         + (f' TEMPLATE "{template}"' if template else ""))
        return name

    async def drop_database(self, name: str) -> None:
        await self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _start_pgserver(folder: str) -> tuple[str, object]:
    # pgserver asks platformdirs for a runtime folder at import; without XDG_RUNTIME_DIR that
    # warns, and the suite turns warnings into errors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    server = pgserver.get_server(folder, cleanup_mode="delete")
    return server.get_uri(), server


async def _prepare(server: PostgresServer, own: bool) -> None:
    import asyncpg

    from bot.store.postgres import open_postgres_store

    conn = await asyncpg.connect(server.admin_url)
    try:
        if own:
            for key, value in (("fsync", "off"), ("synchronous_commit", "off"),
                               ("full_page_writes", "off")):
                await conn.execute(f"ALTER SYSTEM SET {key} = {value}")
            await conn.execute("SELECT pg_reload_conf()")
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        if server.password_auth:
            await conn.execute(f"DROP ROLE IF EXISTS {PASSWORD_USER}")
            await conn.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}'")
    finally:
        await conn.close()
    store = await open_postgres_store(server.url(TEMPLATE), pool_size=1)
    await store.close()


def _require_password_auth(hba_file: str) -> None:
    """pgserver trusts every local connection; make PASSWORD_USER give a password (first
    matching line wins, so it goes on top)."""
    with open(hba_file, encoding="utf-8") as f:
        rules = f.read()
    with open(hba_file, "w", encoding="utf-8") as f:
        f.write(f"local all {PASSWORD_USER} scram-sha-256\n" + rules)


def _run_folder() -> str:
    """This run's folder: one per run, shared by pytest-xdist's workers (each worker of a run
    has the same ``PYTEST_XDIST_TESTRUNUID``), else a new one."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    if not run:
        return tempfile.mkdtemp(prefix="briefbot-pg-")
    return os.path.join(tempfile.gettempdir(), f"briefbot-pg-{run}")


@contextmanager
def _locked(folder: str) -> Iterator[None]:
    """One process at a time starts, prepares, joins or leaves the run's server. The last to
    leave deletes the folder (lock file included) under the lock: a process that was waiting
    for the lock then starts over in a new folder."""
    path = os.path.join(folder, "lock")
    while True:
        os.makedirs(folder, exist_ok=True)
        with open(path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if os.path.exists(path) and os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino:
                    yield
                    return
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _users(folder: str, change: int) -> int:
    """The processes using the run's server, after ``change`` (under the lock)."""
    path = os.path.join(folder, "users")
    try:
        with open(path, encoding="utf-8") as f:
            users = int(f.read() or 0)
    except FileNotFoundError:
        users = 0
    users += change
    with open(path, "w", encoding="utf-8") as f:
        f.write(str(users))
    return users


def start_server() -> tuple[PostgresServer | None, str, object]:
    """(server, why not, handle for :func:`stop_server`). Under pytest-xdist every worker
    calls this: the first starts and prepares the server, the others join it; the last to
    leave stops it (pgserver counts the processes using its data folder as well)."""
    url = os.environ.get(ENV_URL, "").strip()
    handle: object = None
    if url:
        server = PostgresServer(admin_url=url, password_auth=False)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import pgserver  # noqa: F401
        except ImportError:
            return None, (f"no PostgreSQL: pip install -e '.[dev]' (pgserver) or set {ENV_URL}"
                          ), None
    folder = _run_folder()
    data = os.path.join(folder, "data")
    with _locked(folder):
        first = _users(folder, +1) == 1
        if not url:
            os.makedirs(data, exist_ok=True)
            uri, handle = _start_pgserver(data)
            server = PostgresServer(admin_url=uri, password_auth=True)
            if first:
                _require_password_auth(os.path.join(data, "pg_hba.conf"))
        if first:
            asyncio.run(_prepare(server, own=not url))
    return server, "", (handle, folder)


def stop_server(handle: object) -> None:
    if handle is None:
        return
    pg, folder = handle  # type: ignore[misc]
    with _locked(folder):
        if pg is not None:
            pg.cleanup()  # pgserver stops the server when its last user lets go
        if _users(folder, -1) == 0:
            shutil.rmtree(folder, ignore_errors=True)


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI runs both backends, but PostgreSQL is unavailable: {reason}")
    pytest.skip(reason)


class CuttableProxy:
    """A TCP port on 127.0.0.1 in front of a PostgreSQL server (TCP or unix socket) that a
    test can cut (every connection closed, new ones refused: the server "went away") and
    restore on the same port."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        self._socket_dir = query.get("host", "") if not parts.hostname else ""
        self._target = (parts.hostname or "", parts.port or 5432)
        self._user = parts.username or "postgres"
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self._cuts = 0  # a connection accepted before a cut must not live through it

    def url(self, database: str) -> str:
        return f"postgresql://{self._user}@127.0.0.1:{self.port}/{database}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cuts = self._cuts
        try:
            if self._socket_dir:
                up_r, up_w = await asyncio.open_unix_connection(
                    os.path.join(self._socket_dir, f".s.PGSQL.{self._target[1]}"))
            else:
                up_r, up_w = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        if cuts != self._cuts or self._server is None:  # cut while this one was connecting
            # (it was not among the pipes the cut closed: a query through it would succeed
            # during the outage, seen 1 run in 3 under load)
            up_w.close()
            transport = writer.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            return
        self._pipes.update((writer, up_w))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_w), pump(up_r, writer))
        self._pipes.difference_update((writer, up_w))

    async def cut(self) -> None:
        """The server goes away: refuse new connections, reset the open ones."""
        assert self._server is not None
        self._cuts += 1
        self._server.close()
        for pipe in list(self._pipes):
            transport = pipe.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        self._pipes.clear()
        await self._server.wait_closed()
        self._server = None

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()
