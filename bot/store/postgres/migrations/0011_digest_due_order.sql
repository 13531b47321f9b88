-- The due schedules in the order a digest pass reserves them (pass4, session 4; SQLite 0014).
--
-- reserve_due_digests takes the next batch "ORDER BY next_due_at, platform, channel_id ...
-- FOR UPDATE SKIP LOCKED": with the index on next_due_at alone every batch sorted every due
-- schedule (10,000 channels due at one minute: 157 top-N sorts of up to 10,000 rows a pass, in
-- each process). With the channel in the index the batch is read off it in order.
DROP INDEX digest_schedules_due;
CREATE INDEX digest_schedules_due ON digest_schedules (next_due_at, platform, channel_id)
    WHERE enabled;
