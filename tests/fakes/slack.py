"""A fake Slack on 127.0.0.1: the Web API, response_url endpoints, a Socket Mode websocket and
the OAuth install flow (the authorize page and ``oauth.v2.access``).

Real slack-bolt and slack_sdk talk to it unmodified (``[slack] api_base_url`` points at
``/api/``). It records every call and enforces the rules a bad adapter would break: auth on
every Web API call, 50 blocks, 3,000 characters a section or context text, 150 a header,
10 context elements, ~12k characters of blocks a message, 5 posts per response_url. Tests
script failures: a 429 with ``Retry-After``, or a channel the bot was removed from.

Several workspaces: every bot token belongs to one team (``BOT_TOKEN`` to ``T1``; the OAuth
flow mints one per install, revoked on uninstall or reinstall), each call records the team of
its token, and a channel listed in ``channel_teams`` refuses a post with another team's token
(``channel_not_found``, as Slack does), so a digest sent with the wrong token fails a test.
The authorize page plays the person who clicks "Allow" (or "Cancel", ``deny_next``) and
redirects back with a one-time code that expires after ``code_seconds``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret"
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_BLOCK_CHARS = 13_000


@dataclass
class Team:
    id: str
    name: str
    bot_user_id: str
    bot_id: str


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    team: str | None = None  # the team of the token the call carried (None: no valid token)

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return list(blocks)


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed_channels: dict[str, str] = field(default_factory=dict)  # channel -> error code
    calls: list[Call] = field(default_factory=list)
    responses: list[Call] = field(default_factory=list)  # posts to response_url
    acks: list[dict[str, Any]] = field(default_factory=list)  # Socket Mode acks
    port: int = 0
    # chat.postMessage answers only after this many seconds, and is recorded only then: a
    # process killed while it waits never had its post accepted (with cancel_on_disconnect)
    post_delay: float = 0.0
    cancel_on_disconnect: bool = False
    # accept_first: the post is accepted (in the channel) at once and answered post_delay
    # later, so a process killed meanwhile never learns it was accepted (the hard case)
    accept_first: bool = False
    # what each channel shows in conversations.history: ts, text, metadata (newest last)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _scripted: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = field(
        default_factory=dict)
    _passes: dict[str, int] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # -- several workspaces and the OAuth flow
    teams: dict[str, Team] = field(default_factory=lambda: {
        "T1": Team("T1", "Fake", "UBOT", "BBOT")})
    tokens: dict[str, str] = field(default_factory=lambda: {BOT_TOKEN: "T1"})  # token -> team
    channel_teams: dict[str, str] = field(default_factory=dict)  # channel -> its team
    redirect_url: str | None = None  # the app's configured redirect URL
    code_seconds: float = 600.0
    installer: str = "UINSTALLER"
    authorizations: list[dict[str, str]] = field(default_factory=list)  # authorize page visits
    revoked: set[str] = field(default_factory=set)
    _codes: dict[str, tuple[str, float]] = field(default_factory=dict)  # code -> team, expiry
    _next_team: list[str] = field(default_factory=list)
    _minted: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/resp/{id}", self._response_url)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/oauth/v2/authorize", self._authorize)
        self._runner = web.AppRunner(app, access_log=None,
                                     handler_cancellation=self.cancel_on_disconnect)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def connected(self) -> bool:
        """An app holds a Socket Mode connection."""
        return bool(self._sockets)

    def response_url(self, name: str = "1") -> str:
        return f"http://127.0.0.1:{self.port}/resp/{name}"

    @property
    def authorize_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth/v2/authorize"

    # -- workspaces -----------------------------------------------------------------------

    def add_team(self, team_id: str, name: str | None = None) -> Team:
        team = Team(team_id, name or f"Team {team_id}", f"UBOT{team_id}", f"BBOT{team_id}")
        self.teams[team_id] = team
        return team

    def approve_next(self, team_id: str) -> None:
        """The next visit of the authorize page is someone of ``team_id`` clicking Allow."""
        self._next_team.append(team_id)

    def deny_next(self) -> None:
        """The next visit of the authorize page is someone clicking Cancel."""
        self._next_team.append("")

    def uninstall(self, team_id: str) -> None:
        """The workspace removed the app: its tokens stop working."""
        for token, team in list(self.tokens.items()):
            if team == team_id:
                del self.tokens[token]
                self.revoked.add(token)

    def tokens_of(self, team_id: str) -> list[str]:
        return [token for token, team in self.tokens.items() if team == team_id]

    def posts(self, channel: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == "chat.postMessage"
                and (channel is None or c.args.get("channel") == channel)]

    # -- scripting ------------------------------------------------------------------------

    def fail_next(self, method: str, *, status: int = 200, headers: dict[str, str] | None = None,
                  body: dict[str, Any] | None = None, after: int = 0) -> None:
        """The next call of ``method`` gets this answer instead of the normal one (``after``:
        the next but ``after`` calls, which are answered normally)."""
        self._passes[method] = after
        self._scripted.setdefault(method, []).append((status, headers or {}, body or {}))

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[], Any], within: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked whenever the fake records something)."""
        async def until() -> Any:
            async with self._changed:
                while not (result := predicate()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(until(), within)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- Web API --------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.content_type == "application/json":
            args.update(await request.json())
        elif request.method == "POST":
            args.update(await request.post())
        delayed = method == "chat.postMessage" and self.post_delay > 0
        if delayed and not self.accept_first:
            await asyncio.sleep(self.post_delay)
        response = await self._api_call(method, args, dict(request.headers))
        if delayed and self.accept_first:
            await asyncio.sleep(self.post_delay)
        return response

    async def _api_call(self, method: str, args: dict[str, Any],
                        headers: dict[str, str]) -> web.Response:
        call = Call(method, args, headers)
        token = call.token
        call.team = self.tokens.get(token) if token else None
        self.calls.append(call)
        await self._notify()
        scripted = self._scripted.get(method)
        if scripted and self._passes.get(method, 0) > 0:
            self._passes[method] -= 1
            scripted = None
        if scripted:
            status, headers, body = scripted.pop(0)
            return web.json_response(body or {"ok": False, "error": "ratelimited"},
                                     status=status, headers=headers)
        if method == "oauth.v2.access":
            return web.json_response(self._oauth_access(call))
        if method == "apps.connections.open":
            if call.token != APP_TOKEN:
                return web.json_response({"ok": False, "error": "invalid_auth"})
        elif call.team is None:
            revoked = call.token in self.revoked
            return web.json_response({"ok": False,
                                      "error": "token_revoked" if revoked else "invalid_auth"})
        return web.json_response(self._answer(call))

    def _answer(self, call: Call) -> dict[str, Any]:
        args = call.args
        match call.method:
            case "auth.test":
                team = self.teams[str(call.team)]
                return {"ok": True, "url": "https://fake.slack/", "team": team.name,
                        "user": "briefbot", "team_id": team.id, "user_id": team.bot_user_id,
                        "bot_id": team.bot_id}
            case "apps.connections.open":
                return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
            case "users.info":
                user = self.users.get(str(args.get("user")))
                if user is None:
                    return {"ok": False, "error": "user_not_found"}
                return {"ok": True, "user": {"id": args.get("user"), **user}}
            case "conversations.open":
                return {"ok": True, "channel": {"id": f"D{args.get('users')}"}}
            case "chat.postMessage" | "chat.postEphemeral":
                channel = str(args.get("channel"))
                if self.channel_teams.get(channel, call.team) != call.team:
                    return {"ok": False, "error": "channel_not_found"}
                if channel in self.removed_channels:
                    return {"ok": False, "error": self.removed_channels[channel]}
                problem = check_message(call.blocks)
                if problem:
                    return {"ok": False, "error": problem}
                ts = f"{next(self._ts)}.000100"
                if call.method == "chat.postMessage":
                    message: dict[str, Any] = {"type": "message", "ts": ts,
                                               "text": args.get("text") or "",
                                               "blocks": call.blocks,
                                               "bot_id": self.teams[str(call.team)].bot_id}
                    metadata = args.get("metadata")
                    if isinstance(metadata, str):
                        metadata = json.loads(metadata)
                    if metadata:
                        message["metadata"] = metadata
                    self.history.setdefault(channel, []).append(
                        {**message, "_at": time.time()})
                return {"ok": True, "channel": channel, "ts": ts, "message_ts": ts}
            case "conversations.history":
                return self._history(args)
        return {"ok": False, "error": "unknown_method"}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first, ``oldest`` (a Unix time) excluded, ``limit`` a page, ``cursor`` the
        next page; metadata only with ``include_all_metadata`` (as Slack)."""
        channel = str(args.get("channel"))
        if channel in self.removed_channels:
            return {"ok": False, "error": self.removed_channels[channel]}
        oldest = float(args.get("oldest") or 0)
        limit = max(1, min(int(args.get("limit") or 100), 999))
        start = int(args.get("cursor") or 0)
        wanted = str(args.get("include_all_metadata")).lower() in ("true", "1")
        found = [m for m in reversed(self.history.get(channel, [])) if m["_at"] > oldest]
        page = found[start:start + limit]
        out = [{k: v for k, v in m.items()
                if k != "_at" and (wanted or k != "metadata")} for m in page]
        more = start + limit < len(found)
        return {"ok": True, "messages": out, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    # -- OAuth ----------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.Response:
        """Slack's "Allow / Cancel" page, clicked at once: back to the app with a code."""
        query = dict(request.query)
        self.authorizations.append(query)
        await self._notify()
        redirect = query.get("redirect_uri") or self.redirect_url
        if query.get("client_id") != CLIENT_ID or not redirect:
            return web.Response(status=400, text="invalid_client_id or no redirect_uri")
        team = self._next_team.pop(0) if self._next_team else "T1"
        back: dict[str, str] = {}
        if team:
            code = f"code-{team}-{next(self._minted)}"
            self._codes[code] = (team, time.monotonic() + self.code_seconds)
            back["code"] = code
        else:
            back["error"] = "access_denied"
        if "state" in query:
            back["state"] = query["state"]
        raise web.HTTPFound(f"{redirect}?{urlencode(back)}")

    def _oauth_access(self, call: Call) -> dict[str, Any]:
        client_id, secret = call.args.get("client_id"), call.args.get("client_secret")
        auth = call.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return {"ok": False, "error": "invalid_client"}
        found = self._codes.pop(str(call.args.get("code")), None)
        if found is None:
            return {"ok": False, "error": "invalid_code"}
        team_id, expires = found
        if time.monotonic() > expires:
            return {"ok": False, "error": "invalid_code"}
        team = self.teams.get(team_id) or self.add_team(team_id)
        self.uninstall(team_id)  # a reinstall replaces the team's token
        token = f"xoxb-{team_id}-{next(self._minted)}"
        self.tokens[token] = team_id
        return {
            "ok": True, "app_id": "A1", "access_token": token, "token_type": "bot",
            "scope": "commands,chat:write,im:write,users:read",
            "bot_user_id": team.bot_user_id, "team": {"id": team.id, "name": team.name},
            "enterprise": None, "is_enterprise_install": False,
            "authed_user": {"id": self.installer},
        }

    # -- response_url ---------------------------------------------------------------------

    async def _response_url(self, request: web.Request) -> web.Response:
        call = Call(request.match_info["id"], await request.json(), dict(request.headers))
        used = sum(1 for c in self.responses if c.method == call.method)
        self.responses.append(call)
        await self._notify()
        if used >= 5:
            return web.Response(status=404, text="used_url")
        problem = check_message(call.blocks)
        if problem:
            return web.Response(status=400, text=problem)
        return web.Response(text="ok")

    # -- Socket Mode ----------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "A1"}})
        await self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.acks.append(json.loads(msg.data))
                    await self._notify()
        finally:
            self._sockets.remove(ws)
        return ws

    async def push(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Send an envelope to the connected app and return its ack."""
        ws = await self.wait_for(lambda: self._sockets and self._sockets[-1])
        await ws.send_json(envelope)
        eid = envelope["envelope_id"]
        matching: dict[str, Any] = await self.wait_for(
            lambda: next((a for a in self.acks if a.get("envelope_id") == eid), None))
        return matching


def check_message(blocks: list[dict[str, Any]]) -> str | None:
    """Slack's own limits, so a test fails when an adapter would be refused."""
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    total = 0
    for block in blocks:
        texts = [block["text"]["text"]] if isinstance(block.get("text"), dict) else [
            e.get("text", "") for e in block.get("elements", ())]
        kind = block.get("type")
        if kind == "header" and (len(texts[0]) > MAX_HEADER
                                 or block["text"].get("type") != "plain_text"):
            return "invalid_blocks"
        if kind == "context" and not 1 <= len(block.get("elements", ())) <= MAX_CONTEXT_ELEMENTS:
            return "invalid_blocks"
        for text in texts:
            if kind in ("section", "context") and not 1 <= len(text) <= MAX_SECTION:
                return "invalid_blocks"  # a text object holds 1 to 3,000 characters
            total += len(text)
    if total > MAX_BLOCK_CHARS:
        return "msg_blocks_too_long"
    return None
