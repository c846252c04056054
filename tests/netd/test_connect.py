"""Connect and disconnect on the real kernel: several interfaces in one sandbox's namespace."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import grpc

from tests.netd import kernel
from tests.netd.conftest import Client, InProcessNetd, Site, real_kernel
from tests.netd.test_networks import cid, free_subnet, ping, refused

pytestmark = real_kernel


def interfaces(netns: str) -> dict[str, str]:
    """Interface name → its IPv4 address with prefix, inside the namespace."""
    out = kernel.in_netns(Path(netns), "ip", "-o", "-4", "addr", "show")
    return {f[1]: f[3] for f in (line.split() for line in out.splitlines()) if f[1] != "lo"}


def default_route(netns: str) -> str:
    return kernel.in_netns(Path(netns), "ip", "route", "show", "default").strip()


async def test_connect_and_disconnect_a_sandbox(site: Site, netd: InProcessNetd) -> None:
    subnet = free_subnet()
    static = str(ipaddress.IPv4Network(subnet)[200])
    code = grpc.StatusCode
    async with Client.connect(site) as client:
        app = await client.create_network("app", subnet=subnet)
        peer = await client.sandbox(cid(1), "app", name="peer")
        c = await client.sandbox(cid(2), "bridge", name="c")
        [eth0] = c.endpoints
        c = await client.attach(cid(2), "app", ip=static, aliases=["api"])
        assert [(e.interface_name, e.network_name) for e in c.endpoints] == [
            ("eth0", "bridge"), ("eth1", "app")]  # fmt: skip
        eth1 = c.endpoints[1]
        assert (eth1.ip_address, list(eth1.aliases)) == (static, ["api"])
        assert [e.default_route for e in c.endpoints] == [True, False]
        assert interfaces(c.netns_path) == {
            "eth0": f"{eth0.ip_address}/24", "eth1": f"{static}/24"}  # fmt: skip
        assert default_route(c.netns_path).startswith(f"default via {eth0.gateway} dev eth0")
        assert await ping(c.netns_path, peer.endpoints[0].ip_address)
        assert await ping(peer.netns_path, static)
        # What cannot be done is refused, and leaves nothing behind.
        await client.create_network("more")
        before = site.leftovers()
        await refused(client.attach(cid(2), "app"), code.PERMISSION_DENIED, "ENDPOINT_EXISTS")
        await refused(client.attach(cid(2), "nonet"), code.NOT_FOUND, "NETWORK_UNKNOWN")
        await refused(client.attach(cid(9), "app"), code.NOT_FOUND, "SANDBOX_UNKNOWN")
        await refused(
            client.attach(cid(1), "bridge", ip="10.212.0.9"), code.INVALID_ARGUMENT,
            "ADDRESS_INVALID")  # fmt: skip
        await client.create(cid(3), network="none")
        await refused(client.attach(cid(3), "app"), code.INVALID_ARGUMENT, "SANDBOX_MODE")
        await client.remove(cid(3))
        await refused(
            client.attach(cid(1), "more", ip=app.gateway), code.INVALID_ARGUMENT, "ADDRESS_INVALID"
        )
        await refused(client.detach(cid(1), "more"), code.NOT_FOUND, "ENDPOINT_UNKNOWN")
        await refused(client.delete_network("app"), code.PERMISSION_DENIED, "NETWORK_IN_USE")
        assert await site.leftovers_become(before)  # cid(3)'s namespace goes after the answer
        assert set(interfaces(c.netns_path)) == {"eth0", "eth1"}
        # Leaving the network of the default route moves the route to the next network.
        c = await client.detach(cid(2), "bridge")
        assert [e.interface_name for e in c.endpoints] == ["eth1"]
        assert c.endpoints[0].default_route
        assert interfaces(c.netns_path) == {"eth1": f"{static}/24"}
        assert default_route(c.netns_path).startswith(f"default via {app.gateway} dev eth1")
        assert eth0.host_interface not in site.leftovers().links
        assert await ping(c.netns_path, peer.endpoints[0].ip_address)
        # Leaving the last network leaves loopback only; connecting again gives eth0.
        c = await client.detach(cid(2), "app")
        assert (list(c.endpoints), interfaces(c.netns_path), default_route(c.netns_path)) == (
            [], {}, "")  # fmt: skip
        assert [e.container_id for e in (await client.network("app")).endpoints] == [cid(1)]
        c = await client.attach(cid(2), "app")
        assert [e.interface_name for e in c.endpoints] == ["eth0"]
        assert default_route(c.netns_path).startswith(f"default via {app.gateway} dev eth0")
        await client.remove(cid(2))
        await client.remove(cid(1))
        await client.delete_network("app")


async def test_a_connected_sandbox_survives_a_restart_and_is_repaired(
    site: Site, netd: InProcessNetd
) -> None:
    async with Client.connect(site) as client:
        await client.create_network("back", internal=True)
        front = await client.create_network("front")
        a = await client.sandbox(cid(1), "back", name="a")
        b = await client.sandbox(cid(2), "front", name="b")
        a = await client.attach(cid(1), "front")
    # On an internal network first: the default route comes with the connect to "front".
    assert [e.default_route for e in a.endpoints] == [False, True]
    assert default_route(a.netns_path).startswith(f"default via {front.gateway} dev eth1")
    await netd.stop()
    kernel.host("ip", "link", "delete", a.endpoints[1].host_interface)  # behind netd's back
    assert set(interfaces(a.netns_path)) == {"eth0"}
    await netd.start()
    async with Client.connect(site) as client:
        [again, _] = await client.list()
    assert again.endpoints == a.endpoints
    eth0, eth1 = (f"{e.ip_address}/24" for e in a.endpoints)
    assert interfaces(a.netns_path) == {"eth0": eth0, "eth1": eth1}
    assert default_route(a.netns_path).startswith(f"default via {front.gateway} dev eth1")
    assert list(
        await asyncio.gather(
            ping(a.netns_path, b.endpoints[0].ip_address),
            ping(b.netns_path, a.endpoints[1].ip_address),
        )
    ) == [True, True]
