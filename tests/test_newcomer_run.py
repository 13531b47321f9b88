"""What a newcomer meets around `briefbot run`: alerts waiting for it (issue 16, item 2)."""

from __future__ import annotations

from dataclasses import replace

from bot.engine import BriefingEngine
from bot.models import ArticleDraft, Caller

BODY = ("The rocket launch went ahead on Tuesday after weeks of delays at the coastal site. "
        "Engineers said the rocket performed as expected during the first minutes of flight. "
        "Officials plan a second rocket launch in the spring if funding is approved. ")
CONSOLE = Caller(platform="console", user_id="console", channel_id="console", is_admin=True)


async def test_waiting_alerts_say_that_run_delivers_them(engine: BriefingEngine) -> None:
    assert not (await engine.handle_command("subscribe rocket", CONSOLE)).is_error
    await engine.ingest(ArticleDraft(title="Rocket launch", text=BODY,
                                     url="https://news.example/rocket"))
    listed = await engine.handle_command("alerts", CONSOLE)
    assert "1 waiting (`briefbot run` delivers them)" in listed.text, listed.text
    # in a chat the bot is running: "waiting" needs no such word
    slack = replace(CONSOLE, platform="slack", user_id="U1", channel_id="C1")
    assert not (await engine.handle_command("subscribe rocket", slack)).is_error
    await engine.ingest(ArticleDraft(title="Rocket launch 2", text=BODY + " Again.",
                                     url="https://news.example/rocket2"))
    chat = await engine.handle_command("alerts", slack)
    assert "1 waiting" in chat.text and "briefbot run" not in chat.text
