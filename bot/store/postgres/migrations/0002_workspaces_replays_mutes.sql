-- SQLite migrations 0009 (apps installed in several workspaces, OAuth states, what a workspace
-- paused) and 0010 (signed requests already executed; feeds a channel refuses).
CREATE TABLE installations (
    platform      text NOT NULL,
    enterprise_id text NOT NULL DEFAULT '',
    team_id       text NOT NULL DEFAULT '',
    data          text NOT NULL,
    installed_at  double precision NOT NULL,
    updated_at    double precision NOT NULL,
    PRIMARY KEY (platform, enterprise_id, team_id)
);

CREATE TABLE oauth_states (
    state      text PRIMARY KEY,
    expires_at double precision NOT NULL
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

ALTER TABLE digest_schedules ADD COLUMN paused_workspace text;
ALTER TABLE subscriptions ADD COLUMN paused_workspace text;
CREATE INDEX digest_schedules_paused_workspace ON digest_schedules (paused_workspace)
    WHERE paused_workspace IS NOT NULL;
CREATE INDEX subscriptions_paused_workspace ON subscriptions (paused_workspace)
    WHERE paused_workspace IS NOT NULL;

-- Shared by every process serving the same workspace: a replay is refused by all of them.
CREATE TABLE seen_requests (
    key        text PRIMARY KEY,
    expires_at double precision NOT NULL
);
CREATE INDEX seen_requests_expiry ON seen_requests (expires_at);

CREATE TABLE channel_feed_mutes (
    platform   text   NOT NULL,
    channel_id text   NOT NULL,
    feed_id    bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    PRIMARY KEY (platform, channel_id, feed_id)
);
CREATE INDEX channel_feed_mutes_by_feed ON channel_feed_mutes (feed_id);
