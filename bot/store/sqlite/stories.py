"""The stories repository: every statement on ``article_stories`` (each placed article's story
terms and story) and ``story_state`` (what the stored stories cover, their generation and the
placing lease); see :class:`bot.store.ports.StoryStore`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from bot.store.records import StoryRow, StoryState
from bot.store.sqlite.articles import SQLiteArticles
from bot.store.sqlite.db import Database, ts

KEY = "stories"
_STATE = "setting, generation, lo, hi, owner, lease_until"


def _state(row: sqlite3.Row | tuple[object, ...]) -> StoryState:
    return StoryState(setting=str(row[0]), generation=int(str(row[1])), lo=int(str(row[2])),
                      hi=int(str(row[3])), owner=None if row[4] is None else str(row[4]),
                      lease_until=ts(float(str(row[5]))))


class SQLiteStories:
    """:class:`bot.store.ports.StoryStore` on SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def story_state(self) -> StoryState | None:
        row = await self._db.fetchone(f"SELECT {_STATE} FROM story_state WHERE key = ?", (KEY,))
        return None if row is None else _state(row)

    async def claim_stories(self, *, owner: str, now: datetime, lease_until: datetime
                            ) -> StoryState | None:
        def claim(db: sqlite3.Connection) -> StoryState | None:
            db.execute("INSERT INTO story_state (key) VALUES (?) ON CONFLICT (key) DO NOTHING",
                       (KEY,))
            row = db.execute(
                "UPDATE story_state SET owner = ?, lease_until = ? WHERE key = ?"
                " AND (owner IS NULL OR owner = ? OR lease_until < ?)"
                f" RETURNING {_STATE}",
                (owner, lease_until.timestamp(), KEY, owner, now.timestamp())).fetchone()
            return None if row is None else _state(row)

        return await self._db.write(claim)

    async def release_stories(self, *, owner: str) -> None:
        def release(db: sqlite3.Connection) -> None:
            db.execute("UPDATE story_state SET owner = NULL, lease_until = 0"
                       " WHERE key = ? AND owner = ?", (KEY, owner))

        await self._db.write(release)

    async def save_stories(self, rows: Sequence[StoryRow], *, owner: str, setting: str,
                           generation: int, lo: int, hi: int, now: datetime) -> bool:
        def save(db: sqlite3.Connection) -> bool:
            held = db.execute("SELECT owner FROM story_state WHERE key = ?", (KEY,)).fetchone()
            if held is None or held[0] != owner:
                return False
            stored = SQLiteArticles.stored_ids(db, [r[0] for r in rows])
            db.executemany(  # (an article deleted meanwhile gets no row)
                "INSERT INTO article_stories (article_id, story, terms) VALUES (?, ?, ?)"
                " ON CONFLICT (article_id) DO UPDATE SET story = excluded.story,"
                " terms = excluded.terms", [r for r in rows if r[0] in stored])
            db.execute(
                "UPDATE story_state SET setting = ?, generation = ?, lo = ?, hi = ?,"
                " owner = NULL, lease_until = 0, updated_at = ? WHERE key = ?",
                (setting, generation, lo, hi, now.timestamp(), KEY))
            return True

        return await self._db.write(save)

    async def story_rows(self, *, after_id: int, through_id: int) -> list[StoryRow]:
        rows = await self._db.fetchall(
            "SELECT article_id, story, terms FROM article_stories"
            " WHERE article_id > ? AND article_id <= ? ORDER BY article_id",
            (after_id, through_id))
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]
