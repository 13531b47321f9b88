"""URL rules without I/O: canonical URLs (the key that, with the text hash, makes an article new
or known), what counts as a fetchable link, and the configured private networks."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from yarl import URL

from bot.errors import ConfigError, RefusedURL

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Query parameters that only track where a click came from.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "oly_", "vero_")
_TRACKING_NAMES = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mkt_tok", "ref_src", "cmpid",
     "_hsenc", "_hsmi", "ncid", "ocid", "sr_share", "smid", "cid"}
)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets, or the URL is unusable
        host = f"[{host}]"
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_TRACKING_PREFIXES) and k.lower() not in _TRACKING_NAMES
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def unwrap_link(text: str) -> str:
    """A link as typed in chat: Slack's ``<https://x|label>`` or ``<https://x>`` unwrapped."""
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].split("|", 1)[0]
    return text.strip()


def absolute_http_url(base: str, href: str) -> str | None:
    """``href`` (from a feed or a page) made absolute against ``base``, if it is a usable
    http(s) link; None for another scheme, no host, or what cannot be parsed ("http://[::1",
    a port that is no number)."""
    try:
        absolute = urljoin(base, href.strip())
        parts = urlsplit(absolute)
        _ = parts.port  # a malformed port raises only when read
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return absolute


def source_name(url: str | None) -> str | None:
    """A short source label for a URL: its host without ``www.``."""
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def parse_networks(values: Iterable[str], *, key: str = "[fetch] allowed_networks"
                   ) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError as exc:
            raise ConfigError(f"{key}: {value!r} is not an address or network "
                              "(for example 10.1.2.0/24)") from exc
    return tuple(networks)


def check_url(url: str | URL) -> URL:
    """The URL parsed, refusing what is not an absolute http(s) URL."""
    try:
        parsed = url if isinstance(url, URL) else URL(url.strip())
        host = parsed.host  # decoding a malformed IDNA name ("xn--") raises here
    except (ValueError, TypeError) as exc:
        raise RefusedURL("That is not a valid link.") from exc
    scheme = (parsed.scheme or "").lower()
    if scheme not in ("http", "https") and "://" not in str(url) and (
            not scheme or "." in scheme or scheme == "localhost"):
        # "example.com/feed.xml", "127.0.0.1:8080/x": a host without its scheme
        raise RefusedURL("That link is not complete: give it whole, starting with https:// "
                         "or http:// (for example https://example.com/feed.xml).")
    if scheme not in ("http", "https"):
        shown = f"`{scheme}:` links" if scheme.isascii() and scheme.isalnum() else "such links"
        raise RefusedURL(f"Only http and https links can be fetched, not {shown}.")
    if not host:
        raise RefusedURL("That link has no host name.")
    return parsed
