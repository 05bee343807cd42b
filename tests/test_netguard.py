from __future__ import annotations

import asyncio
import ipaddress

import pytest

from monitor.errors import BlockedAddressError, ErrorClass, InvalidURLError
from monitor.netguard import AddressPolicy, SystemResolver, choose_allowed_address

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
