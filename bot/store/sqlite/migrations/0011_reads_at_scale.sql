-- Reads that do not grow with the store (issue 17).
-- The latest briefing's sort, as an index: the newest articles are read straight off it.
CREATE INDEX articles_by_shown ON articles (coalesce(published_at, ingested_at) DESC, id DESC);

-- bm25 with the title weighted 5x as the FTS table's rank, so "ORDER BY rank LIMIT n" ranks
-- inside FTS5 before any join.
INSERT INTO articles_fts (articles_fts, rank) VALUES ('rank', 'bm25(5.0, 1.0)');

-- "Did you mean": the most frequent stored terms, refreshed now and then from the FTS
-- vocabulary (reading the vocabulary itself grows with the store).
CREATE TABLE search_terms (
    term TEXT    PRIMARY KEY,
    docs INTEGER NOT NULL
) WITHOUT ROWID;

-- How many items each feed has in each state, kept by triggers (feeds list reads this, not
-- every item ever seen).
CREATE TABLE feed_item_counts (
    feed_id INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    status  TEXT    NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (feed_id, status)
) WITHOUT ROWID;
INSERT INTO feed_item_counts (feed_id, status, n)
    SELECT feed_id, status, count(*) FROM feed_items GROUP BY feed_id, status;
CREATE TRIGGER feed_items_count_ai AFTER INSERT ON feed_items BEGIN
    INSERT INTO feed_item_counts (feed_id, status, n) VALUES (new.feed_id, new.status, 1)
        ON CONFLICT (feed_id, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER feed_items_count_au AFTER UPDATE OF status ON feed_items
WHEN old.status IS NOT new.status BEGIN
    UPDATE feed_item_counts SET n = n - 1 WHERE feed_id = old.feed_id AND status = old.status;
    INSERT INTO feed_item_counts (feed_id, status, n) VALUES (new.feed_id, new.status, 1)
        ON CONFLICT (feed_id, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER feed_items_count_ad AFTER DELETE ON feed_items BEGIN
    UPDATE feed_item_counts SET n = n - 1 WHERE feed_id = old.feed_id AND status = old.status;
END;
CREATE INDEX feed_items_by_age ON feed_items (first_seen_at);

-- Each subscription's alerts by delivery state, kept by triggers (/brief alerts reads this).
CREATE TABLE subscription_alert_counts (
    subscription_id INTEGER PRIMARY KEY REFERENCES subscriptions (id) ON DELETE CASCADE,
    sent            INTEGER NOT NULL DEFAULT 0,
    pending         INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    skipped         INTEGER NOT NULL DEFAULT 0,
    last_sent_at    REAL
);
INSERT INTO subscription_alert_counts (subscription_id, sent, pending, failed, skipped,
                                       last_sent_at)
    SELECT subscription_id, sum(state = 'sent'), sum(state = 'pending'), sum(state = 'failed'),
           sum(state = 'skipped'), max(sent_at)
    FROM alerts GROUP BY subscription_id;
CREATE TRIGGER alerts_count_ai AFTER INSERT ON alerts BEGIN
    INSERT INTO subscription_alert_counts (subscription_id, sent, pending, failed, skipped,
                                           last_sent_at)
    VALUES (new.subscription_id, new.state = 'sent', new.state = 'pending',
            new.state = 'failed', new.state = 'skipped', new.sent_at)
    ON CONFLICT (subscription_id) DO UPDATE SET
        sent = sent + (new.state = 'sent'), pending = pending + (new.state = 'pending'),
        failed = failed + (new.state = 'failed'), skipped = skipped + (new.state = 'skipped'),
        last_sent_at = CASE WHEN new.sent_at IS NULL THEN last_sent_at
                            ELSE max(coalesce(last_sent_at, 0), new.sent_at) END;
END;
CREATE TRIGGER alerts_count_au AFTER UPDATE OF state, sent_at ON alerts
WHEN old.state IS NOT new.state OR old.sent_at IS NOT new.sent_at BEGIN
    UPDATE subscription_alert_counts SET
        sent = sent - (old.state = 'sent') + (new.state = 'sent'),
        pending = pending - (old.state = 'pending') + (new.state = 'pending'),
        failed = failed - (old.state = 'failed') + (new.state = 'failed'),
        skipped = skipped - (old.state = 'skipped') + (new.state = 'skipped'),
        last_sent_at = CASE WHEN new.sent_at IS NULL THEN last_sent_at
                            ELSE max(coalesce(last_sent_at, 0), new.sent_at) END
    WHERE subscription_id = new.subscription_id;
END;
CREATE TRIGGER alerts_count_ad AFTER DELETE ON alerts BEGIN
    UPDATE subscription_alert_counts SET
        sent = sent - (old.state = 'sent'), pending = pending - (old.state = 'pending'),
        failed = failed - (old.state = 'failed'), skipped = skipped - (old.state = 'skipped')
    WHERE subscription_id = old.subscription_id;
END;
