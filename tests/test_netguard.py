from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import certifi
import httpcore
import pytest
import trustme

from monitor.errors import BlockedAddressError, ErrorClass, InvalidURLError
from monitor.fetch import ca_locations, default_ssl_context
from monitor.loopback import FeedServer
from monitor.netguard import (
    AddressPolicy,
    GuardedNetworkBackend,
    SystemResolver,
    choose_allowed_address,
)

DEFAULT = AddressPolicy()
LOOPBACK_ALLOWED = AddressPolicy((ipaddress.ip_network("127.0.0.0/8"),))


class TestAddressPolicy:
    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "::ffff:127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "fe80::1",
            "fc00::1",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "ff02::1",
            "240.0.0.1",
            "100.64.0.1",
            "::ffff:10.0.0.1",
            "2002:7f00:1::",
        ],
    )
    def test_non_public_refused_by_default(self, address: str) -> None:
        """Loopback, private, link-local, multicast, reserved and unspecified are refused."""
        assert not DEFAULT.is_allowed(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
    def test_public_allowed(self, address: str) -> None:
        """Public unicast addresses pass."""
        assert DEFAULT.is_allowed(ipaddress.ip_address(address))

    def test_allow_cidrs_opens_a_range(self) -> None:
        """A configured CIDR allows exactly its range, mapped IPv6 included."""
        assert LOOPBACK_ALLOWED.is_allowed(ipaddress.ip_address("127.0.0.1"))
        assert LOOPBACK_ALLOWED.is_allowed(ipaddress.ip_address("::ffff:127.0.0.1"))
        assert not LOOPBACK_ALLOWED.is_allowed(ipaddress.ip_address("169.254.169.254"))


class TestChooseAddress:
    def test_any_forbidden_answer_refuses_the_host(self) -> None:
        """A name resolving to a public and an internal address is refused."""
        with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.5"):
            choose_allowed_address("rebind.example", ["93.184.216.34", "10.0.0.5"], DEFAULT)

    def test_first_allowed_address_is_used(self) -> None:
        """The connection goes to the vetted address itself."""
        assert choose_allowed_address("e.org", ["93.184.216.34"], DEFAULT) == "93.184.216.34"


class TestSystemResolver:
    @pytest.mark.parametrize("host", ["a..b", "a" * 64 + ".example"])
    def test_name_idna_refuses_is_an_invalid_url(self, host: str) -> None:
        """A host name the idna codec refuses is an InvalidURLError (permanent), not a bug."""
        with pytest.raises(InvalidURLError, match="invalid host name") as caught:
            asyncio.run(SystemResolver().resolve(host, 80))
        assert caught.value.error_class is ErrorClass.PERMANENT

    def test_blocked_address_is_a_configuration_problem(self) -> None:
        """The SSRF guard's refusal is classified `config` and names the setting to change."""
        with pytest.raises(BlockedAddressError) as caught:
            choose_allowed_address("intranet.example", ["10.0.0.5"], DEFAULT)
        assert caught.value.error_class is ErrorClass.CONFIG
        assert "allow it with [network] allow_cidrs" in str(caught.value)


class TestCertificates:
    def test_default_context_verifies_with_the_bundle_loaded_in_a_thread(self) -> None:
        """The client's SSL context checks certificates and host names, and its CA bundle
        (certifi's, as httpx's) is loaded by the thread it starts."""
        context, loaded = default_ssl_context()
        loaded.result(timeout=30)
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 50
        assert not loaded.cancel()  # a cancelled handshake cannot cancel it for every other

    def test_handshake_waits_for_the_bundle_and_gets_its_failure(self) -> None:
        """A TLS handshake starts only once the bundle is loaded; a bundle that failed to
        load fails the handshake with that error."""
        failed: concurrent.futures.Future[None] = concurrent.futures.Future()
        backend = GuardedNetworkBackend(LOOPBACK_ALLOWED, tls_ready=failed)

        async def run() -> None:
            with FeedServer() as server:
                stream = await backend.connect_tcp("127.0.0.1", server.port, timeout=5)
                try:
                    handshake = asyncio.create_task(
                        stream.start_tls(ssl.create_default_context(), "localhost", timeout=5)
                    )
                    await asyncio.sleep(0.05)
                    assert not handshake.done()  # waiting for the bundle
                    failed.set_exception(OSError("no CA bundle"))
                    with pytest.raises(httpcore.ConnectError, match="no CA bundle"):
                        await handshake
                    assert stream.get_extra_info("socket").fileno() == -1  # closed, not left open
                finally:
                    await stream.aclose()

        asyncio.run(run())

    def test_ca_certificates_come_from_the_environment_as_httpx_takes_them(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """SSL_CERT_FILE, else SSL_CERT_DIR, else certifi's bundle: a server whose certificate
        a private CA issued is trusted when SSL_CERT_FILE names that CA, and not otherwise."""
        ca = trustme.CA()
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        assert ca_locations() == {"cafile": certifi.where()}
        monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
        assert ca_locations() == {"capath": str(tmp_path)}
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost").configure_cert(server)
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_handshake(server, default_ssl_context())  # certifi's bundle: not trusted
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        assert ca_locations() == {"cafile": str(ca_file)}
        context, loaded = default_ssl_context()
        loaded.result(timeout=30)
        assert context.cert_store_stats()["x509_ca"] == 1
        assert tls_handshake(server, (context, loaded)) == ("localhost",)


def tls_handshake(
    server: ssl.SSLContext, client: tuple[ssl.SSLContext, concurrent.futures.Future[None]]
) -> tuple[str, ...]:
    """A TLS handshake with `server` on a loopback socket, verified by `client`'s context once
    its certificates are loaded: the host names the server's certificate was verified for."""
    context, loaded = client
    loaded.result(timeout=30)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        # the client refusing the certificate is what one half of the test expects
        with (
            contextlib.suppress(ssl.SSLError, OSError),
            server.wrap_socket(connection, server_side=True),
        ):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            names = tls.getpeercert()["subjectAltName"]
            return tuple(str(value) for kind, value in names if kind == "DNS")
    finally:
        thread.join(timeout=10)
        listener.close()


class TestIdleStreams:
    def test_one_poll_answers_for_every_idle_connection(self) -> None:
        """Asking one idle connection whether it is readable polls every idle one: a
        connection the server closed is known as readable (closing) without being asked, the
        others are not, and one that is used again is no longer among the idle."""
        backend = GuardedNetworkBackend(LOOPBACK_ALLOWED)
        listener = socket.create_server(("127.0.0.1", 0))

        async def run() -> tuple[list[bool], list[bool], bool, int]:
            port = listener.getsockname()[1]
            streams = [await backend.connect_tcp("127.0.0.1", port, timeout=5) for _ in range(3)]
            accepted = [listener.accept()[0] for _ in streams]
            try:
                first = [s.get_extra_info("is_readable") for s in streams]
                accepted[1].close()  # the server drops the second connection
                await asyncio.sleep(0.1)  # past the answers' lifetime; the FIN has arrived
                streams[0].get_extra_info("is_readable")
                known = [s.readable for s in streams]  # type: ignore[attr-defined]
                await streams[0].write(b"GET / HTTP/1.1\r\n\r\n", timeout=5)
                return (
                    first,
                    known,
                    streams[1].get_extra_info("is_readable"),
                    len(backend.idle.asked),
                )
            finally:
                for stream in streams:
                    await stream.aclose()
                for connection in accepted:
                    connection.close()

        try:
            first, known, second_readable, idle_after_use = asyncio.run(run())
        finally:
            listener.close()
        assert first == [False, False, False]
        assert known == [False, True, False]
        assert second_readable
        assert idle_after_use == 2
