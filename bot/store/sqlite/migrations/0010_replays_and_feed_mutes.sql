-- Signed requests already executed (a Slack request's signature), kept until the platform's
-- replay window has passed: a request replayed within the window is refused. In the database,
-- so that every process serving the same workspace refuses it.
CREATE TABLE seen_requests (
    key        TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX seen_requests_expiry ON seen_requests (expires_at);

-- Feeds a channel refuses: an admin who removes a feed that other channels still follow stops
-- its articles reaching this channel (its digest and its channel alerts) instead. Following
-- the feed again (feeds add in that channel) lifts the refusal.
CREATE TABLE channel_feed_mutes (
    platform   TEXT    NOT NULL,
    channel_id TEXT    NOT NULL,
    feed_id    INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    PRIMARY KEY (platform, channel_id, feed_id)
);
CREATE INDEX channel_feed_mutes_by_feed ON channel_feed_mutes (feed_id);
