"""A container's /etc/hosts and /etc/resolv.conf: pure."""

from __future__ import annotations

from ipaddress import IPv4Address

from services.netd.domain import dnsfiles

FALLBACK = ("8.8.8.8", "8.8.4.4")


def test_hosts_names_the_container_on_its_address() -> None:
    text = dnsfiles.hosts_file("web", [IPv4Address("172.30.0.2")])
    assert text.startswith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    assert text.endswith("\n172.30.0.2\tweb\n")


def test_hosts_with_a_dotted_name_also_lists_the_short_name() -> None:
    assert dnsfiles.hosts_file("web.lab.example", [IPv4Address("10.0.0.5")]).endswith(
        "10.0.0.5\tweb.lab.example web\n"
    )


def test_hosts_without_an_address_has_only_localhost() -> None:
    assert dnsfiles.hosts_file("lonely", []) == dnsfiles.LOCALHOST


def test_hosts_names_the_container_on_every_network_it_is_on() -> None:
    text = dnsfiles.hosts_file("web", [IPv4Address("172.30.0.2"), IPv4Address("10.1.0.7")])
    assert text.endswith("\n172.30.0.2\tweb\n10.1.0.7\tweb\n")


def test_resolv_conf_keeps_reachable_servers_search_and_options() -> None:
    host = (
        "# generated\n"
        "nameserver 192.0.2.53\n"
        "nameserver 127.0.0.1\n"
        "nameserver 2001:db8::53\n"
        "nameserver 192.0.2.53\n"
        "search lab.example\n"
        "options ndots:2 timeout:1\n"
    )
    assert dnsfiles.container_resolv_conf(host, FALLBACK) == (
        "nameserver 192.0.2.53\nsearch lab.example\noptions ndots:2 timeout:1\n"
    )


def test_resolv_conf_falls_back_when_only_loopback_is_left() -> None:
    host = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n"
    assert dnsfiles.container_resolv_conf(host, FALLBACK) == (
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0 trust-ad\nsearch .\n"
    )
    assert dnsfiles.container_resolv_conf("", FALLBACK).startswith("nameserver 8.8.8.8\n")


def test_systemd_resolved_upstreams_replace_its_stub() -> None:
    stub = "nameserver 127.0.0.53\noptions edns0\n"
    upstream = "nameserver 10.0.0.1\nnameserver 10.0.0.2\n"
    assert dnsfiles.choose_host_resolv_conf(stub, upstream) == upstream
    assert dnsfiles.choose_host_resolv_conf(stub, None) == stub
    real = "nameserver 10.9.9.9\n"
    assert dnsfiles.choose_host_resolv_conf(real, upstream) == real  # not a stub: kept


def test_nameservers_and_loopback() -> None:
    assert dnsfiles.nameservers("nameserver 1.1.1.1\n#nameserver 2.2.2.2\nnameserver ::1\n") == [
        "1.1.1.1",
        "::1",
    ]
    assert dnsfiles.is_loopback("::1")
    assert dnsfiles.is_loopback("127.0.0.53")
    assert not dnsfiles.is_loopback("10.0.0.1")
    assert not dnsfiles.is_loopback("not-an-address")
