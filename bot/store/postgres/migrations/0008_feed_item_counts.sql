-- Reads that do not grow with the store (issue 17), as SQLite's 0011 does: `feeds list` reads
-- how many items each feed has in each state from this table, not by counting every item ever
-- seen (a GROUP BY over 1M items took ~0.4 s).
--
-- Kept by statement-level triggers over the statement's changed rows (transition tables): a
-- statement that writes many items (a feed's backlog, COPY in `db copy`, a retention batch)
-- changes each (feed, status) count once, in (feed, status) order. An INSERT .. ON CONFLICT DO
-- UPDATE fires the INSERT trigger for the rows it inserted and the UPDATE one for the rows it
-- updated. A feed's items are written by the process polling it, so its count rows are rarely
-- wanted by two transactions at once.
CREATE TABLE feed_item_counts (
    feed_id bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    status  text   NOT NULL,
    n       bigint NOT NULL,
    PRIMARY KEY (feed_id, status)
);
INSERT INTO feed_item_counts (feed_id, status, n)
    SELECT feed_id, status, count(*) FROM feed_items GROUP BY feed_id, status;

CREATE FUNCTION briefbot_count_feed_items() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE feed_item_counts c SET n = c.n - o.n
        FROM (SELECT feed_id, status, count(*) AS n FROM old_items GROUP BY feed_id, status) o
        WHERE c.feed_id = o.feed_id AND c.status = o.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO feed_item_counts AS c (feed_id, status, n)
        SELECT feed_id, status, count(*) FROM new_items GROUP BY feed_id, status
        ORDER BY feed_id, status
        ON CONFLICT (feed_id, status) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER feed_items_counted_insert AFTER INSERT ON feed_items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION briefbot_count_feed_items();
CREATE TRIGGER feed_items_counted_update AFTER UPDATE ON feed_items
    REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION briefbot_count_feed_items();
CREATE TRIGGER feed_items_counted_delete AFTER DELETE ON feed_items
    REFERENCING OLD TABLE AS old_items
    FOR EACH STATEMENT EXECUTE FUNCTION briefbot_count_feed_items();
