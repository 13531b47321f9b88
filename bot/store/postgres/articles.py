"""Articles on PostgreSQL: dedupe by constraint, full-text search, and a *safe* id watermark.

Search: ``articles.search`` is a stored ``tsvector`` (title weight A, body B, accents folded by
``briefbot_fold``) under a GIN index, ranked by ``ts_rank`` with the title counting 5x the body
(SQLite: bm25 5:1); all words first, then any word; a query with a common word by recency, as
on SQLite (:meth:`PgArticles.search_articles`). The typed words are turned into a query by
``websearch_to_tsquery``, which never raises on user text. "Did you mean" compares the typed word
with the stemmed words of the index (table ``article_terms``, filled by the statement that
stores the article: an ingest is one round trip), as SQLite's fts5vocab does.

The watermark: a digest posts the articles with ``after_id < id <= through`` and remembers
``through``. A sequence hands out ids in order but transactions commit them in any order (two
processes: id 102 commits before 101), so ``max(id)`` could pass over an id still in flight and
the next digest would never see it. Every article insert therefore holds a *shared*
transaction-level advisory lock (inserts never wait for each other), and reading a watermark
takes the same lock *exclusively* for one statement: it waits until every insert in flight has
committed or rolled back, and an insert that starts later draws a larger id.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from bot.models import Article, ArticleDraft
from bot.store.postgres.base import Conn, PgBase, at, from_ts, ids_param, to_ts, ts
from bot.store.records import DigestArticle, NewArticle
from bot.text import words

COLUMNS = (
    "id, title, text, summary, url, canonical_url, source, author, published_at, ingested_at,"
    " content_hash, feed_id, backlog"
)
A_COLUMNS = ", ".join("a." + c.strip() for c in COLUMNS.split(","))
_MAX_QUERY_WORDS = 24
_PHRASE = re.compile(r'"([^"]+)"')
# a possessive is its word: "Yukos's" and "Yukos'" find Yukos
_POSSESSIVE = re.compile(r"['’]s?$", re.IGNORECASE)
# A word in more articles than this is "common" (as on SQLite): a query with one is answered by
# recency, not by rank, and only the newest RANK_WINDOW matches of any query are ranked.
RANK_WINDOW = 2000
# Answered by recency, a query with a phrase: its matches among the newest this many articles
# holding all its words (a phrase needs each article's positions: cost flat in the store)...
RECENT_CANDIDATES = 1000
# ...with the title matches first among the newest this many matches (one word or phrase).
TITLE_WINDOW = 200
# the advisory lock (key) that orders article commits before a watermark is read
INSERT_LOCK = 0x62726965666964  # "briefid"
WATERMARK_LOCK_TIMEOUT = "30s"
# ts_rank weights {D, C, B, A}: the title (A) counts 5x the body (B)
_WEIGHTS = "{0.1, 0.1, 0.2, 1.0}"

# Accents folded before the words are indexed and searched (café finds cafe, as SQLite's FTS5
# remove_diacritics does): decomposed, the combining diacritical marks dropped. The index does
# it in SQL (briefbot_fold, migration 0006); this is the same for "did you mean".
_MARKS = re.compile("[\u0300-\u036f]")


def article_from_row(row: asyncpg.Record) -> Article:
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
        ingested_at=at(row["ingested_at"]),
        content_hash=row["content_hash"],
        feed_id=row["feed_id"],
        backlog=bool(row["backlog"]),
    )


_INSERT = (
    "INSERT INTO articles (title, text, summary, url, canonical_url, source, author,"
    " published_at, ingested_at, content_hash, feed_id, backlog)")
# the words of newly stored articles, for "did you mean" (sorted: two ingests adding the same
# new words take them in the same order, so neither waits on the other in a cycle)
_TERMS_OF = (
    "INSERT INTO article_terms (term) SELECT DISTINCT u.lexeme FROM {rows}, unnest({rows}.search)"
    " AS u(lexeme) WHERE length(u.lexeme) BETWEEN 3 AND 40 ORDER BY u.lexeme"
    " ON CONFLICT (term) DO NOTHING")


async def insert_article(
    conn: Conn, draft: ArticleDraft, *, title: str, summary: Sequence[str],
    content_hash: str, canonical_url: str | None, ingested_at: datetime, backlog: bool,
) -> Article | None:
    """The insert, inside the caller's transaction (tests hold that transaction open to
    commit ids out of order)."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", INSERT_LOCK)
    row = await conn.fetchrow(
        f"{_INSERT} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        f" ON CONFLICT DO NOTHING RETURNING {COLUMNS}",
        *_values(draft, title=title, summary=summary, content_hash=content_hash,
                 canonical_url=canonical_url, ingested_at=ingested_at, backlog=backlog))
    return None if row is None else article_from_row(row)


def _values(draft: ArticleDraft, *, title: str, summary: Sequence[str], content_hash: str,
            canonical_url: str | None, ingested_at: datetime, backlog: bool) -> tuple[Any, ...]:
    return (title, draft.text, json.dumps(list(summary), ensure_ascii=False), draft.url,
            canonical_url, draft.source, draft.author, to_ts(draft.published_at),
            ts(ingested_at), content_hash, draft.feed_id, backlog)


def fold(text: str) -> str:
    """``text`` with its accents folded as the index folds them (``briefbot_fold`` in SQL)."""
    return _MARKS.sub("", unicodedata.normalize("NFD", text))


def search_units(text: str) -> list[tuple[str, bool]]:
    """User text -> ``websearch_to_tsquery`` inputs, one per word or phrase (quoted, so
    nothing typed is read as an operator), each with whether it is a phrase."""
    units: list[tuple[str, bool]] = []
    budget = _MAX_QUERY_WORDS

    def add(chunk: str, *, phrase: bool) -> None:
        nonlocal budget
        terms = [t for t in (_POSSESSIVE.sub("", w.replace('"', ""))
                             for w in words(chunk)[:budget]) if t]
        budget -= len(terms)
        if terms and phrase and len(terms) > 1:
            units.append(('"' + " ".join(terms) + '"', True))
        else:
            units.extend((f'"{t}"', False) for t in terms)

    last = 0
    for match in _PHRASE.finditer(text):
        add(text[last:match.start()], phrase=False)
        add(match.group(1), phrase=True)
        last = match.end()
    add(text[last:], phrase=False)
    return units


def web_query(text: str, *, joiner: str) -> str | None:
    """User text -> one ``websearch_to_tsquery`` input, its words and phrases joined by
    ``joiner`` (" ": all of them; " or ": any)."""
    units = search_units(text)
    return joiner.join(u for u, _ in units) if units else None


class PgArticles(PgBase):
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
        """One statement, one round trip (its own transaction): the shared insert lock (module
        docstring), the row, and its words for "did you mean"."""
        row = await self._fetchrow(
            "WITH held AS (SELECT pg_advisory_xact_lock_shared($13)),"
            f" new AS ({_INSERT} SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12"
            f" FROM held ON CONFLICT DO NOTHING RETURNING {COLUMNS}, search),"
            f" terms AS ({_TERMS_OF.format(rows='new')})"
            f" SELECT {COLUMNS} FROM new",
            *_values(draft, title=title, summary=summary, content_hash=content_hash,
                     canonical_url=canonical_url, ingested_at=ingested_at, backlog=backlog),
            INSERT_LOCK)
        return None if row is None else article_from_row(row)

    @staticmethod
    async def index_all_terms(conn: Conn) -> None:
        """Rebuild the word list from every article (after ``db copy``)."""
        await conn.execute(
            "INSERT INTO article_terms (term) SELECT DISTINCT lexeme FROM articles,"
            " unnest(search) AS u(lexeme) WHERE length(lexeme) BETWEEN 3 AND 40"
            " ON CONFLICT (term) DO NOTHING")

    async def add_articles(self, batch: Sequence[NewArticle]) -> int:
        """Store many articles in one transaction (imports, benchmarks), skipping those whose
        canonical URL or text hash is known; they count as matched (a batch never alerts)."""
        async with self.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", INSERT_LOCK)
            added = await conn.fetchval(
                "WITH new AS (INSERT INTO articles (title, text, summary, url, canonical_url,"
                " source, author, published_at, ingested_at, content_hash, feed_id, backlog,"
                " alerts_matched_at)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
                " $5::text[], $6::text[], $7::text[], $8::float8[], $9::float8[], $10::text[],"
                " $11::bigint[], $12::boolean[], $9::float8[]) ON CONFLICT DO NOTHING"
                f" RETURNING id, search), terms AS ({_TERMS_OF.format(rows='new')})"
                " SELECT count(*) FROM new",
                [n.title for n in batch], [n.draft.text for n in batch],
                [json.dumps(list(n.summary), ensure_ascii=False) for n in batch],
                [n.draft.url for n in batch], [n.canonical_url for n in batch],
                [n.draft.source for n in batch], [n.draft.author for n in batch],
                [to_ts(n.draft.published_at) for n in batch], [ts(n.ingested_at) for n in batch],
                [n.content_hash for n in batch], [n.draft.feed_id for n in batch],
                [n.backlog for n in batch])
        return int(added)

    async def prune_articles(self, *, before: datetime, below_id: int | None,
                             limit: int) -> int:
        """Delete up to ``limit`` of the oldest articles ingested before ``before``, never one
        with an id at or above ``below_id`` (an unsent digest needs it) nor one a pending alert
        needs. Returns how many went."""
        # the batch chosen once (a MATERIALIZED CTE): as an IN (subquery) the planner may scan
        # it again, and each scan with SKIP LOCKED takes other rows (8 deleted for a limit of 4
        # was seen under the parallel suite)
        rows = await self._fetch(
            "WITH doomed AS MATERIALIZED (SELECT a.id FROM articles a"
            " WHERE a.ingested_at < $1 AND a.id < $2 AND NOT EXISTS (SELECT 1 FROM alerts p"
            " WHERE p.article_id = a.id AND p.state = 'pending')"
            " ORDER BY a.ingested_at LIMIT $3 FOR UPDATE SKIP LOCKED)"
            " DELETE FROM articles x USING doomed WHERE x.id = doomed.id RETURNING x.id",
            ts(before), below_id if below_id is not None else 1 << 62, limit)
        return len(rows)

    async def refresh_search_terms(self) -> int:
        """The word list is kept as articles arrive (:meth:`index_terms`): nothing to do."""
        return int(await self._fetchval("SELECT count(*) FROM article_terms"))

    async def add_article_url(self, url: str, article_id: int) -> None:
        await self._execute(
            "INSERT INTO article_urls (url, article_id) VALUES ($1, $2)"
            " ON CONFLICT (url) DO NOTHING", url, article_id)

    async def find_known_article(
        self, *, canonical_url: str | None, content_hash: str | None
    ) -> Article | None:
        row = await self._fetchrow(
            f"SELECT {COLUMNS} FROM articles WHERE canonical_url = $1 OR content_hash = $2"
            " ORDER BY id LIMIT 1", canonical_url, content_hash)
        return None if row is None else article_from_row(row)

    async def get_article(self, article_id: int) -> Article | None:
        row = await self._fetchrow(f"SELECT {COLUMNS} FROM articles WHERE id = $1", article_id)
        return None if row is None else article_from_row(row)

    async def articles_by_ids(self, ids: Sequence[int]) -> dict[int, Article]:
        rows = await self._fetch(
            f"SELECT {COLUMNS} FROM articles WHERE id = ANY($1::bigint[])", ids_param(ids))
        return {int(r["id"]): article_from_row(r) for r in rows}

    async def article_by_url(self, url: str) -> Article | None:
        row = await self._fetchrow(
            f"SELECT {COLUMNS} FROM articles WHERE canonical_url = $1"
            f" UNION ALL SELECT {A_COLUMNS} FROM article_urls u"
            " JOIN articles a ON a.id = u.article_id WHERE u.url = $1 LIMIT 1", url)
        return None if row is None else article_from_row(row)

    async def latest_articles(self, limit: int) -> list[Article]:
        return await self.newest_articles(limit=limit)

    async def newest_articles(self, *, limit: int, offset: int = 0) -> list[Article]:
        rows = await self._fetch(
            f"SELECT {COLUMNS} FROM articles"
            " ORDER BY coalesce(published_at, ingested_at) DESC, id DESC LIMIT $1 OFFSET $2",
            limit, offset)
        return [article_from_row(r) for r in rows]

    async def articles_since(
        self, since: datetime, *, feed_ids: Sequence[int] | None = None, limit: int = 10_000
    ) -> list[Article]:
        rows = await self._fetch(
            f"SELECT {COLUMNS} FROM articles WHERE ingested_at > $1"
            " AND ($2::bigint[] IS NULL OR feed_id = ANY($2::bigint[]))"
            " ORDER BY ingested_at, id LIMIT $3",
            ts(since), None if feed_ids is None else ids_param(feed_ids), limit)
        return [article_from_row(r) for r in rows]

    async def count_articles(self) -> int:
        return int(await self._fetchval("SELECT count(*) FROM articles"))

    async def search_articles(self, text: str, *, limit: int) -> list[Article]:
        """Best matches first; all words first, then any word; words in double quotes stay
        together as a phrase. As on SQLite: a query whose words each appear in at most
        :data:`RANK_WINDOW` articles is ranked (``ts_rank``, the title 5x the body) over its
        matches; a query with a *common* word is answered by recency: the title matches first
        among the newest :data:`TITLE_WINDOW` matches (one word or phrase), then the newest.
        With a phrase, recency looks at the newest :data:`RECENT_CANDIDATES` articles holding
        all its words (SQLite's index holds positions and looks further: an old phrase made
        of common words may be found there and not here). The work is ``briefbot_search``
        (PG migration 0006): one round trip for each of the two tries."""
        units = search_units(text)
        if not units:
            return []
        typed = [u for u, _ in units]
        words_of = [u.strip('"') if phrase else u for u, phrase in units]
        phrases = any(phrase for _, phrase in units)
        window = min(TITLE_WINDOW, RANK_WINDOW)  # as on SQLite
        for mode in (" ", " or ") if len(units) > 1 else (" ",):
            rows = await self._fetch(
                f"SELECT {A_COLUMNS} FROM briefbot_search($1, $2, $3, $4, $5, $6, $7, $8, $9) s"
                " JOIN articles a ON a.id = s.id ORDER BY s.ord",
                mode.join(typed), mode.join(words_of), words_of, limit, RANK_WINDOW, window,
                RECENT_CANDIDATES if phrases else max(window, 2 * limit), len(units) == 1,
                phrases)
            if rows:
                return [article_from_row(r) for r in rows]
        return []

    async def suggest_terms(self, text: str, *, limit: int = 3) -> list[str]:
        """Stored words close to the words of ``text``: "did you mean" for a typo, offered as
        the articles write them (the index holds stems)."""
        suggestions: list[str] = []
        for word in words(text)[:_MAX_QUERY_WORDS]:
            w = fold(_POSSESSIVE.sub("", word).lower())
            if len(w) < 3:
                continue
            rows = await self._fetch(
                "SELECT term FROM article_terms WHERE term >= $1 AND term < $2"
                " AND length(term) BETWEEN $3 AND $4 LIMIT 5000",
                w[0], chr(ord(w[0]) + 1), len(w) - 3, len(w) + 3)
            terms = [r[0] for r in rows]
            for stem in difflib.get_close_matches(w, terms, n=limit, cutoff=0.75):
                form = await self._word_for_stem(stem)
                if form and form.lower() != w:
                    suggestions.append(form)
            if len(suggestions) >= limit:
                break
        return list(dict.fromkeys(suggestions))[:limit]

    async def _word_for_stem(self, stem: str) -> str | None:
        """A word of a stored article that the index keeps as ``stem``: the spelling used
        most in the newest matching article's title and first 5,000 characters."""
        row = await self._fetchrow(
            "SELECT title, left(text, 5000) AS head FROM articles WHERE search @@ $1::tsquery"
            " ORDER BY id DESC LIMIT 1", "'" + stem.replace("'", "''") + "'")
        if row is None:
            return None
        forms: dict[str, int] = {}
        for word in words(f"{row['title']} {row['head']}"):
            bare = _POSSESSIVE.sub("", word)
            if (fold(bare.lower()).startswith(stem[:max(3, len(stem) - 1)])
                    and len(bare) <= len(stem) + 4):
                forms[bare] = forms.get(bare, 0) + 1
        if not forms:
            return None
        return max(forms, key=lambda f: (forms[f], f.islower()))

    @staticmethod
    async def mark_matched(conn: Conn, article_id: int, *, now: datetime) -> None:
        """Inside the alert repository's transaction: the article was matched."""
        await conn.execute("UPDATE articles SET alerts_matched_at = $1 WHERE id = $2",
                           ts(now), article_id)

    async def unmatched_articles(self, *, since: datetime, limit: int = 1000) -> list[Article]:
        rows = await self._fetch(
            f"SELECT {COLUMNS} FROM articles WHERE alerts_matched_at IS NULL AND NOT backlog"
            " AND ingested_at > $1 ORDER BY id LIMIT $2", ts(since), limit)
        return [article_from_row(r) for r in rows]

    async def _under_barrier(self, sql: str, *args: object) -> int:
        """Run a watermark read once no article insert is in flight (module docstring)."""
        async with self.transaction() as conn:
            await conn.execute(f"SET LOCAL lock_timeout = '{WATERMARK_LOCK_TIMEOUT}'")
            await conn.execute("SELECT pg_advisory_xact_lock($1)", INSERT_LOCK)
            return int(await conn.fetchval(sql, *args))

    async def article_id_watermark(self, *, since: datetime) -> int:
        return await self._under_barrier(
            "SELECT coalesce((SELECT min(id) FROM articles WHERE ingested_at > $1),"
            " (SELECT coalesce(max(id), 0) + 1 FROM articles)) - 1", ts(since))

    async def max_article_id(self) -> int:
        return await self._under_barrier("SELECT coalesce(max(id), 0) FROM articles")

    async def digest_articles(
        self, *, after_id: int, through_id: int, feed_ids: Sequence[int] | None = None,
        limit: int = 100_000,
    ) -> list[DigestArticle]:
        """Articles with ``after_id < id <= through_id`` (never a feed's backlog), only from
        ``feed_ids`` if given; oldest first."""
        rows = await self._fetch(
            "SELECT id, title, summary, url, source, published_at, ingested_at, feed_id"
            " FROM articles WHERE id > $1 AND id <= $2 AND NOT backlog"
            " AND ($3::bigint[] IS NULL OR feed_id = ANY($3::bigint[])) ORDER BY id LIMIT $4",
            after_id, through_id, None if feed_ids is None else ids_param(feed_ids), limit)
        return [
            DigestArticle(
                id=r["id"], title=r["title"], summary=tuple(json.loads(r["summary"])),
                url=r["url"], source=r["source"], published_at=from_ts(r["published_at"]),
                ingested_at=at(r["ingested_at"]), feed_id=r["feed_id"])
            for r in rows
        ]
