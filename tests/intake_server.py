"""A real aiohttp server on 127.0.0.1 for the intake tests: feeds, pages, hostile answers.

Each test sets ``server.routes[path] = handler`` (or a response body/status shortcut) and
reads ``server.requests`` to see what the bot sent (conditional headers, User-Agent).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class LocalWeb:
    host: str = "127.0.0.1"
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    port: int = 0
    ssl_context: ssl.SSLContext | None = None  # serve HTTPS with this server context
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{path}"

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Seen(request.path_qs, dict(request.headers)))
        handler = self.routes.get(request.path_qs) or self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not here")
        return await handler(request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, shutdown_timeout=0.1,
                           ssl_context=self.ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- shortcuts -------------------------------------------------------------------------

    def serve(self, path: str, body: str | bytes, *, content_type: str = "text/html",
              status: int = 200, headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(body=data, status=status, content_type=None,
                                headers={"Content-Type": content_type, **(headers or {})})

        self.routes[path] = handler

    def serve_feed(self, path: str, xml: str, *, etag: str | None = None,
                   content_type: str = "application/rss+xml") -> None:
        """Serve ``xml`` with an ETag; a request with the same If-None-Match gets a 304."""

        async def handler(request: web.Request) -> web.StreamResponse:
            if etag is not None and request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            headers = {"Content-Type": f"{content_type}; charset=utf-8"}
            if etag is not None:
                headers["ETag"] = etag
            return web.Response(body=xml.encode("utf-8"), headers=headers)

        self.routes[path] = handler

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": location})

        self.routes[path] = handler

    def hang(self, path: str, seconds: float = 30.0) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(seconds)
            return web.Response(text="too late")

        self.routes[path] = handler


def article_text(topic: str, *, sentences: int = 12) -> str:
    """Plain article text of a few paragraphs about ``topic`` (long enough to summarise)."""
    lines = [
        f"The {topic} project reached a new milestone this week, officials said on Tuesday.",
        f"Engineers working on the {topic} effort described months of careful testing.",
        f"Critics of the {topic} plan argued that the budget had grown far beyond estimates.",
        f"Supporters replied that the {topic} results justified every additional expense.",
        f"A spokesperson said the {topic} schedule would be reviewed again next spring.",
        f"Local residents told reporters they had mixed feelings about the {topic} work.",
        f"Independent analysts expect the {topic} programme to face more scrutiny soon.",
        f"The agency published a detailed report on the {topic} findings on its website.",
        f"Several universities contributed research to the {topic} investigation.",
        f"Lawmakers will hold hearings about the {topic} costs before the summer recess.",
        f"Officials declined to say whether the {topic} timeline could slip further.",
        f"The next {topic} update is expected at a press conference later this month.",
    ]
    chosen = lines[:sentences]
    return "\n".join(" ".join(chosen[i:i + 3]) for i in range(0, len(chosen), 3))


def html_page(title: str, text: str, *, canonical: str | None = None,
              extra_head: str = "", charset: str = "utf-8") -> str:
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n"))
    link = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
    return (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{escape(title)}</title>'
        f"{link}{extra_head}</head><body><nav>Home | World | Sport</nav>"
        f"<article><h1>{escape(title)}</h1>{paragraphs}</article>"
        "<footer>Copyright the publisher</footer></body></html>"
    )


@dataclass(frozen=True)
class Entry:
    title: str
    link: str | None
    guid: str | None = None
    text: str = ""
    published: datetime | None = None
    raw_date: str | None = None


def rss(entries: list[Entry], *, title: str = "Test Feed") -> str:
    items = []
    for e in entries:
        parts = [f"<title>{escape(e.title)}</title>"]
        if e.link:
            parts.append(f"<link>{escape(e.link)}</link>")
        if e.guid:
            parts.append(f'<guid isPermaLink="false">{escape(e.guid)}</guid>')
        if e.text:
            parts.append(f"<description>{escape(e.text)}</description>")
        if e.raw_date is not None:
            parts.append(f"<pubDate>{escape(e.raw_date)}</pubDate>")
        elif e.published:
            parts.append(f"<pubDate>{format_datetime(e.published)}</pubDate>")
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.org/</link>"
        "<description>test</description>" + "".join(items) + "</channel></rss>"
    )


def atom(entries: list[Entry], *, title: str = "Atom Feed") -> str:
    out = []
    for e in entries:
        when = (e.published or datetime(2026, 3, 1, tzinfo=UTC)).isoformat()
        link = f'<link rel="alternate" href="{escape(e.link)}"/>' if e.link else ""
        out.append(
            f"<entry><title>{escape(e.title)}</title>{link}<id>{escape(e.guid or e.link or '')}"
            f"</id><updated>{when}</updated>"
            f'<content type="html">{escape("".join(f"<p>{p}</p>" for p in e.text.split(chr(10))))}'
            "</content></entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:test</id>"
        "<updated>2026-03-01T00:00:00Z</updated>" + "".join(out) + "</feed>"
    )
