"""Feeds messages a newcomer meets (issue 16 item 8), against a real feed server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from intake_server import Entry, LocalWeb, article_text, rss

from bot.config import Config
from bot.engine import BriefingEngine
from bot.models import Caller

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONSOLE = Caller(platform="console", user_id="console", is_admin=True)


@pytest.fixture
async def server() -> AsyncIterator[LocalWeb]:
    web_ = LocalWeb()
    await web_.start()
    yield web_
    await web_.stop()


async def test_a_truncated_feed_is_shown_as_read_in_part(engine: BriefingEngine,
                                                         server: LocalWeb) -> None:
    xml = rss([Entry(title=f"Story {i}", link=f"http://news.example/{i}", guid=f"g{i}",
                     text=article_text(f"topic{i}"), published=NOW - timedelta(hours=i))
               for i in range(3)])
    server.serve_feed("/cut.xml", xml[: xml.rindex("<item>") + 40])
    added = await engine.handle_command(f"feeds add {server.url('/cut.xml')}", CONSOLE)
    assert not added.is_error, added.text
    [item] = (await engine.handle_command("feeds", CONSOLE)).items
    assert item.summary[0].startswith("Last poll: ")
    assert ", read only in part (" in item.summary[0] and "malformed XML" in item.summary[0]
    assert not any(line.startswith("Last success") for line in item.summary)


async def test_a_private_address_refusal_says_where_the_setting_goes(
        make_engine: Callable[..., Any], config: Config, server: LocalWeb) -> None:
    strict: BriefingEngine = await make_engine(
        replace(config, fetch=replace(config.fetch, allow_private_networks=False)))
    reply = await strict.handle_command(f"feeds add {server.url('/feed.xml')}", CONSOLE)
    assert reply.is_error
    assert "in a config file given with --config or BRIEFBOT_CONFIG" in reply.text
    assert '[fetch] allowed_networks = ["192.168.1.20/32"] for one intranet server, or ' \
        "allow_private_networks = true, which also lets in servers on this machine" in reply.text
