-- A batch of digest claims in one call (pass4, session 4).
--
-- The digest pass claims up to 64 occurrences in one statement (session 3), which called
-- briefbot_claim_digest once per row: about six statements a channel, ~1.4 ms of server CPU
-- per channel in bench_backends (three processes, 10,000 channels). briefbot_claim_digests
-- takes the whole batch through each step at once: a statement per step for all its rows.
-- Each row gets the answer briefbot_claim_digest gives it (won / held / done / stale; a won
-- claim's last digest and the occurrences skipped since), with the same locks: a schedule row
-- another process holds is skipped (held), never waited for; rows are locked and inserted in
-- (platform, channel) order. The caller passes each channel at most once.
CREATE FUNCTION briefbot_claim_digests(
    p_platforms text[], p_channels text[], p_days text[], p_dues double precision[],
    p_next_days text[], p_next_dues double precision[], p_owner text,
    p_lease double precision, p_now double precision)
RETURNS TABLE (
    o_i bigint, o_state text, o_run_id bigint, o_attempts integer,
    o_last_id bigint, o_last_through bigint, o_last_period_end double precision,
    o_last_finished double precision, o_last_items integer, o_last_status text,
    o_missed_dates text[], o_missed_due double precision[], o_missed_errors text[])
LANGUAGE plpgsql AS $$
DECLARE
    v_held bigint[];      -- claimed under a live lease that the schedule shows: held at once
    v_locked bigint[];    -- schedule rows this call locked
    v_ok bigint[];        -- ... enabled and at this occurrence: claimed now if the run allows
    v_won bigint[];
    v_won_runs bigint[];
    v_won_attempts integer[];
    v_done bigint[];      -- the occurrence is final already: the schedule moves on
BEGIN
    -- Already claimed under a live lease that the schedule shows: held, without a lock or a
    -- write.
    SELECT coalesce(array_agg(u.i), '{}') INTO v_held
      FROM unnest(p_platforms, p_channels, p_days) WITH ORDINALITY AS u(platform, channel, day, i)
      JOIN digest_runs r
        ON r.platform = u.platform AND r.channel_id = u.channel AND r.local_date = u.day
      JOIN digest_schedules s ON s.platform = u.platform AND s.channel_id = u.channel
     WHERE r.status = 'claimed' AND r.lease_until > p_now
       AND s.not_before IS NOT DISTINCT FROM r.lease_until;
    -- The others' schedule rows, locked in channel order; one another process is claiming or
    -- finishing right now is skipped (held, without waiting for it).
    WITH l AS MATERIALIZED (
        SELECT u.i, s.enabled AND s.next_local_date = u.day AS ok
          FROM unnest(p_platforms, p_channels, p_days) WITH ORDINALITY
               AS u(platform, channel, day, i)
          JOIN digest_schedules s ON s.platform = u.platform AND s.channel_id = u.channel
         WHERE u.i <> ALL (v_held)
         ORDER BY u.platform, u.channel
           FOR UPDATE OF s SKIP LOCKED)
    SELECT coalesce(array_agg(l.i), '{}'), coalesce(array_agg(l.i) FILTER (WHERE l.ok), '{}')
      INTO v_locked, v_ok FROM l;
    -- Claim: a new run, or one whose claim lapsed or whose retry time came.
    WITH ins AS (
        INSERT INTO digest_runs AS r (platform, channel_id, local_date, due_at, status,
                                      claimed_by, lease_until, attempts, created_at)
        SELECT u.platform, u.channel, u.day, u.due, 'claimed', p_owner, p_lease, 1, p_now
          FROM unnest(p_platforms, p_channels, p_days, p_dues) WITH ORDINALITY
               AS u(platform, channel, day, due, i)
         WHERE u.i = ANY (v_ok)
         ORDER BY u.platform, u.channel
        ON CONFLICT (platform, channel_id, local_date) DO UPDATE SET
            status = 'claimed', claimed_by = excluded.claimed_by,
            lease_until = excluded.lease_until, attempts = r.attempts + 1
        WHERE r.status IN ('claimed', 'failed') AND coalesce(r.lease_until, 0) <= p_now
        RETURNING r.platform, r.channel_id, r.id, r.attempts)
    SELECT coalesce(array_agg(u.i), '{}'), coalesce(array_agg(ins.id), '{}'),
           coalesce(array_agg(ins.attempts), '{}')
      INTO v_won, v_won_runs, v_won_attempts
      FROM ins JOIN unnest(p_platforms, p_channels) WITH ORDINALITY AS u(platform, channel, i)
        ON u.platform = ins.platform AND u.channel = ins.channel_id;
    UPDATE digest_schedules s SET not_before = p_lease
      FROM unnest(p_platforms, p_channels) WITH ORDINALITY AS u(platform, channel, i)
     WHERE u.i = ANY (v_won) AND s.platform = u.platform AND s.channel_id = u.channel;
    -- Not claimed although the schedule is at this occurrence: done already (the schedule
    -- moves to the next one), or held by a live claim (the schedule shows its lease).
    SELECT coalesce(array_agg(u.i) FILTER (WHERE r.status IN ('sent', 'empty', 'skipped')),
                    '{}') INTO v_done
      FROM unnest(p_platforms, p_channels, p_days) WITH ORDINALITY AS u(platform, channel, day, i)
      JOIN digest_runs r
        ON r.platform = u.platform AND r.channel_id = u.channel AND r.local_date = u.day
     WHERE u.i = ANY (v_ok) AND u.i <> ALL (v_won);
    UPDATE digest_schedules s SET next_local_date = u.next_day, next_due_at = u.next_due,
           not_before = NULL
      FROM unnest(p_platforms, p_channels, p_next_days, p_next_dues) WITH ORDINALITY
           AS u(platform, channel, next_day, next_due, i)
     WHERE u.i = ANY (v_done) AND s.platform = u.platform AND s.channel_id = u.channel;
    UPDATE digest_schedules s SET not_before = r.lease_until
      FROM unnest(p_platforms, p_channels, p_days) WITH ORDINALITY AS u(platform, channel, day, i)
      LEFT JOIN digest_runs r
        ON r.platform = u.platform AND r.channel_id = u.channel AND r.local_date = u.day
     WHERE u.i = ANY (v_ok) AND u.i <> ALL (v_won) AND u.i <> ALL (v_done)
       AND s.platform = u.platform AND s.channel_id = u.channel
       AND s.not_before IS DISTINCT FROM r.lease_until;
    RETURN QUERY
    SELECT u.i,
           CASE WHEN u.i = ANY (v_held) THEN 'held'
                WHEN w.run IS NOT NULL THEN 'won'
                WHEN u.i = ANY (v_done) THEN 'done'
                WHEN u.i = ANY (v_ok) THEN 'held'
                WHEN u.i = ANY (v_locked) THEN 'stale'
                WHEN EXISTS (SELECT 1 FROM digest_schedules s WHERE s.platform = u.platform
                                AND s.channel_id = u.channel) THEN 'held'
                ELSE 'stale' END,
           w.run, w.attempts, l.id, l.through_article_id, l.period_end, l.finished_at, l.items,
           l.status, m.dates, m.dues, m.errors
      FROM unnest(p_platforms, p_channels) WITH ORDINALITY AS u(platform, channel, i)
      LEFT JOIN unnest(v_won, v_won_runs, v_won_attempts) AS w(i, run, attempts) ON w.i = u.i
      LEFT JOIN LATERAL (
          SELECT r.id, r.through_article_id, r.period_end, r.finished_at, r.items, r.status
            FROM digest_runs r
           WHERE w.run IS NOT NULL AND r.platform = u.platform AND r.channel_id = u.channel
             AND r.status IN ('sent', 'empty')
           ORDER BY r.id DESC LIMIT 1) l ON true
      LEFT JOIN LATERAL (
          SELECT array_agg(r.local_date ORDER BY r.local_date) AS dates,
                 array_agg(r.due_at ORDER BY r.local_date) AS dues,
                 array_agg(r.error ORDER BY r.local_date) AS errors
            FROM digest_runs r
           WHERE w.run IS NOT NULL AND r.platform = u.platform AND r.channel_id = u.channel
             AND r.status = 'skipped' AND r.id > coalesce(l.id, 0)) m ON true
     ORDER BY u.i;
END
$$;

-- Posted digests recorded together (a pass records a batch's worth at once): what
-- briefbot_finish_digest does for each run, a statement per step for the whole batch. Rows
-- lock their schedules in run order, as the one-by-one calls did. Two runs of one channel in
-- one batch are recorded one after the other (the second may move the schedule on again).
CREATE FUNCTION briefbot_finish_digests(
    p_owner text, p_runs bigint[], p_statuses text[], p_starts double precision[],
    p_ends double precision[], p_throughs bigint[], p_items integer[], p_lates boolean[],
    p_nows double precision[], p_next_days text[], p_next_dues double precision[])
RETURNS TABLE (o_i bigint, o_kept boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_kept bigint[];
BEGIN
    IF (SELECT count(DISTINCT (r.platform, r.channel_id)) < count(*)
          FROM digest_runs r JOIN unnest(p_runs) AS u(run) ON r.id = u.run) THEN
        RETURN QUERY
        SELECT u.i, briefbot_finish_digest(u.run, p_owner, u.status, u.p_start, u.p_end,
                                           u.through, u.items, u.late, u.now, u.next_day,
                                           u.next_due)
          FROM unnest(p_runs, p_statuses, p_starts, p_ends, p_throughs, p_items, p_lates,
                      p_nows, p_next_days, p_next_dues) WITH ORDINALITY
               AS u(run, status, p_start, p_end, through, items, late, now, next_day,
                    next_due, i)
         ORDER BY u.i;
        RETURN;
    END IF;
    PERFORM 1 FROM digest_schedules s
      JOIN digest_runs r ON r.platform = s.platform AND r.channel_id = s.channel_id
      JOIN unnest(p_runs) AS u(run) ON r.id = u.run
     ORDER BY u.run FOR UPDATE OF s;
    WITH done AS (
        UPDATE digest_runs r SET status = u.status, period_start = u.p_start,
               period_end = u.p_end, through_article_id = u.through, items = u.items,
               late = u.late, finished_at = u.now, lease_until = NULL, error = NULL
          FROM unnest(p_runs, p_statuses, p_starts, p_ends, p_throughs, p_items, p_lates,
                      p_nows, p_next_days, p_next_dues) WITH ORDINALITY
               AS u(run, status, p_start, p_end, through, items, late, now, next_day,
                    next_due, i)
         WHERE r.id = u.run AND r.claimed_by = p_owner AND r.status = 'claimed'
        RETURNING u.i, r.platform, r.channel_id, r.local_date, u.next_day, u.next_due),
    moved AS (
        UPDATE digest_schedules s SET next_local_date = done.next_day,
               next_due_at = done.next_due, not_before = NULL
          FROM done
         WHERE done.local_date IS NOT NULL AND done.next_day IS NOT NULL
           AND s.platform = done.platform AND s.channel_id = done.channel_id
           AND s.next_local_date = done.local_date)
    SELECT coalesce(array_agg(done.i), '{}') INTO v_kept FROM done;
    RETURN QUERY
    SELECT u.i, u.i = ANY (v_kept)
      FROM unnest(p_runs) WITH ORDINALITY AS u(run, i)
     ORDER BY u.i;
END
$$;
