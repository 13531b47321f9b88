"""Real ``briefbot run`` processes in tests: the one way a test stops them."""

from __future__ import annotations

import asyncio
import signal
from asyncio.subprocess import Process


async def stop_processes(*procs: Process, grace: float = 30.0) -> None:
    """SIGTERM every process still running (all at once: they stop in parallel), wait up to
    ``grace`` seconds for each to exit, then SIGKILL what is left. For a test's ``finally``:
    it never raises for a process that already exited."""
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)

    async def wait(proc: Process) -> None:
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    await asyncio.gather(*(wait(p) for p in procs))
