-- The message a claim is delivering, by key, and how many of its parts the platform accepted
-- (SQLite migration 0012 says why).
CREATE TABLE deliveries (
    key         text PRIMARY KEY,
    platform    text    NOT NULL,
    destination text    NOT NULL,
    reply       text    NOT NULL,
    note        text    NOT NULL DEFAULT '',
    total       integer,
    posted      integer NOT NULL DEFAULT 0,
    attempts    integer NOT NULL DEFAULT 0,
    began_at    double precision NOT NULL,
    updated_at  double precision NOT NULL
);
CREATE INDEX deliveries_by_age ON deliveries (updated_at);

ALTER TABLE alerts ADD COLUMN delivery_key text;
