"""Digest schedules and runs on PostgreSQL: each digest posts once per channel and local day.

The occurrence is claimed by inserting its ``(platform, channel_id, local_date)`` row (UNIQUE)
or taking over a row whose lease has expired, in one ``INSERT .. ON CONFLICT DO UPDATE .. WHERE
<lease expired> RETURNING`` statement, after locking the channel's schedule row ``FOR UPDATE``:
claims for one channel take turns, claims for different channels never wait for each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import asyncpg

from bot.store.postgres.base import (
    Conn,
    PgBase,
    affected,
    at,
    from_ts,
    to_ts,
    ts,
    workspace_filter,
)
from bot.store.records import (
    ClaimState,
    DigestClaim,
    DigestClaimRequest,
    DigestFinish,
    DigestSchedule,
    Due,
    LastDigest,
    MissedDigest,
    TimeRule,
)

SCHEDULE_COLUMNS = (
    "platform, channel_id, hour, minute, timezone, weekdays, enabled, disabled_reason,"
    " disabled_at, next_local_date, next_due_at, not_before, updated_by, updated_at"
)
_FINAL = ("sent", "empty", "skipped")
_LAST_SQL = (
    "SELECT id, through_article_id, period_end, finished_at, items, status FROM digest_runs"
    " WHERE platform = $1 AND channel_id = $2 AND status IN ('sent', 'empty')"
    " ORDER BY id DESC LIMIT 1"
)
_MISSED_SQL = (
    "SELECT local_date, due_at, error FROM digest_runs WHERE platform = $1 AND channel_id = $2"
    " AND status = 'skipped' AND id > $3 ORDER BY local_date"
)


def schedule_from_row(row: asyncpg.Record) -> DigestSchedule:
    return DigestSchedule(
        platform=row["platform"], channel_id=row["channel_id"], hour=row["hour"],
        minute=row["minute"], timezone=row["timezone"], weekdays=row["weekdays"],
        enabled=bool(row["enabled"]), disabled_reason=row["disabled_reason"],
        disabled_at=from_ts(row["disabled_at"]),
        next_local_date=date.fromisoformat(row["next_local_date"]),
        next_due_at=at(row["next_due_at"]), not_before=from_ts(row["not_before"]),
        updated_by=row["updated_by"], updated_at=at(row["updated_at"]),
    )


_S_COLUMNS = ", ".join(f"s.{c.strip()}" for c in SCHEDULE_COLUMNS.split(","))


def _claim_from_row(row: asyncpg.Record) -> DigestClaim:
    """A claim from the OUT columns of ``briefbot_claim_digest``."""
    state = ClaimState(row["o_state"])
    if state is not ClaimState.WON:
        return DigestClaim(state=state)
    last = None
    if row["o_last_id"] is not None:
        last = LastDigest(
            run_id=row["o_last_id"], through_article_id=row["o_last_through"],
            period_end=from_ts(row["o_last_period_end"]),
            finished_at=from_ts(row["o_last_finished"]), items=row["o_last_items"] or 0,
            status=row["o_last_status"])
    missed = tuple(
        MissedDigest(local_date=date.fromisoformat(day), due_at=from_ts(due), error=error)
        for day, due, error in zip(row["o_missed_dates"] or (), row["o_missed_due"] or (),
                                   row["o_missed_errors"] or (), strict=True))
    return DigestClaim(state=ClaimState.WON, run_id=row["o_run_id"],
                       attempts=row["o_attempts"], last=last, missed=missed)


def _last(row: asyncpg.Record) -> LastDigest:
    return LastDigest(
        run_id=row["id"], through_article_id=row["through_article_id"],
        period_end=from_ts(row["period_end"]), finished_at=from_ts(row["finished_at"]),
        items=row["items"] or 0, status=row["status"],
    )


def _missed(row: asyncpg.Record) -> MissedDigest:
    return MissedDigest(local_date=date.fromisoformat(row["local_date"]),
                        due_at=from_ts(row["due_at"]), error=row["error"])


async def _lock_schedule_of_run(conn: Conn, run_id: int) -> None:
    """Lock the schedule row of a run's channel first: every transaction that touches both a
    schedule and a run takes the schedule first (as a claim does), so two processes never
    hold one each and wait for the other (a deadlock)."""
    await conn.execute(
        "SELECT 1 FROM digest_schedules s JOIN digest_runs r ON r.platform = s.platform"
        " AND r.channel_id = s.channel_id WHERE r.id = $1 FOR UPDATE OF s", run_id)


def _platforms(platforms: Sequence[str] | None) -> list[str] | None:
    return None if platforms is None else list(platforms)


class PgDigests(PgBase):
    # -- schedules ----------------------------------------------------------------------

    async def set_digest_schedule(
        self, *, platform: str, channel_id: str, rule: TimeRule, first: Due,
        by: str | None, now: datetime,
    ) -> DigestSchedule:
        row = await self._fetchrow(
            "INSERT INTO digest_schedules (platform, channel_id, hour, minute, timezone,"
            " weekdays, enabled, next_local_date, next_due_at, updated_by, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8, $9, $10)"
            " ON CONFLICT (platform, channel_id) DO UPDATE SET hour = excluded.hour,"
            " minute = excluded.minute, timezone = excluded.timezone,"
            " weekdays = excluded.weekdays, enabled = true, disabled_reason = NULL,"
            " disabled_at = NULL, next_local_date = excluded.next_local_date,"
            " next_due_at = excluded.next_due_at, not_before = NULL,"
            " updated_by = excluded.updated_by, updated_at = excluded.updated_at"
            f" RETURNING {SCHEDULE_COLUMNS}",
            platform, channel_id, rule.hour, rule.minute, rule.timezone, rule.weekdays,
            first.local_date.isoformat(), ts(first.due_at), by, ts(now))
        assert row is not None
        return schedule_from_row(row)

    async def disable_digest(self, *, platform: str, channel_id: str, reason: str,
                             by: str | None, now: datetime) -> bool:
        status = await self._execute(
            "UPDATE digest_schedules SET enabled = false, disabled_reason = $1,"
            " disabled_at = $2, updated_by = $3, updated_at = $2 WHERE platform = $4"
            " AND channel_id = $5 AND enabled", reason, ts(now), by, platform, channel_id)
        return affected(status) > 0

    async def get_digest_schedule(self, *, platform: str, channel_id: str
                                  ) -> DigestSchedule | None:
        row = await self._fetchrow(
            f"SELECT {SCHEDULE_COLUMNS} FROM digest_schedules"
            " WHERE platform = $1 AND channel_id = $2", platform, channel_id)
        return None if row is None else schedule_from_row(row)

    async def due_digest_schedules(
        self, *, now: datetime, platforms: Sequence[str] | None = None, limit: int = 100_000,
    ) -> list[DigestSchedule]:
        rows = await self._fetch(
            f"SELECT {SCHEDULE_COLUMNS} FROM digest_schedules"
            " WHERE enabled AND next_due_at <= $1 AND coalesce(not_before, 0) <= $1"
            " AND ($2::text[] IS NULL OR platform = ANY($2::text[]))"
            " ORDER BY next_due_at, platform, channel_id LIMIT $3",
            ts(now), _platforms(platforms), limit)
        return [schedule_from_row(r) for r in rows]

    async def reserve_due_digests(
        self, *, now: datetime, until: datetime, platforms: Sequence[str] | None = None,
        limit: int,
    ) -> list[DigestSchedule]:
        """Take up to ``limit`` due schedules and hide them from every due list until
        ``until``, in one statement: rows another process is reserving right now are
        skipped (``FOR UPDATE SKIP LOCKED``), so processes take disjoint sets, none waits."""
        rows = await self._fetch(
            # MATERIALIZED: the locking subquery runs once. Inlined into the UPDATE's join,
            # PostgreSQL may rescan it, and each rescan with SKIP LOCKED can lock further
            # rows: one call was seen reserving 10 schedules with a limit of 4.
            "WITH d AS MATERIALIZED (SELECT platform, channel_id"
            " FROM digest_schedules WHERE enabled AND next_due_at <= $1"
            " AND coalesce(not_before, 0) <= $1"
            " AND ($3::text[] IS NULL OR platform = ANY($3::text[]))"
            " ORDER BY next_due_at, platform, channel_id LIMIT $4 FOR UPDATE SKIP LOCKED)"
            " UPDATE digest_schedules s SET not_before = $2 FROM d"
            " WHERE s.platform = d.platform AND s.channel_id = d.channel_id"
            f" RETURNING {_S_COLUMNS}",
            ts(now), ts(until), _platforms(platforms), limit)
        taken = [schedule_from_row(r) for r in rows]
        taken.sort(key=lambda s: (s.next_due_at, s.platform, s.channel_id))
        return taken

    async def digest_pool_floor(
        self, *, now: datetime, platforms: Sequence[str] | None = None,
    ) -> tuple[int | None, bool]:
        row = await self._fetchrow(
            "SELECT min(last), coalesce(bool_or(last IS NULL), false) FROM (SELECT"
            " (SELECT max(r.through_article_id) FROM digest_runs r WHERE r.platform = s.platform"
            " AND r.channel_id = s.channel_id AND r.status IN ('sent', 'empty')) AS last"
            " FROM digest_schedules s WHERE s.enabled AND s.next_due_at <= $1"
            " AND coalesce(s.not_before, 0) <= $1"
            " AND ($2::text[] IS NULL OR s.platform = ANY($2::text[]))) AS due",
            ts(now), _platforms(platforms))
        if row is None:
            return None, False
        return (None if row[0] is None else int(row[0])), bool(row[1])

    async def next_digest_wake(self, *, platforms: Sequence[str] | None = None
                               ) -> datetime | None:
        return from_ts(await self._fetchval(
            "SELECT min(greatest(next_due_at, coalesce(not_before, 0))) FROM digest_schedules"
            " WHERE enabled AND ($1::text[] IS NULL OR platform = ANY($1::text[]))",
            _platforms(platforms)))

    # -- runs ------------------------------------------------------------------------------

    async def last_digest(self, *, platform: str, channel_id: str) -> LastDigest | None:
        row = await self._fetchrow(_LAST_SQL, platform, channel_id)
        return None if row is None else _last(row)

    async def claim_digest(
        self, *, platform: str, channel_id: str, local_date: date, due_at: datetime,
        owner: str, now: datetime, lease_until: datetime,
        next_local_date: date, next_due_at: datetime,
    ) -> DigestClaim:
        # one call, one round trip: briefbot_claim_digest (PostgreSQL migrations 0004, 0005)
        # locks the channel's schedule row, then inserts or takes over the run, as documented
        # above
        row = await self._fetchrow(
            "SELECT * FROM briefbot_claim_digest($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            platform, channel_id, local_date.isoformat(), ts(due_at), owner, ts(lease_until),
            ts(now), next_local_date.isoformat(), ts(next_due_at))
        assert row is not None
        return _claim_from_row(row)

    async def claim_digests(
        self, requests: Sequence[DigestClaimRequest], *, owner: str, now: datetime,
        lease_until: datetime,
    ) -> list[DigestClaim]:
        """:meth:`claim_digest` for each request, in one call of ``briefbot_claim_digests``
        (migration 0010): each step of the claim taken for the whole batch at once, each
        request answered as :meth:`claim_digest` answers it. Schedule rows are locked in
        channel order, so two batches lock them in one order; a row another process holds
        is skipped (held) rather than waited for."""
        if not requests:
            return []
        order = sorted(range(len(requests)),
                       key=lambda i: (requests[i].platform, requests[i].channel_id))
        chosen = [requests[i] for i in order]
        args = ([r.platform for r in chosen], [r.channel_id for r in chosen],
                [r.local_date.isoformat() for r in chosen], [ts(r.due_at) for r in chosen],
                [r.next_local_date.isoformat() for r in chosen],
                [ts(r.next_due_at) for r in chosen], owner, ts(lease_until), ts(now))
        if len({(r.platform, r.channel_id) for r in chosen}) == len(chosen):
            rows = await self._fetch("SELECT * FROM briefbot_claim_digests($1::text[],"
                                     " $2::text[], $3::text[], $4::float8[], $5::text[],"
                                     " $6::float8[], $7, $8, $9)", *args)
        else:  # a channel asked for twice: one claim after the other, as asked
            rows = await self._fetch(
                "SELECT c.* FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[],"
                " $5::text[], $6::float8[]) WITH ORDINALITY AS u(platform, channel, day, due,"
                " next_day, next_due, i) CROSS JOIN LATERAL briefbot_claim_digest(u.platform,"
                " u.channel, u.day, u.due, $7, $8, $9, u.next_day, u.next_due) AS c"
                " ORDER BY u.i", *args)
        assert len(rows) == len(chosen)
        out: list[DigestClaim] = [DigestClaim(state=ClaimState.STALE)] * len(requests)
        for i, row in zip(order, rows, strict=True):
            out[i] = _claim_from_row(row)
        return out

    async def finish_digest(
        self, *, run_id: int, owner: str, sent: bool, period_start: datetime | None,
        period_end: datetime, through_article_id: int, items: int, late: bool,
        now: datetime, following: Due | None = None,
    ) -> bool:
        kept = await self._fetchval(
            "SELECT briefbot_finish_digest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            run_id, owner, "sent" if sent else "empty", to_ts(period_start), ts(period_end),
            through_article_id, items, late, ts(now),
            following.local_date.isoformat() if following is not None else None,
            ts(following.due_at) if following is not None else None)
        return bool(kept)

    async def finish_digests(self, finishes: Sequence[DigestFinish], *, owner: str
                             ) -> list[bool]:
        """:meth:`finish_digest` for each run, in one call of ``briefbot_finish_digests``
        (migration 0010): each step for the whole batch at once, schedule rows locked in run
        order (two batches lock them in one order)."""
        if not finishes:
            return []
        order = sorted(range(len(finishes)), key=lambda i: finishes[i].run_id)
        chosen = [finishes[i] for i in order]
        rows = await self._fetch(
            "SELECT o_kept AS kept FROM briefbot_finish_digests($1, $2::bigint[], $3::text[],"
            " $4::float8[], $5::float8[], $6::bigint[], $7::int[], $8::bool[], $9::float8[],"
            " $10::text[], $11::float8[])",
            owner, [f.run_id for f in chosen], ["sent" if f.sent else "empty" for f in chosen],
            [to_ts(f.period_start) for f in chosen], [ts(f.period_end) for f in chosen],
            [f.through_article_id for f in chosen], [f.items for f in chosen],
            [f.late for f in chosen], [ts(f.now) for f in chosen],
            [None if f.following is None else f.following.local_date.isoformat()
             for f in chosen],
            [None if f.following is None else ts(f.following.due_at) for f in chosen])
        assert len(rows) == len(chosen)
        out = [False] * len(finishes)
        for i, row in zip(order, rows, strict=True):
            out[i] = bool(row["kept"])
        return out

    async def fail_digest(self, *, run_id: int, owner: str, error: str, retry_at: datetime,
                          now: datetime) -> None:
        async with self.transaction() as conn:
            await _lock_schedule_of_run(conn, run_id)
            row = await conn.fetchrow(
                "UPDATE digest_runs SET status = 'failed', error = $1, lease_until = $2,"
                " finished_at = $3 WHERE id = $4 AND claimed_by = $5 AND status = 'claimed'"
                " RETURNING platform, channel_id, local_date",
                error[:500], ts(retry_at), ts(now), run_id, owner)
            if row is not None and row["local_date"] is not None:
                await conn.execute(
                    "UPDATE digest_schedules SET not_before = $1 WHERE platform = $2"
                    " AND channel_id = $3 AND next_local_date = $4",
                    ts(retry_at), row["platform"], row["channel_id"], row["local_date"])

    async def disable_digest_after_failure(
        self, *, run_id: int, owner: str, platform: str, channel_id: str, reason: str,
        now: datetime,
    ) -> None:
        async with self.transaction() as conn:
            await _lock_schedule_of_run(conn, run_id)
            await conn.execute(
                "UPDATE digest_runs SET status = 'failed', error = $1, lease_until = NULL,"
                " finished_at = $2 WHERE id = $3 AND claimed_by = $4",
                reason[:500], ts(now), run_id, owner)
            await conn.execute(
                "UPDATE digest_schedules SET enabled = false, disabled_reason = $1,"
                " disabled_at = $2, not_before = NULL, updated_by = NULL, updated_at = $2"
                " WHERE platform = $3 AND channel_id = $4",
                f"the platform refused the digest: {reason}"[:500], ts(now), platform,
                channel_id)

    async def defer_digest_schedule(self, *, platform: str, channel_id: str,
                                    expected_local_date: date, until: datetime) -> None:
        await self._execute(
            "UPDATE digest_schedules SET not_before = $1 WHERE platform = $2"
            " AND channel_id = $3 AND next_local_date = $4",
            ts(until), platform, channel_id, expected_local_date.isoformat())

    async def skip_digests(
        self, *, platform: str, channel_id: str, expected_local_date: date,
        local_dates: Sequence[tuple[date, datetime]], reason: str,
        next_local_date: date, next_due_at: datetime, now: datetime,
    ) -> bool:
        async with self.transaction() as conn:
            status = await conn.execute(
                "UPDATE digest_schedules SET next_local_date = $1, next_due_at = $2,"
                " not_before = NULL WHERE platform = $3 AND channel_id = $4"
                " AND next_local_date = $5 AND enabled",
                next_local_date.isoformat(), ts(next_due_at), platform, channel_id,
                expected_local_date.isoformat())
            if affected(status) == 0:
                return False
            for day, due in local_dates:
                await conn.execute(
                    "INSERT INTO digest_runs (platform, channel_id, local_date, due_at, status,"
                    " error, created_at, finished_at)"
                    " VALUES ($1, $2, $3, $4, 'skipped', $5, $6, $6)"
                    " ON CONFLICT (platform, channel_id, local_date) DO UPDATE SET"
                    " status = 'skipped', lease_until = NULL,"
                    " finished_at = excluded.finished_at,"
                    " error = coalesce(digest_runs.error, excluded.error)"
                    " WHERE digest_runs.status IN ('claimed', 'failed')"
                    " AND coalesce(digest_runs.lease_until, 0) <= $6",
                    platform, channel_id, day.isoformat(), ts(due), reason, ts(now))
            return True

    async def missed_digests(self, *, platform: str, channel_id: str,
                             after_run_id: int | None) -> list[MissedDigest]:
        rows = await self._fetch(_MISSED_SQL, platform, channel_id, after_run_id or 0)
        return [_missed(r) for r in rows]

    async def start_manual_digest(self, *, platform: str, channel_id: str, owner: str,
                                  now: datetime) -> tuple[int, LastDigest | None]:
        async with self.transaction() as conn:
            run_id = await conn.fetchval(
                "INSERT INTO digest_runs (platform, channel_id, status, claimed_by,"
                " attempts, created_at) VALUES ($1, $2, 'claimed', $3, 1, $4) RETURNING id",
                platform, channel_id, owner, ts(now))
            last = await conn.fetchrow(_LAST_SQL, platform, channel_id)
        return int(run_id), None if last is None else _last(last)

    async def abandon_manual_digest(self, *, run_id: int, error: str, now: datetime) -> None:
        await self._execute(
            "UPDATE digest_runs SET status = 'failed', error = $1, finished_at = $2"
            " WHERE id = $3 AND local_date IS NULL AND status = 'claimed'",
            error[:500], ts(now), run_id)

    async def unsent_article_floor(self) -> int | None:
        """The lowest article id the enabled schedules' last digests went up to."""
        value = await self._fetchval(
            "SELECT min((SELECT max(r.through_article_id) FROM digest_runs r"
            " WHERE r.platform = s.platform AND r.channel_id = s.channel_id"
            " AND r.status IN ('sent', 'empty'))) FROM digest_schedules s WHERE s.enabled")
        return None if value is None else int(value)

    async def prune_digest_runs(self, *, before: datetime, limit: int) -> int:
        """Forget up to ``limit`` finished runs created before ``before``, keeping each
        channel's latest posted run and anything after it."""
        return affected(await self._execute(
            "DELETE FROM digest_runs WHERE id IN (SELECT r.id FROM digest_runs r"
            " WHERE r.created_at < $1 AND r.status IN ('sent', 'empty', 'skipped')"
            " AND r.id < (SELECT max(l.id) FROM digest_runs l WHERE l.platform = r.platform"
            " AND l.channel_id = r.channel_id AND l.status IN ('sent', 'empty'))"
            " ORDER BY r.id LIMIT $2)", ts(before), limit))

    # -- a workspace that removed the app (PostgreSQL migration 0002) ---------------------

    async def pause_workspace_digests(self, *, platform: str, workspace: str,
                                      id_prefix: str | None, reason: str,
                                      now: datetime) -> int:
        return affected(await self._execute(
            "UPDATE digest_schedules SET enabled = false, disabled_reason = $1,"
            " disabled_at = $2, paused_workspace = $3, updated_at = $2 WHERE platform = $4"
            f" AND enabled AND {workspace_filter('channel_id', 5)}",
            reason[:500], ts(now), workspace, platform, id_prefix))

    async def resume_workspace_digests(self, *, platform: str, workspace: str,
                                       now: datetime) -> int:
        async with self.transaction() as conn:
            status = await conn.execute(
                "UPDATE digest_schedules SET enabled = true, disabled_reason = NULL,"
                " disabled_at = NULL, not_before = NULL, paused_workspace = NULL,"
                " updated_at = $1 WHERE platform = $2 AND paused_workspace = $3"
                " AND NOT enabled", ts(now), platform, workspace)
            await conn.execute(  # turned on again by hand meanwhile: just forget the mark
                "UPDATE digest_schedules SET paused_workspace = NULL"
                " WHERE platform = $1 AND paused_workspace = $2", platform, workspace)
        return affected(status)
