"""netd's nftables table as text, and (as root) that nft accepts it without applying it."""

from __future__ import annotations

import dataclasses
import secrets
import subprocess
from ipaddress import IPv4Address, IPv4Network

import pytest

from services.netd.domain.models import Network, PortBinding, Publication
from services.netd.firewall.ruleset import render
from tests.netd.conftest import real_kernel


def network(n: int) -> Network:
    subnet = IPv4Network(f"10.{n}.0.0/24")
    return Network(f"{n:064x}", f"net{n}", "bridge", subnet, subnet[1], f"est{n}", "")


def test_one_network() -> None:
    assert render("estiba_est", [network(1)]) == (
        "table inet estiba_est {}\n"
        "delete table inet estiba_est\n"
        "table inet estiba_est {\n"
        "\tset bridges {\n"
        "\t\ttype ifname\n"
        '\t\telements = { "est1" }\n'
        "\t}\n"
        "\tset internal {\n"
        "\t\ttype ifname\n"
        "\t}\n"
        "\tchain guard {\n"
        "\t\ttype filter hook prerouting priority -300; policy accept;\n"
        "\t\tiifname @bridges ip daddr 127.0.0.0/8 drop\n"
        "\t}\n"
        "\tchain prerouting {\n"
        "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        "\t\tfib daddr type local jump publish\n"
        "\t}\n"
        "\tchain output {\n"
        "\t\ttype nat hook output priority -100; policy accept;\n"
        "\t\tfib daddr type local jump publish\n"
        "\t}\n"
        "\tchain publish {\n"
        "\t}\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        '\t\tip saddr 10.1.0.0/24 oifname != "est1" masquerade\n'
        "\t\toifname @bridges ip saddr 127.0.0.0/8 masquerade\n"
        "\t}\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter; policy accept;\n"
        "\t\tct state established,related accept\n"
        '\t\tiifname "est1" oifname "est1" accept\n'
        "\t\tiifname @internal drop\n"
        "\t\toifname @internal drop\n"
        "\t\tct status dnat accept\n"
        "\t\tiifname @bridges oifname @bridges drop\n"
        "\t\tiifname @bridges accept\n"
        "\t\toifname @bridges drop\n"
        "\t}\n"
        "}\n"
    )


def test_each_network_gets_its_nat_and_same_bridge_rule_and_set_element() -> None:
    text = render("estiba_t", [network(1), network(2)])
    assert 'elements = { "est1", "est2" }' in text
    for n in (1, 2):
        assert f'ip saddr 10.{n}.0.0/24 oifname != "est{n}" masquerade' in text
        assert f'iifname "est{n}" oifname "est{n}" accept' in text
    # Isolation comes after every same-bridge accept.
    assert text.index("@bridges oifname @bridges drop") > text.index('"est2" accept')


def test_an_internal_network_has_no_way_out() -> None:
    inside = dataclasses.replace(network(2), internal=True)
    text = render("estiba_t", [network(1), inside])
    assert 'set internal {\n\t\ttype ifname\n\t\telements = { "est2" }' in text
    assert "10.2.0.0/24" not in text  # no masquerade for it
    assert 'iifname "est2" oifname "est2" accept' in text  # within it: fine
    # Its drops come before published ports are let through: no way out through them either.
    assert text.index("iifname @internal drop") < text.index("ct status dnat accept")


def test_published_ports_get_dnat_and_hairpin_rules() -> None:
    net = network(1)
    published = [
        Publication(
            PortBinding("tcp", 80, None, 8080), IPv4Address("10.1.0.2"), "est1", net.subnet
        ),
        Publication(
            PortBinding("udp", 53, IPv4Address("127.0.0.1"), 5353),
            IPv4Address("10.1.0.3"),
            "est1",
            net.subnet,
        ),
    ]
    text = render("estiba_t", [net], published)
    assert "\t\ttcp dport 8080 dnat ip to 10.1.0.2:80\n" in text
    assert "\t\tip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.1.0.3:53\n" in text
    assert text.count("ct status dnat ip saddr 10.1.0.0/24 ip daddr 10.1.0.0/24 masquerade") == 1


def test_no_network_leaves_an_empty_set() -> None:
    text = render("estiba_t", [])
    assert "elements" not in text
    assert "ip saddr 10." not in text
    assert text.startswith("table inet estiba_t {}\ndelete table inet estiba_t\n")


def test_names_are_checked_before_they_reach_nft() -> None:
    bad = Network("x", "x", "bridge", IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1"),
                  'est0" accept; drop "', "")  # fmt: skip
    with pytest.raises(ValueError, match="not an interface name"):
        render("estiba_t", [bad])


@real_kernel
def test_nft_accepts_the_ruleset_in_check_mode() -> None:
    table = f"estiba_u{secrets.token_hex(2)}"
    result = subprocess.run(
        ["nft", "-c", "-f", "-"],
        input=render(
            table,
            [network(1), dataclasses.replace(network(2), internal=True)],
            [
                Publication(
                    PortBinding("tcp", 80, IPv4Address("127.0.0.1"), 8080),
                    IPv4Address("10.1.0.2"),
                    "est1",
                    IPv4Network("10.1.0.0/24"),
                )
            ],
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True)
    assert table not in listed.stdout  # check mode applied nothing
