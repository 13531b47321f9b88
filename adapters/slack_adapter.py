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
- A long Reply leaves as several messages; if one fails, the retry skips the parts already
  posted (:class:`adapters.posted_parts.PostedParts`).
- Deliveries pace themselves to about one message a second per channel and retry HTTP 429
  after ``Retry-After`` (slack_sdk's retry handler). A refusal that retrying cannot fix
  (``not_in_channel``, ``channel_not_found``, ``is_archived``, ...) raises a permanent
  :class:`DeliveryError`, so a digest for a channel the bot was removed from gets disabled.
- The caller is an admin when listed in ``[slack] admins`` or a workspace admin or owner
  (users.info, cached for ``admin_cache_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.posted_parts import PostedParts, part_keys
from adapters.slack_blocks import SlackMessage, escape, render_reply
from bot.commands.router import classify
from bot.config import Secrets, SlackConfig
from bot.engine import BriefingEngine
from bot.errors import ConfigError, DeliveryError
from bot.models import Caller, Destination, Reply

log = logging.getLogger(__name__)

__all__ = ["ADMIN_HINT", "PERMANENT_ERRORS", "ChannelPacer", "SlackAdapter", "slow_notice"]

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

# response_url accepts 5 posts within 30 minutes; later parts go through the Web API.
RESPONSE_URL_POSTS = 5
_NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
_PUBLIC_SUFFIX = re.compile(r"(?:^|\s)public\s*$", re.IGNORECASE)


def _retry_handlers(max_retries: int) -> list[AsyncRetryHandler]:
    return [
        AsyncConnectionErrorRetryHandler(),
        AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries),
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


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger(f"{__name__}.bolt")
    if not any(isinstance(f, _NoClientTokenWarning) for f in logger.filters):
        logger.addFilter(_NoClientTokenWarning())
    return logger


class _NoClientTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and warns at every start that
    it goes unused beside the client we build (with retries and our base URL): expected here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in str(record.msg)


def _check_config(config: SlackConfig) -> None:
    if not config.api_base_url.startswith(("http://", "https://")):
        raise ConfigError(f"[slack] api_base_url must be an http(s) URL, not "
                          f"{config.api_base_url!r}")
    if not config.command.startswith("/") or " " in config.command:
        raise ConfigError(f"[slack] command must be a slash command like \"/brief\", not "
                          f"{config.command!r}")
    if not config.http_path.startswith("/"):
        raise ConfigError(f"[slack] http_path must start with /, not {config.http_path!r}")


_NOTICE_URL_CHARS = 200


def slow_notice(text: str) -> str | None:
    """The ack text for a command that fetches a page before answering, else None.

    ``/brief <link>`` and ``/brief feeds add <url>`` fetch; everything else answers from the
    store. The link is shown escaped (it is whatever the user typed) and shortened."""
    text = re.sub(r"\s+", " ", text or "").strip()
    if text.lower().startswith("/brief"):
        text = text[len("/brief"):].strip()
    text = _PUBLIC_SUFFIX.sub("", text).strip()
    key, args = classify(text)
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
    """At most one post per ``interval`` seconds to each channel (Slack's ~1/s guidance)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def slot(self, channel: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            loop = asyncio.get_running_loop()
            wait = self._next.get(channel, 0.0) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._next[channel] = loop.time() + self.interval


class SlackAdapter:
    """A Slack workspace connection: receives ``/brief`` and delivers Replies as Block Kit."""

    platform = "slack"

    def __init__(
        self,
        engine: BriefingEngine,
        *,
        bot_token: str,
        app_token: str | None = None,
        signing_secret: str | None = None,
        config: SlackConfig | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or engine.config.slack
        if not bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is empty")
        if bot_token.startswith("xapp-") or (app_token or "").startswith(("xoxb-", "xoxp-")):
            raise ConfigError(
                "SLACK_BOT_TOKEN and SLACK_APP_TOKEN look swapped: the bot token starts with "
                "xoxb- (OAuth & Permissions), the app-level token with xapp- (Basic Information)"
            )
        if app_token is None and not signing_secret:
            raise ConfigError(
                "Slack HTTP mode needs SLACK_SIGNING_SECRET (Basic Information > Signing "
                "Secret), or set SLACK_APP_TOKEN to use Socket Mode instead"
            )
        _check_config(self.config)
        self.mode = "socket" if app_token else "http"
        self._app_token = app_token
        base_url = self.config.api_base_url
        if not base_url.endswith("/"):
            base_url += "/"
        self.client = AsyncWebClient(
            token=bot_token,
            base_url=base_url,
            retry_handlers=_retry_handlers(self.config.max_retries),
            logger=logging.getLogger(f"{__name__}.web"),
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret or "",
            request_verification_enabled=self.mode == "http",
            logger=_bolt_logger(),
        )
        self.app.command(self.config.command)(self._on_command)
        self.app.error(self._on_error)
        self.pacer = ChannelPacer(self.config.post_interval_seconds)
        self._admins = frozenset(self.config.admins)
        self._admin_cache: dict[str, tuple[bool, float]] = {}
        self._dm_channels: dict[str, str] = {}
        # parts of a long digest/alert already posted, so a retry does not post them twice
        self.posted_parts = PostedParts()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None  # shared connections once started
        self._socket: AsyncSocketModeHandler | None = None
        self.port: int | None = None  # HTTP mode: the bound port once started

    @classmethod
    def from_secrets(cls, engine: BriefingEngine, secrets: Secrets) -> SlackAdapter:
        if not secrets.slack_bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is not set")
        return cls(
            engine,
            bot_token=secrets.slack_bot_token,
            app_token=secrets.slack_app_token,
            signing_secret=secrets.slack_signing_secret,
        )

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Check the token, then listen (Socket Mode connection or HTTP server)."""
        # One connection pool for every Web API call and response_url post while running
        # (before start, slack_sdk opens a session per call).
        self._http = aiohttp.ClientSession()
        self.client.session = self._http
        try:
            auth = await self.client.auth_test()
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
        log.info("Slack: signed in to team %s as bot user %s (%s mode)",
                 auth.get("team_id"), auth.get("user_id"), self.mode)
        if self.mode == "socket":
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
            return
        webapp = web.Application()
        webapp.router.add_post(self.config.http_path, self._on_http)
        self._runner = web.AppRunner(webapp, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.http_host, self.config.http_port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])
        log.info("Slack: HTTP mode listening on %s:%d%s",
                 self.config.http_host, self.port, self.config.http_path)

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
            await self._http.close()
            self._http = None

    async def run(self) -> None:
        try:
            await self.start()
            await asyncio.Event().wait()
        finally:
            await self.close()

    # -- receiving ----------------------------------------------------------------------

    async def _on_http(self, request: web.Request) -> web.StreamResponse:
        bolt_request = await to_bolt_request(request)
        bolt_response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack request failed: team=%s user=%s channel=%s: %s",
                  body.get("team_id"), body.get("user_id"), body.get("channel_id"),
                  type(error).__name__, exc_info=error)

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        """Ack first (Slack waits at most 3 s), then answer. Bolt keeps running us after the ack.

        A command that fetches a page (a link, ``feeds add``) takes seconds: its ack carries a
        short private "Fetching ..." so the user sees at once that it is under way. Other
        commands are acked empty (their answer follows within a moment)."""
        notice = slow_notice(str(command.get("text", "")))
        if notice is None:
            await ack()
        else:
            await ack(text=notice, response_type="ephemeral")
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._answer(command)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _answer(self, command: dict[str, Any]) -> None:
        user_id = str(command.get("user_id", ""))
        channel_id = command.get("channel_id") or None
        caller = Caller(
            platform=self.platform,
            user_id=user_id,
            channel_id=channel_id,
            is_admin=await self.is_admin(user_id),
            admin_hint=ADMIN_HINT,
            display_name=command.get("user_name"),
            extra={"team_id": str(command.get("team_id", ""))},
        )
        reply = await self.engine.handle_command(str(command.get("text", "")), caller)
        try:
            await self.send_answer(reply, caller=caller,
                                   response_url=command.get("response_url") or None)
        except DeliveryError as exc:
            log.warning("Slack: could not answer user %s in channel %s: %s",
                        user_id, channel_id, exc)

    async def is_admin(self, user_id: str) -> bool:
        """In ``[slack] admins``, or a workspace admin/owner (users.info, briefly cached)."""
        if user_id in self._admins:
            return True
        now = time.monotonic()
        cached = self._admin_cache.get(user_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        ttl = self.config.admin_cache_seconds
        try:
            info = await self.client.users_info(user=user_id)
        except (SlackApiError, *_NETWORK_ERRORS) as exc:
            reason = _error_code(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("Slack: users.info failed for user %s (%s); treating as not an admin",
                        user_id, reason)
            # remembered briefly too, so a missing users:read scope is not asked every time
            self._admin_cache[user_id] = (False, now + min(ttl, 60.0))
            return False
        user = info.get("user") or {}
        admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._admin_cache[user_id] = (admin, now + ttl)
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
                await self._call(
                    "chat.postEphemeral", caller.channel_id,
                    channel=caller.channel_id, user=caller.user_id,
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
        """Post a digest or alert: to the channel, or to the person by direct message."""
        if destination.user_id is not None:
            channel = await self._dm_channel(destination.user_id)
        else:
            assert destination.channel_id is not None
            channel = destination.channel_id
        messages = render_reply(reply)
        keys = part_keys(channel, [(m.text, list(m.blocks)) for m in messages])
        for index, (key, message) in enumerate(zip(keys, messages, strict=True), start=1):
            if self.posted_parts.posted(key):
                log.info("Slack: part %d/%d of the %s to %s was posted by an earlier attempt; "
                         "not posting it again", index, len(messages), reply.kind.value,
                         channel)
                continue
            await self._post(channel, message)
            self.posted_parts.remember(key)
        self.posted_parts.forget(keys)

    async def _dm_channel(self, user_id: str) -> str:
        known = self._dm_channels.get(user_id)
        if known is not None:
            return known
        data = await self._call("conversations.open", f"user:{user_id}", users=user_id)
        channel = str((data.get("channel") or {}).get("id", ""))
        if not channel:
            raise DeliveryError("Slack opened no direct message channel", permanent=False)
        self._dm_channels[user_id] = channel
        return channel

    async def _post(self, channel: str, message: SlackMessage) -> None:
        async with self.pacer.slot(channel):
            await self._call(
                "chat.postMessage", channel,
                channel=channel, text=message.text, blocks=list(message.blocks),
                unfurl_links=False, unfurl_media=False,
            )

    async def _call(self, method: str, where: str, **kwargs: Any) -> dict[str, Any]:
        """One Web API call; Slack's refusals become DeliveryError (permanent when hopeless)."""
        try:
            response = await self.client.api_call(method, json=kwargs)
        except SlackApiError as exc:
            code = _error_code(exc)
            permanent = code in PERMANENT_ERRORS
            log.warning("Slack: %s to %s refused: %s%s", method, where, code,
                        " (permanent)" if permanent else "")
            why = f" ({_EXPLAIN[code]})" if code in _EXPLAIN else ""
            raise DeliveryError(f"Slack refused the message: {code}{why}",
                                permanent=permanent) from exc
        except (BoltError, *_NETWORK_ERRORS) as exc:
            log.warning("Slack: %s to %s failed: %s", method, where, type(exc).__name__)
            raise DeliveryError(f"could not reach Slack ({type(exc).__name__})",
                                permanent=False) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}
