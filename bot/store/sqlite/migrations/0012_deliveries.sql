-- The message a claim is delivering (a digest run, a batch of alerts), by a key the feature
-- derives from the claim: the Reply as first built (a retry, in any process, posts that same
-- message, never a rebuilt one), the feature's note of what it covers (a digest's article
-- watermark), and how many of its parts the platform accepted (parts go out in order, each
-- recorded once accepted): a retry posts only the parts after `posted`. Rows are removed a few
-- days after their last change.
CREATE TABLE deliveries (
    key         TEXT PRIMARY KEY,
    platform    TEXT    NOT NULL,
    destination TEXT    NOT NULL,
    reply       TEXT    NOT NULL,
    note        TEXT    NOT NULL DEFAULT '',
    total       INTEGER,
    posted      INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    began_at    REAL    NOT NULL,
    updated_at  REAL    NOT NULL
);
CREATE INDEX deliveries_by_age ON deliveries (updated_at);

-- The delivery an alert went out in: alerts delivered together stay together on a retry (with
-- newer alerts of the same destination in a message of their own), so the retry is the same
-- message.
ALTER TABLE alerts ADD COLUMN delivery_key TEXT;
