"""Add-time checks of a feed URL, before it is stored: the SSRF guard, one fetch with the guarded
client (within its caps), and feed discovery when the URL is a web page.

A guard refusal is a ConfigError (the fix is `[network] allow_cidrs`); a URL that cannot be
parsed is refused; a URL that cannot be reached now gives a warning, not an error, because a
feed may well be added before the network (or the server) is up.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.config import NetworkSettings
from monitor.discover import discover_feeds, is_html_page
from monitor.errors import (
    BlockedAddressError,
    ConfigError,
    FetchError,
    InvalidURLError,
    MonitorError,
    UnsupportedSchemeError,
)
from monitor.fetch import Validators, fetch_feed, open_client, require_http_url
from monitor.netguard import AddressPolicy, SystemResolver, choose_allowed_address
from monitor.values import FeedSpec


@dataclass(frozen=True, slots=True)
class UrlCheck:
    """What fetching a URL at add time showed: a feed (nothing), an HTML page with the feeds it
    names, or a warning that it could not be reached now."""

    page_feeds: tuple[FeedSpec, ...] | None = None
    warning: str | None = None


async def check_feed_url(url: str, network: NetworkSettings) -> UrlCheck:
    """GET the URL with the guarded client (every hop vetted, within its caps)."""
    require_usable_url(url)
    try:
        async with open_client(network) as client:
            body = await fetch_feed(client, url, Validators(), network)
    except BlockedAddressError as exc:
        raise ConfigError(f"cannot add {url}: {exc}") from None
    except FetchError as exc:
        return UrlCheck(warning=f"cannot check {url} now: {exc}")
    if not is_html_page(body.body, body.headers.get("content-type")):
        return UrlCheck()
    return UrlCheck(page_feeds=tuple(discover_feeds(body.body, body.final_url)))


async def check_discovered_url(url: str, network: NetworkSettings) -> UrlCheck:
    """A feed URL a page named passes the same guard before it is stored."""
    require_usable_url(url)
    host, port = host_and_port(url)
    try:
        addresses = await SystemResolver().resolve(host, port)
        choose_allowed_address(host, addresses, AddressPolicy(tuple(network.allow_cidrs)))
    except BlockedAddressError as exc:
        raise ConfigError(f"cannot add {url}: {exc}") from None
    except FetchError as exc:
        return UrlCheck(warning=f"cannot check {url} now: {exc}")
    return UrlCheck()


def require_usable_url(url: str) -> None:
    """A URL that cannot be parsed (a host such as `0177.0.0.1`) would never fetch: refused."""
    try:
        require_http_url(url)
    except (InvalidURLError, UnsupportedSchemeError) as exc:
        raise MonitorError(f"not added: {exc}") from None


def host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
