-- Apps installed in several workspaces (Slack's "Add to Slack"): one row per workspace (or
-- Enterprise Grid organisation for an org-wide install) holding the platform's own record of
-- the installation as JSON (bot token included: this database is as secret as the tokens).
-- Reinstalling replaces the row; uninstalling deletes it. '' stands for "none" in the keys.
CREATE TABLE installations (
    platform      TEXT NOT NULL,
    enterprise_id TEXT NOT NULL DEFAULT '',
    team_id       TEXT NOT NULL DEFAULT '',
    data          TEXT NOT NULL,
    installed_at  REAL NOT NULL,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (platform, enterprise_id, team_id)
);

-- The OAuth "state" values handed out by the install page: each is consumed once (DELETE
-- ... RETURNING), and only before it expires, so a forged or replayed state is refused.
CREATE TABLE oauth_states (
    state      TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

-- A workspace that removed the app pauses its digests and subscriptions; this column says
-- which workspace paused the row, so reinstalling resumes exactly those (and nothing a person
-- turned off on purpose). NULL: not paused by a workspace.
ALTER TABLE digest_schedules ADD COLUMN paused_workspace TEXT;
ALTER TABLE subscriptions ADD COLUMN paused_workspace TEXT;
CREATE INDEX digest_schedules_paused_workspace ON digest_schedules (paused_workspace)
    WHERE paused_workspace IS NOT NULL;
CREATE INDEX subscriptions_paused_workspace ON subscriptions (paused_workspace)
    WHERE paused_workspace IS NOT NULL;
