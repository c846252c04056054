"""RemoveSandbox on the real kernel: answered once the removal is recorded, the kernel teardown
after it. What the callers rely on: the sandbox is gone at once (not found, not listed, no user
of its networks), what follows waits for the teardown instead of failing, and a removal that
netd died in the middle of is finished at the next start."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest

from estiba.netd.v1 import netd_pb2
from tests.netd import kernel
from tests.netd.conftest import Client, InProcessNetd, Site, real_kernel
from tests.netd.test_networks import cid, free_subnet, reason
from tests.netd.test_ports import port

pytestmark = real_kernel


async def test_compose_down_removes_the_containers_then_at_once_the_network(
    site: Site, netd: InProcessNetd
) -> None:
    async with Client.connect(site) as client:
        await client.create_network("app")
        await client.create_network("spare")
        for n in (1, 2):
            await client.sandbox(cid(n), "app", name=f"svc{n}")
        await client.sandbox(cid(3), "spare")
        for n in (1, 2, 3):
            assert await client.remove(cid(n))
        assert (await client.network("app")).endpoints == []
        removed = await client.delete_network("app")  # no 403 "in use": waits for teardowns
        assert removed.name == "app"
        pruned = await client.networks.PruneNetworks(netd_pb2.PruneNetworksRequest())
        assert list(pruned.deleted) == ["spare"]
    assert [str(link["ifname"]) for link in kernel.links(site.prefix)] == [f"{site.prefix}0"]
    await netd.stop()
    left = site.leftovers()
    assert (left.links, left.netns_files, left.mounts) == ((f"{site.prefix}0",), (), ())


async def test_the_sandbox_is_gone_at_once_and_comes_back_for_the_same_container(
    site: Site, netd: InProcessNetd
) -> None:
    async with Client.connect(site) as client:
        first = await client.create(cid(1))
        other = await client.create(cid(2))
        assert await client.remove(cid(1))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.sandboxes.GetSandbox(netd_pb2.GetSandboxRequest(container_id=cid(1)))
        assert reason(caught.value) == "SANDBOX_UNKNOWN"
        assert [s.container_id for s in await client.list()] == [cid(2)]
        info = await client.system.GetInfo(netd_pb2.GetInfoRequest())
        assert info.endpoints == 1
        again = await client.create(cid(1))  # `docker start` after a stop: waits, then builds
    [old], [new] = first.endpoints, again.endpoints
    assert new.host_interface == old.host_interface
    assert new.ip_address != old.ip_address  # serial allocation, as before
    assert kernel.ping(Path(again.netns_path), other.endpoints[0].ip_address)
    inside = kernel.in_netns(Path(again.netns_path), "ip", "-o", "-4", "addr", "show", "eth0")
    assert f"inet {new.ip_address}/24" in inside


async def test_a_static_address_and_a_host_port_pass_to_the_next_container(
    site: Site, netd: InProcessNetd
) -> None:
    subnet = free_subnet()
    static = subnet.replace(".0/24", ".77")
    async with Client.connect(site) as client:
        await client.create_network("app", subnet=subnet)
        first = await client.sandbox(cid(1), "app", ip=static, ports=[port(80)])
        taken = first.ports[0].host_port
        assert await client.remove(cid(1))
        # `docker rm -f web && docker run --ip ... -p ...`: both wait for the teardown.
        second = await client.sandbox(cid(2), "app", ip=static, ports=[port(80, taken)])
    assert (second.endpoints[0].ip_address, second.ports[0].host_port) == (static, taken)
    names = {str(link["ifname"]) for link in kernel.links(site.prefix)}
    assert first.endpoints[0].host_interface not in names
    assert second.endpoints[0].host_interface in names
    inside = kernel.in_netns(Path(second.netns_path), "ip", "-o", "-4", "addr", "show")
    assert f"inet {static}/24" in inside


async def test_a_removal_netd_died_in_is_finished_at_the_next_start(
    site: Site, netd: InProcessNetd
) -> None:
    async with Client.connect(site) as client:
        gone = await client.create(cid(1))
        kept = await client.create(cid(2))
    await netd.stop()
    # What netd leaves when it dies right after answering RemoveSandbox: the record marked,
    # the veth and the namespace still there.
    with sqlite3.connect(site.config().state_dir / "netd.db") as db:
        db.execute("UPDATE sandboxes SET removing = 1 WHERE container_id = ?", (cid(1),))
    db.close()
    assert gone.endpoints[0].host_interface in {str(x["ifname"]) for x in kernel.links(site.prefix)}
    await netd.start()
    async with Client.connect(site) as client:
        assert [s.container_id for s in await client.list()] == [cid(2)]
        network = await client.default_network()
        assert [e.ip_address for e in network.endpoints] == [kept.endpoints[0].ip_address]
        assert not await client.remove(cid(1))  # nothing left to remove
    left = site.leftovers()
    assert left.netns_files == (cid(2),)
    assert set(left.links) == {f"{site.prefix}0", kept.endpoints[0].host_interface}
    assert left.mounts == (kept.netns_path,)
