-- Small per-platform state (for example a hash of the Discord command definitions last synced).
CREATE TABLE meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
