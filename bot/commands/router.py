"""The /brief grammar's machinery: text in, Reply out, through the verbs of one app.

A verb is the first word of the command (``/brief feeds add URL`` -> ``feeds``). Text that is
no verb is, in order: empty (the latest briefing), a number (that article), a link (fetch and
brief it, when a link handler is registered) or words (a topic search). A trailing ``public``
asks for the answer to be posted in the channel rather than shown only to the caller.
Verbs are registered per application on a :class:`Commands` instance (each command module has
a ``register`` function; :mod:`bot.app` calls them): an app can leave a feature out.

A handler gets the :class:`Context` (who asks, ``public``, this app's verbs) and what its module
was registered with (the stores, settings and services it uses, bound by ``register``), never
the whole engine. Commands only parse and render: the rules (who may change what, whose
subscription is whose, what removing a feed means) live in the features and
:mod:`bot.permissions`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bot import permissions
from bot.errors import DatabaseUnavailable, UserError
from bot.models import Caller, Reply, ReplyKind
from bot.sanitize import strip_controls

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Context:
    """One command as asked: who asks, whether the answer is public, this app's verbs."""

    caller: Caller
    public: bool = False
    verbs: Mapping[str, Verb] = field(default_factory=dict)  # this app's verbs, for help

    def require_admin(self, action: str) -> None:
        """Refuse unless the caller may change this channel's settings
        (:func:`bot.permissions.require_admin`)."""
        permissions.require_admin(self.caller, action)

    def require_channel(self, action: str) -> str:
        return permissions.require_channel(self.caller, action)

    def answer(self, text: str = "", **kwargs: object) -> Reply:
        """An answer, ephemeral unless the caller asked for ``public``."""
        kwargs.setdefault("ephemeral", not self.public)
        return Reply(text=text, **kwargs)  # type: ignore[arg-type]


Handler = Callable[[Context, str], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Verb:
    name: str
    usage: str
    summary: str
    handler: Handler


FALLBACK_KINDS = ("empty", "number", "link", "words")

_PUBLIC = re.compile(r"(?:^|\s)public\s*$", re.IGNORECASE)
_PREFIX = re.compile(r"/brief(?:\s|$)", re.IGNORECASE)  # not /briefing: that is no prefix
_NUMBER = re.compile(r"^#?(\d{1,12})$")
_LINK = re.compile(r"^<?(https?://\S+?)(?:\|[^>]*)?>?$", re.IGNORECASE)
# A link of another scheme (refused with a reason, not searched): ``scheme://...`` or one of
# the schemes that have no ``//``. Any other ``word:word`` (``title:rocket``) is searched.
_OTHER_LINK = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://|(?:javascript|vbscript|data|file|mailto|about|blob|tel|sms|"
    r"view-source|jar|intent|chrome|ws|wss|ftp|ftps|sftp|ssh|git|svn|irc|magnet|news|nntp|"
    r"urn):)", re.IGNORECASE)


def parse(text: str) -> tuple[str, bool]:
    """A command's text as typed -> (the text without ``/brief`` and ``public``, public?).

    The one reading of the prefix and the ``public`` suffix: the router and every adapter use
    it, so a platform never decides visibility differently from the grammar."""
    text = re.sub(r"\s+", " ", strip_controls(text or "", newlines=False)).strip()
    if _PREFIX.match(text):
        text = text[len("/brief"):].strip()
    public = bool(_PUBLIC.search(text))
    if public:
        text = _PUBLIC.sub("", text).strip()
    return text, public


def wants_public(text: str) -> bool:
    """Whether a command's text ends with ``public`` (adapters decide visibility up front)."""
    return parse(text)[1]


class Commands:
    """The ``/brief`` grammar of one application: the verbs and fallbacks registered on this
    instance (by each command module's ``register``, called from :mod:`bot.app`)."""

    def __init__(self) -> None:
        self.verbs: dict[str, Verb] = {}
        self._fallbacks: dict[str, Handler] = {}

    def add_verb(self, name: str, handler: Handler, *, usage: str, summary: str,
                 aliases: tuple[str, ...] = ()) -> None:
        """Answer ``/brief <name> ...`` (and each alias) with ``handler``."""
        v = Verb(name, usage, summary, handler)
        for key in (name, *aliases):
            if key in self.verbs:
                raise ValueError(f"/brief {key} is registered twice")
            self.verbs[key] = v

    def add_fallback(self, kind: str, handler: Handler) -> None:
        """Answer text that is no verb: "empty", "number", "link" or "words"."""
        if kind not in FALLBACK_KINDS:
            raise ValueError(f"unknown fallback {kind!r}; one of {', '.join(FALLBACK_KINDS)}")
        self._fallbacks[kind] = handler

    def classify(self, text: str) -> tuple[str, str]:
        """(handler key, argument text) for a command's text (without ``/brief``)."""
        if not text:
            return "empty", ""
        first, _, rest = text.partition(" ")
        key = first.lower()
        if key in self.verbs:
            return f"verb:{key}", rest.strip()
        if _NUMBER.match(text):
            return "number", _NUMBER.match(text).group(1)  # type: ignore[union-attr]
        link = _LINK.match(text)
        if link or (" " not in text and _OTHER_LINK.match(text)):
            return "link", link.group(1) if link else text
        return "words", text

    async def handle(self, caller: Caller, text: str) -> Reply:
        """Run one /brief command. User mistakes come back as an error Reply, bugs as an
        apology."""
        text, public = parse(text)
        ctx = Context(caller, public, self.verbs)
        key, args = self.classify(text)
        try:
            if key.startswith("verb:"):
                return await self.verbs[key[5:]].handler(ctx, args)
            handler = self._fallbacks.get(key)
            if handler is None:
                raise UserError("I can't handle that yet. Try `/brief help`.")
            return await handler(ctx, args)
        except UserError as exc:
            return Reply(text=str(exc), kind=ReplyKind.ERROR, ephemeral=True)
        except DatabaseUnavailable:  # logged once by the store, not once per command
            return Reply(text="I can't reach my database right now; please try again in a "
                         "minute.", kind=ReplyKind.ERROR, ephemeral=True)
        except Exception:
            log.exception("command failed: platform=%s user=%s channel=%s verb=%s",
                          caller.platform, caller.user_id, caller.channel_id, key)
            return Reply(
                text="Sorry, something went wrong on my side. The error was logged; please "
                "try again later.",
                kind=ReplyKind.ERROR,
                ephemeral=True,
            )
