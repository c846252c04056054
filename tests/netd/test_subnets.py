"""Choosing a subnet from the pool against what the host already uses: pure."""

from __future__ import annotations

from ipaddress import IPv4Network as N

import pytest

from services.kit import errors
from services.netd.domain.subnets import pick_subnet

POOL = N("172.30.0.0/16")


def test_first_subnet_of_an_empty_host() -> None:
    assert pick_subnet(POOL, 24, []) == N("172.30.0.0/24")


def test_subnets_in_use_on_the_host_are_skipped() -> None:
    host = [N("172.30.0.0/24"), N("172.30.1.128/25"), N("192.168.1.0/24")]
    assert pick_subnet(POOL, 24, host) == N("172.30.2.0/24")


def test_a_wider_route_covering_the_pool_start_is_skipped() -> None:
    # A VPN route for 172.30.0.0/20 rules out the first 16 /24s.
    assert pick_subnet(POOL, 24, [N("172.30.0.0/20")]) == N("172.30.16.0/24")


def test_a_single_host_route_or_resolver_rules_out_its_subnet() -> None:
    assert pick_subnet(POOL, 24, [N("172.30.0.53/32")]) == N("172.30.1.0/24")


def test_the_default_route_is_ignored() -> None:
    assert pick_subnet(POOL, 24, [N("0.0.0.0/0"), N("10.0.0.0/8")]) == N("172.30.0.0/24")


def test_other_software_on_the_host() -> None:
    docker_podman = [N("172.17.0.0/16"), N("10.88.0.0/16"), N("192.0.2.0/24")]
    assert pick_subnet(N("172.16.0.0/12"), 16, docker_podman) == N("172.16.0.0/16")
    with pytest.raises(errors.ResourceExhausted):  # the whole pool lies inside a route
        pick_subnet(N("172.17.0.0/16"), 24, [N("172.16.0.0/12")])


def test_pool_exhausted() -> None:
    with pytest.raises(errors.ResourceExhausted) as caught:
        pick_subnet(N("10.0.0.0/23"), 24, [N("10.0.0.0/24"), N("10.0.1.0/25")])
    assert caught.value.reason == "POOL_EXHAUSTED"


def test_sizes_that_cannot_be_carved() -> None:
    with pytest.raises(errors.InvalidArgument):
        pick_subnet(POOL, 8, [])
    with pytest.raises(errors.InvalidArgument):
        pick_subnet(POOL, 31, [])
