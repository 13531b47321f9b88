-- Topic search on PostgreSQL (issue 17, pgscale4): 0009 read the newest matches of several words
-- or of a phrase from a GIN bitmap when the planner's estimate said that reads fewer rows. The
-- planner assumes words independent (`prime` & `minister`: 4x too few), and a bitmap larger than
-- work_mem turns lossy and reads every row again: `"prime minister"` took 3.1 s of server CPU at a
-- million articles. The bitmap is now kept to one word (not several, nor a phrase) in fewer than
-- 50,000 articles, where the estimate is good and the bitmap exact; the rest walk the primary key
-- newest first as 0006 did.
CREATE OR REPLACE FUNCTION briefbot_search(query text, words_only text, units text[], lim integer,
        rank_window integer, title_window integer, candidates integer, title_first boolean,
        phrases boolean)
    RETURNS TABLE (id bigint, ord integer)
    LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10 AS $fn$
DECLARE
    common boolean := false;
    common_margin constant integer := 3;
    vector_read constant integer := 8;  -- a vector read out of line, in rows read
    bitmap_rows constant integer := 50000;
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
    -- the bitmap only for one word: its estimate is good (for several words the planner
    -- assumes them independent: `prime` & `minister` estimated 4x too few) and its bitmap
    -- stays exact (beyond bitmap_rows, work_mem makes it lossy: every row read again)
    IF cardinality(units) = 1 AND NOT phrases AND matches < bitmap_rows
            AND matches < vector_read * candidates * stored / matches THEN
        RETURN QUERY SELECT * FROM briefbot_search_recent_bitmap(query, words_only, title_first,
            lim, candidates, title_window, phrases);
    ELSE
        RETURN QUERY SELECT * FROM briefbot_search_recent(query, words_only, title_first, lim,
            candidates, title_window, phrases);
    END IF;
END
$fn$;
