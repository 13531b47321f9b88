"""A local Discord for end-to-end tests: gateway websocket and REST API on 127.0.0.1.

The real, unmodified discord.py connects to it (see ``docs/PLATFORMS.md``). It enforces what
Discord enforces, so a bot that breaks a rule fails a test:

- an interaction callback later than ``deadline`` seconds gets 404 code 10062, a second one
  400 code 40060; follow-ups need an earlier response;
- a message over Discord's limits (content 2,000; 10 embeds; title 256; description 4,096;
  25 fields; footer 2,048; 6,000 over all embeds) gets 400 code 50035;
- a message create with ``nonce`` and ``enforce_nonce`` repeating a nonce of the last
  ``nonce_seconds`` returns the message created first and creates none (``nonce_hits``);
- more than ``global_limit`` requests in a second (interactions excluded, as on Discord) get a
  global 429; more than 5 messages in 5 s to one channel get a per-channel 429. Responses carry
  the ``X-RateLimit-*`` headers discord.py uses to wait before it is limited.

Tests can make channels vanish (404 10003), forbid them (403 50001), close a user's DMs
(403 50007), inject one-off responses such as a 429 (always with ``Via`` and a JSON
``retry_after``, or discord.py takes it for a Cloudflare ban), and ask the gateway to
reconnect (op 7), after which discord.py resumes at ``resume_gateway_url``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")

API_PREFIX = "/api/v10"
BOT_ID = 900000000000000001
APP_ID = 900000000000000002
GUILD_ID = 910000000000000001
CHANNEL_ID = 920000000000000001
OWNER_ID = 930000000000000001
EDITORS_ROLE_ID = 940000000000000001
MANAGE_CHANNELS = 1 << 4
BASIC_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 31)  # view, send, embed, use app cmds


@dataclass
class Call:
    """One REST request the bot made."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any
    at: float
    status: int = 0


@dataclass
class InteractionState:
    id: int
    token: str
    created: float
    responded: bool = False
    deferred: bool = False
    ephemeral: bool = False
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original: dict[str, Any] | None = None  # the first message (after a defer: its edit)
    deleted: bool = False
    followups: list[dict[str, Any]] = field(default_factory=list)
    answered_at: float | None = None


@dataclass
class Injected:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    after: int = 0  # requests to let through before this answer is given


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly application/json (no charset).
    return web.Response(status=status, body=json.dumps(data).encode(),
                        headers={"Content-Type": "application/json", **(headers or {})})


def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
    return _json({"code": code, "message": message, **extra}, status)


def _iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts or time.time(), UTC).isoformat()


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "global_name": name.title(),
            "discriminator": "0", "avatar": None, "bot": bot, "public_flags": 0}


def message_problems(payload: dict[str, Any]) -> list[str]:
    """What Discord would refuse in a message payload (empty list: acceptable)."""
    problems: list[str] = []
    content = payload.get("content") or ""
    embeds = payload.get("embeds") or []
    if not content and not embeds:
        problems.append("a message needs content or embeds")
    if len(content) > 2000:
        problems.append(f"content is {len(content)} > 2000 characters")
    if len(embeds) > 10:
        problems.append(f"{len(embeds)} embeds > 10")
    total = 0
    for i, e in enumerate(embeds):
        title, desc = e.get("title") or "", e.get("description") or ""
        footer = (e.get("footer") or {}).get("text") or ""
        author = (e.get("author") or {}).get("name") or ""
        fields = e.get("fields") or []
        if len(title) > 256:
            problems.append(f"embed {i} title is {len(title)} > 256")
        if len(desc) > 4096:
            problems.append(f"embed {i} description is {len(desc)} > 4096")
        if len(footer) > 2048:
            problems.append(f"embed {i} footer is {len(footer)} > 2048")
        if len(fields) > 25:
            problems.append(f"embed {i} has {len(fields)} fields > 25")
        for f in fields:
            if len(f.get("name", "")) > 256 or len(f.get("value", "")) > 1024:
                problems.append(f"embed {i} has a field over 256/1024")
        total += len(title) + len(desc) + len(footer) + len(author) + sum(
            len(f.get("name", "")) + len(f.get("value", "")) for f in fields)
    if total > 6000:
        problems.append(f"embeds total {total} > 6000 characters")
    return problems


class FakeDiscord:
    """Discord's gateway and REST API, small and strict, on 127.0.0.1."""

    def __init__(self, *, deadline: float = 3.0, global_limit: int = 50,
                 channel_limit: tuple[int, float] = (5, 5.0), app_id: int = APP_ID,
                 post_delay: float = 0.0, nonce_seconds: float = 300.0) -> None:
        self.deadline = deadline
        # a channel message is accepted at once and answered post_delay later: a process
        # killed meanwhile never learns that it was accepted
        self.post_delay = post_delay
        # enforce_nonce: a create repeating a nonce within this window returns the first
        # message instead of creating one ("the past few minutes", Discord says)
        self.nonce_seconds = nonce_seconds
        self.nonces: dict[str, tuple[float, dict[str, Any]]] = {}
        self.nonce_hits = 0
        self.global_limit = global_limit
        self.channel_limit = channel_limit
        self.app_id = app_id
        self.bot = user_payload(BOT_ID, "briefbot", bot=True)
        self.calls: list[Call] = []
        self.messages: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.interactions: dict[str, InteractionState] = {}
        self.dm_channels: dict[int, int] = {}  # DM channel id -> user id
        self.closed_dms: set[int] = set()
        self.deleted_channels: set[int] = set()
        self.forbidden_channels: set[int] = set()
        self.injected: dict[str, deque[Injected]] = defaultdict(deque)
        self.refused: list[tuple[Call, int, str]] = []  # (call, status, why)
        self.rate_limited = 0
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.guilds = [self.guild_payload()]
        self._ids = itertools.count(950000000000000001)
        self._recent: deque[float] = deque()
        self._per_channel: dict[int, deque[float]] = defaultdict(deque)
        self._sockets: list[web.WebSocketResponse] = []
        self._shards: dict[int, tuple[int, int]] = {}  # id(session) -> IDENTIFY's [shard, count]
        self._seq = 0
        self._session = "fake-session-1"
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway/"

    def next_id(self) -> int:
        return next(self._ids)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], T], within: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every request and event)."""
        async with self._changed:
            return await asyncio.wait_for(self._changed.wait_for(predicate), within)

    # -- what tests look at --------------------------------------------------------------------

    def calls_to(self, method: str, prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    def message_payloads(self) -> list[dict[str, Any]]:
        """Every payload that would post a message: channel messages, callbacks, follow-ups."""
        out: list[dict[str, Any]] = []
        for c in self.calls:
            if not isinstance(c.body, dict):
                continue
            if c.path.endswith("/callback") and c.body.get("type") == 4:
                out.append(c.body.get("data") or {})
            elif c.method in {"POST", "PATCH"} and (
                c.path.startswith("/webhooks/") or c.path.endswith("/messages")
            ):
                out.append(c.body)
        return out

    def dm_messages(self, user_id: int) -> list[dict[str, Any]]:
        return [m for cid, uid in self.dm_channels.items() if uid == user_id
                for m in self.messages[cid]]

    # -- gateway -----------------------------------------------------------------------------

    def guild_payload(self, guild_id: int = GUILD_ID, channel_id: int = CHANNEL_ID,
                      name: str = "Newsroom") -> dict[str, Any]:
        everyone = {"id": str(guild_id), "name": "@everyone", "permissions": str(BASIC_PERMISSIONS),
                    "position": 0, "color": 0, "hoist": False, "managed": False,
                    "mentionable": False, "flags": 0}
        editors = {**everyone, "id": str(EDITORS_ROLE_ID), "name": "Editors", "position": 1}
        channel = {"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": "news",
                   "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                   "topic": None, "last_message_id": None, "rate_limit_per_user": 0}
        return {
            "id": str(guild_id), "name": name, "icon": None, "description": None,
            "owner_id": str(OWNER_ID), "roles": [everyone, editors], "channels": [channel],
            "threads": [], "members": [], "member_count": 3, "large": False,
            "unavailable": False, "features": [], "emojis": [], "stickers": [],
            "voice_states": [], "presences": [], "stage_instances": [],
            "guild_scheduled_events": [], "soundboard_sounds": [], "joined_at": _iso(),
            "preferred_locale": "en-US", "premium_tier": 0, "system_channel_flags": 0,
            "verification_level": 0, "explicit_content_filter": 0, "mfa_level": 0,
            "default_message_notifications": 0, "nsfw_level": 0, "afk_timeout": 300,
        }

    async def _send(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        await ws.send_str(json.dumps(payload))

    async def _dispatch_to(self, ws: web.WebSocketResponse, event: str, data: Any) -> None:
        self._seq += 1
        await self._send(ws, {"op": 0, "t": event, "s": self._seq, "d": data})

    async def dispatch(self, event: str, data: Any) -> None:
        """Send a dispatch event to the connected bot: an event of a guild only to the session
        of the guild's shard, ``(guild_id >> 22) % shard_count``, as Discord does."""
        live = [ws for ws in self._sockets if not ws.closed]
        assert live, "no gateway connection"
        guild = data.get("guild_id") if isinstance(data, dict) else None
        if guild is not None:
            live = [ws for ws in live if self._on_shard(int(guild), ws)]
        for ws in live:
            await self._dispatch_to(ws, event, data)

    def _on_shard(self, guild_id: int, ws: web.WebSocketResponse) -> bool:
        shard = self._shards.get(id(ws))
        return shard is None or (guild_id >> 22) % shard[1] == shard[0]

    async def reconnect(self) -> None:
        """Op 7: ask the bot to reconnect and resume."""
        for ws in [ws for ws in self._sockets if not ws.closed]:
            await self._send(ws, {"op": 7, "d": None})

    async def drop(self, *, code: int = 4000, forget_session: bool = False) -> None:
        """Close the connection as a failing gateway would; ``forget_session`` makes the
        next RESUME fail (op 9), so the bot must identify again."""
        if forget_session:
            self._session = f"fake-session-{len(self.identifies) + 1}"
        for ws in [ws for ws in self._sockets if not ws.closed]:
            await ws.close(code=code)

    @property
    def connected(self) -> bool:
        return any(not ws.closed for ws in self._sockets)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.append(ws)
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": 41250}})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op, data = frame.get("op"), frame.get("d")
                if op == 1:
                    self.heartbeats += 1
                    await self._send(ws, {"op": 11})
                elif op == 2:
                    self.identifies.append(data)
                    shard = data.get("shard") or [0, 1]
                    self._shards[id(ws)] = (int(shard[0]), int(shard[1]))
                    mine = [g for g in self.guilds if self._on_shard(int(g["id"]), ws)]
                    await self._dispatch_to(ws, "READY", {
                        "v": 10, "user": self.bot, "session_id": self._session,
                        "resume_gateway_url": self.gateway_url,
                        "guilds": [{"id": g["id"], "unavailable": True} for g in mine],
                        "application": {"id": str(self.app_id), "flags": 0},
                        "shard": list(shard),
                    })
                    for guild in mine:
                        await self._dispatch_to(ws, "GUILD_CREATE", guild)
                elif op == 6:
                    self.resumes.append(data)
                    if data.get("session_id") != self._session:
                        await self._send(ws, {"op": 9, "d": False})
                    else:
                        await self._dispatch_to(ws, "RESUMED", {})
                await self._notify()
        finally:
            await self._notify()
        return ws

    # -- interactions --------------------------------------------------------------------------

    def interaction_payload(
        self, text: str | None, *, user_id: int = OWNER_ID, channel_id: int = CHANNEL_ID,
        guild: bool = True, permissions: int = BASIC_PERMISSIONS,
        roles: tuple[int, ...] = (), autocomplete: bool = False,
        command_guild_id: int | None = None, guild_id: int = GUILD_ID,
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE for ``/brief text`` (``command_guild_id``: the command was
        synced to that guild rather than globally)."""
        iid = self.next_id()
        token = f"itoken-{iid}"
        option: dict[str, Any] = {"name": "text", "type": 3, "value": text or ""}
        if autocomplete:
            option["focused"] = True
        user = user_payload(user_id, f"user{user_id % 1000}")
        data: dict[str, Any] = {
            "id": str(iid), "application_id": str(self.app_id), "type": 4 if autocomplete else 2,
            "token": token, "version": 1, "locale": "en-US", "entitlements": [],
            "attachment_size_limit": 8 * 1024 * 1024, "app_permissions": str(BASIC_PERMISSIONS),
            "data": {"id": "960000000000000001", "name": "brief", "type": 1,
                     "options": [option] if text is not None else [],
                     **({"guild_id": str(command_guild_id)} if command_guild_id else {})},
            "channel_id": str(channel_id),
        }
        if guild:
            data.update({
                "guild_id": str(guild_id), "guild_locale": "en-US", "context": 0,
                "authorizing_integration_owners": {"0": str(guild_id)},
                "channel": {"id": str(channel_id), "type": 0, "guild_id": str(guild_id),
                            "name": "news", "position": 0, "permission_overwrites": [],
                            "nsfw": False, "parent_id": None},
                "member": {"user": user, "roles": [str(r) for r in roles],
                           "permissions": str(permissions), "joined_at": _iso(), "deaf": False,
                           "mute": False, "flags": 0, "nick": None, "avatar": None,
                           "premium_since": None, "pending": False,
                           "communication_disabled_until": None},
            })
        else:
            data.update({
                "user": user, "context": 1,
                "authorizing_integration_owners": {"1": str(user_id)},
                "channel": {"id": str(channel_id), "type": 1, "recipients": [user],
                            "flags": 0, "last_message_id": None},
            })
        return data

    async def interact(self, text: str | None, **kwargs: Any) -> InteractionState:
        """Run ``/brief text`` as a user would: returns the interaction to wait on."""
        payload = self.interaction_payload(text, **kwargs)
        state = InteractionState(id=int(payload["id"]), token=payload["token"],
                                 created=time.monotonic())
        self.interactions[state.token] = state
        await self.dispatch("INTERACTION_CREATE", payload)
        return state

    async def answered(self, state: InteractionState, *, followups: int = 0,
                       within: float = 5.0) -> InteractionState:
        """Wait until ``state`` has its final first message and ``followups`` more."""
        def done() -> bool:
            has_first = state.original is not None or (state.deleted and state.followups)
            extra = len(state.followups) - (1 if state.deleted else 0)
            return bool(has_first) and extra >= followups
        await self.wait_for(done, within)
        return state

    # -- REST ----------------------------------------------------------------------------------

    def inject(self, method: str, prefix: str, status: int, body: dict[str, Any],
               headers: dict[str, str] | None = None, *, after: int = 0) -> None:
        """Answer the next request matching ``METHOD /prefix`` with this response (``after``:
        the next but ``after`` such requests, which are answered normally)."""
        self.injected[f"{method} {prefix}"].append(
            Injected(status, body, headers or {}, after=after))

    def rate_limit_next(self, method: str, prefix: str, *, retry_after: float = 0.05,
                        is_global: bool = False) -> None:
        self.inject(method, prefix, 429,
                    {"message": "You are being rate limited.", "retry_after": retry_after,
                     "global": is_global},
                    {"Via": "1.1 google", "Retry-After": str(max(1, round(retry_after)))})

    def _take_injected(self, call: Call) -> Injected | None:
        for key, queue in self.injected.items():
            method, prefix = key.split(" ", 1)
            if queue and method == call.method and call.path.startswith(prefix):
                if queue[0].after > 0:
                    queue[0].after -= 1
                    return None
                return queue.popleft()
        return None

    def _global_limited(self, now: float) -> bool:
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.global_limit:
            return True
        self._recent.append(now)
        return False

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        call = Call(request.method, path, dict(request.query), body, time.monotonic())
        self.calls.append(call)
        try:
            response = await self._route(call)
        finally:
            await self._notify()
        if (self.post_delay > 0 and call.method == "POST" and path.startswith("/channels/")
                and path.endswith("/messages")):
            await asyncio.sleep(self.post_delay)
        call.status = response.status
        if response.status >= 400 and response.status != 429:
            self.refused.append((call, response.status, response.text or ""))
        return response

    async def _route(self, call: Call) -> web.Response:
        injected = self._take_injected(call)
        if injected is not None:
            if injected.status == 429:
                self.rate_limited += 1
            return _json(injected.body, injected.status, injected.headers)
        parts = call.path.strip("/").split("/")
        m = call.method
        interaction_route = parts[0] in {"interactions", "webhooks"}
        if not interaction_route and self._global_limited(call.at):
            self.rate_limited += 1
            return _json({"message": "You are being rate limited.", "retry_after": 1.0,
                          "global": True},
                         429, {"Via": "1.1 google", "X-RateLimit-Global": "true",
                               "X-RateLimit-Scope": "global", "Retry-After": "1"})
        if m == "GET" and call.path == "/users/@me":
            return _json(self.bot)
        if m == "GET" and call.path == "/oauth2/applications/@me":
            return _json({"id": str(self.app_id), "name": "briefbot", "description": "",
                          "icon": None, "bot_public": True, "bot_require_code_grant": False,
                          "owner": user_payload(OWNER_ID, "owner"), "verify_key": "00",
                          "flags": 0, "interactions_endpoint_url": None, "team": None})
        if m == "PUT" and parts[0] == "applications" and parts[-1] == "commands":
            guild = int(parts[3]) if len(parts) == 5 else None
            self.commands[guild] = call.body
            return _json([{**c, "id": str(self.next_id()), "application_id": str(self.app_id),
                           "version": "1", **({"guild_id": str(guild)} if guild else {})}
                          for c in call.body])
        if m == "POST" and parts[0] == "interactions" and parts[-1] == "callback":
            return self._callback(parts[2], call)
        if parts[0] == "webhooks":
            return self._webhook(parts, call)
        if m == "POST" and call.path == "/users/@me/channels":
            user_id = int(call.body["recipient_id"])
            cid = next((c for c, u in self.dm_channels.items() if u == user_id), None)
            if cid is None:
                cid = self.next_id()
                self.dm_channels[cid] = user_id
            return _json({"id": str(cid), "type": 1, "last_message_id": None, "flags": 0,
                          "recipients": [user_payload(user_id, f"user{user_id % 1000}")]})
        if m == "POST" and parts[0] == "channels" and parts[-1] == "messages":
            return self._channel_message(int(parts[1]), call)
        return _error(404, 0, f"404: Not Found ({m} {call.path})")

    def _message(self, channel_id: int, payload: dict[str, Any], *, flags: int = 0,
                 interaction: InteractionState | None = None) -> dict[str, Any]:
        msg = {
            "id": str(self.next_id()), "channel_id": str(channel_id), "author": self.bot,
            "content": payload.get("content") or "", "timestamp": _iso(),
            "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": payload.get("embeds") or [],
            "pinned": False, "type": 0 if interaction is None else 20, "flags": flags,
            "components": [],
        }
        if interaction is not None:
            msg["webhook_id"] = str(self.app_id)
            msg["application_id"] = str(self.app_id)
        return msg

    def _invalid(self, payload: dict[str, Any]) -> web.Response | None:
        problems = message_problems(payload)
        if problems:
            return _error(400, 50035, "Invalid Form Body", errors={"_errors": problems})
        return None

    def _channel_message(self, channel_id: int, call: Call) -> web.Response:
        if channel_id in self.deleted_channels:
            return _error(404, 10003, "Unknown Channel")
        if channel_id in self.forbidden_channels:
            return _error(403, 50001, "Missing Access")
        if self.dm_channels.get(channel_id) in self.closed_dms:
            return _error(403, 50007, "Cannot send messages to this user")
        limit, window = self.channel_limit
        recent = self._per_channel[channel_id]
        while recent and call.at - recent[0] >= window:
            recent.popleft()
        if len(recent) >= limit:
            self.rate_limited += 1
            retry = window - (call.at - recent[0])
            return _json({"message": "You are being rate limited.", "retry_after": retry,
                          "global": False}, 429,
                         {"Via": "1.1 google", "X-RateLimit-Scope": "user",
                          "X-RateLimit-Bucket": "channel-messages",
                          "X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0",
                          "X-RateLimit-Reset-After": f"{retry:.3f}"})
        invalid = self._invalid(call.body or {})
        if invalid is not None:
            return invalid
        recent.append(call.at)
        reset_after = window - (call.at - recent[0])
        nonce = (call.body or {}).get("nonce")
        enforce = bool((call.body or {}).get("enforce_nonce")) and nonce is not None
        first = self.nonces.get(str(nonce)) if enforce else None
        if first is not None and call.at - first[0] <= self.nonce_seconds:
            self.nonce_hits += 1  # the message created first, and no new one
            return _json(first[1], 200, {"X-RateLimit-Bucket": "channel-messages"})
        self.messages[channel_id].append(call.body)
        created = self._message(channel_id, call.body)
        if nonce is not None:
            created["nonce"] = str(nonce)
        if enforce:
            self.nonces[str(nonce)] = (call.at, created)
        return _json(created, 200, {
            "X-RateLimit-Bucket": "channel-messages", "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(limit - len(recent)),
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        })

    def _callback(self, token: str, call: Call) -> web.Response:
        state = self.interactions.get(token)
        if state is None or call.at - state.created > self.deadline:
            return _error(404, 10062, "Unknown interaction")
        if state.responded:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        kind = call.body.get("type")
        data = call.body.get("data") or {}
        ephemeral = bool(int(data.get("flags") or 0) & 64)
        if kind == 4:
            invalid = self._invalid(data)
            if invalid is not None:
                return invalid
            state.original = data
        elif kind == 5:
            state.deferred = True
        elif kind != 8:  # 8: autocomplete choices
            return _error(400, 50035, "Invalid Form Body", errors={"type": kind})
        state.responded = True
        state.ephemeral = ephemeral
        state.callbacks.append(call.body)
        state.answered_at = call.at
        message = self._message(CHANNEL_ID, data, flags=(64 if ephemeral else 0)
                                | (128 if kind == 5 else 0), interaction=state)
        return _json({
            "interaction": {"id": str(state.id), "type": 2, "response_message_id": message["id"],
                            "response_message_loading": kind == 5,
                            "response_message_ephemeral": ephemeral},
            "resource": {"type": kind, **({"message": message} if kind in (4, 5) else {})},
        })

    def _webhook(self, parts: list[str], call: Call) -> web.Response:
        # webhooks/{app}/{token}[/messages/@original]
        state = self.interactions.get(parts[2])
        if state is None or int(parts[1]) != self.app_id or not state.responded:
            return _error(404, 10015, "Unknown Webhook")
        if call.at - state.created > 15 * 60:
            return _error(401, 50027, "Invalid Webhook Token")
        original = len(parts) == 5 and parts[3] == "messages" and parts[4] == "@original"
        if original and call.method == "DELETE":
            state.deleted = True
            return web.Response(status=204)
        body = call.body or {}
        invalid = self._invalid(body)
        if invalid is not None:
            return invalid
        flags = int(body.get("flags") or 0)
        if original and call.method == "PATCH":
            state.original = body
            return _json(self._message(CHANNEL_ID, body, flags=64 if state.ephemeral else 0,
                                       interaction=state))
        if call.method == "POST" and len(parts) == 3:
            state.followups.append(body)
            # an interaction follow-up always answers with the message (as if wait=true)
            return _json(self._message(CHANNEL_ID, body, flags=flags, interaction=state))
        return _error(405, 0, "405: Method Not Allowed")
