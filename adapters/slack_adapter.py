"""The Slack adapter: slack-bolt's AsyncApp in Socket Mode or over HTTP.

Why it exists: it is the only code that speaks Slack. ``/brief`` commands go through the
platform-neutral grammar (:meth:`BriefingEngine.handle_command`); replies, digests and alerts
leave as Block Kit built by :mod:`adapters.slack_blocks`. It holds no business rules.

- Socket Mode when ``SLACK_APP_TOKEN`` is set (no public URL needed); HTTP mode otherwise,
  which needs ``SLACK_SIGNING_SECRET`` (Bolt rejects unsigned or stale requests with 401).
- A command is acknowledged at once and answered afterwards through its ``response_url``
  (ephemeral unless the user added ``public``), falling back to chat.postEphemeral /
  chat.postMessage when the response_url is used up or expired. One that fetches a page
  (a link, ``feeds add``) is acked with a private "Fetching <link>…" (:func:`slow_notice`).
- A long Reply leaves as several messages. A digest or alert (a keyed delivery) goes through
  :mod:`adapters.delivery`: each part is recorded in the database once posted, and carries
  message metadata (``briefbot_delivery``: key and part); a retry of a delivery begun earlier
  first looks for its parts in the channel's recent history (conversations.history), then
  posts only what is missing.
- Deliveries pace themselves to about one message a second per channel and retry HTTP 429
  after ``Retry-After`` (slack_sdk's retry handler). A refusal that retrying cannot fix
  (``not_in_channel``, ``channel_not_found``, ``is_archived``, ...) raises a permanent
  :class:`DeliveryError`, so a digest for a channel the bot was removed from gets disabled.
- The caller is an admin when listed in ``[slack] admins`` or a workspace admin or owner
  (users.info, cached for ``admin_cache_seconds``); in a DM with the bot, of that DM only
  (see the README's "Who may do what").

Many workspaces ("distributed" mode, HTTP only): with ``[slack] client_id`` and
SLACK_CLIENT_SECRET, bolt's OAuth flow serves ``/slack/install`` and ``/slack/oauth_redirect``
and authorises every request by its team, with installations kept in briefbot's database
(:mod:`adapters.slack_installations`). Ids the core sees are then workspace-qualified,
``TEAM:ID`` (``T2:C0123``), so every destination carries its workspace and a delivery is made
with that workspace's token; the ids of the *home* workspace (the one a single-workspace
briefbot served before, recorded in platform state, else the first to install) stay bare, so
its existing digests, feeds and subscriptions carry on untouched. ``app_uninstalled`` and
``tokens_revoked`` remove the installation and pause that workspace's digests and
subscriptions with a reason; installing again resumes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.base import section_of
from adapters.delivery import post_parts
from adapters.slack_blocks import SlackMessage, escape, render_reply
from adapters.slack_config import SlackConfig
from adapters.slack_config import check as check_config
from adapters.slack_installations import BriefbotInstallationStore, BriefbotStateStore
from bot import metrics
from bot.commands.router import parse
from bot.engine import BriefingEngine, CommandHandler
from bot.errors import ConfigError, DeliveryError
from bot.models import Caller, Destination, Reply
from bot.ratelimit import Rate, rate_limiter
from bot.redact import register_secret
from bot.store.ports import Delivery, Store

log = logging.getLogger(__name__)

__all__ = ["ADMIN_HINT", "BOT_SCOPES", "PERMANENT_ERRORS", "ChannelPacer", "SlackAdapter",
           "slow_notice"]

# The bot scopes "Add to Slack" asks for: those of adapters/slack_manifest.yaml (a test checks).
BOT_SCOPES = ("commands", "chat:write", "im:write", "users:read", "channels:history",
              "groups:history", "im:history")
# message metadata that names a delivery and part (a retry finds them in the history)
DELIVERY_EVENT = "briefbot_delivery"
HISTORY_LOOKBACK = 1000  # messages of a channel's history a resumed delivery looks through
HOME_TEAM_KEY = "slack.home_team"  # platform state: the workspace whose ids are stored bare
# A workspace's token stopped working: it removed the app (or an admin revoked the token).
TOKEN_GONE = frozenset({"token_revoked", "invalid_auth", "account_inactive", "not_authed",
                        "team_disabled"})
UNINSTALLED_REASON = ("briefbot was removed from this Slack workspace; it resumes when the "
                      "app is installed again")
REVOKED_REASON = ("this Slack workspace revoked briefbot's token; it resumes when the app is "
                  "installed again")
NOT_INSTALLED_MESSAGE = ("briefbot is not installed in this workspace (or was removed): ask "
                         "a workspace admin to add it again with \"Add to Slack\".")

ADMIN_HINT = "a workspace admin or one of the configured briefbot admins"

# Web API error codes after which retrying the same message cannot succeed. Token problems
# (invalid_auth, token_revoked) are deliberately absent: they fail every channel at once and
# must not disable every digest; they are logged and retried instead.
PERMANENT_ERRORS = frozenset({
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "channel_is_archived",
    "restricted_action",
    "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel",
    "ekm_access_denied",
    "team_access_not_granted",
    "user_not_found",
    "user_not_visible",
    "user_disabled",
    "cannot_dm_bot",
    "account_inactive",
    "messages_tab_disabled",
})

# What a refusal means, in words shown to users (``/brief digest`` says why a digest is off).
_EXPLAIN = {
    "not_in_channel": "briefbot is not a member of this channel; `/invite @briefbot` here",
    "channel_not_found": "the channel was deleted, or briefbot cannot see it",
    "is_archived": "the channel is archived",
    "channel_is_archived": "the channel is archived",
    "cannot_dm_bot": "direct messages to a bot are not possible",
    "user_not_found": "that person is no longer in the workspace",
    "user_disabled": "that person's account is deactivated",
    "account_inactive": "the account is deactivated",
    "missing_scope": "the Slack app lacks a permission; reinstall it from the manifest",
    "ratelimited": "Slack is rate limiting briefbot; it will try again",
}

# Bolt accepts a timestamp up to 5 minutes either side of now; a seen signature is kept for
# longer than that (and a minute more for clock skew between processes).
REPLAY_WINDOW = 6 * 60.0
_TIMESTAMP = re.compile(r"[0-9]{1,12}")

# response_url accepts 5 posts within 30 minutes; later parts go through the Web API.
RESPONSE_URL_POSTS = 5
_NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class _CountingRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (sleeps Retry-After, then retries), counting each 429,
    the last one too (slack_sdk asks this handler about every response, retries left or not)."""

    async def can_retry_async(self, **kwargs: Any) -> bool:
        response = kwargs.get("response")
        if response is not None and response.status_code == 429:
            metrics.RATE_LIMITED.labels("slack").inc()
        return await super().can_retry_async(**kwargs)


def _retry_handlers(max_retries: int) -> list[AsyncRetryHandler]:
    return [
        AsyncConnectionErrorRetryHandler(),
        _CountingRateLimitRetryHandler(max_retry_count=max_retries),
    ]


def _error_code(exc: SlackApiError) -> str:
    response = exc.response
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    return str(code or f"http_{getattr(response, 'status_code', '?')}")


class _NoRequestBodies(logging.Filter):
    """Bolt logs the whole body of a request it refused (at INFO): an unauthenticated sender's
    text, or a replayed request's response_url and verification token. Keep only the fact."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Invalid request signature detected"):
            record.msg = "Slack: refused a request with a missing, wrong or stale signature (401)"
            record.args = ()
        return True


for _name in ("slack_bolt.RequestVerification", "slack_bolt.AsyncRequestVerification"):
    logging.getLogger(_name).addFilter(_NoRequestBodies())


_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+")


class _NoTokens(logging.Filter):
    """slack_sdk logs whole responses at DEBUG, oauth.v2.access's bot token included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "xox" in message:
            record.msg = _TOKEN.sub("xox?-(redacted)", message)
            record.args = ()
        return True


def _quiet_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(f"{__name__}.{name}")
    if not any(isinstance(f, _NoTokens) for f in logger.filters):
        logger.addFilter(_NoTokens())
    return logger


def _bolt_logger() -> logging.Logger:
    logger = _quiet_logger("bolt")
    if not any(isinstance(f, _NoClientTokenWarning) for f in logger.filters):
        logger.addFilter(_NoClientTokenWarning())
    return logger


class _NoClientTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and warns at every start that
    it goes unused beside the client we build (with retries and our base URL): expected here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in str(record.msg)


_NOTICE_URL_CHARS = 200


def slow_notice(text: str, commands: CommandHandler) -> str | None:
    """The ack text for a command that fetches a page before answering, else None.

    ``/brief <link>`` and ``/brief feeds add <url>`` fetch; everything else answers from the
    store. The link is shown escaped (it is whatever the user typed) and shortened."""
    key, args = commands.classify(parse(text)[0])
    if key == "link":
        what, url = "Fetching", args
    elif key == "verb:feeds" and args.lower().startswith("add ") and args[4:].strip():
        what, url = "Fetching the feed", args[4:].strip()
    else:
        return None
    url = url.strip().strip("<>").split("|", 1)[0]
    if not url.lower().startswith(("http://", "https://")):
        return None  # refused at once, without fetching
    if len(url) > _NOTICE_URL_CHARS:
        url = url[: _NOTICE_URL_CHARS - 1]
    return f"{what} {escape(url)}…"


class ChannelPacer:
    """At most one post per ``interval`` seconds to each channel (Slack's ~1/s guidance), for
    the whole deployment: the slots come from :mod:`bot.ratelimit`, shared by every process on
    ``store`` when it is PostgreSQL. Posts to one channel from this process go one at a time."""

    def __init__(self, interval: float, *, store: object = None) -> None:
        self.interval = interval
        self._limiter = (rate_limiter(store, {"slack": Rate(per_second=1.0 / interval)})
                         if interval > 0 else None)
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def slot(self, channel: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            if self._limiter is not None:
                await self._limiter.acquire("slack", channel)
            yield


def _page(title: str, message: str, *, link: tuple[str, str] | None = None) -> str:
    """A small self-contained HTML page for the install flow (everything shown is escaped)."""
    extra = ""
    if link is not None:
        extra = f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>'
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:36em;margin:4em auto;padding:0 1em}"
        "</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{extra}</body></html>"
    )


# Why an install failed, in words for the person at the browser. Keys are bolt's reasons
# (``error`` from Slack's redirect is passed through as the reason too).
_INSTALL_FAILURES = {
    "access_denied": "The installation was cancelled in Slack, so nothing was installed.",
    "invalid_browser": "This page was not opened in the browser that started the "
                       "installation (or it blocks cookies), so it cannot be trusted.",
    "invalid_state": "This installation link has expired or was already used.",
    "missing_code": "Slack sent no authorisation code with this page.",
    "invalid_code": "Slack did not accept the installation: the code expired (it works "
                    "once, within ten minutes) or the app's credentials were refused.",
    "storage_error": "briefbot could not save the installation; nothing was changed. Try "
                     "again in a moment; if it persists, tell whoever runs briefbot.",
}


def _parse_admins(entries: tuple[str, ...]) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """``[slack] admins``: bare user ids and ``TEAM_ID:USER_ID`` pairs."""
    bare: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for entry in entries:
        team, sep, user = entry.strip().partition(":")
        if sep:
            pairs.add((team.strip(), user.strip()))
        else:
            bare.add(team)
    return frozenset(bare), frozenset(pairs)


class SlackAdapter:
    """A Slack connection: receives ``/brief`` and delivers Replies as Block Kit.

    One workspace (Socket Mode, or HTTP with a bot token), or many (``distributed``: HTTP with
    bolt's OAuth flow and one token per installed workspace)."""

    platform = "slack"

    def __init__(
        self,
        engine: BriefingEngine,
        *,
        bot_token: str | None = None,
        app_token: str | None = None,
        signing_secret: str | None = None,
        client_secret: str | None = None,
        config: SlackConfig | None = None,
        store: Store | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or section_of(engine.config, "slack", SlackConfig)
        distributed = bool(self.config.client_id)
        if distributed:
            if app_token:
                raise ConfigError(
                    "[slack] client_id is set (many workspaces) but so is SLACK_APP_TOKEN: an "
                    "app installed by other workspaces runs in HTTP mode, not Socket Mode; "
                    "unset SLACK_APP_TOKEN, or remove [slack] client_id for one workspace"
                )
            if not client_secret:
                raise ConfigError(
                    "[slack] client_id is set (many workspaces): set SLACK_CLIENT_SECRET "
                    "(Basic Information > App Credentials > Client Secret)"
                )
            if not signing_secret:
                raise ConfigError(
                    "[slack] client_id is set (many workspaces): set SLACK_SIGNING_SECRET "
                    "(Basic Information > Signing Secret)"
                )
        else:
            if not bot_token:
                raise ConfigError("SLACK_BOT_TOKEN is empty")
            if app_token is None and not signing_secret:
                raise ConfigError(
                    "Slack HTTP mode needs SLACK_SIGNING_SECRET (Basic Information > Signing "
                    "Secret), or set SLACK_APP_TOKEN to use Socket Mode instead"
                )
        if (bot_token or "").startswith("xapp-") or (app_token or "").startswith(
                ("xoxb-", "xoxp-")):
            raise ConfigError(
                "SLACK_BOT_TOKEN and SLACK_APP_TOKEN look swapped: the bot token starts with "
                "xoxb- (OAuth & Permissions), the app-level token with xapp- (Basic Information)"
            )
        check_config(self.config)  # loaded configs were checked; one built in code too
        self.mode = "distributed" if distributed else "socket" if app_token else "http"
        self._app_token = app_token
        self._bot_token = bot_token
        base_url = self.config.api_base_url
        if not base_url.endswith("/"):
            base_url += "/"
        self._base_url = base_url
        # distributed: a client without a token (oauth.v2.access; a template for the
        # per-workspace clients); else the one workspace's client
        self.client = AsyncWebClient(
            token=None if distributed else bot_token,
            base_url=base_url,
            retry_handlers=_retry_handlers(self.config.max_retries),
            logger=_quiet_logger("web"),
        )
        self.installation_store: BriefbotInstallationStore | None = None
        # distributed: installations, and pausing a workspace's digests and subscriptions
        self._store: Store | None = None
        oauth_settings: AsyncOAuthSettings | None = None
        if distributed:
            assert client_secret is not None
            self._store = store or engine.store
            repo = self._store.platform
            self.installation_store = BriefbotInstallationStore(
                repo, clock=engine.clock, logger=_quiet_logger("installs"))
            oauth_settings = AsyncOAuthSettings(
                client_id=self.config.client_id,
                client_secret=client_secret,
                scopes=list(BOT_SCOPES),
                user_scopes=[],
                redirect_uri=self.config.redirect_url or None,
                authorization_url=self.config.oauth_authorize_url,
                installation_store=self.installation_store,
                installation_store_bot_only=True,
                state_store=BriefbotStateStore(
                    repo, clock=engine.clock,
                    expiration_seconds=self.config.install_state_seconds),
                state_expiration_seconds=self.config.install_state_seconds,
                callback_options=AsyncCallbackOptions(success=self._installed,
                                                      failure=self._install_failed),
                logger=_bolt_logger(),
            )
            # bolt authorises each request by its team: the installation is read from the
            # store every time (an uninstalled workspace is refused at once), but auth.test —
            # a round trip to Slack before the 3-second ack — is remembered per token.
            settings_authorize = oauth_settings.authorize
            if isinstance(settings_authorize, AsyncInstallationStoreAuthorize):
                settings_authorize.cache_enabled = True
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret or "",
            request_verification_enabled=self.mode != "socket",
            logger=_bolt_logger(),
            oauth_settings=oauth_settings,
            user_facing_authorize_error_message=NOT_INSTALLED_MESSAGE,
        )
        self.app.middleware(self._refuse_replays)
        self.app.command(self.config.command)(self._on_command)
        if distributed:
            self.app.event("app_uninstalled")(self._on_uninstalled)
            self.app.event("tokens_revoked")(self._on_tokens_revoked)
        self.app.error(self._on_error)
        self.pacer = ChannelPacer(self.config.post_interval_seconds,
                                  store=store or engine.store)
        self._admins, self._team_admins = _parse_admins(self.config.admins)
        self._admin_cache: dict[tuple[str | None, str], tuple[bool, float]] = {}
        self._dm_channels: dict[str, str] = {}
        self._clients: dict[str, tuple[str, AsyncWebClient]] = {}  # team -> (token, client)
        self.home_team: str | None = None  # distributed: the workspace whose ids are bare
        self._history_warned = False  # said once: no *:history scope to resume deliveries
        self._inflight: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None  # shared connections once started
        self._socket: AsyncSocketModeHandler | None = None
        self.port: int | None = None  # HTTP mode: the bound port once started

    @property
    def distributed(self) -> bool:
        return self.mode == "distributed"

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Check the token, then listen (Socket Mode connection or HTTP server)."""
        # One connection pool for every Web API call and response_url post while running
        # (before start, slack_sdk opens a session per call).
        self._http = aiohttp.ClientSession()
        self.client.session = self._http
        if self.distributed:
            await self._start_distributed()
        else:
            await self._start_single()
            if self.mode == "socket":
                await self._start_socket()
                return
        webapp = web.Application()
        webapp.router.add_post(self.config.http_path, self._on_http)
        if self.app.oauth_flow is not None:
            webapp.router.add_get(self.app.oauth_flow.install_path, self._on_install_page)
            webapp.router.add_get(self.app.oauth_flow.redirect_uri_path, self._on_oauth_redirect)
        self._runner = web.AppRunner(webapp, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.http_host, self.config.http_port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])
        log.info("Slack: HTTP mode listening on %s:%d%s%s",
                 self.config.http_host, self.port, self.config.http_path,
                 " (install page: /slack/install)" if self.distributed else "")

    async def _sign_in(self, token: str) -> dict[str, Any]:
        try:
            auth = await self.client.auth_test(token=token)
        except SlackApiError as exc:
            raise ConfigError(
                f"Slack refused SLACK_BOT_TOKEN ({_error_code(exc)}); copy the Bot User OAuth "
                "Token (xoxb-...) from the app's OAuth & Permissions page"
            ) from exc
        except _NETWORK_ERRORS as exc:
            raise ConfigError(
                f"cannot reach the Slack API at {self.client.base_url} ({type(exc).__name__}); "
                "check the network and [slack] api_base_url"
            ) from exc
        return dict(auth.data) if isinstance(auth.data, dict) else {}

    async def _start_single(self) -> None:
        assert self._bot_token is not None
        auth = await self._sign_in(self._bot_token)
        team = str(auth.get("team_id") or "")
        log.info("Slack: signed in to team %s as bot user %s (%s mode)",
                 team, auth.get("user_id"), self.mode)
        if team:
            await self._remember_home(team)

    async def _start_socket(self) -> None:
        assert self._app_token is not None
        # slack_sdk retries a refused app token forever; check it once to fail clearly.
        try:
            await self.client.apps_connections_open(app_token=self._app_token)
        except SlackApiError as exc:
            raise ConfigError(
                f"Slack refused SLACK_APP_TOKEN ({_error_code(exc)}); create an app-level "
                "token (xapp-...) with the connections:write scope and enable Socket Mode"
            ) from exc
        self._socket = AsyncSocketModeHandler(self.app, self._app_token,
                                              web_client=self.client)
        await self._socket.connect_async()  # type: ignore[no-untyped-call]
        log.info("Slack: Socket Mode connected")

    async def _start_distributed(self) -> None:
        self.home_team = await self.engine.platform_state(HOME_TEAM_KEY)
        if self.home_team is None and self._bot_token:
            # moving from one workspace to many: the old token says whose the old data is
            auth = await self._sign_in(self._bot_token)
            if auth.get("team_id"):
                await self._remember_home(str(auth["team_id"]))
        stray = sorted(self._admins) if self.home_team is None else []
        if stray:
            log.warning("Slack: [slack] admins %s name no workspace and none is home yet; write "
                        "them as TEAM_ID:USER_ID", ", ".join(stray))
        log.info("Slack: serving every workspace that installs the app (distributed mode); "
                 "home workspace %s", self.home_team or "not set yet")

    async def _remember_home(self, team: str) -> None:
        """The first workspace seen keeps bare ids (the data of a single-workspace briefbot)."""
        known = await self.engine.platform_state(HOME_TEAM_KEY)
        if known is None:
            await self.engine.save_platform_state(HOME_TEAM_KEY, team)
            known = team
        elif known != team and not self.distributed:
            log.warning("Slack: this database's Slack data belongs to workspace %s, but "
                        "SLACK_BOT_TOKEN is a token of workspace %s", known, team)
        self.home_team = known

    async def close(self) -> None:
        """Stop listening and cancel answers still being worked on."""
        for task in list(self._inflight):
            task.cancel()
        for task in list(self._inflight):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            self.client.session = None
            for _, client in self._clients.values():
                client.session = None
            await self._http.close()
            self._http = None

    async def is_connected(self) -> bool:
        """For /healthz: the Socket Mode connection is open, or the HTTP server listens."""
        if self._socket is not None:
            return bool(await self._socket.client.is_connected())
        return self._runner is not None

    async def run(self) -> None:
        try:
            await self.start()
            await asyncio.Event().wait()
        finally:
            await self.close()

    # -- workspaces ---------------------------------------------------------------------

    async def _ensure_home(self) -> None:
        """Another process may have seen the first install: read the home workspace again
        while none is known (once known, it never changes)."""
        if self.distributed and self.home_team is None:
            self.home_team = await self.engine.platform_state(HOME_TEAM_KEY)

    def qualify(self, team: str | None, raw_id: str) -> str:
        """The id the core keeps for a Slack id of ``team`` (``TEAM:ID`` unless home)."""
        if not self.distributed or not raw_id or not team or team == self.home_team:
            return raw_id
        return f"{team}:{raw_id}"

    def split(self, qualified: str) -> tuple[str | None, str]:
        """(team, Slack id) of an id the core keeps; a bare id is the home workspace's."""
        team, sep, raw = qualified.partition(":")
        if sep and self.distributed:
            return team, raw
        return self.home_team, qualified

    async def client_for(self, team: str | None) -> AsyncWebClient:
        """The Web API client with ``team``'s bot token (the one client with one workspace)."""
        if not self.distributed:
            return self.client
        assert self.installation_store is not None
        if team is None:
            raise DeliveryError("this Slack destination belongs to no known workspace "
                                "(no workspace has installed briefbot yet)", permanent=False)
        bot = await self.installation_store.async_find_bot(enterprise_id=None, team_id=team)
        if bot is None:
            self._clients.pop(team, None)
            raise DeliveryError(f"briefbot is not installed in Slack workspace {team} (it "
                                "resumes when the app is installed again)", permanent=False)
        cached = self._clients.get(team)
        if cached is not None and cached[0] == bot.bot_token:
            return cached[1]
        client = AsyncWebClient(
            token=bot.bot_token, base_url=self._base_url, session=self._http,
            retry_handlers=_retry_handlers(self.config.max_retries),
            logger=_quiet_logger("web"), team_id=team,
        )
        self._clients[team] = (bot.bot_token, client)
        return client

    async def pause_workspace(self, team: str, reason: str) -> None:
        """The workspace is gone: forget its token, pause its digests and subscriptions."""
        assert self._store is not None
        self._clients.pop(team, None)
        prefix = None if team == self.home_team else f"{team}:"
        now = self.engine.clock()
        digests = await self._store.digests.pause_workspace_digests(
            platform=self.platform, workspace=team, id_prefix=prefix, reason=reason, now=now)
        subscriptions = await self._store.alerts.pause_workspace_subscriptions(
            platform=self.platform, workspace=team, id_prefix=prefix, reason=reason, now=now)
        log.warning("Slack: workspace %s paused (%d digests, %d subscriptions): %s",
                    team, digests, subscriptions, reason)

    async def _on_uninstalled(self, context: dict[str, Any]) -> None:
        team = context.get("team_id")
        if not team:
            return
        assert self.installation_store is not None
        await self.installation_store.async_delete_all(
            enterprise_id=context.get("enterprise_id"), team_id=team)
        await self.pause_workspace(str(team), UNINSTALLED_REASON)

    async def _on_tokens_revoked(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        team = context.get("team_id")
        if not team or not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens (briefbot keeps none)
        assert self.installation_store is not None
        await self.installation_store.async_delete_bot(
            enterprise_id=context.get("enterprise_id"), team_id=team)
        await self.pause_workspace(str(team), REVOKED_REASON)

    # -- the install flow (distributed) ---------------------------------------------------

    async def _on_install_page(self, request: web.Request) -> web.StreamResponse:
        assert self.app.oauth_flow is not None
        bolt_response = await self.app.oauth_flow.handle_installation(
            await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def _on_oauth_redirect(self, request: web.Request) -> web.StreamResponse:
        assert self.app.oauth_flow is not None
        bolt_request = await to_bolt_request(request)
        try:
            bolt_response = await self.app.oauth_flow.handle_callback(bolt_request)
        except Exception as exc:  # a failing store or Slack: a clear page, never a traceback
            log.exception("Slack install failed: %s", type(exc).__name__)
            bolt_response = await self._install_failed(AsyncFailureArgs(
                request=bolt_request, reason="storage_error", error=exc,
                suggested_status_code=500, settings=self.app.oauth_flow.settings,
                default=self.app.oauth_flow.default_callback_options))
        return await to_aiohttp_response(bolt_response)

    async def _installed(self, args: AsyncSuccessArgs) -> BoltResponse:
        """Saved by bolt already: make it home if it is the first, and resume its deliveries."""
        assert self._store is not None
        installation = args.installation
        team = installation.team_id or installation.enterprise_id or ""
        if self.home_team is None and team:
            await self._remember_home(team)
        self._clients.pop(team, None)
        digests = await self._store.digests.resume_workspace_digests(
            platform=self.platform, workspace=team, now=self.engine.clock())
        subscriptions = await self._store.alerts.resume_workspace_subscriptions(
            platform=self.platform, workspace=team)
        log.info("Slack: installed in team %s (%s); resumed %d digests and %d subscriptions",
                 team, installation.team_name or "?", digests, subscriptions)
        where = installation.team_name or installation.enterprise_name or "your workspace"
        body = _page(
            "briefbot is installed",
            f"briefbot is now installed in {where}. In Slack, invite it to a channel with "
            f"/invite @briefbot, then type {self.config.command} help.")
        return BoltResponse(status=200, body=body,
                            headers={"Content-Type": "text/html; charset=utf-8"})

    async def _install_failed(self, args: AsyncFailureArgs) -> BoltResponse:
        reason = args.reason
        message = _INSTALL_FAILURES.get(reason, f"Slack refused the installation ({reason}).")
        log.warning("Slack install failed: %s%s", reason,
                    f" ({type(args.error).__name__})" if args.error is not None else "")
        install = args.settings.install_path
        body = _page("briefbot was not installed", message + " Nothing was stored.",
                     link=(install, "Start the installation again"))
        status = args.suggested_status_code if reason != "access_denied" else 200
        return BoltResponse(status=status, body=body,
                            headers={"Content-Type": "text/html; charset=utf-8"})

    # -- receiving ----------------------------------------------------------------------

    async def _on_http(self, request: web.Request) -> web.StreamResponse:
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        if timestamp is not None and not _TIMESTAMP.fullmatch(timestamp):
            # slack_sdk would int() it and raise (HTTP 500 and a traceback): no request of
            # Slack's looks like this, so it is refused like any other bad signature.
            log.info("Slack: refused a request with a malformed timestamp (401)")
            return web.Response(status=401, text="")
        bolt_request = await to_bolt_request(request)
        bolt_response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def _refuse_replays(self, req: AsyncBoltRequest, resp: BoltResponse,
                              next: Callable[[], Awaitable[None]]) -> BoltResponse:
        """A signed request is executed once: the same signature again (a replay within the
        5 minutes Bolt accepts a timestamp) gets 401. Runs after Bolt checked the signature,
        so only genuine signatures are recorded; the record is in the database, shared by
        every process serving the workspace. Socket Mode has no signatures to replay."""
        if req.mode == "http":
            signature = (req.headers.get("x-slack-signature") or [""])[0]
            stamp = int((req.headers.get("x-slack-request-timestamp") or ["0"])[0])
            now = time.time()
            first = await self.engine.first_sight_of_request(
                f"slack:{signature}", now=datetime.fromtimestamp(now, UTC),
                expires_at=datetime.fromtimestamp(max(now, stamp) + REPLAY_WINDOW, UTC))
            if not first:
                log.warning("Slack: refused a replayed request (its signature was seen "
                            "before, timestamp %s) (401)", stamp)
                return BoltResponse(status=401, body="")
        await next()
        return resp

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack request failed: team=%s user=%s channel=%s: %s",
                  body.get("team_id"), body.get("user_id"), body.get("channel_id"),
                  type(error).__name__, exc_info=error)

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any],
                          client: AsyncWebClient) -> None:
        """Ack first (Slack waits at most 3 s), then answer. Bolt keeps running us after the ack.

        A command that fetches a page (a link, ``feeds add``) takes seconds: its ack carries a
        short private "Fetching ..." so the user sees at once that it is under way. Other
        commands are acked empty (their answer follows within a moment)."""
        register_secret(command.get("response_url"))  # kept out of every log line
        notice = slow_notice(str(command.get("text", "")), self.engine.commands)
        if notice is None:
            await ack()
        else:
            await ack(text=notice, response_type="ephemeral")
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._answer(command, client)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _answer(self, command: dict[str, Any], client: AsyncWebClient) -> None:
        team = str(command.get("team_id", "")) or None
        raw_user = str(command.get("user_id", ""))
        raw_channel = command.get("channel_id") or None
        # bolt's per-request client carries this workspace's token (and our session/retries)
        await self._ensure_home()
        user_id = self.qualify(team, raw_user)
        channel_id = self.qualify(team, raw_channel) if raw_channel else None
        # A DM with the bot (an "im": D…, named "directmessage") belongs to the person: its
        # digest and alerts are theirs; feeds the grammar refuses from a DM whoever asks.
        in_dm = bool(raw_channel) and (str(raw_channel).startswith("D")
                                       or command.get("channel_name") == "directmessage")
        caller = Caller(
            platform=self.platform,
            user_id=user_id,
            channel_id=channel_id,
            is_admin=in_dm or await self.is_admin(
                raw_user, team_id=team, client=client if self.distributed else None),
            admin_hint=ADMIN_HINT,
            in_dm=in_dm,
            display_name=command.get("user_name"),
            extra={"team_id": team or ""},
        )
        reply = await self.engine.handle_command(str(command.get("text", "")), caller)
        try:
            await self.send_answer(reply, caller=caller,
                                   response_url=command.get("response_url") or None)
        except DeliveryError as exc:
            log.warning("Slack: could not answer user %s in channel %s: %s",
                        user_id, channel_id, exc)

    async def is_admin(self, user_id: str, *, team_id: str | None = None,
                       client: AsyncWebClient | None = None) -> bool:
        """In ``[slack] admins`` (``TEAM:USER``, or a bare id for the home workspace), or an
        admin/owner of the workspace (users.info there, briefly cached)."""
        if team_id is not None and (team_id, user_id) in self._team_admins:
            return True
        await self._ensure_home()
        if user_id in self._admins and (not self.distributed or team_id is None
                                        or team_id == self.home_team):
            return True
        now = time.monotonic()
        key = (team_id if self.distributed else None, user_id)
        cached = self._admin_cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        ttl = self.config.admin_cache_seconds
        try:
            client = client or await self.client_for(team_id)
            info = await client.users_info(user=user_id)
        except (SlackApiError, DeliveryError, *_NETWORK_ERRORS) as exc:
            reason = (_error_code(exc) if isinstance(exc, SlackApiError)
                      else str(exc) if isinstance(exc, DeliveryError) else type(exc).__name__)
            log.warning("Slack: users.info failed for user %s of team %s (%s); treating as not "
                        "an admin", user_id, team_id, reason)
            # remembered briefly too, so a missing users:read scope is not asked every time
            self._admin_cache[key] = (False, now + min(ttl, 60.0))
            return False
        user = info.get("user") or {}
        admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._admin_cache[key] = (admin, now + ttl)
        return admin

    # -- sending ------------------------------------------------------------------------

    async def send_answer(self, reply: Reply, *, caller: Caller, response_url: str | None) -> None:
        """Answer a command: response_url first, then the Web API for what it cannot take."""
        response_type = "ephemeral" if reply.ephemeral else "in_channel"
        for index, message in enumerate(render_reply(reply)):
            if response_url and index < RESPONSE_URL_POSTS:
                if await self._respond(response_url, message, response_type=response_type,
                                       user_id=caller.user_id):
                    continue
                response_url = None  # expired or used up: the rest goes through the Web API
            if caller.channel_id is None:
                raise DeliveryError("no channel to answer in", permanent=True)
            if reply.ephemeral:
                team, channel = self.split(caller.channel_id)
                _, user = self.split(caller.user_id)
                await self._call(
                    team, "chat.postEphemeral", caller.channel_id,
                    channel=channel, user=user,
                    text=message.text, blocks=list(message.blocks),
                )
            else:
                await self._post(caller.channel_id, message)

    async def _respond(self, url: str, message: SlackMessage, *, response_type: str,
                       user_id: str) -> bool:
        hook = AsyncWebhookClient(url=url, session=self._http,
                                  retry_handlers=_retry_handlers(self.config.max_retries))
        try:
            response = await hook.send(text=message.text, blocks=list(message.blocks),
                                       response_type=response_type, replace_original=False)
        except _NETWORK_ERRORS as exc:
            log.warning("Slack: response_url post for user %s failed (%s)",
                        user_id, type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("Slack: response_url refused the answer for user %s (%d %s)",
                        user_id, response.status_code, (response.body or "")[:100])
            return False
        return True

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        """Post a digest or alert: to the channel, or to the person by direct message, with
        the token of the destination's workspace."""
        await self._ensure_home()
        if destination.user_id is not None:
            channel = await self._dm_channel(destination.user_id)
        else:
            assert destination.channel_id is not None
            channel = destination.channel_id
        messages = render_reply(reply)
        key = reply.delivery_key

        async def post(index: int, message: SlackMessage) -> None:
            metadata = None if key is None else {
                "event_type": DELIVERY_EVENT,
                "event_payload": {"key": key, "part": index, "of": len(messages)}}
            await self._post(channel, message, metadata=metadata)

        async def find_posted(delivery: Delivery) -> set[int]:
            return await self._parts_in_history(channel, delivery)

        await post_parts(messages, key=key, ledger=self.engine.store.platform, post=post,
                         clock=self.engine.clock, find_posted=find_posted,
                         what=f"Slack: {reply.kind.value}", where=channel)

    async def _parts_in_history(self, channel: str, delivery: Delivery) -> set[int]:
        """The parts of ``delivery`` already in ``channel``: messages of its recent history
        (since the delivery began, at most :data:`HISTORY_LOOKBACK` messages) whose metadata
        names the delivery's key. A retry treats them as posted. Without the history scopes
        (an app installed before they were asked for) nothing is found, and said once."""
        team, raw = self.split(channel)
        oldest = f"{delivery.began_at.timestamp() - 60:.6f}"
        found: set[int] = set()
        cursor: str | None = None
        seen = 0
        try:
            while seen < HISTORY_LOOKBACK:
                args: dict[str, Any] = {"channel": raw, "oldest": oldest, "limit": 200,
                                        "include_all_metadata": True}
                if cursor:
                    args["cursor"] = cursor
                data = await self._call(team, "conversations.history", channel, **args)
                messages = data.get("messages") or []
                seen += len(messages)
                for message in messages:
                    meta = message.get("metadata") or {}
                    payload = meta.get("event_payload") or {}
                    if (meta.get("event_type") == DELIVERY_EVENT
                            and payload.get("key") == delivery.key
                            and isinstance(payload.get("part"), int)):
                        found.add(payload["part"])
                cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
                if not data.get("has_more") or not cursor or not messages:
                    break
        except DeliveryError as exc:
            if not self._history_warned:
                self._history_warned = True
                log.warning("Slack: cannot read the history of %s to resume a delivery (%s); "
                            "a part posted just before a stop may be posted again. Reinstall "
                            "the app from the manifest for the *:history scopes.", channel, exc)
        return found

    async def _dm_channel(self, user_id: str) -> str:
        """The direct-message channel with a person (kept as an id of their workspace)."""
        known = self._dm_channels.get(user_id)
        if known is not None:
            return known
        team, user = self.split(user_id)
        data = await self._call(team, "conversations.open", f"user:{user_id}", users=user)
        channel = str((data.get("channel") or {}).get("id", ""))
        if not channel:
            raise DeliveryError("Slack opened no direct message channel", permanent=False)
        channel = self.qualify(team, channel)
        self._dm_channels[user_id] = channel
        return channel

    async def _post(self, channel: str, message: SlackMessage, *,
                    metadata: dict[str, Any] | None = None) -> None:
        team, raw = self.split(channel)
        extra: dict[str, Any] = {} if metadata is None else {"metadata": metadata}
        async with self.pacer.slot(channel):
            await self._call(
                team, "chat.postMessage", channel,
                channel=raw, text=message.text, blocks=list(message.blocks),
                unfurl_links=False, unfurl_media=False, **extra,
            )

    async def _call(self, team: str | None, method: str, where: str,
                    **kwargs: Any) -> dict[str, Any]:
        """One Web API call with ``team``'s token; Slack's refusals become DeliveryError
        (permanent when hopeless). With many workspaces, a token that stopped working
        pauses that workspace alone."""
        client = await self.client_for(team)
        try:
            response = await client.api_call(method, json=kwargs)
        except SlackApiError as exc:
            code = _error_code(exc)
            permanent = code in PERMANENT_ERRORS
            log.warning("Slack: %s to %s refused: %s%s", method, where, code,
                        " (permanent)" if permanent else "")
            if self.distributed and team is not None and code in TOKEN_GONE:
                await self.pause_workspace(team, f"{REVOKED_REASON} ({code})")
            why = f" ({_EXPLAIN[code]})" if code in _EXPLAIN else ""
            raise DeliveryError(f"Slack refused the message: {code}{why}",
                                permanent=permanent) from exc
        except (BoltError, *_NETWORK_ERRORS) as exc:
            log.warning("Slack: %s to %s failed: %s", method, where, type(exc).__name__)
            raise DeliveryError(f"could not reach Slack ({type(exc).__name__})",
                                permanent=False) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}
