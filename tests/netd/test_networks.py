"""User-defined networks on the real kernel: create, list, remove, prune, bad input, isolation
between networks, and internal networks, through netd's gRPC API."""

from __future__ import annotations

import asyncio
import ipaddress
import random
from pathlib import Path

import grpc
import pytest

from estiba.netd.v1 import netd_pb2
from services.kit import reqctx
from tests.netd import kernel, scratch
from tests.netd.conftest import Client, InProcessNetd, Site, real_kernel

pytestmark = real_kernel


def cid(n: int) -> str:
    return f"{n:04x}" * 16


def reason(exc: grpc.aio.AioRpcError) -> str:
    return str(dict(exc.trailing_metadata() or ()).get(reqctx.REASON_TRAILER, ""))


async def refused(call: object, code: grpc.StatusCode, why: str) -> str:
    """The error message of a call that must fail with ``code`` and reason ``why``."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert (caught.value.code(), reason(caught.value)) == (code, why), caught.value.details()
    return str(caught.value.details())


async def ping(netns: str | Path, address: str) -> bool:
    return await asyncio.to_thread(kernel.ping, Path(netns), address)


def free_subnet() -> str:
    """A /24 of the test pool no other test run is likely to have at the same time."""
    return f"10.213.{random.randrange(100, 250)}.0/24"


async def test_create_list_inspect_and_remove(site: Site, netd: InProcessNetd) -> None:
    subnet = free_subnet()
    base = ipaddress.IPv4Network(subnet)
    async with Client.connect(site) as client:
        auto = await client.create_network("auto", labels={"team": "a"})
        given = await client.create_network(
            "given",
            subnet=subnet,
            gateway=str(base.network_address + 254),
            ip_range=str(ipaddress.IPv4Network(f"{base.network_address + 128}/25")),
            internal=True,
            options={"com.docker.network.driver.mtu": "1400"},
        )
        listed = (await client.networks.ListNetworks(netd_pb2.ListNetworksRequest())).networks
        sandbox = await client.sandbox(cid(1), "given", name="first")
        inspected = await client.network(given.id[:10])
    assert [n.name for n in listed] == ["bridge", "auto", "given"]
    assert [n.builtin for n in listed] == [True, False, False]
    default = listed[0]
    assert auto.bridge == f"{site.prefix}-{auto.id[: 15 - len(site.prefix) - 1]}"
    assert not ipaddress.IPv4Network(auto.subnet).overlaps(ipaddress.IPv4Network(default.subnet))
    assert dict(auto.labels) == {"team": "a"}
    assert (given.subnet, given.gateway, given.internal) == (subnet, str(base[254]), True)
    assert dict(given.options) == {"com.docker.network.driver.mtu": "1400"}
    # Addresses come from the IP range, the gateway is where it was asked to be.
    [endpoint] = sandbox.endpoints
    assert (endpoint.ip_address, given.ip_range) == (str(base[128]), str(base[128]) + "/25")
    assert endpoint.gateway == str(base[254])
    assert [(e.container_id, e.container_name) for e in inspected.endpoints] == [(cid(1), "first")]
    assert inspected.endpoint_count == 1
    for network in (auto, given):
        addresses = kernel.host("ip", "-4", "-o", "addr", "show", "dev", network.bridge)
        assert f"{network.gateway}/24" in addresses
    ruleset = kernel.host("nft", "list", "table", "inet", f"estiba_{site.prefix}")
    assert f'ip saddr {auto.subnet} oifname != "{auto.bridge}" masquerade' in ruleset
    assert f"ip saddr {given.subnet}" not in ruleset  # internal: no masquerade
    async with Client.connect(site) as client:
        await client.remove(cid(1))
        removed = await client.delete_network("given")
        assert removed.id == given.id
        await refused(client.network("given"), grpc.StatusCode.NOT_FOUND, "NETWORK_UNKNOWN")
        await client.delete_network(auto.id)
        info = await client.system.GetInfo(netd_pb2.GetInfoRequest())
    assert info.networks == 1
    assert site.leftovers().links == (f"{site.prefix}0",)
    ruleset = kernel.host("nft", "list", "table", "inet", f"estiba_{site.prefix}")
    assert given.bridge not in ruleset
    assert auto.bridge not in ruleset


async def test_bad_input_is_refused_and_leaves_nothing(site: Site, netd: InProcessNetd) -> None:
    subnet = free_subnet()
    base = ipaddress.IPv4Network(subnet)
    code = grpc.StatusCode
    async with Client.connect(site) as client:
        first = await client.create_network("first", subnet=subnet)
        default = await client.default_network()
        await client.sandbox(cid(1), "first")
        before = site.leftovers()
        rules_before = kernel.host("nft", "list", "table", "inet", f"estiba_{site.prefix}")
        cases = [
            ({"name": "first"}, code.ALREADY_EXISTS, "NETWORK_EXISTS"),
            ({"name": "host"}, code.PERMISSION_DENIED, "NETWORK_PREDEFINED"),
            ({"name": "bridge"}, code.PERMISSION_DENIED, "NETWORK_PREDEFINED"),
            ({"name": "default"}, code.PERMISSION_DENIED, "NETWORK_PREDEFINED"),
            ({"name": "-bad"}, code.INVALID_ARGUMENT, "NETWORK_NAME_INVALID"),
            ({"name": "x", "driver": "overlay"}, code.INVALID_ARGUMENT, "DRIVER_UNSUPPORTED"),
            ({"name": "x", "subnet": "10.300.0.0/24"}, code.INVALID_ARGUMENT, "SUBNET_INVALID"),
            ({"name": "x", "subnet": f"{base[5]}/24"}, code.INVALID_ARGUMENT, "SUBNET_INVALID"),
            ({"name": "x", "subnet": subnet}, code.PERMISSION_DENIED, "SUBNET_OVERLAP"),
            ({"name": "x", "subnet": default.subnet}, code.PERMISSION_DENIED, "SUBNET_OVERLAP"),
            (
                {"name": "x", "subnet": str(base.supernet(4))},
                code.PERMISSION_DENIED,
                "SUBNET_OVERLAP",
            ),
            (
                {"name": "x", "subnet": "10.212.250.0/24", "gateway": "10.212.251.1"},
                code.INVALID_ARGUMENT,
                "GATEWAY_INVALID",
            ),
            (
                {"name": "x", "subnet": "10.212.250.0/24", "ip_range": "10.212.0.0/16"},
                code.INVALID_ARGUMENT,
                "IP_RANGE_INVALID",
            ),
            ({"name": "x", "gateway": "10.212.250.1"}, code.INVALID_ARGUMENT, "SUBNET_INVALID"),
        ]
        for fields, status, why in cases:
            request = netd_pb2.CreateNetworkRequest(**fields)  # type: ignore[arg-type]
            message = await refused(client.networks.CreateNetwork(request), status, why)
            assert message
        overlap = netd_pb2.CreateNetworkRequest(name="x", subnet=subnet)
        message = await refused(
            client.networks.CreateNetwork(overlap), code.PERMISSION_DENIED, "SUBNET_OVERLAP"
        )
        assert f"overlaps network first's subnet {subnet}" in message
        # The host's own uplink subnet is refused too.
        uplink = scratch._host_subnets()[0]
        host_overlap = netd_pb2.CreateNetworkRequest(name="x", subnet=str(uplink))
        if uplink.prefixlen <= 30:
            await refused(
                client.networks.CreateNetwork(host_overlap),
                code.INVALID_ARGUMENT,
                "SUBNET_OVERLAP",
            )
        # A network in use cannot go; the unknown and the default one neither.
        message = await refused(
            client.delete_network("first"), code.PERMISSION_DENIED, "NETWORK_IN_USE"
        )
        [user] = (await client.network("first")).endpoints
        assert message == (
            "error while removing network: network first has active endpoints"
            f' (name:"{user.container_name}" id:"{user.id[:12]}")'
        )
        await refused(client.delete_network("nope"), code.NOT_FOUND, "NETWORK_UNKNOWN")
        await refused(client.delete_network("bridge"), code.PERMISSION_DENIED, "NETWORK_PREDEFINED")
        # Static addresses: outside the subnet, taken, the gateway, on the default network.
        await refused(
            client.sandbox(cid(2), "first", ip="10.212.250.9"),
            code.INVALID_ARGUMENT,
            "ADDRESS_INVALID",
        )
        taken = (await client.network("first")).endpoints[0].ip_address
        await refused(
            client.sandbox(cid(2), "first", ip=taken), code.PERMISSION_DENIED, "ADDRESS_IN_USE"
        )
        await refused(
            client.sandbox(cid(2), "first", ip=first.gateway),
            code.PERMISSION_DENIED,
            "ADDRESS_IN_USE",
        )
        await refused(
            client.sandbox(cid(2), "bridge", ip=str(ipaddress.IPv4Network(default.subnet)[9])),
            code.INVALID_ARGUMENT,
            "ADDRESS_INVALID",
        )
        await refused(client.sandbox(cid(2), "nonet"), code.NOT_FOUND, "NETWORK_UNKNOWN")
        assert [s.container_id for s in await client.list()] == [cid(1)]
        listed = await client.networks.ListNetworks(netd_pb2.ListNetworksRequest())
        assert [n.name for n in listed.networks] == ["bridge", "first"]
    assert site.leftovers() == before  # no link, namespace or mount was left half-made
    assert kernel.host("nft", "list", "table", "inet", f"estiba_{site.prefix}") == rules_before


async def test_list_filters_and_prune(site: Site, netd: InProcessNetd) -> None:
    async with Client.connect(site) as client:
        web = await client.create_network("web-front", labels={"tier": "front", "env": "prod"})
        await client.create_network("web-back", labels={"tier": "back"})
        await client.create_network("db", labels={"env": "prod"})
        await client.sandbox(cid(1), "web-back")

        async def names(**filters: list[str]) -> list[str]:
            request = netd_pb2.ListNetworksRequest()
            for key, values in filters.items():
                request.filters[key.replace("_", "!")].values.extend(values)
            reply = await client.networks.ListNetworks(request)
            return [n.name for n in reply.networks]

        assert await names(name=["web"]) == ["web-front", "web-back"]
        assert await names(name=["^db$", "front"]) == ["web-front", "db"]
        assert await names(id=[web.id[:8]]) == ["web-front"]
        assert await names(label=["env=prod"]) == ["web-front", "db"]
        assert await names(label=["env=prod", "tier"]) == ["web-front"]
        assert await names(type=["builtin"]) == ["bridge"]
        assert await names(type=["custom"], driver=["bridge"]) == ["web-front", "web-back", "db"]
        assert await names(dangling=["true"]) == ["web-front", "db"]
        assert await names(dangling=["false"]) == ["bridge", "web-back"]
        assert await names(scope=["swarm"]) == []
        reply = await client.networks.ListNetworks(netd_pb2.ListNetworksRequest())
        assert [n.endpoint_count for n in reply.networks] == [0, 0, 1, 0]
        for bad in ({"type": ["other"]}, {"colour": ["x"]}, {"dangling": ["maybe"]}):
            await refused(names(**bad), grpc.StatusCode.INVALID_ARGUMENT, "FILTER_INVALID")

        def prune(**filters: list[str]) -> netd_pb2.PruneNetworksRequest:
            request = netd_pb2.PruneNetworksRequest()
            for key, values in filters.items():
                request.filters[key.replace("_", "!")].values.extend(values)
            return request

        await refused(
            client.networks.PruneNetworks(prune(until=["soon"])),
            grpc.StatusCode.INVALID_ARGUMENT,
            "FILTER_INVALID",
        )
        kept = await client.networks.PruneNetworks(prune(until=["1h"]))
        assert list(kept.deleted) == []  # all younger than an hour
        pruned = await client.networks.PruneNetworks(prune(label_=["tier=front"]))
        assert list(pruned.deleted) == ["db"]
        pruned = await client.networks.PruneNetworks(prune())
        assert list(pruned.deleted) == ["web-front"]  # web-back is in use, bridge is built in
        assert await names() == ["bridge", "web-back"]


async def test_networks_are_isolated_from_each_other(site: Site, netd: InProcessNetd) -> None:
    async with Client.connect(site) as client:
        await client.create_network("red")
        await client.create_network("blue")
        red1 = await client.sandbox(cid(1), "red")
        red2 = await client.sandbox(cid(2), "red")
        blue = await client.sandbox(cid(3), "blue")
        plain = await client.sandbox(cid(4), "bridge")
    ip = {s.container_id: s.endpoints[0].ip_address for s in (red1, red2, blue, plain)}
    assert await ping(red1.netns_path, ip[cid(2)])  # within one network
    assert await ping(red1.netns_path, red1.endpoints[0].gateway)
    results = list(
        await asyncio.gather(
            ping(red1.netns_path, ip[cid(3)]),
            ping(blue.netns_path, ip[cid(1)]),
            ping(plain.netns_path, ip[cid(2)]),
            ping(red2.netns_path, ip[cid(4)]),
        )
    )
    assert results == [False, False, False, False]
    # The host routes between its bridges (forwarding is on for each): without netd's rules the
    # same ping goes through, so the failures above are the rules' doing.
    kernel.host("nft", "delete", "table", "inet", f"estiba_{site.prefix}")
    assert await ping(red1.netns_path, ip[cid(3)])


async def test_internal_network_has_no_way_out(site: Site, netd: InProcessNetd) -> None:
    outside = await asyncio.to_thread(scratch.make_outside, site.prefix, site.scratch_netns_dir)
    async with Client.connect(site) as client:
        await client.create_network("open")
        closed = await client.create_network("closed", internal=True)
        out = await client.sandbox(cid(1), "open")
        inside = await client.sandbox(cid(2), "closed")
        peer = await client.sandbox(cid(3), "closed")
    # The open network reaches the outside (masqueraded); the internal one only itself.
    assert await ping(out.netns_path, str(outside.ip))
    assert await ping(inside.netns_path, peer.endpoints[0].ip_address)
    route = kernel.in_netns(Path(inside.netns_path), "ip", "route", "show", "default")
    assert route == ""  # no default route on an internal network
    # Even with a route of its own, nothing leaves: the firewall drops it. Nor does anything
    # get in, from the outside or from other networks.
    kernel.in_netns(Path(inside.netns_path), "ip", "route", "add", "default", "via", closed.gateway)
    results = await asyncio.gather(
        ping(inside.netns_path, str(outside.ip)),
        ping(inside.netns_path, out.endpoints[0].ip_address),
        ping(outside.netns, inside.endpoints[0].ip_address),
        ping(out.netns_path, inside.endpoints[0].ip_address),
    )
    assert list(results) == [False, False, False, False]
    # Without netd's rules the route would have been enough: the drops are the rules' doing.
    kernel.host("nft", "delete", "table", "inet", f"estiba_{site.prefix}")
    assert await ping(inside.netns_path, str(outside.ip))
    assert await ping(outside.netns, inside.endpoints[0].ip_address)
