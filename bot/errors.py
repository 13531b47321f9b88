"""One exception root for briefbot.

Hierarchy::

    BriefbotError                 root; ``str(err)`` of a UserError is fit to show a user
    ├── UserError                 the user's input was wrong; the message says what to do
    │   ├── ConfigError           a config key is unknown, of the wrong type or out of range
    │   ├── InputError            a file, text or command argument cannot be used
    │   ├── QueryError            a keyword query is malformed (carries the position)
    │   ├── FetchError            a URL was refused or could not be fetched
    │   └── PermissionDenied      the caller may not run this command here
    ├── StoreError                the database cannot be used
    │   └── SchemaTooNewError     the database was written by a newer briefbot
    └── DeliveryError             a platform did not accept a message (``permanent`` says
                                  whether retrying can help)

Anything that is not a ``BriefbotError`` is a bug: adapters log it with its ids and show the
user a short apology, never a traceback.
"""

from __future__ import annotations


class BriefbotError(Exception):
    """Root of every error briefbot raises on purpose."""


class UserError(BriefbotError):
    """The user's input was wrong; the message is shown to them as it is."""


class ConfigError(UserError):
    """A configuration file or value is invalid; the message names the key."""


class InputError(UserError):
    """A file, text or command argument cannot be used."""


# What could make an echoed query mention someone (<!channel>, <@U1>, @everyone): angle
# brackets swapped for look-alikes, a zero-width space after "@". Nothing changes width, so
# the caret under the query still points right.
# Markup the platforms render (Discord markdown, Slack mrkdwn: *bold*, _italic_, ~strike~,
# `code`, ||spoiler||) gets look-alikes too, and a masked link "[text](url)" a zero-width space
# between "]" and "(": what a user typed is shown as they typed it, never formatted.
_INERT = str.maketrans({"@": "@\u200b", "<": "\u2039", ">": "\u203a", "*": "\u2217",
                        "_": "\u02cd", "~": "\u223c", "`": "\u02cb", "|": "\u01c0"})


def inert(text: str) -> str:
    """User text made safe to echo in briefbot's own message: it can mention no one, and no
    platform formats it (no bold, no code span to break out of, no masked link)."""
    return text.translate(_INERT).replace("](", "]\u200b(")


class QueryError(UserError):
    """A keyword query is malformed; ``position`` points at the problem (0-based). The query
    is echoed with :func:`inert`, so a malformed ``<!channel> "x`` pings no one."""

    def __init__(self, message: str, *, query: str = "", position: int | None = None) -> None:
        self.query = query
        self.position = position
        if query and position is not None:
            caret = " " * min(position, len(query)) + "^"
            message = f"{message}\n  {inert(query)}\n  {caret}"
        super().__init__(message)


class FetchError(UserError):
    """A URL was refused (scheme, private address, size) or could not be fetched."""


class RefusedURL(FetchError):
    """The URL was refused before anything was sent (scheme, private address)."""


class PermissionDenied(UserError):
    """The caller may not run this command in this place; the message says who may."""


class StoreError(BriefbotError):
    """The database cannot be opened or used."""


class DatabaseUnavailable(StoreError):
    """The database server went away while running (PostgreSQL: a lost connection). The
    store logs the outage once when it starts and once when it ends; the work that met it is
    retried (claims are leased), so the many places that meet it log nothing more
    (:class:`bot.logs.OutageFilter`)."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer briefbot than this one."""


class DeliveryError(BriefbotError):
    """A platform refused or failed a message.

    ``permanent`` is true when retrying cannot help (channel gone, DMs closed); the caller then
    records the failure instead of retrying.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
