"""Fetching a URL someone typed or a feed listed, without becoming a way into the network.

A URL in chat is an SSRF risk: ``http://169.254.169.254/`` or a name that resolves to
``10.0.0.5`` would let a user read the server's private network through the bot. So:

* only ``http`` and ``https``;
* every address is checked after DNS resolution, by the resolver the connection itself uses
  (no gap between the check and the connect), and IP literals before the request;
* redirects are followed by hand, each hop checked again, at most ``[fetch] max_redirects``;
* the body is read in chunks and decompressed here, so the ``[fetch] max_bytes`` cap counts
  decompressed bytes and a gzip bomb stops at the cap;
* one deadline (``[fetch] timeout_seconds``) covers the whole fetch, redirects included;
* connections are bounded per host and in total.

Every failure is a :class:`~bot.errors.FetchError` whose message is fit to show a user: it
names the host, never an internal address or a server's own words.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.clock import utcnow
from bot.config import FetchConfig
from bot.errors import FetchError
from bot.errors import RefusedURL as RefusedURL  # its home before; still importable here
from bot.ingest.urls import IPNetwork, parse_networks
from bot.ingest.urls import check_url as check_url  # its home before; still importable here

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance-metadata services of the big clouds: refused even where private networks are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
        "169.254.170.2",    # AWS ECS task metadata
        "169.254.170.23",   # AWS EKS Pod Identity agent
        "169.254.169.253",  # AWS DNS
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",      # Oracle Cloud
        "fd00:ec2::254",    # AWS over IPv6
        "fd00:ec2::23",     # AWS EKS Pod Identity agent over IPv6
        "fd20:ce::254",     # GCP over IPv6
        "168.63.129.16",    # Azure WireServer (a public address, so listed explicitly)
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


class HTTPStatusError(FetchError):
    """The server answered with an error status (``status``); 429/503 may say when to retry."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class _BlockedAddress(OSError):
    """Raised inside the resolver; aiohttp wraps OSErrors from resolvers, we unwrap it."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


_NEVER_FETCHED = ("a cloud metadata address", "an unspecified address", "a multicast address")


def refusal_advice(problem: str) -> str:
    """What to say after naming why an address is refused: only some refusals can be lifted."""
    if any(problem.endswith(never) for never in _NEVER_FETCHED):
        return "briefbot never fetches those, whatever the configuration"
    return ("briefbot only fetches public addresses (a private server can be allowed in a "
            "config file given with --config or BRIEFBOT_CONFIG: [fetch] allowed_networks = "
            "[\"192.168.1.20/32\"] for one intranet server, or allow_private_networks = true, "
            "which also lets in servers on this machine)")


def address_problem(address: IPAddress, *, allow_private: bool = False,
                    allowed: tuple[IPNetwork, ...] = ()) -> str | None:
    """Why ``address`` may not be fetched ("a private network address"), or None if it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%")[0])
        inner = _embedded_ipv4(address)
        if inner is not None:
            return address_problem(inner, allow_private=allow_private, allowed=allowed)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if any(address in net for net in allowed if net.version == address.version):
        return None
    if allow_private:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private network address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


class SafeResolver(AbstractResolver):
    """Resolves with the system resolver, then refuses the host if any address is forbidden.

    The connector connects only to the addresses returned here, so what was checked is what
    is used (a rebinding DNS server cannot swap the address in between).
    """

    def __init__(self, *, allow_private: bool, allowed: tuple[IPNetwork, ...]) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_private = allow_private
        self._allowed = allowed

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            problem = address_problem(ipaddress.ip_address(result["host"]),
                                      allow_private=self._allow_private, allowed=self._allowed)
            if problem is not None:
                log.info("refused host %s: it resolves to %s (%s)", host, result["host"], problem)
                raise _BlockedAddress(f"{host} resolves to {problem}")
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResult:
    """A response read in full (``status`` 200-299) or a 304 Not Modified (empty body)."""

    url: str                 # after redirects
    status: int
    body: bytes
    content_type: str        # lower-case media type, "" if none was sent
    charset: str | None
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def describe_size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n:,} bytes"


def _validator(value: str | None) -> str | None:
    """An ETag or Last-Modified worth sending back: short printable ASCII, else None."""
    if value and len(value) <= 256 and value.isascii() and value.isprintable():
        return value
    return None


def _retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class _Body:
    """Collects a body up to ``limit`` bytes after decompression (gzip, deflate or none)."""

    def __init__(self, *, encoding: str, limit: int, host: str) -> None:
        self.limit = limit
        self.host = host
        self.data = bytearray()
        self._raw_deflate = False
        if encoding in ("", "identity"):
            self._decoder: Any = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._deflate = encoding == "deflate"
            self._decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header
        else:
            shown = re.sub(r"[^a-z0-9.+-]", "", encoding)[:20]  # the server's word: harmless
            raise FetchError(f"{host} sent its answer compressed as {shown!r}, "
                             "which briefbot cannot read.")

    def _too_large(self) -> FetchError:
        return FetchError(f"{self.host} sent more than {describe_size(self.limit)}; briefbot "
                          "stopped reading ([fetch] max_bytes).")

    def feed(self, chunk: bytes) -> None:
        if self._decoder is None:
            self.data += chunk
            if len(self.data) > self.limit:
                raise self._too_large()
            return
        pending = chunk
        while pending and not self._decoder.eof:
            room = self.limit - len(self.data) + 1
            try:
                out = self._decoder.decompress(pending, room)
            except zlib.error as exc:
                if self._deflate and not self._raw_deflate and not self.data:
                    # "deflate" from some servers is a raw stream without the zlib header
                    self._raw_deflate = True
                    self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise FetchError(f"{self.host} sent a corrupt compressed answer.") from exc
            self.data += out
            if len(self.data) > self.limit:
                raise self._too_large()
            pending = self._decoder.unconsumed_tail

    def finish(self) -> bytes:
        if self._decoder is not None and not self._decoder.eof:
            try:
                self.data += self._decoder.flush(self.limit - len(self.data) + 1)
            except zlib.error as exc:
                raise FetchError(f"{self.host} sent a corrupt compressed answer.") from exc
            if len(self.data) > self.limit:
                raise self._too_large()
        return bytes(self.data)


class _HostSlots:
    """At most ``per_host`` fetches to one host and ``total`` in all, taken before the
    deadline starts, so waiting for a turn never counts as the server being slow."""

    def __init__(self, *, per_host: int, total: int) -> None:
        self._per_host = per_host
        self._total = asyncio.Semaphore(total)
        self._hosts: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def take(self, host: str) -> AsyncIterator[None]:
        entry = self._hosts.get(host)
        if entry is None:
            entry = self._hosts[host] = (asyncio.Semaphore(self._per_host), [0])
        sem, users = entry
        users[0] += 1
        try:
            async with sem, self._total:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._hosts[host]


class Fetcher:
    """One HTTP client session with the safety rules above; use as ``async with``."""

    def __init__(self, config: FetchConfig, *, accept: str = "*/*",
                 clock: Callable[[], datetime] = utcnow,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self._ssl = ssl_context  # None: the system's trusted certificates
        self.clock = clock  # reads Retry-After dates
        self._allowed = parse_networks(config.allowed_networks)
        self._accept = accept
        self._session: aiohttp.ClientSession | None = None
        self._slots = _HostSlots(per_host=config.max_connections_per_host,
                                 total=config.max_connections)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self.config.max_connections,
            limit_per_host=self.config.max_connections_per_host,
            resolver=SafeResolver(allow_private=self.config.allow_private_networks,
                                  allowed=self._allowed),
            ttl_dns_cache=60,
            ssl=self._ssl if self._ssl is not None else True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,   # decompressed here, against the size cap
            trust_env=False,         # no proxy from the environment
            timeout=aiohttp.ClientTimeout(total=None,
                                          sock_connect=min(10.0, self.config.timeout_seconds)),
            headers={"User-Agent": self.config.user_agent,
                     "Accept-Encoding": "gzip, deflate"},
            cookie_jar=aiohttp.DummyCookieJar(),
            max_field_size=16_384,
        )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _check_hop(self, url: URL) -> None:
        check_url(url)
        host = url.host or ""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            # aiohttp does not resolve IP literals, so the resolver never sees them
            problem = address_problem(literal, allow_private=self.config.allow_private_networks,
                                      allowed=self._allowed)
            if problem is not None:
                log.info("refused %s: %s", host, problem)
                raise RefusedURL(f"Refused to fetch from {problem}; {refusal_advice(problem)}.")

    async def fetch(self, url: str, *, etag: str | None = None,
                    last_modified: str | None = None, accept: str | None = None
                    ) -> FetchResult:
        """GET ``url`` following redirects; 2xx and 304 return, anything else raises."""
        target = check_url(url)
        self._check_hop(target)
        if self._session is None:
            await self.open()
        host = (target.host or "").lower()
        async with self._slots.take(host):
            try:
                async with asyncio.timeout(self.config.timeout_seconds):
                    return await self._follow(target, etag=etag, last_modified=last_modified,
                                              accept=accept or self._accept)
            except TimeoutError:
                raise FetchError(
                    f"{host} did not answer within {self.config.timeout_seconds:g} s "
                    "([fetch] timeout_seconds).") from None

    async def _follow(self, url: URL, *, etag: str | None, last_modified: str | None,
                      accept: str) -> FetchResult:
        assert self._session is not None
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        seen = {str(url)}
        for _hop in range(self.config.max_redirects + 1):
            host = (url.host or "the server").rstrip(".")
            try:
                async with self._session.get(url, headers=headers,
                                             allow_redirects=False) as resp:
                    if resp.status in _REDIRECTS:
                        location = resp.headers.get("Location")
                        if not location:
                            raise FetchError(f"{host} redirected without saying where to.")
                        try:
                            url = url.join(URL(location))
                        except ValueError as exc:
                            raise FetchError(f"{host} redirected to an invalid link.") from exc
                        self._check_hop(url)
                        if str(url) in seen:
                            raise FetchError(f"{host} redirects in a loop.")
                        seen.add(str(url))
                        continue
                    return await self._read(resp, url)
            except FetchError:
                raise
            except aiohttp.ClientSSLError as exc:
                log.info("TLS with %s failed: %s", host, exc)
                raise FetchError(f"Could not connect to {host} securely: its TLS certificate "
                                 "was not accepted.") from None
            except aiohttp.ClientConnectorError as exc:
                cause = exc.os_error if isinstance(exc.os_error, _BlockedAddress) else None
                cause = cause or _find_blocked(exc)
                if cause is not None:
                    raise RefusedURL(f"Refused to fetch: {cause}; "
                                     f"{refusal_advice(str(cause))}.") from None
                log.info("cannot connect to %s: %s", host, exc)
                raise FetchError(f"Could not connect to {host}.") from None
            except aiohttp.InvalidURL as exc:
                raise FetchError(f"The link to {host} is not valid.") from exc
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                log.info("fetch from %s failed: %s: %s", host, type(exc).__name__, exc)
                raise FetchError(f"The connection to {host} failed "
                                 f"({_short_reason(exc)}).") from None
        raise FetchError(f"{url.host} redirected more than {self.config.max_redirects} times "
                         "([fetch] max_redirects).")

    async def _read(self, resp: aiohttp.ClientResponse, url: URL) -> FetchResult:
        host = url.host or "the server"
        if resp.status == 304:
            return FetchResult(url=str(url), status=304, body=b"", content_type="",
                               charset=None, etag=_validator(resp.headers.get("ETag")),
                               last_modified=_validator(resp.headers.get("Last-Modified")))
        if resp.status >= 300 or resp.status < 200:
            try:
                phrase = HTTPStatus(resp.status).phrase
            except ValueError:
                phrase = "an unexpected status"
            raise HTTPStatusError(f"{host} answered {resp.status} {phrase}.", status=resp.status,
                                  retry_after=_retry_after(resp.headers.get("Retry-After"),
                                                           now=self.clock()))
        encoding = resp.headers.get("Content-Encoding", "").strip().lower()
        limit = self.config.max_bytes
        declared = resp.content_length
        body = _Body(encoding=encoding, limit=limit, host=host)
        if not encoding and declared is not None and declared > limit:
            raise FetchError(f"{host} would send {describe_size(declared)}; the limit is "
                             f"{describe_size(limit)} ([fetch] max_bytes).")
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body.feed(chunk)
        content_type = resp.headers.get("Content-Type", "")
        return FetchResult(
            url=str(url),
            status=resp.status,
            body=body.finish(),
            content_type=content_type.split(";")[0].strip().lower(),
            charset=resp.charset,
            etag=_validator(resp.headers.get("ETag")),
            last_modified=_validator(resp.headers.get("Last-Modified")),
        )


def _find_blocked(exc: BaseException) -> _BlockedAddress | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _BlockedAddress):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _short_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "it timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut short"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "the server's answer was malformed"
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        return "its TLS certificate was not accepted"
    return type(exc).__name__
