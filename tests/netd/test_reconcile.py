"""Reconcile at start, on the real kernel: after kill -9, and after the kernel changed behind
netd's back (a container gone, a veth or the bridge deleted, strays with netd's prefix)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import grpc

from estiba.netd.v1 import netd_pb2
from services.netd.domain.names import link_group
from tests.netd import kernel
from tests.netd.conftest import Client, InProcessNetd, NetdProcess, Site, real_kernel

pytestmark = real_kernel


def cid(n: int) -> str:
    return f"{n:04x}" * 16


async def check_consistent(
    site: Site, client: Client, foreign: frozenset[str] = frozenset()
) -> list[netd_pb2.Sandbox]:
    """Records and kernel agree: unique addresses, each sandbox built, nothing stray."""
    sandboxes = await client.list()
    network = await client.default_network()
    addresses = [s.endpoints[0].ip_address for s in sandboxes]
    assert len(addresses) == len(set(addresses)), "an address was handed out twice"
    assert sorted(e.ip_address for e in network.endpoints) == sorted(addresses)
    left = site.leftovers()
    assert sorted(left.netns_files) == sorted(s.container_id for s in sandboxes)
    assert sorted(left.mounts) == sorted(s.netns_path for s in sandboxes)
    host_ends = {s.endpoints[0].host_interface for s in sandboxes}
    assert set(left.links) - foreign == host_ends | {network.bridge}
    links = {str(link["ifname"]): link for link in kernel.links(site.prefix)}
    for name in host_ends:
        assert links[name]["master"] == network.bridge
        assert "UP" in links[name]["flags"]
    for sandbox in sandboxes:
        inside = kernel.in_netns(Path(sandbox.netns_path), "ip", "-o", "-4", "addr", "show")
        assert f"inet {sandbox.endpoints[0].ip_address}/24" in inside
        route = kernel.in_netns(Path(sandbox.netns_path), "ip", "route", "show", "default")
        assert f"default via {network.gateway} dev eth0" in route
    return sandboxes


async def test_kill_9_while_creating_then_restart_reconciles(
    site: Site, netd_process: NetdProcess
) -> None:
    rounds = [0.0, 0.01, 0.03, 0.08]
    for n, delay in enumerate(rounds):
        await netd_process.start()
        async with Client.connect(site) as client:
            ids = [cid(n * 100 + i) for i in range(24)]
            calls = [asyncio.ensure_future(client.create(c)) for c in ids]
            await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
            await asyncio.sleep(delay)
            assert netd_process.kill(signal.SIGKILL) == -signal.SIGKILL
            done = await asyncio.gather(*calls, return_exceptions=True)
        finished = [d for d in done if isinstance(d, netd_pb2.Sandbox)]
        assert all(isinstance(d, (netd_pb2.Sandbox, grpc.aio.AioRpcError)) for d in done)
        assert finished, "no create finished before the kill"
        await netd_process.start()
        async with Client.connect(site) as client:
            survivors = await check_consistent(site, client)
            # Every create that was answered survived the crash, with the same address.
            kept = {s.container_id: s.endpoints[0].ip_address for s in survivors}
            for sandbox in finished:
                assert kept[sandbox.container_id] == sandbox.endpoints[0].ip_address
            # The engine retries the others; they get sandboxes, still with unique addresses.
            for c in ids:
                await client.create(c)
            await check_consistent(site, client)
        assert netd_process.kill(signal.SIGTERM) == 0
    reports = [
        json.loads(line)
        for line in netd_process.log.read_text().splitlines()
        if "reconciled" in line
    ]
    assert len(reports) == 2 * len(rounds)
    # At least one kill hit a create between its record and the end of its kernel work.
    assert sum(r["repaired"] + r["released"] for r in reports) > 0
    await netd_process.start()
    async with Client.connect(site) as client:
        sandboxes = await client.list()
        a, b = sandboxes[0], sandboxes[-1]
        assert kernel.ping(Path(a.netns_path), b.endpoints[0].ip_address)
        for sandbox in sandboxes:
            assert await client.remove(sandbox.container_id)
    assert netd_process.kill(signal.SIGTERM) == 0  # a graceful stop ends the teardowns first
    left = site.leftovers()
    assert (left.netns_files, left.mounts, left.links) == ((), (), (f"{site.prefix}0",))


async def test_drift_behind_netds_back_is_repaired(site: Site, netd: InProcessNetd) -> None:
    async with Client.connect(site) as client:
        a = await client.create(cid(1))
        b = await client.create(cid(2))
        gone = await client.create(cid(3))
        unmounted = await client.create(cid(4))
        network = await client.default_network()
    await netd.stop()
    # Container 3 is gone: its namespace file was unmounted and removed (as if by a cleanup).
    kernel.host("umount", gone.netns_path)
    kernel.host("rm", gone.netns_path)
    # Container 4's namespace is gone but its (unmounted) file is still there.
    kernel.host("umount", unmounted.netns_path)
    # Someone deleted container 1's veth, and the bridge itself.
    kernel.host("ip", "link", "delete", a.endpoints[0].host_interface)
    kernel.host("ip", "link", "delete", network.bridge)
    kernel.host("nft", "delete", "table", "inet", f"estiba_{site.prefix}")
    # Strays: a link in netd's group that no record explains, one with the prefix only, and a
    # namespace file nobody recorded.
    group = str(link_group(site.prefix))
    stray, foreign = f"{site.prefix}dead01", f"{site.prefix}other1"
    kernel.host(
        "ip", "link", "add", stray, "group", group, "type", "veth", "peer", "name", stray + "p"
    )
    kernel.host("ip", "link", "add", foreign, "type", "veth", "peer", "name", foreign + "p")
    kernel.host("touch", str(site.netns_dir / "leftover"))

    await netd.start()
    async with Client.connect(site) as client:
        sandboxes = await check_consistent(site, client, frozenset({foreign, foreign + "p"}))
        assert [s.container_id for s in sandboxes] == [cid(1), cid(2)]
        assert (await client.default_network()).subnet == network.subnet  # kept, not re-picked
        assert kernel.ping(Path(a.netns_path), b.endpoints[0].ip_address)
        assert kernel.ping(Path(b.netns_path), a.endpoints[0].ip_address)
        assert kernel.ping(Path(a.netns_path), network.gateway)
        names = {str(link["ifname"]) for link in kernel.links(site.prefix)}
        assert not {stray, stray + "p"} & names
        assert {foreign, foreign + "p"} <= names  # not netd's group: left alone
        assert kernel.tables(site.prefix) == [f"inet estiba_{site.prefix}"]
        # Container 3's address is free again and its name can be reused.
        again = await client.create(cid(3))
        assert again.endpoints[0].host_interface == gone.endpoints[0].host_interface
    kernel.host("ip", "link", "delete", foreign)
