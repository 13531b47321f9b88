"""Article queries: add (deduplicated), look up, latest, search (FTS5, bm25)."""

from __future__ import annotations

import difflib
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from bot.models import Article, ArticleDraft
from bot.store.base import StoreBase, from_ts, to_ts
from bot.text import words

_COLUMNS = (
    "id, title, text, summary, url, canonical_url, source, author, published_at, ingested_at,"
    " content_hash, feed_id, backlog"
)
_MAX_QUERY_WORDS = 24


def article_from_row(row: sqlite3.Row) -> Article:
    ingested = from_ts(row["ingested_at"])
    assert ingested is not None
    return Article(
        id=row["id"],
        title=row["title"],
        text=row["text"],
        summary=tuple(json.loads(row["summary"])),
        url=row["url"],
        canonical_url=row["canonical_url"],
        source=row["source"],
        author=row["author"],
        published_at=from_ts(row["published_at"]),
        ingested_at=ingested,
        content_hash=row["content_hash"],
        feed_id=row["feed_id"],
        backlog=bool(row["backlog"]),
    )


def fts_query(text: str, *, mode: str = "AND") -> str | None:
    """User text -> an FTS5 query of quoted words; nothing typed reaches FTS5 syntax."""
    terms = [w.replace('"', "") for w in words(text)][:_MAX_QUERY_WORDS]
    terms = [t for t in terms if t]
    if not terms:
        return None
    return f" {mode} ".join(f'"{t}"' for t in terms)


class ArticleQueries(StoreBase):
    async def add_article(
        self,
        draft: ArticleDraft,
        *,
        title: str,
        summary: Sequence[str],
        content_hash: str,
        canonical_url: str | None,
        ingested_at: datetime,
        backlog: bool = False,
    ) -> Article | None:
        """Store a new article; None when its canonical URL or text hash is already known.

        ``backlog``: taken in silently (a feed's current items when it is added).
        """
        async with self.transaction() as db, db.execute(
            "INSERT INTO articles (title, text, summary, url, canonical_url, source, author,"
            " published_at, ingested_at, content_hash, feed_id, backlog)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING " + _COLUMNS,
            (
                title,
                draft.text,
                json.dumps(list(summary), ensure_ascii=False),
                draft.url,
                canonical_url,
                draft.source,
                draft.author,
                to_ts(draft.published_at),
                to_ts(ingested_at),
                content_hash,
                draft.feed_id,
                int(backlog),
            ),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else article_from_row(row)

    async def find_known_article(
        self, *, canonical_url: str | None, content_hash: str | None
    ) -> Article | None:
        """The stored article with this canonical URL or text hash, if any."""
        row = await self._fetchone(
            f"SELECT {_COLUMNS} FROM articles WHERE canonical_url = ? OR content_hash = ?"
            " ORDER BY id LIMIT 1",
            (canonical_url, content_hash),
        )
        return None if row is None else article_from_row(row)

    async def get_article(self, article_id: int) -> Article | None:
        row = await self._fetchone(f"SELECT {_COLUMNS} FROM articles WHERE id = ?", (article_id,))
        return None if row is None else article_from_row(row)

    async def latest_articles(self, limit: int) -> list[Article]:
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM articles"
            " ORDER BY coalesce(published_at, ingested_at) DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [article_from_row(r) for r in rows]

    async def articles_since(
        self, since: datetime, *, feed_ids: Sequence[int] | None = None, limit: int = 10_000
    ) -> list[Article]:
        """Articles ingested after ``since``, oldest first; only from ``feed_ids`` if given."""
        params: list[object] = [to_ts(since)]
        where = "ingested_at > ?"
        if feed_ids is not None:
            where += f" AND feed_id IN ({', '.join('?' * len(feed_ids))})"
            params.extend(feed_ids)
        params.append(limit)
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM articles WHERE {where} ORDER BY ingested_at, id LIMIT ?",
            params,
        )
        return [article_from_row(r) for r in rows]

    async def count_articles(self) -> int:
        row = await self._fetchone("SELECT count(*) FROM articles")
        return int(row[0]) if row else 0

    async def search_articles(self, text: str, *, limit: int) -> list[Article]:
        """Best matches first (bm25, title weighted 5x); all words first, then any word."""
        for mode in ("AND", "OR"):
            query = fts_query(text, mode=mode)
            if query is None:
                return []
            rows = await self._fetchall(
                f"SELECT {', '.join('a.' + c.strip() for c in _COLUMNS.split(','))}"
                " FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
                " WHERE articles_fts MATCH ? ORDER BY bm25(articles_fts, 5.0, 1.0) LIMIT ?",
                (query, limit),
            )
            if rows:
                return [article_from_row(r) for r in rows]
        return []

    async def suggest_terms(self, text: str, *, limit: int = 3) -> list[str]:
        """Stored words close to the words of ``text``: "did you mean" for a typo."""
        suggestions: list[str] = []
        for word in words(text)[:_MAX_QUERY_WORDS]:
            w = word.lower()
            if len(w) < 3:
                continue
            rows = await self._fetchall(
                "SELECT term FROM articles_fts_vocab WHERE term >= ? AND term < ?"
                " ORDER BY doc DESC LIMIT 5000",
                (w[0], chr(ord(w[0]) + 1)),
            )
            terms = [r[0] for r in rows]
            suggestions.extend(difflib.get_close_matches(w, terms, n=limit, cutoff=0.75))
        seen: dict[str, None] = dict.fromkeys(s for s in suggestions)
        return list(seen)[:limit]
