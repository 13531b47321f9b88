"""A stop mid-post never sends a digest or an alert twice (issue 14, item 2).

Real ``briefbot run`` processes against the local Slack and Discord fakes, which accept each
message at once and answer it a second later: each process is stopped (SIGKILL, then SIGTERM)
just after the platform accepted one of its posts, so every stop lands between "accepted" and
"recorded". Counted at the fakes: no channel got a digest story twice, no person an alert
twice, and nothing is missing. The full loop (20 SIGKILLs and 20 SIGTERMs during 160 digests) is
bench/bench_exactly_once.py. Both platforms run at once (their own database and fake).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.exactly_once import Scenario, run_scenario


async def test_stops_mid_post_send_no_digest_or_alert_twice(tmp_path: Path) -> None:
    # SIGKILL first: a SIGTERM drains everything its process claimed, leaving a later stop
    # nothing in flight
    stops = (signal.SIGKILL, signal.SIGTERM)
    slack, discord = await asyncio.gather(*(
        run_scenario(Scenario(platform=platform, workdir=tmp_path / platform, channels=6,
                              people=4, alerts_each=2, stories=12, latency=1.0,
                              signals=stops, lease_seconds=10.0, within=90.0))
        for platform in ("slack", "discord")))
    for outcome in (slack, discord):
        assert outcome.stops == {"SIGTERM": 1, "SIGKILL": 1}, outcome.line()
        assert (outcome.digests_more_than_once, outcome.digests_missing) == (0, 0), \
            outcome.line()
        assert (outcome.alerts_more_than_once, outcome.alerts_missing) == (0, 0), \
            outcome.line()
        assert outcome.alerts_expected == 8
