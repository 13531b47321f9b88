"""The local terminal adapter: the default when no platform token is set.

It reads ``/brief ...`` lines from standard input and prints the replies; digests and alerts
addressed to any channel or person are printed too, with their destination. End of input
(Ctrl-D) or Ctrl-C shuts down cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import threading
from typing import Any, TextIO

from bot.engine import BriefingEngine
from bot.models import Caller, Destination, Reply
from bot.render import render_text

PROMPT = "brief> "
# an answer slower than this gets a "Fetching <link>…" / "Working…" line first, as Slack's
# ack does, so a slow /brief <link> does not look like a hang
SLOW_SECONDS = 0.5
_LINK = re.compile(r"https?://\S+", re.IGNORECASE)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no such method, or a closed stream
        return False


class _PromptSafeStream:
    """A log handler's terminal stream that never writes into the ``brief>`` prompt: while
    the prompt waits, a log line clears it first and prints it again after."""

    def __init__(self, stream: TextIO, console: ConsoleAdapter) -> None:
        self.stream = stream
        self.console = console

    def write(self, text: str) -> int:
        waiting = self.console.at_prompt
        if waiting:
            self.console._out.write("\r\x1b[K")
            self.console._out.flush()
        written = self.stream.write(text)
        if waiting and text.endswith("\n"):
            self.stream.flush()
            self.console._out.write(PROMPT)
            self.console._out.flush()
        return written

    def flush(self) -> None:
        self.stream.flush()


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

    at_prompt = False

    def _guard_log_streams(self) -> list[tuple[logging.StreamHandler[Any], Any]]:
        """Route terminal log handlers through :class:`_PromptSafeStream` (undone on exit)."""
        guarded = []
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and _is_terminal(handler.stream):
                guarded.append((handler, handler.setStream(_PromptSafeStream(handler.stream,
                                                                             self))))
        return guarded

    async def _answer(self, text: str, *, interactive: bool) -> Reply:
        """The reply; on a terminal, a line saying what is under way if it takes a while."""
        job = asyncio.ensure_future(self.engine.handle_command(text, self.caller))
        if interactive:
            done, _ = await asyncio.wait({job}, timeout=SLOW_SECONDS)
            if not done:
                link = _LINK.search(text)
                self._print(f"Fetching {link.group(0).rstrip('>')}…" if link else "Working…")
        return await job

    async def run(self) -> None:
        interactive = self._in.isatty() if hasattr(self._in, "isatty") else False
        if interactive:
            self._print("briefbot console: type /brief help, Ctrl-D to quit.")
        guarded = self._guard_log_streams() if interactive else []
        try:
            queue = await self._lines()
            while True:
                if interactive:
                    self._out.write(PROMPT)
                    self._out.flush()
                    self.at_prompt = True
                line = await queue.get()
                self.at_prompt = False
                if line is None:
                    return
                text = line.strip()
                if not text:
                    continue
                if text in {"quit", "exit", "/quit", "/exit"}:
                    return
                reply = await self._answer(text, interactive=interactive)
                self._print(render_text(reply))
        finally:
            self.at_prompt = False
            for handler, stream in guarded:
                handler.setStream(stream)
