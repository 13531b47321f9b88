-- Feeds and which channels follow them (a channel's digest is restricted to its feeds).
-- The intake feature extends this migration (health, conditional GET, items).
CREATE TABLE feeds (
    id       INTEGER PRIMARY KEY,
    url      TEXT NOT NULL UNIQUE,
    title    TEXT,
    added_at REAL NOT NULL
);

CREATE TABLE channel_feeds (
    platform   TEXT    NOT NULL,
    channel_id TEXT    NOT NULL,
    feed_id    INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    PRIMARY KEY (platform, channel_id, feed_id)
);
