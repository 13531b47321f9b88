-- The digests' stories kept in the database (issue 17: a restart, or another process, reads
-- them instead of stemming and clustering the day again). Each article digests have placed:
-- its story terms (stemmed title terms, weight 2, a tab, then the summary's other terms,
-- weight 1; space-separated, in the order the terms were found) and the story it was placed
-- in (the id of that story's first article). Written together, by the process holding the
-- stories' lease (story_state); gone with the article.
CREATE TABLE article_stories (
    article_id INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    story      INTEGER NOT NULL,
    terms      TEXT    NOT NULL
);

-- One row: what the stored stories were made with (language and similarity threshold), the
-- article ids they cover (every digest article lo < id <= hi has its row above), a
-- generation counted up whenever they start again (clustered at once), and the lease of the
-- process placing new articles (one at a time: the others wait and read what it stored).
CREATE TABLE story_state (
    key         TEXT    PRIMARY KEY,
    setting     TEXT    NOT NULL DEFAULT '',
    generation  INTEGER NOT NULL DEFAULT 0,
    lo          INTEGER NOT NULL DEFAULT 0,
    hi          INTEGER NOT NULL DEFAULT 0,
    owner       TEXT,
    lease_until REAL    NOT NULL DEFAULT 0,
    updated_at  REAL    NOT NULL DEFAULT 0
);
