-- Deployment-wide platform rate limits (bot/ratelimit.py): one row per bucket (a platform's
-- rate for a key: a bot token's hash, a channel), holding the earliest time (epoch seconds,
-- the server's clock) the next request may go. UNLOGGED: the state is worth seconds; after a
-- crash the buckets simply start empty.
CREATE UNLOGGED TABLE send_slots (
    bucket  text PRIMARY KEY,
    next_at double precision NOT NULL
);

-- A digest pass over 10,000 channels claims and finishes each channel: as separate statements
-- in a transaction that was 7 round trips a claim and 5 a finish. As functions (plain
-- PL/pgSQL, no extension) each is one call, one round trip, one transaction; the logic and
-- the lock order (the channel's schedule row first, then its run) are those of the
-- statements they replace in bot/store/postgres/digests.py.
CREATE FUNCTION briefbot_claim_digest(
    p_platform text, p_channel text, p_day text, p_due double precision, p_owner text,
    p_lease double precision, p_now double precision, p_next_day text,
    p_next_due double precision,
    OUT o_state text, OUT o_run_id bigint, OUT o_attempts integer,
    OUT o_last_id bigint, OUT o_last_through bigint, OUT o_last_period_end double precision,
    OUT o_last_finished double precision, OUT o_last_items integer, OUT o_last_status text,
    OUT o_missed_dates text[], OUT o_missed_due double precision[], OUT o_missed_errors text[])
LANGUAGE plpgsql AS $$
DECLARE
    s_enabled boolean;
    s_next text;
    e_status text;
    e_lease double precision;
BEGIN
    SELECT enabled, next_local_date INTO s_enabled, s_next FROM digest_schedules
     WHERE platform = p_platform AND channel_id = p_channel FOR UPDATE;
    IF NOT FOUND OR NOT s_enabled OR s_next <> p_day THEN
        o_state := 'stale';
        RETURN;
    END IF;
    INSERT INTO digest_runs AS r (platform, channel_id, local_date, due_at, status,
                                  claimed_by, lease_until, attempts, created_at)
    VALUES (p_platform, p_channel, p_day, p_due, 'claimed', p_owner, p_lease, 1, p_now)
    ON CONFLICT (platform, channel_id, local_date) DO UPDATE SET
        status = 'claimed', claimed_by = excluded.claimed_by,
        lease_until = excluded.lease_until, attempts = r.attempts + 1
    WHERE r.status IN ('claimed', 'failed') AND coalesce(r.lease_until, 0) <= p_now
    RETURNING r.id, r.attempts INTO o_run_id, o_attempts;
    IF FOUND THEN
        UPDATE digest_schedules SET not_before = p_lease
         WHERE platform = p_platform AND channel_id = p_channel;
        SELECT id, through_article_id, period_end, finished_at, items, status
          INTO o_last_id, o_last_through, o_last_period_end, o_last_finished, o_last_items,
               o_last_status
          FROM digest_runs
         WHERE platform = p_platform AND channel_id = p_channel AND status IN ('sent', 'empty')
         ORDER BY id DESC LIMIT 1;
        SELECT array_agg(local_date ORDER BY local_date), array_agg(due_at ORDER BY local_date),
               array_agg(error ORDER BY local_date)
          INTO o_missed_dates, o_missed_due, o_missed_errors
          FROM digest_runs
         WHERE platform = p_platform AND channel_id = p_channel AND status = 'skipped'
           AND id > coalesce(o_last_id, 0);
        o_state := 'won';
        RETURN;
    END IF;
    SELECT status, lease_until INTO e_status, e_lease FROM digest_runs
     WHERE platform = p_platform AND channel_id = p_channel AND local_date = p_day;
    IF e_status IN ('sent', 'empty', 'skipped') THEN
        UPDATE digest_schedules SET next_local_date = p_next_day, next_due_at = p_next_due,
               not_before = NULL
         WHERE platform = p_platform AND channel_id = p_channel;
        o_state := 'done';
        RETURN;
    END IF;
    UPDATE digest_schedules SET not_before = e_lease
     WHERE platform = p_platform AND channel_id = p_channel;
    o_state := 'held';
END
$$;

CREATE FUNCTION briefbot_finish_digest(
    p_run bigint, p_owner text, p_status text, p_start double precision,
    p_end double precision, p_through bigint, p_items integer, p_late boolean,
    p_now double precision, p_next_day text, p_next_due double precision)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    r_platform text;
    r_channel text;
    r_day text;
BEGIN
    PERFORM 1 FROM digest_schedules s JOIN digest_runs r
        ON r.platform = s.platform AND r.channel_id = s.channel_id
     WHERE r.id = p_run FOR UPDATE OF s;
    UPDATE digest_runs SET status = p_status, period_start = p_start, period_end = p_end,
           through_article_id = p_through, items = p_items, late = p_late,
           finished_at = p_now, lease_until = NULL, error = NULL
     WHERE id = p_run AND claimed_by = p_owner AND status = 'claimed'
    RETURNING platform, channel_id, local_date INTO r_platform, r_channel, r_day;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF r_day IS NOT NULL AND p_next_day IS NOT NULL THEN
        UPDATE digest_schedules SET next_local_date = p_next_day, next_due_at = p_next_due,
               not_before = NULL
         WHERE platform = r_platform AND channel_id = r_channel AND next_local_date = r_day;
    END IF;
    RETURN true;
END
$$;
