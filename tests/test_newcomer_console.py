"""The console on a terminal: log lines never land inside the ``brief>`` prompt, and a slow
``/brief <link>`` says "Fetching…" first (issue 16 item 9). Real streams that say they are a
terminal, a real page server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from intake_server import LocalWeb, article_text, html_page

from adapters.console import PROMPT, ConsoleAdapter
from bot.engine import BriefingEngine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class SlowLines(Terminal):
    """Standard input that gives its lines one at a time, when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    def __iter__(self) -> SlowLines:
        return self

    def __next__(self) -> str:
        line = asyncio.run_coroutine_threadsafe(self.lines.get(), self.loop).result(timeout=30)
        if line == "":
            raise StopIteration
        return line


@pytest.fixture
async def server() -> AsyncIterator[LocalWeb]:
    web_ = LocalWeb()
    await web_.start()
    yield web_
    await web_.stop()


async def wait_for(out: io.StringIO, text: str, count: int = 1) -> None:
    for _ in range(300):
        if out.getvalue().count(text) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{text!r} never shown: {out.getvalue()!r}")


async def test_a_log_line_while_the_prompt_waits_clears_it_and_prompts_again(
        engine: BriefingEngine) -> None:
    stdin, out, err = SlowLines(), Terminal(), Terminal()
    handler = logging.StreamHandler(err)
    logging.getLogger().addHandler(handler)
    console = ConsoleAdapter(engine, stdin=stdin, stdout=out)
    task = asyncio.create_task(console.run())
    try:
        await wait_for(out, PROMPT)
        logging.getLogger("bot.test").warning("feed 3 failed")
        assert err.getvalue() == "feed 3 failed\n"
        # the prompt line was cleared before the log line and drawn again after it
        assert out.getvalue().endswith(PROMPT + "\r\x1b[K" + PROMPT)
        await stdin.lines.put("")
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        logging.getLogger().removeHandler(handler)
    assert handler.stream is err  # given back at the end


async def test_a_slow_link_says_fetching_first(engine: BriefingEngine,
                                               server: LocalWeb) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.0)
        return web.Response(text=html_page("Slow story", article_text("harbour")),
                            content_type="text/html")

    server.routes["/slow"] = slow
    stdin, out = SlowLines(), Terminal()
    task = asyncio.create_task(ConsoleAdapter(engine, stdin=stdin, stdout=out).run())
    try:
        await wait_for(out, PROMPT)
        await stdin.lines.put(f"{server.url('/slow')}\n")
        await wait_for(out, f"Fetching {server.url('/slow')}…")
        assert "Slow story" not in out.getvalue()  # said before the answer
        await wait_for(out, "Slow story")
        await stdin.lines.put("help\n")
        await wait_for(out, PROMPT, count=3)
        assert out.getvalue().count("Fetching") == 1 and "Working…" not in out.getvalue()
        await stdin.lines.put("")
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
