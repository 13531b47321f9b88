"""The digests' stories on PostgreSQL (:class:`bot.store.ports.StoryStore`): the placing lease
is an UPDATE of the one state row (concurrent claims queue on its row lock and re-check the
lease, so one wins); the rows and the new state are stored in one transaction that first
locks the state row and checks the lease is still held."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from bot.store.postgres.base import PgBase, at
from bot.store.records import StoryRow, StoryState

KEY = "stories"
_STATE = "setting, generation, lo, hi, owner, lease_until"


def _state(row: asyncpg.Record) -> StoryState:
    return StoryState(setting=row["setting"], generation=int(row["generation"]),
                      lo=int(row["lo"]), hi=int(row["hi"]), owner=row["owner"],
                      lease_until=at(row["lease_until"]))


class PgStories(PgBase):
    """:class:`bot.store.ports.StoryStore` on PostgreSQL."""

    async def story_state(self) -> StoryState | None:
        row = await self._fetchrow(f"SELECT {_STATE} FROM story_state WHERE key = $1", KEY)
        return None if row is None else _state(row)

    async def claim_stories(self, *, owner: str, now: datetime, lease_until: datetime
                            ) -> StoryState | None:
        async with self.transaction() as conn:
            await conn.execute("INSERT INTO story_state (key) VALUES ($1)"
                               " ON CONFLICT (key) DO NOTHING", KEY)
            row = await conn.fetchrow(
                "UPDATE story_state SET owner = $2, lease_until = $3 WHERE key = $1"
                " AND (owner IS NULL OR owner = $2 OR lease_until < $4)"
                f" RETURNING {_STATE}", KEY, owner, lease_until.timestamp(), now.timestamp())
        return None if row is None else _state(row)

    async def release_stories(self, *, owner: str) -> None:
        await self._execute("UPDATE story_state SET owner = NULL, lease_until = 0"
                            " WHERE key = $1 AND owner = $2", KEY, owner)

    async def save_stories(self, rows: Sequence[StoryRow], *, owner: str, setting: str,
                           generation: int, lo: int, hi: int, now: datetime) -> bool:
        async with self.transaction() as conn:
            held = await conn.fetchval(
                "SELECT owner FROM story_state WHERE key = $1 FOR UPDATE", KEY)
            if held != owner:
                return False
            if rows:
                ids, stories, terms = zip(*rows, strict=True)
                # (an article deleted meanwhile gets no row: the join finds nothing)
                await conn.execute(
                    "INSERT INTO article_stories (article_id, story, terms)"
                    " SELECT u.a, u.s, u.t FROM unnest($1::bigint[], $2::bigint[], $3::text[])"
                    " AS u (a, s, t) JOIN articles ON articles.id = u.a"
                    " ON CONFLICT (article_id) DO UPDATE SET story = excluded.story,"
                    " terms = excluded.terms", list(ids), list(stories), list(terms))
            await conn.execute(
                "UPDATE story_state SET setting = $2, generation = $3, lo = $4, hi = $5,"
                " owner = NULL, lease_until = 0, updated_at = $6 WHERE key = $1",
                KEY, setting, generation, lo, hi, now.timestamp())
        return True

    async def story_rows(self, *, after_id: int, through_id: int) -> list[StoryRow]:
        rows = await self._fetch(
            "SELECT article_id, story, terms FROM article_stories"
            " WHERE article_id > $1 AND article_id <= $2 ORDER BY article_id",
            after_id, through_id)
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]
