"""The articles repository: every statement on ``articles``, ``articles_fts`` (its vocabulary
included) and ``article_urls``.

Add (deduplicated by canonical URL and text hash), look up, latest, search (FTS5, bm25), the
other URLs that lead to an article, the alert-matching mark and the digest's window by id.
"""

from __future__ import annotations

import difflib
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from bot.models import Article, ArticleDraft
from bot.store.records import DigestArticle
from bot.store.sqlite.db import Database, from_ts, marks, to_ts, ts
from bot.text import words

COLUMNS = (
    "id, title, text, summary, url, canonical_url, source, author, published_at, ingested_at,"
    " content_hash, feed_id, backlog"
)
_A_COLUMNS = ", ".join("a." + c.strip() for c in COLUMNS.split(","))
_MAX_QUERY_WORDS = 24


def article_from_row(row: sqlite3.Row) -> Article:
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
        ingested_at=ts(row["ingested_at"]),
        content_hash=row["content_hash"],
        feed_id=row["feed_id"],
        backlog=bool(row["backlog"]),
    )


def _digest_article(row: sqlite3.Row) -> DigestArticle:
    return DigestArticle(
        id=row["id"], title=row["title"], summary=tuple(json.loads(row["summary"])),
        url=row["url"], source=row["source"], published_at=from_ts(row["published_at"]),
        ingested_at=ts(row["ingested_at"]), feed_id=row["feed_id"],
    )


def fts_query(text: str, *, mode: str = "AND") -> str | None:
    """User text -> an FTS5 query of quoted words; nothing typed reaches FTS5 syntax."""
    terms = [w.replace('"', "") for w in words(text)][:_MAX_QUERY_WORDS]
    terms = [t for t in terms if t]
    if not terms:
        return None
    return f" {mode} ".join(f'"{t}"' for t in terms)


class SQLiteArticles:
    """:class:`bot.store.ports.ArticleStore` on SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writes ---------------------------------------------------------------------------

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
        async with self._db.transaction() as db, db.execute(
            "INSERT INTO articles (title, text, summary, url, canonical_url, source, author,"
            " published_at, ingested_at, content_hash, feed_id, backlog)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING " + COLUMNS,
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

    async def add_article_url(self, url: str, article_id: int) -> None:
        """Another URL that leads to a stored article (the link as typed, a redirect)."""
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO article_urls (url, article_id) VALUES (?, ?)"
                " ON CONFLICT (url) DO NOTHING", (url, article_id))

    @staticmethod
    async def mark_matched(db: aiosqlite.Connection, article_id: int, *,
                           now: datetime) -> None:
        """Inside the caller's transaction: the article was matched against the alerts."""
        await db.execute("UPDATE articles SET alerts_matched_at = ? WHERE id = ?",
                         (to_ts(now), article_id))

    # -- reads ----------------------------------------------------------------------------

    async def find_known_article(
        self, *, canonical_url: str | None, content_hash: str | None
    ) -> Article | None:
        """The stored article with this canonical URL or text hash, if any."""
        row = await self._db.fetchone(
            f"SELECT {COLUMNS} FROM articles WHERE canonical_url = ? OR content_hash = ?"
            " ORDER BY id LIMIT 1",
            (canonical_url, content_hash),
        )
        return None if row is None else article_from_row(row)

    async def get_article(self, article_id: int) -> Article | None:
        row = await self._db.fetchone(f"SELECT {COLUMNS} FROM articles WHERE id = ?",
                                      (article_id,))
        return None if row is None else article_from_row(row)

    async def articles_by_ids(self, ids: Sequence[int]) -> dict[int, Article]:
        """The stored articles among ``ids``, by id."""
        found: dict[int, Article] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            rows = await self._db.fetchall(
                f"SELECT {COLUMNS} FROM articles WHERE id IN ({marks(len(chunk))})", chunk)
            for r in rows:
                found[int(r["id"])] = article_from_row(r)
        return found

    async def article_by_url(self, url: str) -> Article | None:
        """The stored article whose canonical URL, or one of whose other URLs, is ``url``."""
        row = await self._db.fetchone(
            f"SELECT {COLUMNS} FROM articles WHERE canonical_url = ?"
            f" UNION ALL SELECT {_A_COLUMNS}"
            " FROM article_urls u JOIN articles a ON a.id = u.article_id WHERE u.url = ?"
            " LIMIT 1",
            (url, url),
        )
        return None if row is None else article_from_row(row)

    async def latest_articles(self, limit: int) -> list[Article]:
        return await self.newest_articles(limit=limit)

    async def newest_articles(self, *, limit: int, offset: int = 0) -> list[Article]:
        """Stored articles, newest first (published, else ingested), a page at a time."""
        rows = await self._db.fetchall(
            f"SELECT {COLUMNS} FROM articles"
            " ORDER BY coalesce(published_at, ingested_at) DESC, id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [article_from_row(r) for r in rows]

    async def articles_since(
        self, since: datetime, *, feed_ids: Sequence[int] | None = None, limit: int = 10_000
    ) -> list[Article]:
        """Articles ingested after ``since``, oldest first; only from ``feed_ids`` if given."""
        params: list[object] = [to_ts(since)]
        where = "ingested_at > ?"
        if feed_ids is not None:
            where += f" AND feed_id IN ({marks(len(feed_ids))})"
            params.extend(feed_ids)
        params.append(limit)
        rows = await self._db.fetchall(
            f"SELECT {COLUMNS} FROM articles WHERE {where} ORDER BY ingested_at, id LIMIT ?",
            params,
        )
        return [article_from_row(r) for r in rows]

    async def count_articles(self) -> int:
        row = await self._db.fetchone("SELECT count(*) FROM articles")
        return int(row[0]) if row else 0

    async def search_articles(self, text: str, *, limit: int) -> list[Article]:
        """Best matches first (bm25, title weighted 5x); all words first, then any word."""
        for mode in ("AND", "OR"):
            query = fts_query(text, mode=mode)
            if query is None:
                return []
            rows = await self._db.fetchall(
                f"SELECT {_A_COLUMNS}"
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
            rows = await self._db.fetchall(
                "SELECT term FROM articles_fts_vocab WHERE term >= ? AND term < ?"
                " ORDER BY doc DESC LIMIT 5000",
                (w[0], chr(ord(w[0]) + 1)),
            )
            terms = [r[0] for r in rows]
            suggestions.extend(difflib.get_close_matches(w, terms, n=limit, cutoff=0.75))
        seen: dict[str, None] = dict.fromkeys(s for s in suggestions)
        return list(seen)[:limit]

    async def unmatched_articles(self, *, since: datetime, limit: int = 1000) -> list[Article]:
        """Articles stored after ``since`` that were never matched against the subscriptions
        (the process stopped between storing and matching), oldest first; never a backlog."""
        rows = await self._db.fetchall(
            f"SELECT {COLUMNS} FROM articles WHERE alerts_matched_at IS NULL"
            " AND backlog = 0 AND ingested_at > ? ORDER BY id LIMIT ?",
            (to_ts(since), limit),
        )
        return [article_from_row(r) for r in rows]

    # -- the digest's window ----------------------------------------------------------------

    async def article_id_watermark(self, *, since: datetime) -> int:
        """The largest id below every article ingested after ``since``."""
        row = await self._db.fetchone(
            "SELECT coalesce((SELECT min(id) FROM articles WHERE ingested_at > ?),"
            " (SELECT coalesce(max(id), 0) + 1 FROM articles)) - 1",
            (to_ts(since),),
        )
        return int(row[0]) if row else 0

    async def max_article_id(self) -> int:
        """Every article with an id up to this one is committed (SQLite's single writer
        commits ids in increasing order), so it is a safe digest watermark."""
        row = await self._db.fetchone("SELECT coalesce(max(id), 0) FROM articles")
        return int(row[0]) if row else 0

    async def digest_articles(
        self, *, after_id: int, through_id: int, feed_ids: Sequence[int] | None = None,
        limit: int = 100_000,
    ) -> list[DigestArticle]:
        """Articles with ``after_id < id <= through_id`` (ids grow with each insert, so this
        is "stored since"), only from ``feed_ids`` if given; oldest first; never a backlog."""
        params: list[object] = [after_id, through_id]
        where = "id > ? AND id <= ? AND backlog = 0"  # a new feed's backlog is never posted
        if feed_ids is not None:
            where += f" AND feed_id IN ({marks(len(feed_ids))})"
            params.extend(feed_ids)
        params.append(limit)
        rows = await self._db.fetchall(
            "SELECT id, title, summary, url, source, published_at, ingested_at, feed_id"
            f" FROM articles WHERE {where} ORDER BY id LIMIT ?",
            params,
        )
        return [_digest_article(r) for r in rows]
