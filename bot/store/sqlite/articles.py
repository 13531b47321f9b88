"""The articles repository: every statement on ``articles``, ``articles_fts`` (its vocabulary
included) and ``article_urls``.

Add (deduplicated by canonical URL and text hash), look up, latest, search (FTS5, bm25), the
other URLs that lead to an article, the alert-matching mark and the digest's window by id.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import aiosqlite

from bot.models import Article, ArticleDraft
from bot.store.records import DigestArticle, NewArticle
from bot.store.sqlite.db import Database, from_ts, marks, to_ts, ts
from bot.text import words

COLUMNS = (
    "id, title, text, summary, url, canonical_url, source, author, published_at, ingested_at,"
    " content_hash, feed_id, backlog"
)
_A_COLUMNS = ", ".join("a." + c.strip() for c in COLUMNS.split(","))
_MAX_QUERY_WORDS = 24
# a possessive is its word: "Yukos's" and "Yukos'" find Yukos (the index splits at the
# apostrophe, so the phrase "yukos s" would find only the possessive)
_POSSESSIVE = re.compile(r"['’]s?$", re.IGNORECASE)
# A word in more articles than this is "common": a query with one is answered by recency
# within its newest RANK_WINDOW matches, not by bm25 (see search_articles).
RANK_WINDOW = 2000
# ...and looked for first among the newest this many articles (weeks of news at a million a
# year), so a combination of common words that is rare costs no more in a larger store.
RECENT_IDS = 50_000
# ...where matches with the words in the title come first among the newest this many matches
# (a title filter reads every candidate's positions: kept to a bounded set).
TITLE_WINDOW = 200
# "Did you mean" compares a typo with the stored vocabulary itself while the store is small,
# and above this many articles with a cached list of the most frequent terms (search_terms).
SMALL_STORE = 20_000
# FTS5 merge work done after each pruned batch (pages): keeps the index's tombstones in check.
FTS_MERGE_PAGES = 200
TERM_LIST_SIZE = 30_000


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


_PHRASE = re.compile(r'"([^"]*)"')


def fts_units(text: str) -> list[str]:
    """User text -> FTS5 quoted words and phrases; nothing typed reaches FTS5 syntax.

    Words in double quotes stay together as a phrase (``"rocket launch" mars``)."""
    units: list[str] = []
    budget = _MAX_QUERY_WORDS

    def add(chunk: str, *, phrase: bool) -> None:
        nonlocal budget
        terms = [_POSSESSIVE.sub("", w.replace('"', "")) for w in words(chunk)][:budget]
        terms = [t for t in terms if t]
        budget -= len(terms)
        if not terms:
            return
        if phrase:
            units.append('"' + " ".join(terms) + '"')
        else:
            units.extend(f'"{t}"' for t in terms)

    last = 0
    for match in _PHRASE.finditer(text):
        add(text[last:match.start()], phrase=False)
        add(match.group(1), phrase=True)
        last = match.end()
    add(text[last:], phrase=False)
    return units


def fts_query(text: str, *, mode: str = "AND") -> str | None:
    """User text -> an FTS5 query: every word or phrase (AND) or any of them (OR)."""
    units = fts_units(text)
    return f" {mode} ".join(units) if units else None


class SQLiteArticles:
    """:class:`bot.store.ports.ArticleStore` on SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._terms: tuple[float, dict[str, list[str]]] | None = None
        # set by the store: which of these articles a pending alert still needs (the SQL on
        # alerts lives in the alerts repository; it runs inside the prune's transaction)
        self.pending_alert_articles: Callable[
            [aiosqlite.Connection, Sequence[int]], Awaitable[set[int]]] | None = None

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
        values = (title, draft.text, json.dumps(list(summary), ensure_ascii=False), draft.url,
                  canonical_url, draft.source, draft.author, to_ts(draft.published_at),
                  to_ts(ingested_at), content_hash, draft.feed_id, int(backlog))

        def insert(db: sqlite3.Connection) -> list[sqlite3.Row]:  # one trip, FTS by trigger
            return db.execute(
                "INSERT INTO articles (title, text, summary, url, canonical_url, source, author,"
                " published_at, ingested_at, content_hash, feed_id, backlog)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING " + COLUMNS, values).fetchall()

        rows = await self._db.write(insert)
        return article_from_row(rows[0]) if rows else None

    async def add_articles(self, batch: Sequence[NewArticle]) -> int:
        """Store many articles in one transaction (imports, the scale benchmark); those whose
        canonical URL or text hash is known are skipped. Returns how many were stored."""
        async with self._db.transaction() as db:
            cur = await db.executemany(
                "INSERT INTO articles (title, text, summary, url, canonical_url, source, author,"
                " published_at, ingested_at, content_hash, feed_id, backlog, alerts_matched_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(n.title, n.draft.text, json.dumps(list(n.summary), ensure_ascii=False),
                  n.draft.url, n.canonical_url, n.draft.source, n.draft.author,
                  to_ts(n.draft.published_at), to_ts(n.ingested_at), n.content_hash,
                  n.draft.feed_id, int(n.backlog), to_ts(n.ingested_at)) for n in batch],
            )
            stored = max(cur.rowcount, 0)  # summed over the rows; triggers' rows not counted
            await cur.close()
        return stored

    async def prune_articles(self, *, before: datetime, below_id: int | None,
                             limit: int) -> int:
        """Delete up to ``limit`` of the oldest articles ingested before ``before`` (with their
        index rows, other URLs and delivered alerts), never one with an id at or above
        ``below_id`` (an unsent digest needs it) nor one a pending alert needs. Returns how
        many went."""
        async with self._db.transaction() as db:
            async with db.execute(
                "SELECT id FROM articles WHERE ingested_at < ? AND id < ?"
                " ORDER BY ingested_at LIMIT ?",
                (to_ts(before), below_id if below_id is not None else 1 << 62, limit),
            ) as cur:
                ids = [int(r[0]) for r in await cur.fetchall()]
            if ids and self.pending_alert_articles is not None:
                kept = await self.pending_alert_articles(db, ids)
                ids = [i for i in ids if i not in kept]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                await db.execute(f"DELETE FROM articles WHERE id IN ({marks(len(chunk))})",
                                 chunk)
            if ids:
                # a deleted row leaves a tombstone in the FTS5 index until its segments are
                # merged: merge a bounded amount now (pages of work, not the whole index), so
                # the index does not grow between FTS5's own automerges
                await db.execute("INSERT INTO articles_fts (articles_fts, rank)"
                                 " VALUES ('merge', ?)", (-FTS_MERGE_PAGES,))
        return len(ids)

    async def add_article_url(self, url: str, article_id: int) -> None:
        """Another URL that leads to a stored article (the link as typed, a redirect)."""
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO article_urls (url, article_id) VALUES (?, ?)"
                " ON CONFLICT (url) DO NOTHING", (url, article_id))

    @staticmethod
    def stored_ids(db: sqlite3.Connection, ids: Sequence[int]) -> set[int]:
        """Inside the caller's transaction (in the writer's thread): which of ``ids`` are
        stored articles (the stories repository keeps rows only for those)."""
        found: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            found.update(r[0] for r in db.execute(
                f"SELECT id FROM articles WHERE id IN ({marks(len(chunk))})", chunk))
        return found

    @staticmethod
    def mark_matched(db: sqlite3.Connection, article_id: int, *, now: datetime) -> None:
        """Inside the caller's transaction (in the writer's thread): the article was matched
        against the alerts."""
        db.execute("UPDATE articles SET alerts_matched_at = ? WHERE id = ?",
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
        """Best matches first; all words first, then any word.

        A query whose words each appear in at most :data:`RANK_WINDOW` articles is ranked by
        bm25 (title weighted 5x) over all its matches, as always. A query with a *common* word
        (in more articles than that) is answered by recency: its matches among its newest
        RANK_WINDOW, those matching in the title first, newest first. bm25 would cost a walk
        over every article holding the common word (FTS5 counts them for the word's idf), and
        for a word in most articles its idf is about zero anyway: recency is the better order
        and costs a bounded walk down the newest end of the index. Title matches come first
        among the newest :data:`TITLE_WINDOW` matches, themselves looked for among the newest
        :data:`RECENT_IDS` articles first."""
        units = fts_units(text)
        if not units:
            return []
        for mode in ("AND", "OR"):
            query = f" {mode} ".join(units)
            common_sql = " OR ".join(
                f"(SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?{i + 2}"
                " ORDER BY rowid DESC LIMIT 1 OFFSET ?1) IS NOT NULL"
                for i in range(len(units)))
            row = await self._db.fetchone(
                f"SELECT {common_sql}, coalesce((SELECT rowid FROM articles_fts WHERE"
                f" articles_fts MATCH ?{len(units) + 2} AND rowid >= (SELECT coalesce(max(id),"
                f" 0) FROM articles) - ?{len(units) + 3} ORDER BY rowid DESC LIMIT 1"
                f" OFFSET ?{len(units) + 4}), 0)",
                (RANK_WINDOW - 1, *units, query, RECENT_IDS, min(TITLE_WINDOW, RANK_WINDOW) - 1),
            )
            assert row is not None
            if not row[0]:
                rows = await self._db.fetchall(
                    f"SELECT {_A_COLUMNS} FROM (SELECT rowid, rank FROM articles_fts"
                    " WHERE articles_fts MATCH ? ORDER BY rank LIMIT ?) f"
                    " JOIN articles a ON a.id = f.rowid ORDER BY f.rank",
                    (query, limit),
                )
            else:
                # title first for one word or phrase; with several, FTS5's title filter walks
                # back through the whole index when few titles hold them all (measured 16 ms
                # at 540k articles): those are answered newest first
                title = f"title : ({query})" if len(units) == 1 else None
                rows = await self._recent(query, title=title, floor=int(row[1]), limit=limit,
                                          recent=RECENT_IDS)
                if len(rows) < limit:  # few matches among the recent articles: look further
                    rows = await self._recent(query, title=title, floor=0, limit=limit,
                                              recent=None)
            if rows:
                return [article_from_row(r) for r in rows]
        return []

    async def _recent(self, query: str, *, title: str | None, floor: int, limit: int,
                      recent: int | None) -> list[sqlite3.Row]:
        """Matches of ``query`` with an id from ``floor`` (and among the ``recent`` newest
        ids), those matching ``title`` (a title-only query) first, newest first."""
        lowest = ("max(?3, (SELECT coalesce(max(id), 0) FROM articles) - ?5)"
                  if recent is not None else "?3")
        titled = (f"SELECT rowid AS id FROM articles_fts WHERE articles_fts MATCH ?1"
                  f" AND rowid >= {lowest} ORDER BY rowid DESC LIMIT ?4" if title
                  else "SELECT 0 AS id WHERE ?1 = '' AND 0")
        return await self._db.fetchall(
            f"WITH t AS ({titled}),"
            " b AS (SELECT rowid AS id FROM articles_fts WHERE articles_fts MATCH ?2"
            f" AND rowid >= {lowest} ORDER BY rowid DESC LIMIT 2 * ?4)"
            f" SELECT {_A_COLUMNS} FROM (SELECT id, 0 AS k FROM t UNION ALL"
            " SELECT id, 1 FROM b WHERE id NOT IN (SELECT id FROM t)) x"
            " JOIN articles a ON a.id = x.id ORDER BY x.k, x.id DESC LIMIT ?4",
            (title or "", query, floor, limit,
             *(() if recent is None else (recent,))),
        )

    async def suggest_terms(self, text: str, *, limit: int = 3) -> list[str]:
        """Stored words close to the words of ``text``: "did you mean" for a typo.

        A small store is looked up in its whole vocabulary; a large one in the cached list of
        its most frequent terms (:meth:`refresh_search_terms`), so a typo whose word is rare
        in a large store may get no suggestion."""
        typed = [w.lower() for w in words(text)[:_MAX_QUERY_WORDS] if len(w) >= 3]
        if not typed:
            return []
        if await self.max_article_id() <= SMALL_STORE:
            by_letter = await self._vocabulary({w[0] for w in typed})
        else:
            by_letter = await self._term_list()
        suggestions: list[str] = []
        for w in typed:
            terms = [t for t in by_letter.get(w[0], ()) if abs(len(t) - len(w)) <= 3]
            for stem in difflib.get_close_matches(w, terms, n=limit, cutoff=0.75):
                # the index holds stems ("yuko"): offer a word as the articles write it
                word_form = await self._word_for_stem(stem)
                if word_form and word_form.lower() != w:
                    suggestions.append(word_form)
            if len(suggestions) >= limit:
                break
        seen: dict[str, None] = dict.fromkeys(s for s in suggestions)
        return list(seen)[:limit]

    async def _word_for_stem(self, stem: str) -> str | None:
        """A word of a stored article that the index keeps as ``stem``: the spelling used
        most in the newest matching article's title and first 5,000 characters."""
        row = await self._db.fetchone(
            "SELECT a.title, substr(a.text, 1, 5000) FROM articles_fts"
            " JOIN articles a ON a.id = articles_fts.rowid WHERE articles_fts MATCH ?"
            " ORDER BY articles_fts.rowid DESC LIMIT 1", (f'"{stem}"',))
        if row is None:
            return None
        forms: dict[str, int] = {}
        for word in words(f"{row[0]} {row[1]}"):
            bare = _POSSESSIVE.sub("", word)
            if bare.lower().startswith(stem[:max(3, len(stem) - 1)]) and len(bare) <= len(stem) + 4:
                forms[bare] = forms.get(bare, 0) + 1
        if not forms:
            return None
        return max(forms, key=lambda f: (forms[f], f.islower()))

    async def _vocabulary(self, letters: set[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for letter in letters:
            rows = await self._db.fetchall(
                "SELECT term FROM articles_fts_vocab WHERE term >= ? AND term < ?"
                " ORDER BY doc DESC LIMIT 5000",
                (letter, chr(ord(letter) + 1)),
            )
            found[letter] = [str(r[0]) for r in rows]
        return found

    async def _term_list(self) -> dict[str, list[str]]:
        """The cached term list by first letter (kept in memory for a few minutes)."""
        if self._terms is None or time.monotonic() - self._terms[0] > 300:
            rows = await self._db.fetchall("SELECT term FROM search_terms ORDER BY docs DESC")
            if not rows:
                await self.refresh_search_terms()
                rows = await self._db.fetchall(
                    "SELECT term FROM search_terms ORDER BY docs DESC")
            by_letter: dict[str, list[str]] = {}
            for r in rows:
                term = str(r[0])
                by_letter.setdefault(term[0], []).append(term)
            self._terms = (time.monotonic(), by_letter)
        return self._terms[1]

    async def refresh_search_terms(self) -> int:
        """Rebuild the cached list of the most frequent stored terms from the FTS vocabulary
        (reads the whole vocabulary: maintenance work, not a request's)."""
        rows = await self._db.fetchall(
            "SELECT term, doc FROM articles_fts_vocab WHERE length(term) >= 3"
            " ORDER BY doc DESC LIMIT ?", (TERM_LIST_SIZE,))
        async with self._db.transaction() as db:
            await db.execute("DELETE FROM search_terms")
            await db.executemany("INSERT INTO search_terms (term, docs) VALUES (?, ?)",
                                 [(str(r[0]), int(r[1])) for r in rows])
        self._terms = None
        return len(rows)

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
