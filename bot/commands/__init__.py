"""The ``/brief`` grammar, platform-neutral: text in, a :class:`~bot.models.Reply` out.

:class:`Commands` holds one application's verbs; each module here (``core``, ``feeds``,
``digest``, ``alerts``) has a ``register(commands, ...)`` that :mod:`bot.app` calls with what
its verbs use (a small "desk": repositories, settings, a feature's service; never the engine).
Handlers parse and render; the rules live in the features. Importing this package registers
nothing.
"""

from bot.commands.router import Commands, Context, Verb, parse, wants_public

__all__ = ["Commands", "Context", "Verb", "parse", "wants_public"]
