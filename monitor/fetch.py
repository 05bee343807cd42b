"""HTTP edge: fetch one feed with conditional GET, limits and the SSRF guard."""

# ruff: noqa: E402  (the imports follow the line that keeps httpx's command-line client out)

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import ssl
import sys
import threading
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

# httpx's package imports its command-line client, and with it click, rich and pygments whenever
# they are installed (a tenth of a second of every start); nothing here runs that client, so its
# import fails at once and httpx takes its own fallback. Before the first `import httpx`:
# monitor.ingest and monitor.runtime name httpx only in annotations.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpcore
import httpx

from monitor.clock import Clock, utc_now
from monitor.config import NetworkSettings
from monitor.errors import (
    BodyTooLargeError,
    DeadlineExceededError,
    ErrorClass,
    FetchError,
    HTTPStatusError,
    InvalidURLError,
    MonitorError,
    TooManyRedirectsError,
    UnsupportedSchemeError,
)

# Re-exported: the webhook sender imported it from here before monitor.headers existed.
from monitor.headers import parse_retry_after as parse_retry_after
from monitor.limits import (
    MAX_ERROR_CHARS,
    MAX_ETAG_CHARS,
    MAX_LAST_MODIFIED_CHARS,
    truncate_text,
)
from monitor.netguard import AddressPolicy, GuardedNetworkBackend, Resolver
from monitor.values import FetchedBody, FetchFailure

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Inflate in small steps: one unbounded call would grow (and copy) a buffer up to the cap.
INFLATE_STEP_BYTES = 256 * 1024
TRANSIENT_STATUSES = frozenset({408, 425, 500, 502, 503, 504, 507, 520, 521, 522, 523, 524})


@dataclass(frozen=True, slots=True)
class Validators:
    """The cache validators sent back for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


def open_client(settings: NetworkSettings, resolver: Resolver | None = None) -> httpx.AsyncClient:
    """An HTTP client whose every connection passes the SSRF guard."""
    # One SSL context, the transport's own, with httpx's settings (certifi's CA bundle); the
    # bundle loads in a thread (OpenSSL lets go of the GIL: a twentieth of a second of start-up
    # off the path), and a TLS handshake waits for it.
    ssl_context, certificates = default_ssl_context()
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, trust_env=False)
    # httpx has no public hook for the network backend; swap the pool it built for one that has.
    transport._pool = ConnectionPool(
        ssl_context=ssl_context,
        max_connections=settings.max_concurrency * 2,
        max_keepalive_connections=settings.max_concurrency,
        network_backend=GuardedNetworkBackend(
            AddressPolicy(tuple(settings.allow_cidrs)), resolver=resolver, tls_ready=certificates
        ),
    )
    timeout = httpx.Timeout(
        connect=settings.connect_timeout_s,
        read=settings.read_timeout_s,
        write=settings.read_timeout_s,
        pool=settings.total_deadline_s,
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT},
    )


def ca_locations() -> dict[str, str]:
    """Where the CA certificates come from, chosen as `httpx.create_ssl_context()` chooses:
    the file `SSL_CERT_FILE` names, else the directory `SSL_CERT_DIR` names, else certifi's
    bundle (a keyword argument of `SSLContext.load_verify_locations`)."""
    if cafile := os.environ.get("SSL_CERT_FILE"):
        return {"cafile": cafile}
    if capath := os.environ.get("SSL_CERT_DIR"):
        return {"capath": capath}
    import certifi

    return {"cafile": certifi.where()}


def default_ssl_context() -> tuple[ssl.SSLContext, concurrent.futures.Future[None]]:
    """What `httpx.create_ssl_context()` makes (`ssl.create_default_context` with the CA
    certificates of `ca_locations`), and the loading of those certificates, started in a
    thread of its own."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names
    if sys.version_info >= (3, 13):  # what create_default_context adds from Python 3.13 on
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    locations = ca_locations()
    loaded: concurrent.futures.Future[None] = concurrent.futures.Future()
    loaded.set_running_or_notify_cancel()  # so no cancelled handshake can cancel it for all

    def load() -> None:
        try:
            context.load_verify_locations(**locations)
        except BaseException as exc:  # handed to every TLS handshake
            loaded.set_exception(exc)
        else:
            loaded.set_result(None)

    threading.Thread(target=load, name="ca-bundle", daemon=True).start()
    return context, loaded


class ConnectionPool(httpcore.AsyncConnectionPool):
    """httpcore's pool with the bookkeeping it runs before every request and after every
    response in one pass over the connections.

    httpcore 1.0 counts the idle connections by building a list of all of them for each idle
    one (quadratic: a sixth of the event loop's time in a cycle of 200 feeds with 16 in flight)
    and builds the lists of available and idle connections for every queued request in full.
    Same decisions in the same order, except that the surplus idle connections closed are those
    over `max_keepalive_connections` idle ones (httpcore compares the count of all of them).
    """

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        kept: list[httpcore.AsyncConnectionInterface] = []
        idle = 0
        for connection in self._connections:
            if connection.is_closed():
                continue
            is_idle = connection.is_idle()
            over_keepalive = is_idle and idle >= self._max_keepalive_connections
            if over_keepalive or connection.has_expired():
                closing.append(connection)
            else:
                idle += is_idle
                kept.append(connection)
        self._connections[:] = kept
        for pool_request in [r for r in self._requests if r.is_queued()]:
            origin = pool_request.request.url.origin
            available = next(
                (c for c in self._connections if c.can_handle_request(origin) and c.is_available()),
                None,
            )
            if available is None and len(self._connections) >= self._max_connections:
                surplus = next((c for c in self._connections if c.is_idle()), None)
                if surplus is None:
                    continue  # the request waits for a connection to come free
                self._connections.remove(surplus)
                closing.append(surplus)
            if available is None:
                available = self.create_connection(origin)
                self._connections.append(available)
            pool_request.assign_to_connection(available)
        return closing


class HostLimiter:
    """At most N requests in flight per host name."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self.semaphores: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def hold(self, url: str) -> AsyncIterator[None]:
        host = host_key(url)
        semaphore = self.semaphores.setdefault(host, asyncio.Semaphore(self.per_host))
        async with semaphore:
            yield


def host_key(url: str) -> str:
    """The host name a URL names, for the per-host limit; a URL too broken to parse is its own
    key (fetching it fails with InvalidURLError at once)."""
    try:
        return httpx.URL(url).host
    except (httpx.InvalidURL, UnicodeError):
        return url


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    validators: Validators,
    settings: NetworkSettings,
    clock: Clock = utc_now,
) -> FetchedBody:
    """GET a feed, following redirects by hand; raise a FetchError subclass on failure.
    `clock` dates the answer, for a Retry-After given as an HTTP date."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(settings.total_deadline_s):
            return await follow_redirects(client, url, validators, settings, started, clock)
    except TimeoutError:
        raise DeadlineExceededError(
            f"no complete answer within {settings.total_deadline_s:g} s"
        ) from None
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out: {type(exc).__name__}") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise InvalidURLError(f"invalid URL: {exc}") from None
    except UnicodeError as exc:
        # idna refuses the host name (an empty or over-long label, a bad xn-- label).
        raise InvalidURLError(f"invalid host name: {exc}") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None


async def follow_redirects(
    client: httpx.AsyncClient,
    url: str,
    validators: Validators,
    settings: NetworkSettings,
    started: float,
    clock: Clock,
) -> FetchedBody:
    current = require_http_url(url)
    for _hop in range(settings.max_redirects + 1):
        request = client.build_request("GET", current, headers=request_headers(validators))
        response = await send(client, request)
        try:
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                current = require_http_url(str(response.url.join(response.headers["location"])))
                continue
            return await read_response(response, settings, started, clock())
        finally:
            await response.aclose()
    raise TooManyRedirectsError(f"more than {settings.max_redirects} redirects")


async def send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    try:
        return await client.send(request, stream=True)
    except httpx.RemoteProtocolError as exc:
        # httpx parses a redirect's Location even when it does not follow it.
        if "location header" not in str(exc):
            raise
        raise InvalidURLError(f"invalid redirect target: {exc}") from None


def require_http_url(url: str) -> str:
    """The URL itself when it parses and is http(s); else a permanent, one-line error (httpx
    refuses ambiguous hosts such as `0177.0.0.1` or `127.000.000.001`)."""
    try:
        parsed = httpx.URL(url)
        scheme = parsed.scheme
        parsed.host  # noqa: B018 - decoding an xn-- host is where idna refuses a bad label
    except httpx.InvalidURL as exc:
        raise InvalidURLError(f"invalid URL {shorten(url)}: {exc}") from None
    except UnicodeError as exc:
        raise InvalidURLError(f"invalid host name in {shorten(url)}: {exc}") from None
    if scheme not in ("http", "https"):
        raise UnsupportedSchemeError(f"unsupported URL scheme {scheme!r}")
    return url


def shorten(url: str, max_chars: int = 200) -> str:
    return url if len(url) <= max_chars else url[:max_chars] + "…"


def request_headers(validators: Validators) -> dict[str, str]:
    """Conditional-GET headers; a validator stored before it was checked is sent only if sane."""
    headers = {"Accept-Encoding": "gzip, deflate"}
    if validators.etag and is_sane_validator(validators.etag, MAX_ETAG_CHARS):
        headers["If-None-Match"] = validators.etag
    if validators.last_modified and is_sane_validator(
        validators.last_modified, MAX_LAST_MODIFIED_CHARS
    ):
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def is_sane_validator(value: str, max_chars: int) -> bool:
    """Printable ASCII within its limit: what can be stored and sent back as it came."""
    return 0 < len(value) <= max_chars and all(" " <= char <= "~" for char in value)


VALIDATOR_LIMITS = {"etag": MAX_ETAG_CHARS, "last-modified": MAX_LAST_MODIFIED_CHARS}


def sane_headers(headers: httpx.Headers) -> dict[str, str]:
    """Response headers by lower-case name, without a validator that is over its limit or not
    printable ASCII (it is dropped, not stored: the next fetch is simply unconditional)."""
    kept: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        limit = VALIDATOR_LIMITS.get(name)
        if limit is None or is_sane_validator(value, limit):
            kept[name] = value
    return kept


async def read_response(
    response: httpx.Response, settings: NetworkSettings, started: float, now: datetime
) -> FetchedBody:
    status = response.status_code
    if status != 304 and not 200 <= status < 300:
        raise status_error(status, response.headers.get("retry-after"), now)
    # A 304 has no body, but reading to its end is what lets the connection serve the next
    # request (closing it unread closed the connection: a new one for every 304).
    body, wire_bytes = await read_capped_body(response, settings.max_body_bytes)
    if status == 304:
        body = b""
    return FetchedBody(
        final_url=str(response.url),
        status=status,
        headers=sane_headers(response.headers),
        body=body,
        wire_bytes=wire_bytes,
        duration_s=time.monotonic() - started,
    )


def status_error(status: int, retry_after: str | None, now: datetime) -> HTTPStatusError:
    """Classify an HTTP error status once: rate-limited, transient or permanent. Pure: a
    Retry-After date is measured from `now`; a Retry-After that is garbage is ignored."""
    delay = parse_retry_after(retry_after, now)
    if status == 429 or (status == 503 and delay is not None):
        return HTTPStatusError(status, ErrorClass.RATE_LIMITED, delay)
    if status in TRANSIENT_STATUSES or status >= 500:
        return HTTPStatusError(status, ErrorClass.TRANSIENT, delay)
    return HTTPStatusError(status, ErrorClass.PERMANENT, None)


async def read_capped_body(response: httpx.Response, max_bytes: int) -> tuple[bytes, int]:
    """Read the raw stream and decompress it chunk by chunk, never holding more than the cap."""
    decoder = BodyDecoder(response.headers.get("content-encoding", ""), max_bytes)
    wire_bytes = 0
    async for chunk in response.aiter_raw():
        wire_bytes += len(chunk)
        decoder.feed(chunk)
    return decoder.finish(), wire_bytes


class BodyDecoder:
    """Incremental gzip/deflate/identity decoding with a cap on the decoded size."""

    def __init__(self, content_encoding: str, max_bytes: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchError(f"unsupported Content-Encoding {content_encoding!r}")
        self.coding = codings[0] if codings else None
        self.max_bytes = max_bytes
        self.parts: list[bytes] = []
        self.size = 0
        self.inflater: zlib._Decompress | None = self.new_inflater() if self.coding else None
        self.started = False

    def new_inflater(self) -> zlib._Decompress:
        # 47 = 32 + 15: accept a gzip or zlib header; raw deflate is tried if that fails.
        return zlib.decompressobj(47)

    def feed(self, chunk: bytes) -> None:
        if self.inflater is None:
            self.keep(chunk)
            return
        data = chunk
        while data:
            try:
                limit = min(INFLATE_STEP_BYTES, self.max_bytes - self.size + 1)
                out = self.inflater.decompress(data, limit)
            except zlib.error:
                if self.started or self.coding == "gzip":
                    raise FetchError("corrupt compressed body") from None
                self.inflater = zlib.decompressobj(-15)
                self.started = True
                continue
            self.started = True
            self.keep(out)
            data = self.inflater.unconsumed_tail
            if self.inflater.eof and self.inflater.unused_data:
                data = self.inflater.unused_data
                self.inflater = self.new_inflater()

    def keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise BodyTooLargeError(f"body larger than {self.max_bytes} bytes")
        if data:
            self.parts.append(data)

    def finish(self) -> bytes:
        if self.inflater is not None:
            self.keep(self.inflater.flush())
        return b"".join(self.parts)


def describe_failure(exc: MonitorError, duration_s: float) -> FetchFailure:
    """The one place a failed attempt becomes a classified, storable record."""
    return FetchFailure(
        error_class=getattr(exc, "error_class", ErrorClass.TRANSIENT),
        error_type=type(exc).__name__,
        # An error may quote what the server sent: bounded and cleaned before it is stored.
        message=truncate_text(str(exc) or type(exc).__name__, MAX_ERROR_CHARS),
        http_status=exc.status if isinstance(exc, HTTPStatusError) else None,
        retry_after_s=exc.retry_after_s if isinstance(exc, HTTPStatusError) else None,
        duration_s=duration_s,
    )
