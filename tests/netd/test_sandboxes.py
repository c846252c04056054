"""Sandboxes on the real kernel, through netd's gRPC API, with a prefix of the test's own."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import grpc
import pytest

from estiba.netd.v1 import netd_pb2
from services.kit import reqctx
from tests.netd import kernel
from tests.netd.conftest import Client, InProcessNetd, Site, real_kernel

pytestmark = real_kernel

CID_A = "a1" * 32
CID_B = "b2" * 32


async def ping(netns: str, address: str) -> bool:
    return await asyncio.to_thread(kernel.ping, Path(netns), address)


async def read(path: str | Path) -> str:
    return await asyncio.to_thread(Path(path).read_text)


def reason(exc: grpc.aio.AioRpcError) -> str:
    return str(dict(exc.trailing_metadata() or ()).get(reqctx.REASON_TRAILER, ""))


async def test_default_network_is_made_at_start(site: Site, netd: InProcessNetd) -> None:
    async with Client.connect(site) as client:
        listed = await client.networks.ListNetworks(netd_pb2.ListNetworksRequest())
        info = await client.system.GetInfo(netd_pb2.GetInfoRequest())
    [network] = listed.networks
    subnet = ipaddress.IPv4Network(network.subnet)
    assert (network.name, network.driver, network.bridge) == ("bridge", "bridge", f"{site.prefix}0")
    assert subnet.subnet_of(ipaddress.IPv4Network("10.213.0.0/16"))
    assert subnet.prefixlen == 24
    assert network.gateway == str(subnet.network_address + 1)
    assert len(network.id) == 64
    assert not network.endpoints
    assert (info.networks, info.endpoints, info.kernel_prefix) == (1, 0, site.prefix)
    [bridge] = kernel.links(site.prefix)
    assert kernel.kind(bridge) == "bridge"
    assert "UP" in bridge["flags"]
    addresses = kernel.host("ip", "-4", "-o", "addr", "show", "dev", network.bridge)
    assert f"{network.gateway}/24" in addresses
    assert (await read(f"/proc/sys/net/ipv4/conf/{network.bridge}/forwarding")).strip() == "1"
    assert kernel.tables(site.prefix) == [f"inet estiba_{site.prefix}"]
    ruleset = kernel.host("nft", "list", "table", "inet", f"estiba_{site.prefix}")
    assert f'ip saddr {network.subnet} oifname != "{network.bridge}" masquerade' in ruleset


async def test_two_containers_reach_each_other_and_the_gateway(
    site: Site, netd: InProcessNetd
) -> None:
    async with Client.connect(site) as client:
        a = await client.create(CID_A, hostname="alpha")
        b = await client.create(CID_B)
        network = await client.default_network()
        info = await client.system.GetInfo(netd_pb2.GetInfoRequest())
    [ea], [eb] = a.endpoints, b.endpoints
    assert a.netns_path == str(site.netns_dir / CID_A)
    assert a.mode == "bridge"
    assert ea.ip_address != eb.ip_address
    assert ipaddress.IPv4Address(ea.ip_address) in ipaddress.IPv4Network(network.subnet)
    assert (ea.gateway, ea.prefix_length, ea.interface_name) == (network.gateway, 24, "eth0")
    assert ea.host_interface == f"{site.prefix}{CID_A[:10]}"
    packed = ipaddress.IPv4Address(ea.ip_address).packed
    assert ea.mac_address == "02:42:" + ":".join(f"{x:02x}" for x in packed)
    assert f"{ea.ip_address}\talpha\n" in a.hosts
    assert "127.0.0.1\tlocalhost" in a.hosts
    assert f"{eb.ip_address}\t{CID_B[:12]}\n" in b.hosts
    assert "nameserver " in a.resolv_conf
    assert "nameserver 127." not in a.resolv_conf
    assert [e.container_id for e in network.endpoints] == [CID_A, CID_B]
    assert info.endpoints == 2

    assert await ping(a.netns_path, eb.ip_address)
    assert await ping(b.netns_path, ea.ip_address)
    assert await ping(a.netns_path, ea.gateway)
    inside = kernel.in_netns(Path(a.netns_path), "ip", "-o", "-4", "addr", "show", "dev", "eth0")
    assert f"inet {ea.ip_address}/24" in inside
    link = kernel.in_netns(Path(a.netns_path), "ip", "-o", "link", "show", "dev", "eth0")
    assert f"link/ether {ea.mac_address}" in link
    assert "state UP" in link
    route = kernel.in_netns(Path(a.netns_path), "ip", "route", "show", "default")
    assert f"default via {ea.gateway} dev eth0" in route
    host_ends = {str(link["ifname"]): link for link in kernel.links(site.prefix)}
    assert host_ends[ea.host_interface]["master"] == network.bridge


async def test_create_is_idempotent_and_conflicts_are_refused(
    site: Site, netd: InProcessNetd
) -> None:
    async with Client.connect(site) as client:
        first = await client.create(CID_A, hostname="web", aliases=["db"])
        assert await client.create(CID_A, hostname="web", aliases=["db"]) == first
        assert list(first.endpoints[0].aliases) == ["db"]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.create(CID_A, network="none", hostname="web")
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert reason(caught.value) == "SANDBOX_EXISTS"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.create("../etc")
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason(caught.value) == "CONTAINER_ID_INVALID"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.create(CID_B, network="nosuchnet")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert reason(caught.value) == "NETWORK_UNKNOWN"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.sandboxes.GetSandbox(netd_pb2.GetSandboxRequest(container_id=CID_B))
        assert reason(caught.value) == "SANDBOX_UNKNOWN"
        got = await client.sandboxes.GetSandbox(
            netd_pb2.GetSandboxRequest(container_id=CID_A, files=True)
        )
        assert got.sandbox == first
        bare = await client.sandboxes.GetSandbox(netd_pb2.GetSandboxRequest(container_id=CID_A))
        assert bare.sandbox.hosts == bare.sandbox.resolv_conf == ""
        assert bare.sandbox.endpoints == first.endpoints
        assert [s.container_id for s in await client.list()] == [CID_A]
        network = await client.default_network()
        by_id = await client.networks.GetNetwork(netd_pb2.GetNetworkRequest(network=network.id))
        by_prefix = await client.networks.GetNetwork(
            netd_pb2.GetNetworkRequest(network=network.id[:6])
        )
        assert by_id.network == network == by_prefix.network
    assert site.leftovers().netns_files == (CID_A,)


async def test_remove_leaves_nothing_and_releases_the_address(
    site: Site, netd: InProcessNetd
) -> None:
    async with Client.connect(site) as client:
        a = await client.create(CID_A)
        b = await client.create(CID_B)
        assert await client.remove(CID_A) is True
        assert await client.remove(CID_A) is False  # removing again is fine
        assert await client.remove(CID_B) is True
        network = await client.default_network()
        info = await client.system.GetInfo(netd_pb2.GetInfoRequest())
    assert not network.endpoints  # at once: a removed container is no user of the network
    assert info.endpoints == 0
    await netd.stop()  # which waits for the teardowns that follow the answers
    left = site.leftovers()
    assert left.links == (f"{site.prefix}0",)  # only the bridge: the network stays
    assert left.netns_files == ()
    assert left.mounts == ()
    for sandbox in (a, b):
        assert not await asyncio.to_thread(Path(sandbox.netns_path).exists)


async def test_addresses_are_not_reused_at_once(site: Site, netd: InProcessNetd) -> None:
    async with Client.connect(site) as client:
        first = (await client.create(CID_A)).endpoints[0].ip_address
        await client.remove(CID_A)
        second = (await client.create(CID_A)).endpoints[0].ip_address
    assert ipaddress.IPv4Address(second) == ipaddress.IPv4Address(first) + 1


async def test_none_and_host_modes(site: Site, netd: InProcessNetd) -> None:
    async with Client.connect(site) as client:
        none = await client.create(CID_A, network="none", hostname="lonely")
        host = await client.create(CID_B, network="host")
        info = await client.system.GetInfo(netd_pb2.GetInfoRequest())
        assert (none.mode, host.mode) == ("none", "host")
        assert (len(none.endpoints), len(host.endpoints), info.endpoints) == (0, 0, 0)
        assert (none.netns_path, host.netns_path) == (str(site.netns_dir / CID_A), "")
        links = kernel.in_netns(Path(none.netns_path), "ip", "-o", "link", "show")
        assert links.count("\n") == 1
        assert "lo:" in links
        assert ",UP," in links
        assert await ping(none.netns_path, "127.0.0.1")
        assert none.hosts.endswith("ff02::2\tip6-allrouters\n")  # no address of its own
        assert host.resolv_conf == await read("/etc/resolv.conf")
        assert host.hosts == await read("/etc/hosts")
        assert [link["ifname"] for link in kernel.links(site.prefix)] == [f"{site.prefix}0"]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.create("c3", network="none", aliases=["x"])
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert await client.remove(CID_A)
        assert await client.remove(CID_B)
    await netd.stop()  # which waits for the teardowns that follow the answers
    assert site.leftovers().netns_files == ()


async def test_stopping_netd_keeps_sandboxes_and_a_restart_finds_them(
    site: Site, netd: InProcessNetd
) -> None:
    async with Client.connect(site) as client:
        a = await client.create(CID_A)
        b = await client.create(CID_B)
    await netd.stop()
    assert await ping(a.netns_path, b.endpoints[0].ip_address)  # containers keep talking
    await netd.start()
    async with Client.connect(site) as client:
        assert [s.container_id for s in await client.list()] == [CID_A, CID_B]
        again = await client.create(CID_A)
    assert again.endpoints == a.endpoints
    assert await ping(b.netns_path, a.endpoints[0].ip_address)


async def test_a_failed_create_leaves_nothing_and_a_restart_heals(
    site: Site, netd: InProcessNetd
) -> None:
    async with Client.connect(site) as client:
        a = await client.create(CID_A)
        network = await client.default_network()
        kernel.host("ip", "link", "delete", network.bridge)  # behind netd's back
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.create(CID_B)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(caught.value) == "BRIDGE_MISSING"
        assert [s.container_id for s in await client.list()] == [CID_A]
    assert site.leftovers().netns_files == (CID_A,)
    await netd.stop()
    await netd.start()
    async with Client.connect(site) as client:
        b = await client.create(CID_B)
    assert await ping(b.netns_path, a.endpoints[0].ip_address)
