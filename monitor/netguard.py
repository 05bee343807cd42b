"""SSRF guard: refuse connections to loopback, private, link-local, multicast, reserved and
unspecified addresses unless a configured CIDR allows them.

The check runs where the socket is opened (a wrapped httpcore network backend), after name
resolution, so it covers every redirect hop, every address a name resolves to, and odd spellings
such as `0x7f000001` or `::ffff:127.0.0.1`. The connection goes to the checked address itself, so a
second DNS answer cannot swap it for another.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import select
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpcore

from monitor.errors import BlockedAddressError, FetchError, InvalidURLError

READABLE_CHECK_TTL_S = 0.005
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which resolved addresses a connection may go to."""

    allow_cidrs: tuple[IPNetwork, ...] = ()

    def is_allowed(self, address: IPAddress) -> bool:
        plain = unmap_ipv4(address)
        if any(plain in network for network in self.allow_cidrs):
            return True
        return is_public_unicast(plain)


def unmap_ipv4(address: IPAddress) -> IPAddress:
    """`::ffff:127.0.0.1` and friends are judged as the IPv4 address they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None and address.sixtofour.is_private:
            return address.sixtofour
    return address


def is_public_unicast(address: IPAddress) -> bool:
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[str]:
        """Every address the host name resolves to, as text."""
        ...


class SystemResolver:
    """getaddrinfo on the event loop's executor (the C library's rules, `0x7f000001` included)."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise FetchError(f"cannot resolve {host}: {exc.strerror}") from None
        except UnicodeError as exc:
            # The idna codec refuses the name (an empty label as in `a..b`, one over 63 chars).
            raise InvalidURLError(f"invalid host name {host[:100]!r}: {exc}") from None
        return [str(info[4][0]) for info in infos]


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore backend that vets every address before it connects."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
        tls_ready: concurrent.futures.Future[None] | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver or SystemResolver()
        self.inner = inner or httpcore.AnyIOBackend()
        # Done once the SSL context's CA certificates are loaded (loading them in a thread).
        self.tls_ready = tls_ready
        self.idle = IdleStreams()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolver.resolve(host, port)
        allowed = choose_allowed_address(host, addresses, self.policy)
        stream = await self.inner.connect_tcp(
            allowed,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )
        return QuickReadableStream(stream, self.tls_ready, self.idle)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class QuickReadableStream(httpcore.AsyncNetworkStream):
    """A stream that answers httpcore's "is_readable" from the socket it keeps, by a poll
    shared with the backend's other idle connections.

    The connection pool asks every idle connection whether it is readable (closed by the
    server) each time it assigns a request; anyio answers by building all of a socket's
    attributes, a getpeername system call among them: 13,000 calls and a third of the event
    loop's time in a cycle of 200 feeds, each one a release of the GIL that the parse and
    database threads then hold. So the answer "not readable" is kept for
    `READABLE_CHECK_TTL_S` (the pool asks in bursts; the check is a race with the server
    anyway), "readable" (closing) for good, and one poll answers for every connection asked
    about since it was last used (`IdleStreams`; one poll for each connection was still 12
    system calls a request). Everything else goes to the wrapped stream.
    """

    def __init__(
        self,
        inner: httpcore.AsyncNetworkStream,
        tls_ready: concurrent.futures.Future[None] | None = None,
        idle: IdleStreams | None = None,
    ) -> None:
        self.inner = inner
        self.tls_ready = tls_ready
        self.idle = idle or IdleStreams()
        self.raw_socket: socket.socket | None = None
        self.quiet_until = 0.0  # time.monotonic() until which "not readable" stands
        self.readable = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.idle.asked.pop(self, None)
        return await self.inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.idle.asked.pop(self, None)
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        self.idle.asked.pop(self, None)
        await self.inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self.tls_ready is not None:  # the CA certificates, once loaded
            try:
                if not self.tls_ready.done():
                    await asyncio.wrap_future(self.tls_ready)
                self.tls_ready.result()
            except BaseException as exc:  # the connection is not left open behind the error
                await self.inner.aclose()
                if isinstance(exc, Exception):  # a fetch error of this feed, as httpx's are
                    raise httpcore.ConnectError(f"CA certificates not loaded: {exc}") from exc
                raise
        return QuickReadableStream(
            await self.inner.start_tls(ssl_context, server_hostname, timeout), idle=self.idle
        )

    def get_extra_info(self, info: str) -> Any:
        if info != "is_readable":
            return self.inner.get_extra_info(info)
        if self.readable:
            return True
        now = time.monotonic()
        if now < self.quiet_until:
            return False
        self.idle.asked[self] = None
        self.idle.poll(now)
        return self.readable

    def fileno(self) -> int:
        """The socket's descriptor; -1 once it is closed or gone."""
        if self.raw_socket is None:
            self.raw_socket = self.inner.get_extra_info("socket")
        return -1 if self.raw_socket is None else self.raw_socket.fileno()


class IdleStreams:
    """The streams httpcore asked "is_readable" about since they were last read, written or
    closed (its idle connections), so that one poll answers for all of them."""

    def __init__(self) -> None:
        self.asked: dict[QuickReadableStream, None] = {}  # an ordered set

    def poll(self, now: float) -> None:
        """Poll every stream asked about at once; each keeps its answer as it would its own."""
        poller = select.poll()
        by_fd: dict[int, QuickReadableStream] = {}
        for stream in self.asked:
            if stream.readable:  # closing, for good
                continue
            fd = stream.fileno()
            if fd < 0:  # a socket that is gone counts as readable, as httpcore counts it
                stream.readable = True
                continue
            by_fd[fd] = stream
            poller.register(fd, select.POLLIN)
        ready = {fd for fd, _events in poller.poll(0)} if by_fd else set()
        for fd, stream in by_fd.items():
            stream.readable = fd in ready  # data, or the end of a closed connection
            stream.quiet_until = now + READABLE_CHECK_TTL_S


def choose_allowed_address(host: str, addresses: Sequence[str], policy: AddressPolicy) -> str:
    """The first resolved address; refuse the host if any of its addresses is forbidden.

    Refusing on any forbidden answer (not only the first) stops a name that resolves to both a
    public and an internal address from being used to reach the internal one.
    """
    if not addresses:
        raise FetchError(f"{host} resolved to no address")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not policy.is_allowed(address):
            raise BlockedAddressError(
                f"{host} resolves to {address}, a non-public address "
                "(allow it with [network] allow_cidrs)"
            )
    return addresses[0]
