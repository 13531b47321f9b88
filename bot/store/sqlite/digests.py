"""The digests repository: every statement on ``digest_schedules`` and ``digest_runs``.

A scheduled digest is claimed by inserting its ``(platform, channel_id, local_date)`` row in
``digest_runs`` (UNIQUE) inside one immediate transaction, with a lease. The row is marked
``sent`` only after the platform accepted the message. A ``claimed`` row whose lease has
expired (the process died between claim and post) or a ``failed`` row whose retry time has
come is claimed again; ``sent``, ``empty`` and ``skipped`` rows are final. The schedule row
holds the next occurrence to handle and a ``not_before`` hint so a held or failing occurrence
is not looked at again before its lease or retry time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime

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
from bot.store.sqlite.db import Database, from_ts, to_ts, ts, workspace_filter

_SCHEDULE_COLUMNS = (
    "platform, channel_id, hour, minute, timezone, weekdays, enabled, disabled_reason,"
    " disabled_at, next_local_date, next_due_at, not_before, updated_by, updated_at"
)
_FINAL = ("sent", "empty", "skipped")


def _schedule(row: sqlite3.Row) -> DigestSchedule:
    return DigestSchedule(
        platform=row["platform"], channel_id=row["channel_id"], hour=row["hour"],
        minute=row["minute"], timezone=row["timezone"], weekdays=row["weekdays"],
        enabled=bool(row["enabled"]), disabled_reason=row["disabled_reason"],
        disabled_at=from_ts(row["disabled_at"]),
        next_local_date=date.fromisoformat(row["next_local_date"]),
        next_due_at=ts(row["next_due_at"]), not_before=from_ts(row["not_before"]),
        updated_by=row["updated_by"], updated_at=ts(row["updated_at"]),
    )


class SQLiteDigests:
    """:class:`bot.store.ports.DigestStore` on SQLite (schedules and runs)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- schedules ----------------------------------------------------------------------

    async def set_digest_schedule(
        self, *, platform: str, channel_id: str, rule: TimeRule, first: Due,
        by: str | None, now: datetime,
    ) -> DigestSchedule:
        """Create or replace the channel's schedule (enabled, due first at ``first``)."""
        async with self._db.transaction() as db, db.execute(
            "INSERT INTO digest_schedules (platform, channel_id, hour, minute, timezone,"
            " weekdays, enabled, next_local_date, next_due_at, updated_by, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)"
            " ON CONFLICT (platform, channel_id) DO UPDATE SET hour = excluded.hour,"
            " minute = excluded.minute, timezone = excluded.timezone,"
            " weekdays = excluded.weekdays, enabled = 1, disabled_reason = NULL,"
            " disabled_at = NULL, next_local_date = excluded.next_local_date,"
            " next_due_at = excluded.next_due_at, not_before = NULL,"
            " updated_by = excluded.updated_by, updated_at = excluded.updated_at"
            f" RETURNING {_SCHEDULE_COLUMNS}",
            (platform, channel_id, rule.hour, rule.minute, rule.timezone, rule.weekdays,
             first.local_date.isoformat(), to_ts(first.due_at), by, to_ts(now)),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return _schedule(row)

    async def disable_digest(self, *, platform: str, channel_id: str, reason: str,
                             by: str | None, now: datetime) -> bool:
        """Turn the channel's digest off, keeping the setting; False when none was on."""
        async with self._db.transaction() as db, db.execute(
            "UPDATE digest_schedules SET enabled = 0, disabled_reason = ?, disabled_at = ?,"
            " updated_by = ?, updated_at = ? WHERE platform = ? AND channel_id = ?"
            " AND enabled = 1",
            (reason, to_ts(now), by, to_ts(now), platform, channel_id),
        ) as cur:
            return cur.rowcount > 0

    async def get_digest_schedule(self, *, platform: str, channel_id: str
                                  ) -> DigestSchedule | None:
        row = await self._db.fetchone(
            f"SELECT {_SCHEDULE_COLUMNS} FROM digest_schedules"
            " WHERE platform = ? AND channel_id = ?",
            (platform, channel_id),
        )
        return None if row is None else _schedule(row)

    async def due_digest_schedules(
        self, *, now: datetime, platforms: Sequence[str] | None = None, limit: int = 100_000,
    ) -> list[DigestSchedule]:
        """Enabled schedules whose next occurrence is due and not held or backing off; only
        on ``platforms`` if given (a process claims only what it can post)."""
        now_ts = to_ts(now)
        where, params = _platforms_filter(platforms)
        rows = await self._db.fetchall(
            f"SELECT {_SCHEDULE_COLUMNS} FROM digest_schedules"
            " WHERE enabled = 1 AND next_due_at <= ? AND coalesce(not_before, 0) <= ?"
            f"{where} ORDER BY next_due_at, platform, channel_id LIMIT ?",
            (now_ts, now_ts, *params, limit),
        )
        return [_schedule(r) for r in rows]

    async def reserve_due_digests(
        self, *, now: datetime, until: datetime, platforms: Sequence[str] | None = None,
        limit: int,
    ) -> list[DigestSchedule]:
        """Take up to ``limit`` due schedules and hide them from every due list until
        ``until``: one write transaction (SQLite has one writer: reservations never overlap)."""
        now_ts = to_ts(now)
        where, params = _platforms_filter(platforms)

        def reserve(db: sqlite3.Connection) -> list[sqlite3.Row]:  # one trip
            return db.execute(
                "UPDATE digest_schedules SET not_before = ? WHERE (platform, channel_id) IN"
                " (SELECT platform, channel_id FROM digest_schedules"
                " WHERE enabled = 1 AND next_due_at <= ? AND coalesce(not_before, 0) <= ?"
                f"{where} ORDER BY next_due_at, platform, channel_id LIMIT ?)"
                f" RETURNING {_SCHEDULE_COLUMNS}",
                (to_ts(until), now_ts, now_ts, *params, limit),
            ).fetchall()

        rows = await self._db.write(reserve)
        taken = [_schedule(r) for r in rows]
        taken.sort(key=lambda s: (s.next_due_at, s.platform, s.channel_id))
        return taken

    async def digest_pool_floor(
        self, *, now: datetime, platforms: Sequence[str] | None = None,
    ) -> tuple[int | None, bool]:
        """Over the schedules due now: the lowest article id their last digests went up to,
        and whether any has never had a digest (it starts from the last 24 hours)."""
        now_ts = to_ts(now)
        where, params = _platforms_filter(platforms)
        row = await self._db.fetchone(
            "SELECT min(last), max(last IS NULL) FROM (SELECT (SELECT max(r.through_article_id)"
            " FROM digest_runs r WHERE r.platform = s.platform AND r.channel_id = s.channel_id"
            " AND r.status IN ('sent', 'empty')) AS last FROM digest_schedules s"
            " WHERE s.enabled = 1 AND s.next_due_at <= ? AND coalesce(s.not_before, 0) <= ?"
            f"{where.replace('platform', 's.platform')})",
            (now_ts, now_ts, *params),
        )
        if row is None:
            return None, False
        return (None if row[0] is None else int(row[0])), bool(row[1])

    async def next_digest_wake(self, *, platforms: Sequence[str] | None = None
                               ) -> datetime | None:
        """When the scheduler next has something to do on ``platforms`` (None: nothing is
        scheduled there)."""
        where, params = _platforms_filter(platforms)
        row = await self._db.fetchone(
            "SELECT min(max(next_due_at, coalesce(not_before, 0))) FROM digest_schedules"
            f" WHERE enabled = 1{where}",
            params,
        )
        return None if row is None else from_ts(row[0])

    # -- runs: the exactly-once machinery ------------------------------------------------

    async def last_digest(self, *, platform: str, channel_id: str) -> LastDigest | None:
        row = await self._db.fetchone(_LAST_SQL, (platform, channel_id))
        return None if row is None else _last(row)

    async def claim_digest(
        self, *, platform: str, channel_id: str, local_date: date, due_at: datetime,
        owner: str, now: datetime, lease_until: datetime,
        next_local_date: date, next_due_at: datetime,
    ) -> DigestClaim:
        """Claim the occurrence ``local_date`` for ``owner`` until ``lease_until``.

        Exactly one caller gets ``WON`` for an occurrence until it is finished, failed or its
        lease expires, whatever the number of processes: the row is inserted (or taken over)
        inside one immediate transaction. ``next_*`` is where the schedule moves when the
        occurrence turns out to be done already. A won claim carries the channel's last
        digest and the occurrences skipped since it (what the digest must mention).
        """
        request = DigestClaimRequest(
            platform=platform, channel_id=channel_id, local_date=local_date, due_at=due_at,
            next_local_date=next_local_date, next_due_at=next_due_at)
        return (await self.claim_digests([request], owner=owner, now=now,
                                          lease_until=lease_until))[0]

    async def claim_digests(
        self, requests: Sequence[DigestClaimRequest], *, owner: str, now: datetime,
        lease_until: datetime,
    ) -> list[DigestClaim]:
        """:meth:`claim_digest` for each request, in one transaction (one trip)."""
        if not requests:
            return []

        def claim(db: sqlite3.Connection) -> list[DigestClaim]:
            t, lease = to_ts(now), to_ts(lease_until)
            if len({(r.platform, r.channel_id) for r in requests}) < len(requests):
                # a channel asked for twice: one claim after the other, as asked
                return [_claim(db, r, owner=owner, now=t, lease=lease) for r in requests]
            out: list[DigestClaim] = []
            for start in range(0, len(requests), _CLAIM_CHUNK):
                out += _claim_many(db, requests[start:start + _CLAIM_CHUNK], owner=owner,
                                   now=t, lease=lease)
            return out

        return await self._db.write(claim)

    async def finish_digest(
        self, *, run_id: int, owner: str, sent: bool, period_start: datetime | None,
        period_end: datetime, through_article_id: int, items: int, late: bool,
        now: datetime, following: Due | None = None,
    ) -> bool:
        """Record that run ``run_id`` was posted (``sent``) or had nothing to post, and move
        a scheduled run's schedule to ``following`` (its next occurrence, which the digests
        feature computes: the store keeps time rules, it does not evaluate them). Without
        ``following`` the schedule stays put and its next claim finds the occurrence done.
        False when ``owner`` had lost the claim."""
        finish = DigestFinish(run_id=run_id, sent=sent, period_start=period_start,
                              period_end=period_end, through_article_id=through_article_id,
                              items=items, late=late, now=now, following=following)
        return (await self.finish_digests([finish], owner=owner))[0]

    async def finish_digests(self, finishes: Sequence[DigestFinish], *, owner: str
                             ) -> list[bool]:
        """:meth:`finish_digest` for each run, in one transaction (one trip)."""
        if not finishes:
            return []

        def finish(db: sqlite3.Connection) -> list[bool]:
            if len({f.run_id for f in finishes}) < len(finishes):  # one after the other
                return [_finish(db, f, owner=owner) for f in finishes]
            kept: dict[int, tuple[str, str, str | None]] = {}
            for start in range(0, len(finishes), _CLAIM_CHUNK):
                kept.update(_finish_many(db, finishes[start:start + _CLAIM_CHUNK],
                                         owner=owner))
            # each schedule moved on in the order given, as one finish after the other
            moves = []
            for f in finishes:
                found = kept.get(f.run_id)
                if found is not None and found[2] is not None and f.following is not None:
                    moves.append((f.following.local_date.isoformat(),
                                  to_ts(f.following.due_at), found[0], found[1], found[2]))
            db.executemany(
                "UPDATE digest_schedules SET next_local_date = ?, next_due_at = ?,"
                " not_before = NULL WHERE platform = ? AND channel_id = ?"
                " AND next_local_date = ?", moves)
            return [f.run_id in kept for f in finishes]

        return await self._db.write(finish)

    async def fail_digest(self, *, run_id: int, owner: str, error: str, retry_at: datetime,
                          now: datetime) -> None:
        """A post failed for now: keep the occurrence, retry it from ``retry_at``."""
        async with self._db.transaction() as db:
            async with db.execute(
                "UPDATE digest_runs SET status = 'failed', error = ?, lease_until = ?,"
                " finished_at = ? WHERE id = ? AND claimed_by = ? AND status = 'claimed'"
                " RETURNING platform, channel_id, local_date",
                (error[:500], to_ts(retry_at), to_ts(now), run_id, owner),
            ) as cur:
                row = await cur.fetchone()
            if row is not None and row["local_date"] is not None:
                await db.execute(
                    "UPDATE digest_schedules SET not_before = ? WHERE platform = ?"
                    " AND channel_id = ? AND next_local_date = ?",
                    (to_ts(retry_at), row["platform"], row["channel_id"], row["local_date"]),
                )

    async def disable_digest_after_failure(
        self, *, run_id: int, owner: str, platform: str, channel_id: str, reason: str,
        now: datetime,
    ) -> None:
        """The platform refused the channel for good: stop its digest, keep why."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE digest_runs SET status = 'failed', error = ?, lease_until = NULL,"
                " finished_at = ? WHERE id = ? AND claimed_by = ?",
                (reason[:500], to_ts(now), run_id, owner),
            )
            await db.execute(
                "UPDATE digest_schedules SET enabled = 0, disabled_reason = ?,"
                " disabled_at = ?, not_before = NULL, updated_by = NULL, updated_at = ?"
                " WHERE platform = ? AND channel_id = ?",
                (f"the platform refused the digest: {reason}"[:500], to_ts(now), to_ts(now),
                 platform, channel_id),
            )

    async def defer_digest_schedule(self, *, platform: str, channel_id: str,
                                    expected_local_date: date, until: datetime) -> None:
        """Look at the schedule again only from ``until`` (a pass could not handle it; it
        had reserved it, so ``until`` replaces the reservation's time)."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE digest_schedules SET not_before = ? WHERE platform = ?"
                " AND channel_id = ? AND next_local_date = ?",
                (to_ts(until), platform, channel_id, expected_local_date.isoformat()),
            )

    async def skip_digests(
        self, *, platform: str, channel_id: str, expected_local_date: date,
        local_dates: Sequence[tuple[date, datetime]], reason: str,
        next_local_date: date, next_due_at: datetime, now: datetime,
    ) -> bool:
        """Record occurrences missed past their grace period and move the schedule to
        ``next_local_date``. False when the schedule no longer points at
        ``expected_local_date`` (another process or a command changed it)."""
        async with self._db.transaction() as db:
            async with db.execute(
                "UPDATE digest_schedules SET next_local_date = ?, next_due_at = ?,"
                " not_before = NULL WHERE platform = ? AND channel_id = ?"
                " AND next_local_date = ? AND enabled = 1",
                (next_local_date.isoformat(), to_ts(next_due_at), platform, channel_id,
                 expected_local_date.isoformat()),
            ) as cur:
                if cur.rowcount == 0:
                    return False
            for day, due in local_dates:
                # A crashed or failing claim past its grace keeps its error as the reason.
                await db.execute(
                    "INSERT INTO digest_runs (platform, channel_id, local_date, due_at, status,"
                    " error, created_at, finished_at) VALUES (?, ?, ?, ?, 'skipped', ?, ?, ?)"
                    " ON CONFLICT (platform, channel_id, local_date) DO UPDATE SET"
                    " status = 'skipped', lease_until = NULL, finished_at = excluded.finished_at,"
                    " error = coalesce(digest_runs.error, excluded.error)"
                    " WHERE digest_runs.status IN ('claimed', 'failed')"
                    " AND coalesce(digest_runs.lease_until, 0) <= ?",
                    (platform, channel_id, day.isoformat(), to_ts(due), reason, to_ts(now),
                     to_ts(now), to_ts(now)),
                )
            return True

    async def unsent_article_floor(self) -> int | None:
        """The lowest article id the enabled schedules' last digests went up to: articles
        above it may still be posted by a digest (None: no enabled schedule has posted yet)."""
        row = await self._db.fetchone(
            "SELECT min((SELECT max(r.through_article_id) FROM digest_runs r"
            " WHERE r.platform = s.platform AND r.channel_id = s.channel_id"
            " AND r.status IN ('sent', 'empty'))) FROM digest_schedules s WHERE s.enabled = 1")
        return None if row is None or row[0] is None else int(row[0])

    async def prune_digest_runs(self, *, before: datetime, limit: int) -> int:
        """Forget up to ``limit`` finished runs created before ``before``, keeping each
        channel's latest posted run (the next digest starts after it) and anything after it."""
        async with self._db.transaction() as db, db.execute(
            "DELETE FROM digest_runs WHERE id IN (SELECT r.id FROM digest_runs r"
            " WHERE r.created_at < ? AND r.status IN ('sent', 'empty', 'skipped')"
            " AND r.id < (SELECT max(l.id) FROM digest_runs l WHERE l.platform = r.platform"
            " AND l.channel_id = r.channel_id AND l.status IN ('sent', 'empty'))"
            " ORDER BY r.id LIMIT ?)",
            (to_ts(before), limit),
        ) as cur:
            return max(cur.rowcount, 0)

    async def missed_digests(self, *, platform: str, channel_id: str,
                             after_run_id: int | None) -> list[MissedDigest]:
        """Occurrences skipped since the run ``after_run_id`` (the last one posted)."""
        rows = await self._db.fetchall(_MISSED_SQL, (platform, channel_id, after_run_id or 0))
        return [_missed(r) for r in rows]

    async def start_manual_digest(self, *, platform: str, channel_id: str, owner: str,
                                  now: datetime) -> tuple[int, LastDigest | None]:
        """A run for ``/brief digest now`` (no local date: it never blocks the schedule)."""
        async with self._db.transaction() as db:
            async with db.execute(
                "INSERT INTO digest_runs (platform, channel_id, status, claimed_by,"
                " attempts, created_at) VALUES (?, ?, 'claimed', ?, 1, ?) RETURNING id",
                (platform, channel_id, owner, to_ts(now)),
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            last = list(await db.execute_fetchall(_LAST_SQL, (platform, channel_id)))
        return int(row["id"]), _last(last[0]) if last else None

    async def abandon_manual_digest(self, *, run_id: int, error: str, now: datetime) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE digest_runs SET status = 'failed', error = ?, finished_at = ?"
                " WHERE id = ? AND local_date IS NULL AND status = 'claimed'",
                (error[:500], to_ts(now), run_id),
            )

    # -- a workspace that removed the app (migration 0009) --------------------------------

    async def pause_workspace_digests(self, *, platform: str, workspace: str,
                                      id_prefix: str | None, reason: str,
                                      now: datetime) -> int:
        where, args = workspace_filter("channel_id", id_prefix)
        async with self._db.transaction() as db, db.execute(
            "UPDATE digest_schedules SET enabled = 0, disabled_reason = ?, disabled_at = ?,"
            f" paused_workspace = ?, updated_at = ? WHERE platform = ? AND enabled = 1 AND {where}",
            (reason[:500], to_ts(now), workspace, to_ts(now), platform, *args),
        ) as cur:
            return cur.rowcount

    async def resume_workspace_digests(self, *, platform: str, workspace: str,
                                       now: datetime) -> int:
        async with self._db.transaction() as db:
            async with db.execute(
                "UPDATE digest_schedules SET enabled = 1, disabled_reason = NULL,"
                " disabled_at = NULL, not_before = NULL, paused_workspace = NULL,"
                " updated_at = ? WHERE platform = ? AND paused_workspace = ? AND enabled = 0",
                (to_ts(now), platform, workspace),
            ) as cur:
                resumed = cur.rowcount
            await db.execute(  # turned on again by hand meanwhile: just forget the mark
                "UPDATE digest_schedules SET paused_workspace = NULL"
                " WHERE platform = ? AND paused_workspace = ?", (platform, workspace))
        return resumed


_LAST_SQL = (
    "SELECT id, through_article_id, period_end, finished_at, items, status FROM digest_runs"
    " WHERE platform = ? AND channel_id = ? AND status IN ('sent', 'empty')"
    " ORDER BY id DESC LIMIT 1"
)
_MISSED_SQL = (
    "SELECT local_date, due_at, error FROM digest_runs WHERE platform = ? AND channel_id = ?"
    " AND status = 'skipped' AND id > ? ORDER BY local_date"
)


def _platforms_filter(platforms: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    if platforms is None:
        return "", ()
    if not platforms:
        return " AND 0", ()
    # "+platform": not an index term, so that the due schedules are read off the index on
    # (enabled, next_due_at, platform, channel_id) in order (migration 0014) and not sorted
    return f" AND +platform IN ({', '.join('?' * len(platforms))})", tuple(platforms)


def _missed(row: sqlite3.Row) -> MissedDigest:
    return MissedDigest(local_date=date.fromisoformat(row["local_date"]),
                        due_at=from_ts(row["due_at"]), error=row["error"])


def _last(row: sqlite3.Row) -> LastDigest:
    return LastDigest(
        run_id=row["id"], through_article_id=row["through_article_id"],
        period_end=from_ts(row["period_end"]), finished_at=from_ts(row["finished_at"]),
        items=row["items"] or 0, status=row["status"],
    )


def _claim(db: sqlite3.Connection, r: DigestClaimRequest, *, owner: str, now: float | None,
           lease: float | None) -> DigestClaim:
    """One claim (see :meth:`SQLiteDigests.claim_digest`) inside the caller's transaction."""
    day = r.local_date.isoformat()
    platform, channel_id = r.platform, r.channel_id
    sched = db.execute(
        "SELECT enabled, next_local_date FROM digest_schedules"
        " WHERE platform = ? AND channel_id = ?",
        (platform, channel_id),
    ).fetchall()
    if not sched or not sched[0]["enabled"] or sched[0]["next_local_date"] != day:
        return DigestClaim(state=ClaimState.STALE)
    won = db.execute(
        "INSERT INTO digest_runs (platform, channel_id, local_date, due_at, status,"
        " claimed_by, lease_until, attempts, created_at)"
        " VALUES (?, ?, ?, ?, 'claimed', ?, ?, 1, ?)"
        " ON CONFLICT (platform, channel_id, local_date) DO UPDATE SET"
        " status = 'claimed', claimed_by = excluded.claimed_by,"
        " lease_until = excluded.lease_until, attempts = digest_runs.attempts + 1"
        " WHERE digest_runs.status IN ('claimed', 'failed')"
        " AND coalesce(digest_runs.lease_until, 0) <= ?"
        " RETURNING id, attempts",
        (platform, channel_id, day, to_ts(r.due_at), owner, lease, now, now),
    ).fetchall()
    if won:
        db.execute(
            "UPDATE digest_schedules SET not_before = ? WHERE platform = ?"
            " AND channel_id = ?",
            (lease, platform, channel_id),
        )
        last_rows = db.execute(_LAST_SQL, (platform, channel_id)).fetchall()
        last = _last(last_rows[0]) if last_rows else None
        missed = db.execute(
            _MISSED_SQL, (platform, channel_id, last.run_id if last else 0)).fetchall()
        return DigestClaim(state=ClaimState.WON, run_id=won[0]["id"],
                           attempts=won[0]["attempts"], last=last,
                           missed=tuple(_missed(m) for m in missed))
    existing = db.execute(
        "SELECT status, lease_until FROM digest_runs WHERE platform = ?"
        " AND channel_id = ? AND local_date = ?",
        (platform, channel_id, day),
    ).fetchall()
    assert existing
    if existing[0]["status"] in _FINAL:
        db.execute(
            "UPDATE digest_schedules SET next_local_date = ?, next_due_at = ?,"
            " not_before = NULL WHERE platform = ? AND channel_id = ?",
            (r.next_local_date.isoformat(), to_ts(r.next_due_at), platform, channel_id),
        )
        return DigestClaim(state=ClaimState.DONE)
    db.execute(
        "UPDATE digest_schedules SET not_before = ? WHERE platform = ?"
        " AND channel_id = ?",
        (existing[0]["lease_until"], platform, channel_id),
    )
    return DigestClaim(state=ClaimState.HELD)


# requests claimed together in one set of statements (a few SQL variables each)
_CLAIM_CHUNK = 200


def _claim_many(db: sqlite3.Connection, requests: Sequence[DigestClaimRequest], *,
                owner: str, now: float | None, lease: float | None) -> list[DigestClaim]:
    """:func:`_claim` for each request (each channel once), a statement per step for all of
    them: the same answers, as the caller's transaction holds the only writer."""
    # each statement walks the VALUES list and looks each channel up by its key (CROSS
    # JOIN keeps that order; "(platform, channel_id) IN (VALUES ...)" scans the table)
    channels = ", ".join(["(?, ?)"] * len(requests))
    keys = [v for r in requests for v in (r.platform, r.channel_id)]
    days = {(r.platform, r.channel_id): r.local_date.isoformat() for r in requests}
    schedules = {(row[0], row[1]): (row[2], row[3]) for row in db.execute(
        "SELECT s.platform, s.channel_id, s.enabled, s.next_local_date"
        f" FROM (VALUES {channels}) AS v CROSS JOIN digest_schedules s"
        " WHERE s.platform = v.column1 AND s.channel_id = v.column2", keys)}
    ok = [r for r in requests
          if (found := schedules.get((r.platform, r.channel_id))) is not None and found[0]
          and found[1] == days[(r.platform, r.channel_id)]]
    won: dict[tuple[str, str], tuple[int, int]] = {}
    if ok:
        rows = ", ".join(["(?, ?, ?, ?, 'claimed', ?, ?, 1, ?)"] * len(ok))
        won = {(row[0], row[1]): (row[2], row[3]) for row in db.execute(
            "INSERT INTO digest_runs (platform, channel_id, local_date, due_at, status,"
            f" claimed_by, lease_until, attempts, created_at) VALUES {rows}"
            " ON CONFLICT (platform, channel_id, local_date) DO UPDATE SET"
            " status = 'claimed', claimed_by = excluded.claimed_by,"
            " lease_until = excluded.lease_until, attempts = digest_runs.attempts + 1"
            " WHERE digest_runs.status IN ('claimed', 'failed')"
            " AND coalesce(digest_runs.lease_until, 0) <= ?"
            " RETURNING platform, channel_id, id, attempts",
            [*(v for r in ok for v in (r.platform, r.channel_id, days[(r.platform,
                                                                       r.channel_id)],
                                       to_ts(r.due_at), owner, lease, now)), now])}
    last: dict[tuple[str, str], LastDigest] = {}
    missed: dict[tuple[str, str], list[MissedDigest]] = {}
    if won:
        winners = ", ".join(["(?, ?)"] * len(won))
        won_keys = [v for key in won for v in key]
        db.execute(f"UPDATE digest_schedules SET not_before = ? FROM (VALUES {winners}) AS v"
                   " WHERE digest_schedules.platform = v.column1"
                   " AND digest_schedules.channel_id = v.column2", [lease, *won_keys])
        latest = ("(SELECT max(l.id) FROM digest_runs l WHERE l.platform = v.column1"
                  " AND l.channel_id = v.column2 AND l.status IN ('sent', 'empty'))")
        for row in db.execute(
                "SELECT r.platform, r.channel_id, r.id, r.through_article_id, r.period_end,"
                " r.finished_at, r.items, r.status"
                f" FROM (VALUES {winners}) AS v CROSS JOIN digest_runs r"
                f" WHERE r.id = {latest}", won_keys):
            last[(row[0], row[1])] = _last(row)
        for row in db.execute(
                "SELECT r.platform, r.channel_id, r.local_date, r.due_at, r.error"
                f" FROM (VALUES {winners}) AS v CROSS JOIN digest_runs r"
                " WHERE r.platform = v.column1 AND r.channel_id = v.column2"
                f" AND r.status = 'skipped' AND r.id > coalesce({latest}, 0)"
                " ORDER BY r.local_date", won_keys):
            missed.setdefault((row[0], row[1]), []).append(_missed(row))
    lost = [r for r in ok if (r.platform, r.channel_id) not in won]
    existing: dict[tuple[str, str], tuple[str, float | None]] = {}
    if lost:
        runs = ", ".join(["(?, ?, ?)"] * len(lost))
        existing = {(row[0], row[1]): (row[2], row[3]) for row in db.execute(
            "SELECT r.platform, r.channel_id, r.status, r.lease_until"
            f" FROM (VALUES {runs}) AS v CROSS JOIN digest_runs r WHERE r.platform = v.column1"
            " AND r.channel_id = v.column2 AND r.local_date = v.column3",
            [v for r in lost for v in (r.platform, r.channel_id,
                                       days[(r.platform, r.channel_id)])])}
        assert len(existing) == len(lost)
        done = [r for r in lost if existing[(r.platform, r.channel_id)][0] in _FINAL]
        db.executemany(
            "UPDATE digest_schedules SET next_local_date = ?, next_due_at = ?,"
            " not_before = NULL WHERE platform = ? AND channel_id = ?",
            [(r.next_local_date.isoformat(), to_ts(r.next_due_at), r.platform, r.channel_id)
             for r in done])
        db.executemany(
            "UPDATE digest_schedules SET not_before = ? WHERE platform = ? AND channel_id = ?",
            [(existing[(r.platform, r.channel_id)][1], r.platform, r.channel_id)
             for r in lost if existing[(r.platform, r.channel_id)][0] not in _FINAL])
    out: list[DigestClaim] = []
    for r in requests:
        key = (r.platform, r.channel_id)
        if key in won:
            run_id, attempts = won[key]
            out.append(DigestClaim(state=ClaimState.WON, run_id=run_id, attempts=attempts,
                                   last=last.get(key), missed=tuple(missed.get(key, ()))))
        elif key in existing:
            out.append(DigestClaim(state=ClaimState.DONE if existing[key][0] in _FINAL
                                   else ClaimState.HELD))
        else:
            out.append(DigestClaim(state=ClaimState.STALE))
    return out


def _finish_many(db: sqlite3.Connection, finishes: Sequence[DigestFinish], *, owner: str
                 ) -> dict[int, tuple[str, str, str | None]]:
    """The runs of ``finishes`` (distinct) that ``owner`` still held, recorded in one
    statement: run id -> (platform, channel, local date)."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(finishes))
    return {row[0]: (row[1], row[2], row[3]) for row in db.execute(
        "UPDATE digest_runs SET status = v.column2, period_start = v.column3,"
        " period_end = v.column4, through_article_id = v.column5, items = v.column6,"
        " late = v.column7, finished_at = v.column8, lease_until = NULL, error = NULL"
        f" FROM (VALUES {values}) AS v WHERE digest_runs.id = v.column1"
        " AND digest_runs.claimed_by = ? AND digest_runs.status = 'claimed'"
        " RETURNING digest_runs.id, digest_runs.platform, digest_runs.channel_id,"
        " digest_runs.local_date",
        [*(v for f in finishes for v in (
            f.run_id, "sent" if f.sent else "empty", to_ts(f.period_start),
            to_ts(f.period_end), f.through_article_id, f.items, int(f.late), to_ts(f.now))),
         owner])}


def _finish(db: sqlite3.Connection, f: DigestFinish, *, owner: str) -> bool:
    """One finish (see :meth:`SQLiteDigests.finish_digest`) inside the caller's transaction."""
    rows = db.execute(
        "UPDATE digest_runs SET status = ?, period_start = ?, period_end = ?,"
        " through_article_id = ?, items = ?, late = ?, finished_at = ?,"
        " lease_until = NULL, error = NULL"
        " WHERE id = ? AND claimed_by = ? AND status = 'claimed'"
        " RETURNING platform, channel_id, local_date",
        ("sent" if f.sent else "empty", to_ts(f.period_start), to_ts(f.period_end),
         f.through_article_id, f.items, int(f.late), to_ts(f.now), f.run_id, owner),
    ).fetchall()
    if not rows:
        return False
    row = rows[0]
    if row["local_date"] is not None and f.following is not None:
        db.execute(
            "UPDATE digest_schedules SET next_local_date = ?, next_due_at = ?,"
            " not_before = NULL WHERE platform = ? AND channel_id = ?"
            " AND next_local_date = ?",
            (f.following.local_date.isoformat(), to_ts(f.following.due_at),
             row["platform"], row["channel_id"], row["local_date"]),
        )
    return True
