"""The engine's record of a container's networks follows ``network connect`` and ``disconnect``
(netd's Connect or Disconnect, then the engine's RefreshNetworks), so Containers.Get and
Containers.List answer with every network the container is on, netd not asked."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import pytest

from estiba.engine.v1 import containers_pb2 as pb
from estiba.engine.v1 import containers_pb2_grpc
from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.kit.grpcclient import open_channel
from tests.services.conftest import Instance

if TYPE_CHECKING:
    from estiba.engine.v1.containers_pb2_grpc import ContainersAsyncStub
    from estiba.netd.v1.netd_pb2_grpc import NetworksAsyncStub, SandboxesAsyncStub

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or not os.path.exists("/bin/busybox"),
    reason="needs root, nft and /bin/busybox",
)


@dataclass
class Stubs:
    containers: ContainersAsyncStub
    networks: NetworksAsyncStub
    sandboxes: SandboxesAsyncStub


@pytest.fixture
async def stubs(services: Instance) -> AsyncIterator[Stubs]:
    engine = open_channel(services.target("engine"))
    netd = open_channel(services.target("netd"))
    try:
        containers: ContainersAsyncStub = containers_pb2_grpc.ContainersStub(engine)
        networks: NetworksAsyncStub = netd_pb2_grpc.NetworksStub(netd)
        sandboxes: SandboxesAsyncStub = netd_pb2_grpc.SandboxesStub(netd)
        yield Stubs(containers, networks, sandboxes)
    finally:
        await engine.close()
        await netd.close()


def names(c: pb.Container) -> list[str]:
    return [n.name for n in c.networks]


async def listed_on(stubs: Stubs, network: str) -> list[str]:
    request = pb.ListContainersRequest(all=True)
    request.filters["network"].values.append(network)
    return [c.name for c in (await stubs.containers.List(request)).containers]


async def test_connect_and_disconnect_show_in_the_record(services: Instance, stubs: Stubs) -> None:
    front = (
        await stubs.networks.CreateNetwork(netd_pb2.CreateNetworkRequest(name="rec-a"))
    ).network
    back = (await stubs.networks.CreateNetwork(netd_pb2.CreateNetworkRequest(name="rec-b"))).network
    spec = pb.ContainerSpec(image="busybox", cmd=["true"], network_mode="rec-a",
                            network_aliases=["svc"])  # fmt: skip
    made = await stubs.containers.Create(pb.CreateContainerRequest(name="rec", spec=spec))
    cid = made.container.id
    ref = pb.GetContainerRequest(ref=cid)
    try:
        assert names(made.container) == ["rec-a"]
        await stubs.sandboxes.Connect(
            netd_pb2.ConnectRequest(container_id=cid, network="rec-b", aliases=["other"])
        )
        await stubs.containers.RefreshNetworks(ref)
        c = await stubs.containers.Get(ref)
        sandbox = (
            await stubs.sandboxes.GetSandbox(netd_pb2.GetSandboxRequest(container_id=cid))
        ).sandbox
        assert names(c) == ["rec-a", "rec-b"]
        a, b = c.networks
        assert (a.network_id, list(a.aliases)) == (front.id, ["svc"])
        assert (b.network_id, list(b.aliases)) == (back.id, ["other"])
        for n, e in zip(c.networks, sandbox.endpoints, strict=True):
            assert (n.endpoint_id, n.ip_address, n.prefix_length, n.gateway, n.mac_address) == (
                e.id, e.ip_address, e.prefix_length, e.gateway, e.mac_address
            )  # fmt: skip
        assert b.ip_address.startswith(back.subnet.rsplit(".", 1)[0])
        listed = await stubs.containers.List(pb.ListContainersRequest(all=True))
        assert [names(x) for x in listed.containers if x.id == cid] == [["rec-a", "rec-b"]]
        assert await listed_on(stubs, "rec-b") == ["rec"]
        assert await listed_on(stubs, back.id[:10]) == ["rec"]
        assert await listed_on(stubs, "bridge") == []
        # The record is what a restarted engine reads.
        await services.stop("engine")
        await services.start("engine")
        assert names(await stubs.containers.Get(ref)) == ["rec-a", "rec-b"]
        await stubs.sandboxes.Disconnect(
            netd_pb2.DisconnectRequest(container_id=cid, network="rec-a")
        )
        await stubs.containers.RefreshNetworks(ref)
        assert names(await stubs.containers.Get(ref)) == ["rec-b"]
        assert await listed_on(stubs, "rec-a") == []
        assert await listed_on(stubs, front.id) == []
        assert await listed_on(stubs, back.id) == ["rec"]
    finally:
        await stubs.containers.Remove(pb.RemoveContainerRequest(ref=cid, force=True))
        for net in ("rec-a", "rec-b"):
            await stubs.networks.DeleteNetwork(netd_pb2.DeleteNetworkRequest(network=net))


async def test_none_and_host_are_their_mode(stubs: Stubs) -> None:
    made = []
    try:
        for mode in ("none", "host"):
            spec = pb.ContainerSpec(image="busybox", cmd=["true"], network_mode=mode)
            reply = await stubs.containers.Create(
                pb.CreateContainerRequest(name=f"rec-{mode}", spec=spec)
            )
            made.append(reply.container.id)
            assert [(n.name, n.network_id, n.ip_address) for n in reply.container.networks] == [
                (mode, "", "")
            ]
            assert await listed_on(stubs, mode) == [f"rec-{mode}"]
    finally:
        for cid in made:
            await stubs.containers.Remove(pb.RemoveContainerRequest(ref=cid, force=True))


async def test_an_unknown_container_is_not_found(stubs: Stubs) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.containers.RefreshNetworks(pb.GetContainerRequest(ref="nobody"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_restarted_engine_catches_up_with_netd(services: Instance, stubs: Stubs) -> None:
    """A connect the engine's record missed (its refresh never came, or the record predates
    the engine keeping every network) shows once the engine has started again."""
    await stubs.networks.CreateNetwork(netd_pb2.CreateNetworkRequest(name="rec-late"))
    spec = pb.ContainerSpec(image="busybox", cmd=["true"])
    made = await stubs.containers.Create(pb.CreateContainerRequest(name="late", spec=spec))
    ref = pb.GetContainerRequest(ref=made.container.id)
    try:
        await stubs.sandboxes.Connect(
            netd_pb2.ConnectRequest(container_id=made.container.id, network="rec-late")
        )
        assert names(await stubs.containers.Get(ref)) == ["bridge"]  # no refresh asked
        await services.stop("engine")
        await services.start("engine")
        for _ in range(100):
            if names(await stubs.containers.Get(ref)) == ["bridge", "rec-late"]:
                break
            await asyncio.sleep(0.1)
        assert names(await stubs.containers.Get(ref)) == ["bridge", "rec-late"]
    finally:
        await stubs.containers.Remove(pb.RemoveContainerRequest(ref=made.container.id, force=True))
        await stubs.networks.DeleteNetwork(netd_pb2.DeleteNetworkRequest(network="rec-late"))
