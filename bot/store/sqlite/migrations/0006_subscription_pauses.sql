-- A subscription whose destination refused for good (DMs closed, bot removed from the channel,
-- channel deleted) is paused: it matches nothing and records no alerts until its owner resumes
-- it (/brief alerts resume, or subscribing to the same query again). The reason is shown by
-- /brief alerts. NULL paused_at: active.
ALTER TABLE subscriptions ADD COLUMN paused_at REAL;
ALTER TABLE subscriptions ADD COLUMN paused_reason TEXT;
-- Few are ever paused: a partial index keeps the per-article "did anything change" check cheap.
CREATE INDEX subscriptions_paused ON subscriptions (paused_at) WHERE paused_at IS NOT NULL;
