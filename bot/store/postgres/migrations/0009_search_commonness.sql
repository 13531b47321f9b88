-- Topic search at a million articles (issue 17): whether a word is "common" (in at least
-- rank_window articles: then the query is answered by recency, as on SQLite) is no longer found
-- by walking the primary key newest first until its rank_window-th match. That walk reads each
-- article's search vector out of line (TOAST): 2000 / (the word's share of articles) rows, e.g.
-- 26,500 for a word in 7.4% of them (2.1 s at 100k articles). Now:
--   * the planner's estimate of its matches (the column's statistics, most common lexemes with
--     their frequencies, as every plan uses): at least common_margin x rank_window -> common;
--   * otherwise counted through the GIN index (a bitmap of its matches, at most rank_window rows
--     visited: about common_margin x rank_window entries, whatever the store's size).
-- A word is misjudged only if the estimate is off by more than common_margin (statistics of a
-- 30,000-row sample: a word's share is known within a few percent; ANALYZE after `db copy`,
-- autovacuum after). Several words or a phrase: each word counts on its own, as before.
--
-- Answered by recency, the newest `candidates` matches are read either down the primary key
-- (candidates / share rows, each vector read out of line: cheap for a word in most articles) or
-- from a GIN bitmap of all matches, sorted (each match's row read, no vector: cheap for a word in
-- a few thousand articles): whichever reads fewer by the estimate, a vector read counting as 8
-- rows (the planner does not know the vectors are read out of line, and walks the key).
CREATE FUNCTION briefbot_count_matches(q tsquery, cap integer) RETURNS integer
    LANGUAGE sql STABLE PARALLEL SAFE
    -- the bitmap, never a walk down the primary key that stops at the cap-th match
    SET enable_seqscan = off SET enable_indexscan = off
    AS $$ SELECT count(*)::integer FROM (SELECT 1 FROM articles a WHERE a.search @@ q LIMIT cap) x $$;

-- (VOLATILE only because PostgreSQL runs no EXPLAIN in a function declared otherwise)
CREATE FUNCTION briefbot_estimated_matches(q tsquery) RETURNS double precision
    LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM articles a WHERE a.search @@ $1' INTO plan USING q;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::double precision;
END
$fn$;

-- The recent matches, newest first, title matches first (briefbot_search, as in 0006).
CREATE FUNCTION briefbot_search_recent(query text, words_only text, title_first boolean,
        lim integer, candidates integer, title_window integer, phrases boolean)
    RETURNS TABLE (id bigint, ord integer)
    LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10 AS $fn$
BEGIN
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

-- The same, the candidates read from the GIN bitmap (no walk down the primary key).
CREATE FUNCTION briefbot_search_recent_bitmap(query text, words_only text, title_first boolean,
        lim integer, candidates integer, title_window integer, phrases boolean)
    RETURNS TABLE (id bigint, ord integer)
    LANGUAGE sql STABLE PARALLEL SAFE ROWS 10
    SET enable_indexscan = off
    AS $$ SELECT * FROM briefbot_search_recent(query, words_only, title_first, lim, candidates,
                                               title_window, phrases) $$;

CREATE OR REPLACE FUNCTION briefbot_search(query text, words_only text, units text[], lim integer,
        rank_window integer, title_window integer, candidates integer, title_first boolean,
        phrases boolean)
    RETURNS TABLE (id bigint, ord integer)
    LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10 AS $fn$
DECLARE
    common boolean := false;
    common_margin constant integer := 3;
    vector_read constant integer := 8;  -- a vector read out of line, in rows read
    u text;
    q tsquery;
    matches double precision;
    stored double precision;
BEGIN
    FOREACH u IN ARRAY units LOOP
        q := websearch_to_tsquery('english', briefbot_fold(u));
        IF briefbot_estimated_matches(q) >= common_margin * rank_window
                OR briefbot_count_matches(q, rank_window) >= rank_window THEN
            common := true;
            EXIT;
        END IF;
    END LOOP;
    IF NOT common THEN
        RETURN QUERY EXECUTE
            'SELECT m.id, (row_number() OVER (ORDER BY ts_rank(''{0.1, 0.1, 0.2, 1.0}'', m.search, q, 1) DESC, m.id DESC))::integer'
            ' FROM (SELECT a.id, a.search FROM articles a WHERE a.search @@ websearch_to_tsquery(''english'', briefbot_fold($1))'
            ' ORDER BY a.id DESC LIMIT $3) m, websearch_to_tsquery(''english'', briefbot_fold($1)) q'
            ' ORDER BY 2 LIMIT $2' USING query, lim, rank_window;
        RETURN;
    END IF;
    matches := greatest(briefbot_estimated_matches(
        websearch_to_tsquery('english', briefbot_fold(words_only))), 1);
    stored := greatest((SELECT c.reltuples FROM pg_class c WHERE c.oid = 'articles'::regclass), 1);
    IF matches < vector_read * candidates * stored / matches THEN
        RETURN QUERY SELECT * FROM briefbot_search_recent_bitmap(query, words_only, title_first,
            lim, candidates, title_window, phrases);
    ELSE
        RETURN QUERY SELECT * FROM briefbot_search_recent(query, words_only, title_first, lim,
            candidates, title_window, phrases);
    END IF;
END
$fn$;
