-- Daily digests: one schedule per channel, and one row per digest run.
-- A scheduled run is keyed by (platform, channel_id, local_date): that UNIQUE row is the
-- atomic claim that makes a digest post at most once per channel and local day, whatever the
-- number of bot processes. /brief digest now runs have local_date NULL (never conflicting).
-- Times are UTC epoch seconds (REAL).
CREATE TABLE digest_schedules (
    platform        TEXT    NOT NULL,
    channel_id      TEXT    NOT NULL,
    hour            INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    minute          INTEGER NOT NULL CHECK (minute BETWEEN 0 AND 59),
    timezone        TEXT    NOT NULL,
    weekdays        INTEGER NOT NULL DEFAULT 127 CHECK (weekdays BETWEEN 1 AND 127),
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    disabled_at     REAL,
    next_local_date TEXT    NOT NULL,  -- the occurrence to handle next (YYYY-MM-DD, local)
    next_due_at     REAL    NOT NULL,  -- its UTC instant
    not_before      REAL,              -- claimed or failed: look again at this time
    updated_by      TEXT,
    updated_at      REAL    NOT NULL,
    PRIMARY KEY (platform, channel_id)
);
CREATE INDEX digest_schedules_due ON digest_schedules (enabled, next_due_at);

CREATE TABLE digest_runs (
    id                 INTEGER PRIMARY KEY,
    platform           TEXT    NOT NULL,
    channel_id         TEXT    NOT NULL,
    local_date         TEXT,              -- NULL: posted on demand (/brief digest now)
    due_at             REAL,
    status             TEXT    NOT NULL
        CHECK (status IN ('claimed', 'sent', 'empty', 'failed', 'skipped')),
    claimed_by         TEXT,
    lease_until        REAL,              -- claimed: until then; failed: retry from then
    attempts           INTEGER NOT NULL DEFAULT 0,
    late               INTEGER NOT NULL DEFAULT 0,
    period_start       REAL,
    period_end         REAL,
    through_article_id INTEGER,           -- the next digest starts after this article id
    items              INTEGER,
    error              TEXT,
    created_at         REAL    NOT NULL,
    finished_at        REAL,
    UNIQUE (platform, channel_id, local_date)
);
CREATE INDEX digest_runs_by_channel ON digest_runs (platform, channel_id, status, id);
