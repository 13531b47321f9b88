"""The console adapter: commands from a stream, replies and deliveries printed."""

from __future__ import annotations

import io

from adapters.base import Adapter
from adapters.console import ConsoleAdapter
from bot.engine import BriefingEngine
from bot.models import ArticleDraft, Destination, Item, Reply, ReplyKind


async def test_console_answers_each_line_and_stops_at_end_of_input(
    engine: BriefingEngine,
) -> None:
    await engine.ingest(ArticleDraft(text="Rockets were sent to the front on Monday.",
                                     title="Rockets sent"))
    out = io.StringIO()
    console = ConsoleAdapter(engine, stdin=io.StringIO("/brief rockets\n\nhelp\n"), stdout=out)
    assert isinstance(console, Adapter)
    await console.run()
    text = out.getvalue()
    assert "Rockets sent" in text
    assert "/brief search <words>" in text


async def test_console_prints_digests_and_alerts_with_their_destination(
    engine: BriefingEngine,
) -> None:
    out = io.StringIO()
    console = ConsoleAdapter(engine, stdin=io.StringIO(""), stdout=out)
    engine.add_publisher(console)
    reply = Reply(text="Morning digest", kind=ReplyKind.DIGEST, ephemeral=False,
                  items=(Item(title="Story", summary=("One.",)),))
    await engine.deliver(Destination(platform="console", channel_id="news"), reply)
    await engine.deliver(Destination(platform="console", user_id="ana"),
                         Reply(text="Alert", kind=ReplyKind.ALERT))
    text = out.getvalue()
    assert "--- digest for #news ---" in text and "Story" in text and "- One." in text
    assert "--- alert for @ana ---" in text
