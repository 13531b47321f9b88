"""Short-lived posting credentials never reach a log line, whoever logs them.

A Slack ``response_url`` and a Discord interaction token each let anyone holding them post
as the bot for up to 30 minutes. slack-bolt, slack_sdk and discord.py log requests and
payloads at DEBUG (``-v``), with those credentials in URLs, form bodies and JSON. A filter on
briefbot's log handler (installed by :func:`bot.logs.configure_logging` at start-up) rewrites
every record that passes, the libraries' included:

- by shape: Slack hook URLs (``/commands/T…/…/<secret>``), Discord interaction callback and
  webhook URLs (``/interactions/<id>/<token>/``, ``/webhooks/<app id>/<token>``);
- by name: ``response_url``, ``token`` and friends as form fields, JSON or Python dict keys;
- by value: what an adapter registered with :func:`register_secret` when a command arrived
  (a response_url of any shape, an interaction token), remembered for an hour.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict

__all__ = ["REDACTED", "RedactingFilter", "redact", "register_secret"]

REDACTED = "[redacted]"

_SHAPES = (
    # https://hooks.slack.com/commands/T0001/1234/AbCd... (and actions/, services/, triggers/)
    re.compile(r"(/(?:commands|actions|services|triggers|workflows)/[A-Z][A-Z0-9]+/[0-9A-Z]+/)"
               r"[A-Za-z0-9_-]+"),
    re.compile(r"(/interactions/\d+/)[^/\s'\"?]+"),
    re.compile(r"(/webhooks/\d+/)[^/\s'\"?]+"),
)
# key=value (form bodies, URLs), "key": "value" (JSON), 'key': 'value' (dict reprs)
_NAMES = r"(?:response_url|token|interaction_token|bot_token|app_token|access_token|" \
         r"client_secret|signing_secret|webhook_url)"
_BY_NAME = (
    re.compile(rf"((?:^|[?&\s]){_NAMES}=)[^&\s'\"]+", re.IGNORECASE),
    re.compile(rf"(([\"']){_NAMES}\2\s*:\s*)([\"'])(?:(?!\3).)*\3", re.IGNORECASE),
)

_MAX_SECRETS = 2000
_SECRET_SECONDS = 3600.0
_secrets: OrderedDict[str, float] = OrderedDict()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Redact ``value`` wherever it appears in a log record for the next hour."""
    if not value or len(value) < 8:
        return
    now = time.monotonic()
    with _lock:
        _secrets[value] = now + _SECRET_SECONDS
        _secrets.move_to_end(value)
        while len(_secrets) > _MAX_SECRETS or (
                _secrets and next(iter(_secrets.values())) < now):
            _secrets.popitem(last=False)


def redact(text: str) -> str:
    """``text`` with every posting credential replaced by ``[redacted]``."""
    with _lock:
        known = list(_secrets)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for shape in _SHAPES:
        text = shape.sub(rf"\g<1>{REDACTED}", text)
    text = _BY_NAME[0].sub(rf"\g<1>{REDACTED}", text)
    text = _BY_NAME[1].sub(rf"\g<1>\g<3>{REDACTED}\g<3>", text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and traceback) with :func:`redact`; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format: logging reports it itself, leave it be
            return True
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
