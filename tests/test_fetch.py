"""The safe fetcher against a real aiohttp server on 127.0.0.1: SSRF refusals (after DNS and
on every redirect), size/time/redirect caps, gzip bombs, status errors, concurrency bounds."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import zlib
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web
from intake_server import LocalWeb

from bot.config import Config, FetchConfig, config_from_mapping
from bot.errors import ConfigError, FetchError
from bot.ingest.fetch import (
    Fetcher,
    HTTPStatusError,
    RefusedURL,
    address_problem,
)


@pytest.fixture
async def server() -> AsyncIterator[LocalWeb]:
    web_ = LocalWeb()
    await web_.start()
    yield web_
    await web_.stop()


def fetch_config(**changes: object) -> FetchConfig:
    base = FetchConfig(allow_private_networks=True, timeout_seconds=2.0, max_bytes=100_000,
                       max_redirects=3)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.2.3.4", "a private network address"),
        ("172.16.0.1", "a private network address"),
        ("192.168.1.1", "a private network address"),
        ("fc00::1", "a private network address"),
        ("169.254.10.10", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("100.64.0.1", "a reserved address"),
        ("240.0.0.1", "a private network address"),
        ("::ffff:127.0.0.1", "a loopback address"),        # IPv4-mapped
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("2002:7f00:1::1", "a loopback address"),          # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", "a private network address"),   # NAT64 around 10.0.0.1
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_policy(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


def test_private_networks_allowed_keeps_metadata_multicast_unspecified_refused() -> None:
    def allowed(a: str) -> str | None:
        return address_problem(ipaddress.ip_address(a), allow_private=True)

    assert allowed("10.0.0.1") is None and allowed("127.0.0.1") is None
    assert allowed("169.254.169.254") == "a cloud metadata address"
    assert allowed("224.0.0.1") == "a multicast address"
    assert allowed("0.0.0.0") == "an unspecified address"


def test_allowed_networks_are_validated_in_the_config() -> None:
    with pytest.raises(ConfigError, match="allowed_networks"):
        config_from_mapping({"fetch": {"allowed_networks": ["not-a-network"]}})
    cfg = config_from_mapping({"fetch": {"allowed_networks": ["10.1.2.0/24"]}})
    assert cfg.fetch.allowed_networks == ("10.1.2.0/24",)
    assert config_from_mapping({}).fetch.allow_private_networks is False


async def test_fetches_with_user_agent_and_reports_type(server: LocalWeb) -> None:
    server.serve("/page", "<html><body>ok</body></html>", content_type="text/html; charset=koi8-r")
    async with Fetcher(fetch_config(user_agent="briefbot-test/1")) as fetcher:
        result = await fetcher.fetch(server.url("/page"))
    assert result.status == 200 and result.body == b"<html><body>ok</body></html>"
    assert result.content_type == "text/html" and result.charset == "koi8-r"
    assert server.hits("/page")[0].headers["User-Agent"] == "briefbot-test/1"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", "ftp://x.org/f",
                                 "data:text/html,hi", "gopher://127.0.0.1/"])
async def test_only_http_and_https(url: str) -> None:
    async with Fetcher(fetch_config()) as fetcher:
        with pytest.raises(RefusedURL, match="Only http and https"):
            await fetcher.fetch(url)


@pytest.mark.parametrize("url", ["example.com/feed.xml", "www.example.com",
                                 "127.0.0.1:8080/rss", "localhost:8080/x"])
async def test_a_link_without_its_scheme_says_so(url: str) -> None:
    async with Fetcher(fetch_config()) as fetcher:
        with pytest.raises(RefusedURL, match="not complete: give it whole, starting with https://"):
            await fetcher.fetch(url)


async def test_private_addresses_refused_by_default(server: LocalWeb) -> None:
    server.serve("/secret", "internal")
    strict = fetch_config(allow_private_networks=False)
    async with Fetcher(strict) as fetcher:
        for url in (
            server.url("/secret"),                                  # IP literal
            f"http://localhost:{server.port}/secret",               # after DNS resolution
            f"http://[::ffff:127.0.0.1]:{server.port}/secret",      # IPv4-mapped IPv6
            f"http://2130706433:{server.port}/secret",              # decimal 127.0.0.1
            f"http://127.1:{server.port}/secret",                   # short form
            f"http://0177.0.0.1:{server.port}/secret",              # octal
            f"http://[0:0:0:0:0:ffff:7f00:1]:{server.port}/secret", # long mapped form
            "http://169.254.169.254/latest/meta-data/",             # cloud metadata
            "http://[::]/",
        ):
            with pytest.raises(FetchError) as info:
                await fetcher.fetch(url)
            assert "10." not in str(info.value) and "127.0.0" not in str(info.value)
    assert server.hits("/secret") == []  # nothing ever reached the server


async def test_refusal_message_is_clear(server: LocalWeb) -> None:
    async with Fetcher(fetch_config(allow_private_networks=False)) as fetcher:
        with pytest.raises(RefusedURL, match=r"loopback address.*allow_private_networks"):
            await fetcher.fetch(f"http://localhost:{server.port}/")
        with pytest.raises(RefusedURL, match="cloud metadata"):
            await fetcher.fetch("http://169.254.169.254/")


async def test_redirect_to_private_address_refused_on_every_hop(server: LocalWeb) -> None:
    """127.0.0.1 is explicitly allowed; a redirect from it to other private hosts is not."""
    config = fetch_config(allow_private_networks=False, allowed_networks=("127.0.0.1/32",))
    server.serve("/public", "fine")
    server.redirect("/to-public", "/public")
    server.redirect("/to-loopback", f"http://127.0.0.2:{server.port}/public")
    server.redirect("/to-metadata", "http://169.254.169.254/latest/meta-data/iam")
    server.redirect("/to-mapped", f"http://[::ffff:10.0.0.1]:{server.port}/public")
    server.redirect("/to-file", "file:///etc/passwd")
    async with Fetcher(config) as fetcher:
        assert (await fetcher.fetch(server.url("/to-public"))).body == b"fine"
        with pytest.raises(RefusedURL, match="loopback"):
            await fetcher.fetch(server.url("/to-loopback"))
        with pytest.raises(RefusedURL, match="cloud metadata"):
            await fetcher.fetch(server.url("/to-metadata"))
        with pytest.raises(RefusedURL, match="private network"):
            await fetcher.fetch(server.url("/to-mapped"))
        with pytest.raises(RefusedURL, match="Only http and https"):
            await fetcher.fetch(server.url("/to-file"))
    assert len(server.hits("/public")) == 1


async def test_redirects_followed_to_the_final_url(server: LocalWeb) -> None:
    server.serve("/final?x=1", "arrived")
    server.redirect("/a", "/b", status=301)
    server.redirect("/b", server.url("/final?x=1"), status=308)
    async with Fetcher(fetch_config()) as fetcher:
        result = await fetcher.fetch(server.url("/a"))
    assert result.body == b"arrived" and result.url == server.url("/final?x=1")


async def test_redirect_loop_and_too_many_redirects(server: LocalWeb) -> None:
    server.redirect("/loop1", "/loop2")
    server.redirect("/loop2", "/loop1")
    for i in range(10):
        server.redirect(f"/r{i}", f"/r{i + 1}")
    async with Fetcher(fetch_config(max_redirects=3)) as fetcher:
        with pytest.raises(FetchError, match="in a loop"):
            await fetcher.fetch(server.url("/loop1"))
        with pytest.raises(FetchError, match=r"more than 3 times \(\[fetch\] max_redirects\)"):
            await fetcher.fetch(server.url("/r0"))


async def test_huge_body_stops_at_the_cap(server: LocalWeb) -> None:
    """A 50 MB answer without Content-Length: reading stops just past max_bytes."""
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"x" * 65_536
        try:
            while sent < 50_000_000:
                await resp.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            pass
        return resp

    server.routes["/huge"] = endless
    server.serve("/declared", b"y" * 200_000)
    async with Fetcher(fetch_config(max_bytes=100_000)) as fetcher:
        with pytest.raises(FetchError, match=r"more than 100,000 bytes.*max_bytes"):
            await fetcher.fetch(server.url("/huge"))
        with pytest.raises(FetchError, match=r"would send 200,000 bytes"):
            await fetcher.fetch(server.url("/declared"))
    assert sent < 50_000_000


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_bodies_counted_after_decompression(server: LocalWeb,
                                                             encoding: str) -> None:
    small = b"<p>hello</p>" * 100
    bomb = b"\0" * 30_000_000  # 30 MB of zeros compress to ~30 KB

    def pack(data: bytes) -> bytes:
        if encoding == "gzip":
            return gzip.compress(data, 9)
        if encoding == "deflate":
            return zlib.compress(data, 9)
        c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return c.compress(data) + c.flush()

    header = "gzip" if encoding == "gzip" else "deflate"
    packed_bomb = pack(bomb)
    assert len(packed_bomb) < 100_000  # under the cap before decompression
    server.serve("/small", pack(small), headers={"Content-Encoding": header})
    server.serve("/bomb", packed_bomb, headers={"Content-Encoding": header})
    async with Fetcher(fetch_config(max_bytes=100_000)) as fetcher:
        assert (await fetcher.fetch(server.url("/small"))).body == small
        with pytest.raises(FetchError, match="more than 100,000 bytes"):
            await fetcher.fetch(server.url("/bomb"))


async def test_unknown_or_corrupt_encoding(server: LocalWeb) -> None:
    server.serve("/br", b"\x0b\x02\x80hello", headers={"Content-Encoding": "br"})
    server.serve("/corrupt", b"not gzip at all" * 10, headers={"Content-Encoding": "gzip"})
    async with Fetcher(fetch_config()) as fetcher:
        with pytest.raises(FetchError, match="cannot read"):
            await fetcher.fetch(server.url("/br"))
        with pytest.raises(FetchError, match="corrupt compressed"):
            await fetcher.fetch(server.url("/corrupt"))
        # what the server calls its encoding is shown only by its harmless characters
        server.serve("/odd", b"x", headers={"Content-Encoding": "<!channel> @everyone"})
        with pytest.raises(FetchError, match="compressed as 'channeleveryone'"):
            await fetcher.fetch(server.url("/odd"))


async def test_server_that_never_answers_times_out(server: LocalWeb) -> None:
    server.hang("/slow", 30)
    async with Fetcher(fetch_config(timeout_seconds=0.3)) as fetcher:
        started = asyncio.get_running_loop().time()
        with pytest.raises(FetchError, match=r"did not answer within 0.3 s"):
            await fetcher.fetch(server.url("/slow"))
        assert asyncio.get_running_loop().time() - started < 2


async def test_error_statuses(server: LocalWeb) -> None:
    server.serve("/gone", "no", status=404)
    server.serve("/broken", "no", status=500)
    server.serve("/busy", "later", status=503, headers={"Retry-After": "120"})
    async with Fetcher(fetch_config()) as fetcher:
        with pytest.raises(HTTPStatusError, match="answered 404 Not Found") as info:
            await fetcher.fetch(server.url("/gone"))
        assert info.value.status == 404
        with pytest.raises(HTTPStatusError, match="500 Internal Server Error"):
            await fetcher.fetch(server.url("/broken"))
        with pytest.raises(HTTPStatusError) as busy:
            await fetcher.fetch(server.url("/busy"))
        assert busy.value.retry_after == 120


async def test_connection_refused_is_a_clear_error() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    async with Fetcher(fetch_config()) as fetcher:
        with pytest.raises(FetchError, match=r"Could not connect to 127\.0\.0\.1"):
            await fetcher.fetch(f"http://127.0.0.1:{port}/")


async def test_conditional_get_gets_304(server: LocalWeb) -> None:
    server.serve_feed("/feed", "<rss/>", etag='"v1"')
    async with Fetcher(fetch_config()) as fetcher:
        first = await fetcher.fetch(server.url("/feed"))
        second = await fetcher.fetch(server.url("/feed"), etag=first.etag)
    assert first.etag == '"v1"' and not first.not_modified
    assert second.not_modified and second.body == b""
    assert server.hits("/feed")[1].headers["If-None-Match"] == '"v1"'


async def test_concurrency_bounded_per_host_and_in_total(server: LocalWeb) -> None:
    active = peak = 0

    async def slow(request: web.Request) -> web.StreamResponse:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        return web.Response(text="ok")

    server.routes["/slow"] = slow
    async with Fetcher(fetch_config(max_connections_per_host=2, max_connections=3)) as fetcher:
        await asyncio.gather(*(fetcher.fetch(server.url("/slow")) for _ in range(8)))
    assert peak == 2


def test_config_fixture_allows_private_for_local_servers(config: Config) -> None:
    assert config.fetch.allow_private_networks is True


async def test_odd_validators_are_not_kept(server: LocalWeb) -> None:
    server.serve("/odd", "x", headers={"ETag": '"caf\u00e9"', "Last-Modified": "x" * 300})
    async with Fetcher(fetch_config()) as fetcher:
        result = await fetcher.fetch(server.url("/odd"))
    assert result.etag is None and result.last_modified is None


def test_retry_after_as_seconds_or_date() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from bot.ingest.fetch import _retry_after

    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert _retry_after("120", now=now) == 120 and _retry_after("", now=now) is None
    assert _retry_after("soon", now=now) is None
    later = format_datetime(now + timedelta(hours=1), usegmt=True)
    assert _retry_after(later, now=now) == 3600
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0


def test_feed_urls_in_the_config_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"\[feeds\] urls\[1\] 'file:///etc/passwd'"):
        config_from_mapping({"feeds": {"urls": ["https://example.org/rss", "file:///etc/passwd"]}})


async def test_https_with_a_trusted_and_an_untrusted_certificate() -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    tls = LocalWeb(ssl_context=server_ctx)
    await tls.start()
    try:
        tls.serve("/secure", "over TLS")
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        async with Fetcher(fetch_config(), ssl_context=client_ctx) as fetcher:
            result = await fetcher.fetch(tls.url("/secure"))
        assert result.body == b"over TLS" and result.url.startswith("https://")
        async with Fetcher(fetch_config()) as fetcher:  # the system's CAs do not know it
            with pytest.raises(FetchError, match="TLS certificate was not accepted"):
                await fetcher.fetch(tls.url("/secure"))
    finally:
        await tls.stop()
