-- Articles, deduplicated by canonical URL and by a hash of the normalised text, with the
-- summary written once at ingest (a JSON array of sentences). Times are UTC epoch seconds.
CREATE TABLE articles (
    id            INTEGER PRIMARY KEY,
    title         TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    summary       TEXT    NOT NULL DEFAULT '[]',
    url           TEXT,
    canonical_url TEXT    UNIQUE,
    source        TEXT,
    author        TEXT,
    published_at  REAL,
    ingested_at   REAL    NOT NULL,
    content_hash  TEXT    NOT NULL UNIQUE,
    feed_id       INTEGER
);
CREATE INDEX articles_by_ingested ON articles (ingested_at);
CREATE INDEX articles_by_feed ON articles (feed_id, ingested_at);

-- Full-text search over title and text (external content: the text is stored once).
CREATE VIRTUAL TABLE articles_fts USING fts5 (
    title, text,
    content = 'articles', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE articles_fts_vocab USING fts5vocab (articles_fts, 'row');

CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
END;
CREATE TRIGGER articles_ad AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, text)
    VALUES ('delete', old.id, old.title, old.text);
END;
CREATE TRIGGER articles_au AFTER UPDATE OF title, text ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, text)
    VALUES ('delete', old.id, old.title, old.text);
    INSERT INTO articles_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
END;
