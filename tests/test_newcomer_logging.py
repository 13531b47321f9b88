"""Logs for collectors: ``[logging] format = "json"`` writes one JSON object a line (issue 16)."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from pathlib import Path

from bot.logs import configure_logging
from tests import processes


def test_json_lines_carry_level_logger_message_and_traceback() -> None:
    out = io.StringIO()
    handler = configure_logging(level=logging.INFO, fmt="json", stream=out)
    try:
        log = logging.getLogger("briefbot.test")
        log.info("feed %d polled:\n%s", 7, "two lines")
        log.debug("not shown")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO" and first["logger"] == "briefbot.test"
    assert first["message"] == "feed 7 polled:\ntwo lines" and first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


def test_a_second_configure_replaces_the_first_handler() -> None:
    a, b = io.StringIO(), io.StringIO()
    configure_logging(level=logging.INFO, fmt="text", stream=a)
    handler = configure_logging(level=logging.INFO, fmt="text", stream=b)
    try:
        logging.getLogger("briefbot.test").warning("once")
    finally:
        logging.getLogger().removeHandler(handler)
    assert a.getvalue() == "" and b.getvalue().count("once") == 1


def test_cli_logs_json_with_lowercase_level(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[logging]\nlevel = "debug"\nformat = "json"\n'
                      f'[storage]\npath = "{tmp_path / "b.db"}"\n')
    done = processes.run([sys.executable, "-m", "bot", "--config", str(config), "-v", "brief"],
                         capture_output=True, text=True, timeout=120, check=False,
                         env={**os.environ, "BRIEFBOT_CONFIG": ""})
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines, "-v logs something"
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record)
