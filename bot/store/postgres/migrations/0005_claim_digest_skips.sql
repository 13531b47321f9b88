-- Three processes on one due list of 10,000 channels called the claim 30,000 times for 10,000
-- wins, and every losing call waited for the winner's lock on the schedule row and then wrote
-- not_before again (bench_backends: 3 processes 188 s against 138 s for one). A losing claim
-- now neither waits nor writes: a run already claimed under a live lease is "held" at once,
-- a schedule row another process has locked is "held" (SKIP LOCKED), and not_before is
-- written only when it changes. Same outputs otherwise.
CREATE OR REPLACE FUNCTION briefbot_claim_digest(
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
    s_not_before double precision;
BEGIN
    -- Already claimed under a live lease that the schedule shows: held, without a lock or a
    -- write (three processes walking one due list meet this for two channels in three).
    SELECT r.status, r.lease_until, s.not_before INTO e_status, e_lease, s_not_before
      FROM digest_runs r JOIN digest_schedules s
        ON s.platform = r.platform AND s.channel_id = r.channel_id
     WHERE r.platform = p_platform AND r.channel_id = p_channel AND r.local_date = p_day;
    IF FOUND AND e_status = 'claimed' AND e_lease > p_now
            AND s_not_before IS NOT DISTINCT FROM e_lease THEN
        o_state := 'held';
        RETURN;
    END IF;
    -- Another process is claiming or finishing this channel right now: held, without waiting
    -- for it (it sets not_before, so the next pass does not come back for it).
    SELECT enabled, next_local_date INTO s_enabled, s_next FROM digest_schedules
     WHERE platform = p_platform AND channel_id = p_channel FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        PERFORM 1 FROM digest_schedules WHERE platform = p_platform AND channel_id = p_channel;
        o_state := CASE WHEN FOUND THEN 'held' ELSE 'stale' END;
        RETURN;
    END IF;
    IF NOT s_enabled OR s_next <> p_day THEN
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
     WHERE platform = p_platform AND channel_id = p_channel
       AND not_before IS DISTINCT FROM e_lease;
    o_state := 'held';
END
$$;
