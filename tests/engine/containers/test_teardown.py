"""A removed container's record goes first and its kernel state after (``containers.teardown``):
``rm`` answers once the engine's part of it is gone (netd's namespace follows netd's own
teardown), ``run --rm``'s wait once the record is, and a teardown cut short by the engine's
end is finished at its next start."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from estiba.engine.v1 import containers_pb2 as pb
from estiba.engine.v1 import containers_pb2_grpc
from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.engine.config import EngineConfig
from services.engine.store.containers import ContainerStore
from services.engine.store.migrations import MIGRATIONS
from services.kit import config as kconfig
from services.kit.db import Database
from services.kit.grpcclient import open_channel
from tests.services.conftest import Instance

if TYPE_CHECKING:
    from estiba.engine.v1.containers_pb2_grpc import ContainersAsyncStub
    from estiba.netd.v1.netd_pb2_grpc import SandboxesAsyncStub

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or not os.path.exists("/bin/busybox"),
    reason="needs root, nft and /bin/busybox",
)


@dataclass
class Node:
    instance: Instance
    config: EngineConfig
    containers: ContainersAsyncStub
    sandboxes: SandboxesAsyncStub

    def leftovers(self, cid: str) -> list[str]:
        """What the kernel and the engine's directories still hold for the container."""
        left = self.engine_leftovers(cid)
        if (self.config.run_dir / "netns" / cid).exists():
            left.append("its network namespace")
        return left

    def engine_leftovers(self, cid: str) -> list[str]:
        """What the engine itself takes down: the root, its directory, runc's state, cgroups."""
        left = []
        if (
            str(self.config.state_dir / "containers" / cid)
            in Path("/proc/self/mountinfo").read_text()
        ):
            left.append("its root is mounted")
        if (self.config.state_dir / "containers" / cid).exists():
            left.append("its directory")
        if (self.config.engine_run_dir / "runc" / cid).exists():
            left.append("runc's state")
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            if (hierarchy / self.config.cgroup_parent / cid).exists():
                left.append(f"its cgroup in {hierarchy.name}")
        return left

    async def has_sandbox(self, cid: str) -> bool:
        return await found(self.sandboxes.GetSandbox(netd_pb2.GetSandboxRequest(container_id=cid)))

    async def noted_teardowns(self) -> list[str]:
        db = await Database.open(self.config.state_dir / "engine.db", MIGRATIONS, inline=True)
        try:
            return await ContainerStore(db).teardowns()
        finally:
            await db.close()


@pytest.fixture
async def node(services: Instance) -> AsyncIterator[Node]:
    engine = open_channel(services.target("engine"))
    netd = open_channel(services.target("netd"))
    try:
        yield Node(
            services,
            kconfig.load(EngineConfig, "engine", env=services.env),
            containers_pb2_grpc.ContainersStub(engine),
            netd_pb2_grpc.SandboxesStub(netd),
        )
    finally:
        await engine.close()
        await netd.close()


async def create(node: Node, name: str, *cmd: str, auto_remove: bool = False) -> pb.Container:
    spec = pb.ContainerSpec(image="busybox", cmd=list(cmd), auto_remove=auto_remove)
    made = await node.containers.Create(pb.CreateContainerRequest(name=name, spec=spec))
    return made.container


async def wait(node: Node, cid: str, condition: str) -> int:
    request = pb.WaitContainerRequest(ref=cid, condition=condition)
    async for event in node.containers.Wait(request):
        if not event.waiting:
            return event.result.status_code
    raise AssertionError("the wait ended without a result")


async def found(call: Awaitable[object]) -> bool:
    """Whether the call finds what it asks for: False when it answers NOT_FOUND."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return False
    return True


async def gone(node: Node, cid: str) -> bool:
    return not await found(node.containers.Get(pb.GetContainerRequest(ref=cid)))


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def eventually_clean(node: Node, cid: str) -> None:
    for _ in range(250):
        if (
            not node.leftovers(cid)
            and not await node.has_sandbox(cid)
            and cid not in await node.noted_teardowns()
        ):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"left behind: {node.leftovers(cid)}")


async def test_rm_answers_once_everything_is_gone(node: Node) -> None:
    c = await create(node, "brief", "true")
    exited = asyncio.ensure_future(wait(node, c.id, "next-exit"))
    await asyncio.sleep(0.05)
    await node.containers.Start(pb.StartContainerRequest(ref=c.id))
    assert await exited == 0
    await node.containers.Remove(pb.RemoveContainerRequest(ref=c.id))
    assert await gone(node, c.id)
    assert node.engine_leftovers(c.id) == []
    assert c.id not in await node.noted_teardowns()
    await eventually_clean(node, c.id)


async def test_auto_remove_answers_the_wait_and_then_takes_everything_down(node: Node) -> None:
    c = await create(node, "auto", "sh", "-c", "exit 3", auto_remove=True)
    removed = asyncio.ensure_future(wait(node, c.id, "removed"))
    await asyncio.sleep(0.05)
    await node.containers.Start(pb.StartContainerRequest(ref=c.id))
    assert await removed == 3
    assert await gone(node, c.id)
    again = await create(node, "auto", "true")  # the name is free at once
    await node.containers.Remove(pb.RemoveContainerRequest(ref=again.id))
    await eventually_clean(node, c.id)


async def test_a_teardown_cut_short_is_finished_at_the_next_start(node: Node) -> None:
    c = await create(node, "cut", "sleep", "1000")
    await node.containers.Start(pb.StartContainerRequest(ref=c.id))
    pid = (await node.containers.Get(pb.GetContainerRequest(ref=c.id))).state.pid
    await node.instance.stop("engine")  # the container keeps running
    os.kill(pid, signal.SIGKILL)
    for _ in range(250):  # conmon reaps it and goes
        if not alive(pid):
            break
        await asyncio.sleep(0.02)
    # The state a crash right after the removal's transaction leaves: the record retired, the
    # root still mounted, runc's state, the cgroups and the sandbox all still there.
    db = await Database.open(node.config.state_dir / "engine.db", MIGRATIONS, inline=True)
    try:
        await ContainerStore(db).retire(c.id, c.image_id)
    finally:
        await db.close()
    assert "its root is mounted" in node.leftovers(c.id)
    assert await node.has_sandbox(c.id)

    await node.instance.start("engine")
    await eventually_clean(node, c.id)
    assert await gone(node, c.id)
