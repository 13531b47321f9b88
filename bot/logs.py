"""Log output: readable lines for a terminal, or one JSON object a line for log collectors.

``[logging] format = "json"`` writes ``{"time", "level", "logger", "message"}`` (plus
``"exception"`` with the traceback when there is one) per line, so journald, Loki or an ELK
pipeline can index the fields without parsing text.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TextIO

from bot.errors import DatabaseUnavailable
from bot.redact import RedactingFilter

__all__ = ["JsonFormatter", "OutageFilter", "configure_logging", "remove_logging"]

_HANDLER_NAME = "briefbot"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:  # already formatted (and redacted) by the handler's filter
            data["exception"] = record.exc_text
        elif record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class OutageFilter(logging.Filter):
    """While the database is away, every service round, claim and command that needs it fails:
    the store says so once (and once when it is back), so the records that merely meet the
    outage (:class:`DatabaseUnavailable` as their exception or an argument) are dropped, not a
    traceback per query. ``-v`` (DEBUG) keeps them."""

    def __init__(self, *, keep: bool = False) -> None:
        super().__init__()
        self.keep = keep

    def filter(self, record: logging.LogRecord) -> bool:
        if self.keep:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, DatabaseUnavailable):
                return False
            exc = exc.__cause__ or exc.__context__
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(a, DatabaseUnavailable) for a in args)


def configure_logging(*, level: int, fmt: str, stream: TextIO) -> logging.Handler:
    """Send the root logger's records at ``level`` and above to ``stream`` as ``fmt`` ("text"
    or "json"), replacing the handler an earlier call set (others, e.g. a test's, stay)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.set_name(_HANDLER_NAME)
    # first (it looks at the exception, which the redacting filter formats into text)
    handler.addFilter(OutageFilter(keep=level <= logging.DEBUG))
    # every record, the SDKs' included: no response_url or interaction token in any line
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # -v is for briefbot's own messages: aiosqlite would log every SQL call
    logging.getLogger("aiosqlite").setLevel(max(level, logging.INFO))
    return handler


def remove_logging() -> None:
    """Take away the handler :func:`configure_logging` set (``main`` ends; in a test, the
    stream it wrote to is about to close)."""
    root = logging.getLogger()
    for old in root.handlers[:]:
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
