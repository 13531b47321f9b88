-- Keyword subscriptions and the alerts they produced.
-- A subscription belongs to a person (owner_kind 'user': alerts by direct message) or to a
-- channel ('channel': alerts posted there), on one platform. ``query`` is what was typed,
-- ``query_key`` its case-insensitive canonical reading (one owner cannot hold a query twice).
-- AUTOINCREMENT: ids are never reused, so (count, max id) tells a process the set changed.
CREATE TABLE subscriptions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    platform    TEXT    NOT NULL,
    owner_kind  TEXT    NOT NULL CHECK (owner_kind IN ('user', 'channel')),
    owner_id    TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    query       TEXT    NOT NULL,
    query_key   TEXT    NOT NULL,
    language    TEXT    NOT NULL DEFAULT 'english',
    created_at  REAL    NOT NULL,
    UNIQUE (platform, owner_kind, owner_id, query_key)
);

-- One row per (subscription, article): the unique constraint is the "alert once" rule, across
-- restarts, re-ingests and several processes. Delivery state: pending (due at
-- next_attempt_at; a claim pushes it forward as a lease), sent, failed (attempts used up) or
-- skipped (the destination refused for good: DMs closed, channel gone).
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    article_id      INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    matched         TEXT    NOT NULL DEFAULT '[]',
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      REAL    NOT NULL,
    next_attempt_at REAL    NOT NULL,
    sent_at         REAL,
    last_error      TEXT,
    UNIQUE (subscription_id, article_id)
);
CREATE INDEX alerts_due ON alerts (state, next_attempt_at);
CREATE INDEX alerts_by_article ON alerts (article_id);
