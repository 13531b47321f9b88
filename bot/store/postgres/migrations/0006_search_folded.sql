-- Topic search, bounded and accent-folded (house3, session 3).
--
-- Accents: `café` finds `cafe` and the other way round, as SQLite's FTS5 (remove_diacritics)
-- does, without contrib (pgserver has no unaccent): briefbot_fold() decomposes the text (NFD)
-- and drops the combining diacritical marks (U+0300-U+036F), as bot/store/postgres/articles.py
-- fold() does in Python; the index and every query go through it. (A translate() table of the
-- 489 accented Latin letters costs 1.9 ms an article; this costs 0.07 ms.) normalize() needs a
-- UTF8 database, PostgreSQL's default.
-- The column is rebuilt (PostgreSQL 16 cannot change a generated expression): the table is
-- rewritten once.
--
-- The GIN index keeps no pending list (fastupdate off): with it on, every search also read up to
-- 4 MB of not-yet-merged entries (a search of a word in no article took 22 ms at 100k articles
-- before a VACUUM merged them, 1 ms after).
CREATE FUNCTION briefbot_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT regexp_replace(normalize($1, NFD), '[\u0300-\u036f]', '', 'g') $$;

DROP INDEX articles_search;
ALTER TABLE articles DROP COLUMN search;
ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, briefbot_fold(title)), 'A')
    || setweight(to_tsvector('english'::regconfig, briefbot_fold(left(text, 200000))), 'B')
) STORED;
CREATE INDEX articles_search ON articles USING gin (search) WITH (fastupdate = off);

-- "did you mean" offers folded words from now on
TRUNCATE article_terms;
INSERT INTO article_terms (term)
    SELECT DISTINCT lexeme FROM articles, unnest(search) AS u(lexeme)
    WHERE length(lexeme) BETWEEN 3 AND 40;

-- /brief <words>: the article ids to show, in order (bot/store/postgres/articles.py
-- search_articles calls it once for all words, then once for any word). As on SQLite: if a
-- word (or a phrase's words) is in more than rank_window articles, the query is answered by
-- recency, the title matches first among the newest title_window matches (title_first: one
-- word or phrase), then the newest; otherwise its newest rank_window matches are ranked by
-- ts_rank (title 5x the body). Recency reads only the newest `candidates` articles holding all
-- the words (phrases: then checked for the phrase). Each statement is EXECUTEd with its values,
-- so it is planned for its own words: a common word is read newest first down the primary key,
-- a rare one through the GIN index (a cached generic plan would pick one for all). One round
-- trip instead of five.
CREATE FUNCTION briefbot_search(query text, words_only text, units text[], lim integer,
        rank_window integer, title_window integer, candidates integer, title_first boolean,
        phrases boolean)
    RETURNS TABLE (id bigint, ord integer)
    LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10 AS $fn$
DECLARE
    common boolean := false;
    u text;
    hit bigint;
BEGIN
    FOREACH u IN ARRAY units LOOP
        EXECUTE 'SELECT a.id FROM articles a WHERE a.search @@'
                ' websearch_to_tsquery(''english'', briefbot_fold($1)) ORDER BY a.id DESC'
                ' OFFSET $2 LIMIT 1' INTO hit USING u, rank_window - 1;
        IF hit IS NOT NULL THEN common := true; EXIT; END IF;
    END LOOP;
    IF NOT common THEN
        RETURN QUERY EXECUTE
            'SELECT m.id, (row_number() OVER (ORDER BY ts_rank(''{0.1, 0.1, 0.2, 1.0}'', m.search, q, 1) DESC, m.id DESC))::integer'
            ' FROM (SELECT a.id, a.search FROM articles a WHERE a.search @@ websearch_to_tsquery(''english'', briefbot_fold($1))'
            ' ORDER BY a.id DESC LIMIT $3) m, websearch_to_tsquery(''english'', briefbot_fold($1)) q'
            ' ORDER BY 2 LIMIT $2' USING query, lim, rank_window;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        'WITH c AS (SELECT a.id, a.search FROM articles a WHERE a.search @@ websearch_to_tsquery(''english'', briefbot_fold($2))'
        '  ORDER BY a.id DESC LIMIT $5),'
        ' m AS MATERIALIZED (SELECT c.id, c.search FROM c WHERE NOT $7 OR c.search @@ websearch_to_tsquery(''english'', briefbot_fold($1))),'
        ' t AS (SELECT w.id FROM (SELECT m.id, m.search FROM m ORDER BY m.id DESC LIMIT $6) w'
        '  WHERE $3 AND w.search @@ regexp_replace(websearch_to_tsquery(''english'', briefbot_fold($1))::text,'
        '  $re$(''(?:[^'']|'''')*'')$re$, ''\1:A'', ''g'')::tsquery ORDER BY w.id DESC LIMIT $4),'
        ' b AS (SELECT m.id FROM m WHERE m.id NOT IN (SELECT t.id FROM t) ORDER BY m.id DESC LIMIT $4)'
        ' SELECT x.id, (row_number() OVER (ORDER BY x.k, x.id DESC))::integer FROM (SELECT t.id, 0 AS k FROM t UNION ALL SELECT b.id, 1 FROM b) x'
        ' ORDER BY 2 LIMIT $4'
        USING query, words_only, title_first, lim, candidates, title_window, phrases;
END
$fn$;
