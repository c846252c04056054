"""IPAM inside one subnet: pure functions."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from services.kit import errors
from services.netd.domain import ipam

NET = IPv4Network("10.1.2.0/24")


def a(last_octet: int) -> IPv4Address:
    return IPv4Address(f"10.1.2.{last_octet}")


def test_gateway_is_the_first_address() -> None:
    assert ipam.gateway_of(NET) == a(1)
    with pytest.raises(errors.InvalidArgument):
        ipam.gateway_of(IPv4Network("10.1.2.0/31"))


def test_first_allocation_follows_the_gateway() -> None:
    assert ipam.next_address(NET, set(), None) == a(2)


def test_allocation_is_serial_and_skips_used_addresses() -> None:
    assert ipam.next_address(NET, {a(2), a(3)}, a(3)) == a(4)
    assert ipam.next_address(NET, {a(2), a(5)}, a(4)) == a(6)  # 5 is taken


def test_a_released_address_is_not_reused_before_the_others() -> None:
    # 2 and 3 were handed out, 2 was released: 4 comes next, not 2.
    assert ipam.next_address(NET, {a(3)}, a(3)) == a(4)


def test_allocation_wraps_around_after_the_last_address() -> None:
    assert ipam.next_address(NET, {a(254)}, a(254)) == a(2)
    assert ipam.next_address(NET, {a(2), a(254)}, a(254)) == a(3)


def test_network_gateway_and_broadcast_are_never_handed_out() -> None:
    small = IPv4Network("10.9.9.0/29")  # .0 network, .1 gateway, .2-.6 containers, .7 broadcast
    used: set[IPv4Address] = set()
    last = None
    for _ in range(5):
        last = ipam.next_address(small, used, last)
        used.add(last)
    assert sorted(int(x) & 7 for x in used) == [2, 3, 4, 5, 6]
    with pytest.raises(errors.ResourceExhausted) as caught:
        ipam.next_address(small, used, last)
    assert caught.value.reason == "SUBNET_EXHAUSTED"


def test_a_last_address_outside_the_subnet_starts_from_the_beginning() -> None:
    assert ipam.next_address(NET, set(), IPv4Address("192.168.0.9")) == a(2)


def test_mac_is_derived_from_the_address() -> None:
    assert ipam.mac_for(IPv4Address("172.30.0.2")) == "02:42:ac:1e:00:02"
    assert ipam.with_prefix(a(7), NET).with_prefixlen == "10.1.2.7/24"
