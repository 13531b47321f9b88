"""Exactly once under stops: kill and stop real `briefbot run` processes while they post.

The full loop of issue 14 item 2: 160 channels with a digest due (each digest more than one
message on Discord), people with alerts waiting, a platform that accepts each message at once
and answers it 1 s later; 20 SIGKILLs and 20 SIGTERMs, each landing just after the platform
accepted a post of the process it stops; then a last process delivers the rest. Printed per
platform (Slack and Discord fakes): channels that got a digest more than once, alerts delivered
more than once, and anything missing. Goal: 0 everywhere. Harness: tests/exactly_once.py.

    python bench/bench_exactly_once.py [--channels 160] [--people 100] [--kills 20]
        [--terms 20] [--latency 1] [--concurrency 2] [--platform slack --platform discord]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.exactly_once import Scenario, run_scenario


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=160)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--alerts-each", type=int, default=3)
    parser.add_argument("--stories", type=int, default=12)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs")
    parser.add_argument("--terms", type=int, default=20, help="SIGTERMs")
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--lease", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=2,
                        help="[digest] concurrency (low: every stop finds a digest to cut)")
    parser.add_argument("--platform", action="append", choices=("slack", "discord"))
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    stops = [signal.SIGKILL] * args.kills + [signal.SIGTERM] * args.terms
    random.Random(args.seed).shuffle(stops)
    failed = False
    with tempfile.TemporaryDirectory(prefix="exactly-once-") as tmp:
        for platform in args.platform or ["slack", "discord"]:
            print(f"{platform}: {args.channels} digests, {args.people} people x "
                  f"{args.alerts_each} alerts, {args.kills} SIGKILL + {args.terms} SIGTERM, "
                  f"{args.latency:g} s latency", flush=True)
            outcome = asyncio.run(run_scenario(Scenario(
                platform=platform, workdir=Path(tmp) / platform, channels=args.channels,
                people=args.people, alerts_each=args.alerts_each, stories=args.stories,
                latency=args.latency, signals=stops, lease_seconds=args.lease,
                concurrency=args.concurrency,
                within=600.0, seed=args.seed, log=lambda line: print(line, flush=True))))
            print(outcome.line(), flush=True)
            failed |= bool(outcome.digests_more_than_once or outcome.alerts_more_than_once
                           or outcome.digests_missing or outcome.alerts_missing)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
