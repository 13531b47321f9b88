-- The digests' stories kept in the database (SQLite migration 0013 says why and how).
CREATE TABLE article_stories (
    article_id bigint PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    story      bigint NOT NULL,
    terms      text   NOT NULL
);

CREATE TABLE story_state (
    key         text    PRIMARY KEY,
    setting     text    NOT NULL DEFAULT '',
    generation  bigint  NOT NULL DEFAULT 0,
    lo          bigint  NOT NULL DEFAULT 0,
    hi          bigint  NOT NULL DEFAULT 0,
    owner       text,
    lease_until double precision NOT NULL DEFAULT 0,
    updated_at  double precision NOT NULL DEFAULT 0
);
