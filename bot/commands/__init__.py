"""The ``/brief`` grammar, platform-neutral: text in, a :class:`~bot.models.Reply` out.

Each module of this package registers its verbs on import; importing the package registers
them all. :func:`handle` is the one entry point adapters and the CLI call.
"""

from bot.commands import alerts, core, digest, feeds  # noqa: F401  (importing registers their verbs)
from bot.commands.router import VERBS, Context, fallback, handle, verb

__all__ = ["VERBS", "Context", "fallback", "handle", "verb"]
