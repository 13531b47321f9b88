"""The SQLite backend, the embedded default: one repository per aggregate over one writer
connection and one reader connection (see :mod:`bot.store.sqlite.db` for isolation).

Every statement on a table lives in that table's repository: ``articles.py`` (articles, their
FTS index, article_urls), ``feeds.py`` (feeds, channel_feeds, feed_items), ``alerts.py``
(subscriptions, alerts), ``digests.py`` (digest_schedules, digest_runs), ``platform.py``
(meta), ``stories.py`` (article_stories, story_state).
A repository that must write another's table inside its own transaction calls that
repository's helper with the transaction's connection.

Opening: WAL, foreign keys, busy timeout, numbered migrations. Migrations are the files
``bot/store/sqlite/migrations/NNNN_name.sql``, applied in order; the schema version
(``PRAGMA user_version``) is the number of the last one applied. A database written by a newer
briefbot (a higher version than this one knows) is refused with a clear error before anything
is written to it (not even the switch to WAL).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import aiosqlite

from bot.errors import SchemaTooNewError, StoreError
from bot.store.numbered import load_migrations
from bot.store.ports import (
    AlertStore,
    ArticleStore,
    DigestStore,
    FeedStore,
    PlatformStateStore,
    StoryStore,
)
from bot.store.sqlite.alerts import SQLiteAlerts
from bot.store.sqlite.articles import SQLiteArticles
from bot.store.sqlite.db import Database
from bot.store.sqlite.digests import SQLiteDigests
from bot.store.sqlite.feeds import SQLiteFeeds
from bot.store.sqlite.platform import SQLitePlatformState
from bot.store.sqlite.stories import SQLiteStories

log = logging.getLogger(__name__)



MIGRATIONS = load_migrations("bot.store.sqlite")
SCHEMA_VERSION = len(MIGRATIONS)


def split_statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (triggers keep their inner semicolons)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise RuntimeError(f"incomplete SQL statement in migration: {buffer[:80]!r}")
    return statements


class SQLiteStore:
    """The embedded store (:class:`bot.store.ports.Store`): the repositories as attributes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.path = db.path
        articles = SQLiteArticles(db)
        articles.pending_alert_articles = SQLiteAlerts.pending_article_ids
        self.articles: ArticleStore = articles
        self.feeds: FeedStore = SQLiteFeeds(db)
        self.alerts: AlertStore = SQLiteAlerts(db, articles)
        self.digests: DigestStore = SQLiteDigests(db)
        self.platform: PlatformStateStore = SQLitePlatformState(db)
        self.stories: StoryStore = SQLiteStories(db)

    async def close(self) -> None:
        await self.db.close()

    async def size(self) -> tuple[int, int]:
        """(bytes the database file holds, bytes of it free for reuse)."""
        row = await self.db.fetchone(
            "SELECT (SELECT page_count FROM pragma_page_count()),"
            " (SELECT freelist_count FROM pragma_freelist_count()),"
            " (SELECT page_size FROM pragma_page_size())")
        assert row is not None
        return int(row[0]) * int(row[2]), int(row[1]) * int(row[2])

    async def reclaim_space(self, *, max_bytes: int = 64 << 20) -> int:
        """Give free pages back to the file system, at most ``max_bytes`` at a time (a
        database created by briefbot uses incremental auto-vacuum; an older one keeps its free
        pages and reuses them for new rows). Returns the bytes given back."""
        before, _ = await self.size()
        mode = await self.db.fetchone("PRAGMA auto_vacuum")
        if mode is None or int(mode[0]) != 2:
            return 0
        page = await self.db.fetchone("PRAGMA page_size")
        pages = max_bytes // int(page[0]) if page else 0
        async with self.db.transaction() as db, db.execute(
                f"PRAGMA incremental_vacuum({int(pages):d})") as cur:
            await cur.fetchall()
        after, _ = await self.size()
        return max(before - after, 0)


async def _user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _is_empty(db: aiosqlite.Connection) -> bool:
    async with db.execute("SELECT count(*) FROM sqlite_schema") as cur:
        row = await cur.fetchone()
    return row is not None and int(row[0]) == 0


async def migrate(db: aiosqlite.Connection, *, target: int = SCHEMA_VERSION,
                  path: str = "") -> int:
    """Bring the schema up to ``target``; each migration in its own immediate transaction,
    so two processes starting together apply it once."""
    current = await _user_version(db)
    if current > SCHEMA_VERSION:
        raise _too_new(path, current)
    for version, name, sql in MIGRATIONS:
        if version > target:
            break
        if version <= current:
            continue
        await db.execute("BEGIN IMMEDIATE")
        try:
            if await _user_version(db) >= version:  # another process got here first
                await db.rollback()
                continue
            for statement in split_statements(sql):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {version:d}")
        except BaseException:
            await db.rollback()
            raise
        await db.commit()
        log.info("database %s migrated to version %d (%s)", path, version, name)
    return await _user_version(db)


def _prepare_path(path: str) -> str:
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    return str(p)


async def _connect(path: str, *, busy_timeout_ms: int) -> aiosqlite.Connection:
    try:
        db = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from exc
    db.row_factory = sqlite3.Row
    return db


async def open_store(path: str | Path, *, busy_timeout_ms: int = 10_000,
                     target_version: int = SCHEMA_VERSION) -> SQLiteStore:
    """Open (creating if needed) and migrate the database at ``path``."""
    path = str(path)
    memory = path == ":memory:"
    if not memory:
        path = await asyncio.to_thread(_prepare_path, path)
    writer = await _connect(path, busy_timeout_ms=busy_timeout_ms)
    reader: aiosqlite.Connection | None = None
    try:
        # connection settings only (nothing written): the version check comes before any
        # pragma that writes to the file, such as the switch to WAL
        await writer.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
        await writer.execute("PRAGMA foreign_keys = ON")
        current = await _user_version(writer)
        if current > SCHEMA_VERSION:
            raise _too_new(path, current)
        if current == 0 and not memory and await _is_empty(writer):
            # a new database gives pruned space back (only settable before the first table)
            await writer.execute("PRAGMA auto_vacuum = INCREMENTAL")
        if not memory:
            await writer.execute("PRAGMA journal_mode = WAL")
        await writer.execute("PRAGMA synchronous = NORMAL")
        await migrate(writer, target=target_version, path=path)
        if not memory:
            # reads go here: in WAL mode it sees committed rows only (bot.store.sqlite.db)
            reader = await _connect(path, busy_timeout_ms=busy_timeout_ms)
            await reader.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
            await reader.execute("PRAGMA foreign_keys = ON")
            await reader.execute("PRAGMA query_only = ON")
    except sqlite3.DatabaseError as exc:
        await _close_all(writer, reader)
        raise StoreError(f"cannot use the database {path}: {exc}") from exc
    except BaseException:
        await _close_all(writer, reader)
        raise
    return SQLiteStore(Database(writer, reader, path=path))


async def _close_all(*connections: aiosqlite.Connection | None) -> None:
    for db in connections:
        if db is not None:
            await db.close()


def _too_new(path: str, current: int) -> SchemaTooNewError:
    return SchemaTooNewError(
        f"the database {path} has schema version {current}, but this briefbot knows only up "
        f"to {SCHEMA_VERSION}: upgrade briefbot (the database was left untouched)"
    )
