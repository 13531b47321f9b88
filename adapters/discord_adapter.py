"""The Discord adapter: ``/brief`` as an application command, digests and alerts as embeds.

Built on discord.py 2.x (``discord.Client`` with an ``app_commands.CommandTree``) with only the
``guilds`` intent: slash commands need no privileged intent. ``/brief`` has one free-text
option that goes through the platform-neutral grammar (:mod:`bot.commands`), so
``/brief subscribe "rocket systems"`` means the same here as on Slack; autocomplete only
suggests text (verbs, time zones after ``digest HH:MM``), it never forks the grammar.

Discord wants an answer within 3 seconds. A command that is ready within
``[discord] defer_after_seconds`` is answered at once; a slower one (a link to fetch) is
deferred first and followed up when done. Outgoing messages always carry
``allowed_mentions`` of none and escaped article text (:mod:`adapters.discord_render`).

Deliveries (digests, alerts) go to a channel or by DM, paced by a leaky bucket under Discord's
global limit; discord.py handles per-route buckets and 429s itself. A keyed delivery (a digest
or alert claim) goes through :mod:`adapters.delivery`: each part posted once across retries,
with a nonce per part that Discord enforces. A refusal that retrying
cannot fix (channel deleted, access lost, DMs closed) raises ``DeliveryError(permanent=True)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import zoneinfo
from collections.abc import Callable, Coroutine, Mapping
from functools import cache
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from adapters.base import section_of
from adapters.delivery import part_nonce, post_parts
from adapters.discord_config import DiscordConfig
from adapters.discord_render import NO_MENTIONS, Outgoing, render_messages
from bot import metrics
from bot.commands.router import wants_public
from bot.engine import BriefingEngine, VerbInfo
from bot.errors import BriefbotError, ConfigError, DeliveryError
from bot.models import Caller, Destination, Reply
from bot.ratelimit import Rate, rate_limiter, secret_key
from bot.redact import register_secret

log = logging.getLogger(__name__)

COMMAND_NAME = "brief"
SYNC_META_KEY = "discord.commands.{app_id}"

# JSON error codes for which a retry cannot help:
# https://discord.com/developers/docs/topics/opcodes-and-status-codes#json
UNKNOWN_CHANNEL = 10003
UNKNOWN_USER = 10013
MISSING_ACCESS = 50001
CANNOT_DM_USER = 50007
MISSING_PERMISSIONS = 50013
INVALID_RECIPIENTS = 50033
ARCHIVED_THREAD = 50083  # a locked, archived thread: posting cannot reopen it
UNKNOWN_INTERACTION = 10062
PERMANENT_CODES = frozenset(
    {UNKNOWN_CHANNEL, UNKNOWN_USER, MISSING_ACCESS, CANNOT_DM_USER, MISSING_PERMISSIONS,
     INVALID_RECIPIENTS, ARCHIVED_THREAD}
)

_BAD_TOKEN = ("Discord refused DISCORD_TOKEN: copy the bot token again from the Developer "
              "Portal (Bot > Reset Token)")

#: What the bot needs in a channel: see it, post in it (and in its threads: a digest may be
#: set up in a thread), and send embeds.
BOT_PERMISSIONS = discord.Permissions(view_channel=True, send_messages=True, embed_links=True,
                                      send_messages_in_threads=True)
INVITE_SCOPES = ("bot", "applications.commands")


def invite_url(application_id: int) -> str:
    """The link that adds the bot to a server with the scopes and permissions it needs."""
    return discord.utils.oauth_url(
        application_id, permissions=BOT_PERMISSIONS, scopes=INVITE_SCOPES
    )


def point_discord_at(*, api_base_url: str, gateway_url: str) -> None:
    """Send discord.py's REST calls and gateway connection to these URLs (tests, proxies).

    Both are discord.py internals (class attributes); discord.py is pinned to a minor version
    and a test fails loudly if they move.
    """
    discord.http.Route.BASE = api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


# -- autocomplete: suggestions only, the grammar stays in bot.commands ----------------------

_AFTER_TIME = re.compile(r"^(?P<head>\S+(?:\s+\S+)*?\s+\d{1,2}:\d{2})\s+(?P<zone>\S*)$")


@cache
def _time_zones() -> tuple[str, ...]:
    zones = sorted(
        z for z in zoneinfo.available_timezones()
        if "/" in z and not z.startswith(("posix/", "right/", "Etc/", "SystemV/"))
    )
    return (*zones, "UTC")


def suggestions(current: str, verbs: Mapping[str, VerbInfo], *, limit: int = 25) -> list[str]:
    """What to offer while someone types ``/brief <current>``: verbs, then time zones."""
    text = re.sub(r"\s+", " ", current).lstrip()
    time = _AFTER_TIME.match(text)
    if time is not None:
        head, partial = time.group("head"), time.group("zone").lower()
        zones = _time_zones()
        first = [z for z in zones if z.lower().startswith(partial)]
        taken = set(first)
        ranked = first + [z for z in zones if partial in z.lower() and z not in taken]
        return [f"{head} {z}" for z in ranked if len(head) + 1 + len(z) <= 100][:limit]
    if " " in text:
        return []
    seen: dict[str, None] = {}
    for name, v in sorted(verbs.items()):
        if name.startswith(text.lower()) and name.isalpha():
            seen.setdefault(v.name if v.name.startswith(text.lower()) else name, None)
    return list(seen)[:limit]


def _choice_label(value: str, verbs: Mapping[str, VerbInfo]) -> str:
    verb = verbs.get(value)
    label = f"{verb.usage} — {verb.summary}" if verb is not None else value
    return label if len(label) <= 100 else label[:99] + "…"


# -- the client -----------------------------------------------------------------------------


class _BriefClient(discord.Client):
    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        # briefbot has no voice: spare operators discord.py's warnings about voice libraries
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(intents=intents, allowed_mentions=NO_MENTIONS, **options)
        self.adapter = adapter
        # Event handlers discord.py runs as tasks: they are finished (or cancelled) when the
        # adapter stops, so none is left pending when the event loop closes.
        self._event_tasks: set[asyncio.Task[Any]] = set()

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        # Once closed, discord.py has dropped its loop: an event scheduled then would be a
        # coroutine created and never run. Nothing briefbot listens to happens after close.
        if self.is_closed():
            return
        super().dispatch(event, *args, **kwargs)

    def _schedule_event(self, coro: Callable[..., Coroutine[Any, Any, Any]], event_name: str,
                        *args: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = super()._schedule_event(coro, event_name, *args, **kwargs)
        self._event_tasks.add(task)
        task.add_done_callback(self._event_tasks.discard)
        return task

    async def finish_events(self) -> None:
        """Cancel the event handlers still running and wait for them to end."""
        pending = [task for task in self._event_tasks if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def setup_hook(self) -> None:
        await self.adapter._on_login()

    async def on_ready(self) -> None:
        log.info("discord: connected as %s (%s) to %d guild(s)",
                 self.user, self.user.id if self.user else "?", len(self.guilds))


class _ShardedBriefClient(_BriefClient, discord.AutoShardedClient):
    """The same client over several shards (``[discord] shard_count``/``shard_ids``): each
    shard is its own gateway session, and a guild's events arrive on the shard
    ``(guild_id >> 22) % shard_count``; several processes can each run some of the shards."""

    async def on_ready(self) -> None:
        log.info("discord: connected as %s (%s) on shards %s of %s, %d guild(s)",
                 self.user, self.user.id if self.user else "?",
                 ",".join(str(i) for i in sorted(self.shards)), self.shard_count,
                 len(self.guilds))


def _make_client(adapter: DiscordAdapter, config: DiscordConfig,
                 **options: Any) -> _BriefClient:
    if config.shard_count:
        return _ShardedBriefClient(adapter, shard_count=config.shard_count,
                                   shard_ids=list(config.shard_ids) or None, **options)
    return _BriefClient(adapter, **options)


class _Count429(logging.Filter):
    """discord.py waits out a 429 itself and only logs it: count those log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "429" in str(record.msg):
            metrics.RATE_LIMITED.labels("discord").inc()
        return True


if not any(isinstance(f, _Count429) for f in logging.getLogger("discord.http").filters):
    logging.getLogger("discord.http").addFilter(_Count429())


class DiscordAdapter:
    """A Discord bot: a Publisher (``deliver``) that also runs the gateway (``run``)."""

    platform = "discord"

    def __init__(
        self,
        engine: BriefingEngine,
        token: str,
        *,
        config: DiscordConfig | None = None,
        login_timeout: float = 30.0,
        **client_options: Any,
    ) -> None:
        self.engine = engine
        self.config = config or section_of(engine.config, "discord", DiscordConfig)
        self._token = token
        self._login_timeout = login_timeout
        self._logged_in = asyncio.Event()
        # Discord's global limit is per bot token, across every process: slots are shared
        # through the database (PostgreSQL); burst 1: evenly spaced, no burst at the start of
        # a fan-out
        self._limiter = rate_limiter(engine.store, {
            "discord": Rate(per_second=self.config.max_messages_per_second)})
        self._token_key = secret_key(token)
        self._sending = asyncio.Semaphore(self.config.send_concurrency)
        client_options.setdefault("max_ratelimit_timeout", 60.0)
        self.client = _make_client(self, self.config, **client_options)
        self.tree: app_commands.CommandTree[_BriefClient] = app_commands.CommandTree(self.client)
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]
        self._install_commands()
        self._force_sync = False
        self.synced: bool | None = None  # the last sync: uploaded, unchanged, or failed

    # -- lifecycle --------------------------------------------------------------------------

    def is_connected(self) -> bool:
        """For /healthz: the gateway session is ready and the client not closed."""
        return self.client.is_ready() and not self.client.is_closed()

    async def run(self) -> None:
        """Connect and serve until cancelled; the client is closed on the way out."""
        point_discord_at(api_base_url=self.config.api_base_url,
                         gateway_url=self.config.gateway_url)
        try:
            async with self.client:
                await self.client.start(self._token, reconnect=True)
        except discord.LoginFailure:
            raise ConfigError(_BAD_TOKEN) from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise self._unreachable(exc) from None
        except discord.PrivilegedIntentsRequired:  # pragma: no cover - we ask for none
            raise ConfigError("Discord asked for a privileged intent briefbot does not use"
                              ) from None
        finally:
            self._logged_in.clear()
            await self.client.finish_events()

    def _unreachable(self, exc: BaseException) -> BriefbotError:
        """Discord could not be reached at all (a one-line error for the operator, no trace)."""
        log.debug("discord: connection failed", exc_info=exc)
        return BriefbotError(f"cannot reach Discord at {self.config.api_base_url}: "
                             f"{exc.__class__.__name__}: {exc}")

    async def setup(self, *, force_sync: bool = False) -> str:
        """Log in over REST only (no gateway), sync ``/brief`` (``force_sync``: even if
        unchanged) and return a line for the operator: the invite link and what was synced.
        ``briefbot discord`` runs this."""
        self._force_sync = force_sync
        point_discord_at(api_base_url=self.config.api_base_url,
                         gateway_url=self.config.gateway_url)
        try:
            async with self.client:
                await self.client.login(self._token)
        except discord.LoginFailure:
            raise ConfigError(_BAD_TOKEN) from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise self._unreachable(exc) from None
        finally:
            self._logged_in.clear()
        app_id = self.client.application_id
        where = (f"guilds {', '.join(map(str, self.config.guild_ids))}"
                 if self.config.guild_ids else "globally")
        synced = {True: f"/{COMMAND_NAME} uploaded {where}",
                  False: f"/{COMMAND_NAME} unchanged {where} (--force uploads it anyway)",
                  None: f"/{COMMAND_NAME} could not be uploaded (see the log)"}[self.synced]
        return f"Invite link: {invite_url(app_id) if app_id else '?'}\n{synced}"

    async def wait_until_ready(self) -> None:
        """Wait until logged in and the gateway's READY (with its guilds) has arrived."""
        await self._logged_in.wait()
        await self.client.wait_until_ready()

    async def _on_login(self) -> None:
        self._logged_in.set()
        if self.client.application_id is not None:
            log.info("discord: invite link %s", invite_url(self.client.application_id))
        self.synced = None
        try:
            self.synced = await self.sync_commands(force=self._force_sync)
        except discord.HTTPException as exc:
            # Commands stay as they were; the hash is not stored, so the next start retries.
            log.error("discord: syncing /%s failed (HTTP %s, code %s); check that the bot was "
                      "invited with the applications.commands scope",
                      COMMAND_NAME, exc.status, exc.code)

    # -- the /brief command -------------------------------------------------------------------

    def _install_commands(self) -> None:
        @app_commands.command(
            name=COMMAND_NAME,
            description="Briefings on the news: /brief help lists everything.",
        )
        @app_commands.describe(
            text="what to brief: words, a link, a number, or a verb such as help, subscribe, "
            "digest"
        )
        async def brief(
            interaction: discord.Interaction[_BriefClient],
            text: app_commands.Range[str, 0, 1000] | None = None,
        ) -> None:
            await self.answer_interaction(interaction, text or "")

        @brief.autocomplete("text")
        async def brief_text(
            interaction: discord.Interaction[_BriefClient], current: str
        ) -> list[app_commands.Choice[str]]:
            verbs = self.engine.commands.verbs
            return [app_commands.Choice(name=_choice_label(s, verbs), value=s)
                    for s in suggestions(current, verbs)]

        self.tree.add_command(brief)

    def command_payload(self) -> list[dict[str, Any]]:
        """The command definitions as Discord receives them (what the sync hash covers)."""
        return [command.to_dict(self.tree) for command in self.tree.get_commands()]

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Upload the command definitions if they changed since the last sync (or ``force``);
        True if uploaded.

        With ``[discord] guild_ids`` the commands go to those guilds only (instant updates
        while developing), otherwise globally only: where the last sync put them and the
        config no longer does (global, or a guild taken off the list), they are removed, so
        nobody sees ``/brief`` twice. What was synced where is kept with ``set_meta``.
        """
        app_id = self.client.application_id
        if app_id is None:
            log.error("discord: no application id after login; /%s not synced", COMMAND_NAME)
            return False
        guild_ids = sorted(self.config.guild_ids)
        blob = json.dumps({"commands": self.command_payload(), "guilds": guild_ids},
                          sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(blob.encode()).hexdigest()
        key = SYNC_META_KEY.format(app_id=app_id)
        previous = _sync_state(await self.engine.platform_state(key))
        if not force and previous.get("hash") == digest:
            log.info("discord: /%s definitions unchanged, not syncing (app %s)", COMMAND_NAME,
                     app_id)
            return False
        targets: list[int | None] = list(guild_ids) or [None]
        for guild_id in guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
            log.info("discord: synced /%s to guild %s", COMMAND_NAME, guild_id)
        if not guild_ids:
            await self.tree.sync()
            log.info("discord: synced /%s globally (app %s)", COMMAND_NAME, app_id)
        for stale in previous.get("targets", []):
            if stale not in targets:
                await self._remove_commands(stale)
        await self.engine.save_platform_state(
            key, json.dumps({"hash": digest, "targets": targets}))
        return True

    async def _remove_commands(self, guild_id: int | None) -> None:
        """Remove our commands from a guild (or globally) the config no longer names."""
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.clear_commands(guild=guild)
            await self.tree.sync(guild=guild)
            log.info("discord: removed /%s from guild %s (not in [discord] guild_ids)",
                     COMMAND_NAME, guild_id)
            return
        commands = self.tree.get_commands()
        self.tree.clear_commands(guild=None)
        try:
            await self.tree.sync()
        finally:
            for command in commands:
                self.tree.add_command(command)
        log.info("discord: removed the global /%s ([discord] guild_ids is set)", COMMAND_NAME)

    def caller_for(self, interaction: discord.Interaction[Any]) -> Caller:
        """Who ran the command; admin means Manage Channels here or a manager role."""
        user = interaction.user
        roles = tuple(r.strip().lower() for r in self.config.manager_roles if r.strip())
        hint = "someone with the Manage Channels permission"
        if self.config.manager_roles:
            hint += " or the role " + " or ".join(self.config.manager_roles)
        in_dm = interaction.guild_id is None
        if in_dm:
            # A DM with the bot: the person owns it (its digest, its alerts); what is shared
            # (feeds) the grammar refuses from a DM whatever this says.
            is_admin = True
        else:
            perms = interaction.permissions
            is_admin = perms.manage_channels or perms.administrator
            if not is_admin and roles and isinstance(user, discord.Member):
                with contextlib.suppress(AttributeError):  # guild not cached: ids only
                    names = {r.name.lower() for r in user.roles} | {str(r.id) for r in user.roles}
                    is_admin = any(r in names for r in roles)
        extra = {"guild_id": str(interaction.guild_id)} if interaction.guild_id else {}
        return Caller(
            platform=self.platform,
            user_id=str(user.id),
            channel_id=str(interaction.channel_id) if interaction.channel_id else None,
            is_admin=is_admin,
            admin_hint=hint,
            in_dm=in_dm,
            display_name=user.display_name,
            extra=extra,
        )

    async def answer_interaction(self, interaction: discord.Interaction[Any], text: str) -> None:
        """Run ``/brief text`` and answer: directly if quick, else defer and follow up."""
        register_secret(interaction.token)  # a posting credential: kept out of every log line
        caller = self.caller_for(interaction)
        work = asyncio.create_task(self.engine.handle_command(text, caller),
                                   name=f"discord-brief-{interaction.id}")
        deferred_ephemeral: bool | None = None
        try:
            done, _ = await asyncio.wait({work}, timeout=self.config.defer_after_seconds)
            if not done:
                deferred_ephemeral = not wants_public(text)
                await interaction.response.defer(ephemeral=deferred_ephemeral, thinking=True)
                log.debug("discord: deferred interaction %s (user %s)", interaction.id,
                          caller.user_id)
            reply = await work
        except discord.NotFound as exc:
            log.warning("discord: interaction %s expired before it was deferred (code %s)",
                        interaction.id, exc.code)
            work.cancel()
            return
        finally:
            if not work.done():
                work.cancel()
        try:
            await self._send_answer(interaction, reply, deferred_ephemeral)
        except discord.HTTPException as exc:
            log.error("discord: answering interaction %s failed (HTTP %s, code %s)",
                      interaction.id, exc.status, exc.code)

    async def _send_answer(self, interaction: discord.Interaction[Any], reply: Reply,
                           deferred_ephemeral: bool | None) -> None:
        messages = render_messages(reply)
        first, rest = messages[0], messages[1:]
        ephemeral = reply.ephemeral
        if deferred_ephemeral is None:
            await interaction.response.send_message(
                content=first.content or None, embeds=list(first.embeds),
                ephemeral=ephemeral, allowed_mentions=NO_MENTIONS,
            )
        elif deferred_ephemeral or not ephemeral:
            # The deferred "thinking" message becomes the first message, in its visibility.
            ephemeral = deferred_ephemeral
            await interaction.edit_original_response(
                content=first.content or None, embeds=list(first.embeds),
                allowed_mentions=NO_MENTIONS,
            )
        else:
            # Deferred in public but the answer is private (an error): take the public
            # placeholder away and answer privately.
            await interaction.delete_original_response()
            rest = messages
        for message in rest:
            await interaction.followup.send(
                content=message.content or discord.utils.MISSING, embeds=list(message.embeds),
                ephemeral=ephemeral, allowed_mentions=NO_MENTIONS,
            )

    async def _on_tree_error(self, interaction: discord.Interaction[Any],
                             error: app_commands.AppCommandError) -> None:
        original = getattr(error, "original", error)
        log.error("discord: /%s failed for user %s in channel %s: %r", COMMAND_NAME,
                  interaction.user.id, interaction.channel_id, original)
        with contextlib.suppress(discord.HTTPException):
            text = "Sorry, something went wrong on my side. The error was logged."
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(text, ephemeral=True,
                                                        allowed_mentions=NO_MENTIONS)

    # -- delivery (digests and alerts) -----------------------------------------------------

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        """Post ``reply`` to a channel or by DM; paced, split within Discord's limits."""
        if destination.platform != self.platform:
            raise DeliveryError(f"{destination} is not a Discord destination", permanent=True)
        target = destination.user_id if destination.is_direct else destination.channel_id
        if target is None or not target.isdigit():
            raise DeliveryError(f"{destination} is not a Discord id", permanent=True)
        try:
            await asyncio.wait_for(self._logged_in.wait(), self._login_timeout)
        except TimeoutError:
            raise DeliveryError("Discord is not connected", permanent=False) from None
        messages = render_messages(reply)
        where = f"{'user' if destination.is_direct else 'channel'}:{target}"
        key = reply.delivery_key
        try:
            async with self._sending:
                if destination.is_direct:
                    await self._limiter.acquire("discord", self._token_key)  # a DM opens too
                    channel: discord.abc.Messageable = await self.client.create_dm(
                        discord.Object(id=int(target)))
                else:
                    channel = self.client.get_partial_messageable(int(target))

                async def post(index: int, message: Outgoing) -> None:
                    await self._limiter.acquire("discord", self._token_key)
                    # a keyed part carries the same nonce on every attempt: Discord returns
                    # the message created first for a repeated nonce (enforce_nonce, which
                    # discord.py sets whenever a nonce is given)
                    if key is None:
                        await channel.send(content=message.content or None,
                                           embeds=list(message.embeds),
                                           allowed_mentions=NO_MENTIONS)
                        return
                    await channel.send(content=message.content or None,
                                       embeds=list(message.embeds),
                                       allowed_mentions=NO_MENTIONS,
                                       nonce=part_nonce(key, where, index))

                await post_parts(messages, key=key, ledger=self.engine.store.platform,
                                 post=post, clock=self.engine.clock,
                                 what=f"discord: {reply.kind.value}", where=where)
        except discord.HTTPException as exc:
            permanent = exc.code in PERMANENT_CODES or exc.status == 404
            log.warning("discord: %s refused %s to %s (HTTP %s, code %s)%s",
                        "permanently" if permanent else "for now", reply.kind.value,
                        destination, exc.status, exc.code, "" if permanent else "; will retry")
            raise DeliveryError(
                f"Discord refused the {reply.kind.value} for {destination}: "
                f"{_refusal(exc.code, exc.status)}", permanent=permanent,
            ) from None
        except discord.RateLimited as exc:
            metrics.RATE_LIMITED.labels("discord").inc()
            log.warning("discord: rate limited for %.0f s sending %s to %s; will retry",
                        exc.retry_after, reply.kind.value, destination)
            raise DeliveryError(f"Discord is rate limiting {destination}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("discord: could not reach Discord for %s: %s", destination,
                        type(exc).__name__)
            raise DeliveryError(f"could not reach Discord for {destination}") from None


def _sync_state(raw: str | None) -> dict[str, Any]:
    """What the last sync stored: ``{"hash": ..., "targets": [guild id or None, ...]}``."""
    try:
        state = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _refusal(code: int, status: int) -> str:
    return {
        UNKNOWN_CHANNEL: "the channel no longer exists",
        UNKNOWN_USER: "the user no longer exists",
        MISSING_ACCESS: "the bot lost access to the channel",
        MISSING_PERMISSIONS: "the bot lacks permission to post there",
        CANNOT_DM_USER: "the user does not accept direct messages",
        INVALID_RECIPIENTS: "the user cannot be messaged",
        ARCHIVED_THREAD: "the thread is archived and locked",
    }.get(code, f"HTTP {status}")
