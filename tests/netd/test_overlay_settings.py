"""Overlay settings and names, without the kernel: what every node must compute alike."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from services.kit import config as kconfig
from services.kit import errors
from services.netd.api.overlay import caller_address
from services.netd.config import NetdConfig
from services.netd.domain import overlay
from services.netd.domain.directory import Directory
from services.netd.domain.models import Endpoint, Mode, Network, RemoteEndpoint, Sandbox
from services.netd.peering import Peering


def network(name: str, driver: str = "overlay", **options: str) -> Network:
    return Network(
        id="1" * 64,
        name=name,
        driver=driver,
        subnet=IPv4Network("10.216.5.0/24"),
        gateway=IPv4Address("10.216.5.1"),
        bridge="est-11111111",
        created_at="",
        options=tuple(options.items()),
    )


def test_the_vni_follows_the_name_or_the_option() -> None:
    derived = overlay.vni(network("lab"))
    assert derived == overlay.vni(network("lab"))  # every node computes the same one
    assert 4096 <= derived < 1 << 24
    assert derived != overlay.vni(network("lab2"))
    assert overlay.vni(network("lab", **{overlay.VNI_OPTION: "4242"})) == 4242
    for bad in ("0", "16777216", "4242,4243", "x"):
        with pytest.raises(errors.InvalidArgument):
            overlay.vni(network("lab", **{overlay.VNI_OPTION: bad}))


def test_plans_and_names() -> None:
    underlay = overlay.Underlay(IPv4Address("10.99.0.1"), (IPv4Address("10.99.0.2"),))
    plan = overlay.plan(network("lab"), underlay)
    assert plan is not None
    assert (plan.name, plan.port, plan.peers) == ("estx11111111", 4789, underlay.peers)
    assert overlay.plan(network("lab", driver="bridge"), underlay) is None
    assert overlay.plan(network("lab"), None) is None  # no underlay: the network stays local
    assert overlay.mtu_of(network("lab")) == 1450
    assert overlay.mtu_of(network("lab", driver="bridge")) == 0


def test_settings() -> None:
    env = {"ESTIBA_ROOT": "/tmp/x", "ESTIBA_RUN_DIR": "/tmp/x/run"}
    assert kconfig.load(NetdConfig, "netd", env=env).underlay is None
    given = kconfig.load(
        NetdConfig,
        "netd",
        env={**env, "ESTIBA_NETD_OVERLAY_LOCAL": "10.99.0.1",
             "ESTIBA_NETD_OVERLAY_PEERS": "10.99.0.2,10.99.0.3"},
    )  # fmt: skip
    assert given.underlay == overlay.Underlay(
        IPv4Address("10.99.0.1"), (IPv4Address("10.99.0.2"), IPv4Address("10.99.0.3"))
    )
    for bad in (
        {"ESTIBA_NETD_OVERLAY_PEERS": "10.99.0.2"},
        {"ESTIBA_NETD_OVERLAY_LOCAL": "nowhere"},
        {"ESTIBA_NETD_OVERLAY_LOCAL": "10.99.0.1", "ESTIBA_NETD_OVERLAY_PEERS": "10.99.0.300"},
    ):
        with pytest.raises(Exception, match="overlay_"):
            kconfig.load(NetdConfig, "netd", env={**env, **bad})


def test_peers_join_the_settings_and_the_network_option() -> None:
    underlay = overlay.Underlay(IPv4Address("10.99.0.1"), (IPv4Address("10.99.0.2"),))
    lab = network("lab", **{overlay.PEERS_OPTION: "10.99.0.3, 10.99.0.1,10.99.0.2"})
    assert overlay.peers(lab, underlay) == (IPv4Address("10.99.0.2"), IPv4Address("10.99.0.3"))
    with pytest.raises(errors.InvalidArgument):
        overlay.peers_of(network("lab", **{overlay.PEERS_OPTION: "10.99.0.x"}))


def test_names_of_other_nodes_join_the_network_of_the_same_name() -> None:
    directory = Directory()
    lab, bridge = network("lab"), network("other", driver="bridge")
    directory.set_networks([lab])
    assert directory.changed.is_set()
    directory.changed.clear()
    local = Sandbox(
        container_id="a" * 64,
        mode=Mode.BRIDGE,
        netns_path="/x",
        hostname="a",
        endpoints=(
            Endpoint(
                id="e" * 64,
                container_id="a" * 64,
                network_id=lab.id,
                network_name="lab",
                address=IPv4Interface("10.216.5.2/24"),
                gateway=IPv4Address("10.216.5.1"),
                mac="02:00:00:00:00:02",
                host_ifname="esta",
                aliases=("web",),
                created_at="",
            ),
        ),
        created_at="",
        name="a",
    )
    directory.put(local)
    assert [e.name for e in directory.overlay_endpoints()] == ["a"]
    directory.changed.clear()
    peer = IPv4Address("10.99.0.2")
    far = RemoteEndpoint("lab", "b" * 64, "b", ("web", "db"), IPv4Address("10.216.5.130"))
    elsewhere = RemoteEndpoint(bridge.name, "c" * 64, "c", (), IPv4Address("10.216.5.131"))
    outside = RemoteEndpoint("lab", "d" * 64, "d", (), IPv4Address("10.1.1.1"))
    directory.set_remote(peer, [far, elsewhere, outside])
    assert not directory.changed.is_set()  # what peers say is never echoed back to them
    scope = directory.scope(lab.id, IPv4Address("10.216.5.2"))
    assert directory.lookup(scope, "b") == [far.address]
    assert directory.lookup(scope, "db") == [far.address]
    assert directory.lookup(scope, "b.lab") == [far.address]
    assert directory.lookup(scope, "b" * 12) == [far.address]
    assert directory.lookup(scope, "web") == [IPv4Address("10.216.5.2")]  # the local one wins
    assert directory.lookup(scope, "c") is None  # not a network of this node
    assert directory.lookup(scope, "d") is None  # not in the network's subnet
    assert directory.remote_addresses(lab) == {far.address}
    directory.set_remote(peer, ())
    assert directory.lookup(scope, "b") is None


def test_each_slot_hands_out_its_own_part() -> None:
    def part(slot: str, ip_range: str | None = None) -> IPv4Network | None:
        lab = dataclasses.replace(
            network("lab", **{overlay.SLOT_OPTION: slot}),
            ip_range=IPv4Network(ip_range) if ip_range else None,
        )
        return overlay.dynamic_range(lab)

    assert part("0/2") == IPv4Network("10.216.5.0/25")
    assert part("1/2") == IPv4Network("10.216.5.128/25")
    assert part("2/3") == IPv4Network("10.216.5.128/26")
    assert part("1/2", "10.216.5.0/26") == IPv4Network("10.216.5.32/27")
    assert part("0/1") == IPv4Network("10.216.5.0/24")
    plain = dataclasses.replace(network("lab"), ip_range=IPv4Network("10.216.5.0/26"))
    assert overlay.dynamic_range(plain) == IPv4Network("10.216.5.0/26")
    for bad in ("2/2", "1", "x/2", "0/0", "0/128"):
        with pytest.raises(errors.InvalidArgument):
            part(bad)


async def test_only_the_peers_of_an_overlay_network_are_heard() -> None:
    directory = Directory()
    lab = network("lab", **{overlay.PEERS_OPTION: "10.99.0.2"})
    directory.set_networks([lab])

    async def listed() -> list[Network]:
        return [lab]

    peering = Peering(directory, listed, overlay.Underlay(IPv4Address("10.99.0.1"), ()))
    far = RemoteEndpoint("lab", "b" * 64, "b", (), IPv4Address("10.216.5.130"))
    assert await peering.peers() == {IPv4Address("10.99.0.2")}
    assert await peering.heard(IPv4Address("10.99.0.2"), [far]) == []  # nothing local yet
    scope = directory.scope(lab.id, IPv4Address("10.216.5.1"))
    assert directory.lookup(scope, "b") == [far.address]
    with pytest.raises(errors.PermissionDenied):
        await peering.heard(IPv4Address("10.99.0.9"), [far])
    assert directory.remote_peers() == {IPv4Address("10.99.0.2")}
    assert caller_address("ipv4:10.99.0.2:51234") == IPv4Address("10.99.0.2")
    with pytest.raises(errors.PermissionDenied):
        caller_address("unix:/run/x.sock")
