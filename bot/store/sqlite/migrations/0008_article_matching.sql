-- When an article was matched against the alert subscriptions. A process that stored an
-- article and died (or failed) before matching it leaves NULL here; the alert service matches
-- such articles when it starts, so no alert is lost. Articles already stored count as matched.
ALTER TABLE articles ADD COLUMN alerts_matched_at REAL;
UPDATE articles SET alerts_matched_at = ingested_at;
CREATE INDEX articles_unmatched ON articles (id) WHERE alerts_matched_at IS NULL AND backlog = 0;
