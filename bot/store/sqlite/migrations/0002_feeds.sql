-- Feeds and which channels follow them (a channel's digest is restricted to its feeds).
-- Each feed carries its conditional-GET validators and its health: last success, last error,
-- consecutive failures and when it is next polled. A failing feed is never disabled: its
-- next poll moves further out (exponential backoff) and its health says why.
CREATE TABLE feeds (
    id                   INTEGER PRIMARY KEY,
    url                  TEXT    NOT NULL UNIQUE,
    title                TEXT,
    added_at             REAL    NOT NULL,
    site_url             TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    body_hash            TEXT,                         -- sha256 of the last body taken in
    primed               INTEGER NOT NULL DEFAULT 0,   -- 1 once the backlog was taken in
    next_poll_at         REAL    NOT NULL,
    last_polled_at       REAL,
    last_success_at      REAL,
    last_error           TEXT,
    last_error_at        REAL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_result          TEXT
);
CREATE INDEX feeds_by_next_poll ON feeds (next_poll_at);

CREATE TABLE channel_feeds (
    platform   TEXT    NOT NULL,
    channel_id TEXT    NOT NULL,
    feed_id    INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    PRIMARY KEY (platform, channel_id, feed_id)
);

-- Every item a feed has shown, by its identity in the feed (canonical link, else guid, else a
-- hash): an item is news only the first time its key (or a guid used by no other item) shows.
-- status: stored (article_id set), backlog (seen when the feed was added, not stored),
-- skipped (no usable text), pending (its page failed; retried up to [feeds] item_attempts),
-- pending_backlog (the same for a backlog item: stored without alerts), failed (gave up).
CREATE TABLE feed_items (
    feed_id       INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    item_key      TEXT    NOT NULL,
    guid          TEXT,
    link          TEXT,
    article_id    INTEGER REFERENCES articles (id) ON DELETE SET NULL,
    status        TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    note          TEXT,
    first_seen_at REAL    NOT NULL,
    PRIMARY KEY (feed_id, item_key)
);
CREATE INDEX feed_items_by_guid ON feed_items (feed_id, guid);

-- Other URLs that lead to a stored article (the link as typed, a feed's redirecting link):
-- a known link is answered from the store without fetching it again.
CREATE TABLE article_urls (
    url        TEXT    PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE
);
