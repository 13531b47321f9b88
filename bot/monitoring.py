"""``GET /healthz`` and ``GET /metrics`` for operators, when ``[monitoring] listen`` is set.

``/healthz`` answers JSON: the process (it answered), the database (a primary-key read within
2 s), each adapter (its ``is_connected()``), and each background loop (its last tick younger
than ``[monitoring] stale_seconds``; a loop that never ticked counts as up for that long after
start). Anything down: HTTP 503, so a load balancer, systemd watchdog script or Kubernetes
probe sees it without parsing. ``/metrics`` is prometheus-client's text format of
:data:`bot.metrics.REGISTRY`; the server also measures event-loop lag (how late a 0.5 s timer
fires), which is what a blocked loop costs every chat answer.

Off by default; meant for a local address (``127.0.0.1:9464``): it says which platforms are
connected and how much flows, nothing else (no tokens, no article text).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import __version__
from bot.errors import ConfigError, DatabaseUnavailable
from bot.metrics import LOOP_LAG, REGISTRY, last_ticks

if TYPE_CHECKING:
    from bot.config import MonitoringConfig
    from bot.store.ports import PlatformStateStore

log = logging.getLogger(__name__)

__all__ = ["MonitoringServer", "parse_listen"]

DB_TIMEOUT_SECONDS = 2.0
LAG_INTERVAL_SECONDS = 0.5


def parse_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` -> (host, port); ``"[::1]:9464"`` for IPv6; ConfigError if not."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f'[monitoring] listen must be HOST:PORT, e.g. "127.0.0.1:9464", not '
                          f"{text!r}")
    return host, int(port)


class MonitoringServer:
    """The HTTP server of ``/healthz`` and ``/metrics`` (a background service of ``run``).

    ``adapters``: the running platform connections (anything with a ``platform`` name and,
    optionally, ``is_connected()``, plain or async); ``loops``: the background loops whose
    ticks must stay fresh.
    """

    name = "monitoring"

    def __init__(self, platform: PlatformStateStore, settings: MonitoringConfig, *,
                 adapters: Sequence[Any] = (), loops: Sequence[str] = (),
                 listen: str | None = None) -> None:
        self.platform = platform  # /healthz reads a row: the database answers
        self.adapters = list(adapters)
        self.loops = list(loops)
        self.host, self.port = parse_listen(listen or settings.listen)
        self.stale_seconds = settings.stale_seconds
        self.started = time.time()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, shutdown_timeout=0.5)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("monitoring: GET /healthz and /metrics on http://%s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def run(self) -> None:
        """Serve and measure event-loop lag until cancelled."""
        await self.start()
        try:
            loop = asyncio.get_running_loop()
            while True:
                before = loop.time()
                await asyncio.sleep(LAG_INTERVAL_SECONDS)
                LOOP_LAG.observe(max(0.0, loop.time() - before - LAG_INTERVAL_SECONDS))
        finally:
            await self.close()

    # -- checks ---------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        """Every check, and ``"status": "ok"`` only when all are up."""
        checks: dict[str, Any] = {"process": {"ok": True, "pid": _pid(),
                                              "uptime_seconds": round(time.time() - self.started)}}
        checks["database"] = await self._database()
        adapters: dict[str, Any] = {}
        for adapter in self.adapters:
            adapters[str(getattr(adapter, "platform", type(adapter).__name__))] = \
                await _adapter_state(adapter)
        checks["adapters"] = adapters
        now = time.time()
        ticks = last_ticks()
        loops: dict[str, Any] = {}
        for name in self.loops:
            last = ticks.get(name)
            if last is None:
                ok = now - self.started <= self.stale_seconds
                loops[name] = {"ok": ok, "last_tick_seconds_ago": None,
                               **({} if ok else {"error": "never went round"})}
                continue
            age = now - last
            ok = age <= self.stale_seconds
            loops[name] = {"ok": ok, "last_tick_seconds_ago": round(age, 1),
                           **({} if ok else {"error": f"no round for {age:.0f} s"})}
        checks["loops"] = loops
        up = (checks["database"]["ok"] and all(a["ok"] for a in adapters.values())
              and all(lp["ok"] for lp in loops.values()))
        return {"status": "ok" if up else "down", "version": __version__, "checks": checks}

    async def _database(self) -> dict[str, Any]:
        try:
            async with asyncio.timeout(DB_TIMEOUT_SECONDS):
                await self.platform.get_meta("healthz")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # closed, locked past the timeout, disk gone...
            if not isinstance(exc, DatabaseUnavailable):  # the store logs an outage once
                log.warning("healthz: database check failed: %s", type(exc).__name__)
            return {"ok": False, "error": type(exc).__name__}
        return {"ok": True}

    async def _healthz(self, request: web.Request) -> web.Response:
        body = await self.health()
        return web.json_response(body, status=200 if body["status"] == "ok" else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        data = generate_latest(REGISTRY)
        return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _adapter_state(adapter: Any) -> dict[str, Any]:
    probe = getattr(adapter, "is_connected", None)
    if probe is None:
        return {"ok": True}
    try:
        state = probe()
        if inspect.isawaitable(state):
            state = await state
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True} if state else {"ok": False, "error": "not connected"}


def _pid() -> int:
    import os

    return os.getpid()
