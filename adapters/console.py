"""The local terminal adapter: the default when no platform token is set.

It reads ``/brief ...`` lines from standard input and prints the replies; digests and alerts
addressed to any channel or person are printed too, with their destination. End of input
(Ctrl-D) or Ctrl-C shuts down cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from typing import TextIO

from bot.engine import BriefingEngine
from bot.models import Caller, Destination, Reply
from bot.render import render_text

PROMPT = "brief> "


class ConsoleAdapter:
    platform = "console"

    def __init__(
        self,
        engine: BriefingEngine,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        user_id: str = "console",
        channel_id: str = "console",
    ) -> None:
        self.engine = engine
        self._in = stdin or sys.stdin
        self._out = stdout or sys.stdout
        self.caller = Caller(
            platform=self.platform,
            user_id=user_id,
            channel_id=channel_id,
            is_admin=True,  # whoever runs the bot in a terminal owns it
            display_name="you",
        )

    def _print(self, text: str) -> None:
        self._out.write(text.rstrip("\n") + "\n")
        self._out.flush()

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        where = f"@{destination.user_id}" if destination.is_direct else f"#{destination.channel_id}"
        self._print(f"--- {reply.kind.value} for {where} ---\n{render_text(reply)}")

    async def _lines(self) -> asyncio.Queue[str | None]:
        """Lines from stdin, read by a daemon thread so shutdown never waits on a read."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def reader() -> None:
            try:
                for line in self._in:
                    loop.call_soon_threadsafe(queue.put_nowait, line)
            except (OSError, ValueError):
                pass
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=reader, name="console-stdin", daemon=True).start()
        return queue

    async def run(self) -> None:
        interactive = self._in.isatty() if hasattr(self._in, "isatty") else False
        if interactive:
            self._print("briefbot console: type /brief help, Ctrl-D to quit.")
        queue = await self._lines()
        while True:
            if interactive:
                self._out.write(PROMPT)
                self._out.flush()
            line = await queue.get()
            if line is None:
                return
            text = line.strip()
            if not text:
                continue
            if text in {"quit", "exit", "/quit", "/exit"}:
                return
            reply = await self.engine.handle_command(text, self.caller)
            self._print(render_text(reply))
