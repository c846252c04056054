"""netd on the real kernel: a prefix of the test's own, temporary dirs, netd in-process or as a
process, and a teardown that removes everything carrying the prefix even when the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest

from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.kit import config as kconfig
from services.kit.grpcclient import check_health, open_channel
from services.kit.tasks import spawn
from services.netd.config import NetdConfig
from services.netd.main import main as netd_main
from tests.netd import kernel

REPO = Path(__file__).resolve().parents[2]
MISSING = [tool for tool in ("ip", "nft", "nsenter", "busybox") if shutil.which(tool) is None]
real_kernel = pytest.mark.skipif(
    os.geteuid() != 0 or bool(MISSING),
    reason=f"needs root and {', '.join(MISSING) or 'ip, nft, nsenter, busybox'}",
)


@dataclasses.dataclass
class Site:
    """Where one test's netd keeps its state, and the prefix of everything it creates."""

    prefix: str
    base: Path
    extra_env: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def netns_dir(self) -> Path:
        return self.run_dir / "netns"

    @property
    def scratch_netns_dir(self) -> Path:
        """Namespaces the test makes itself (an "outside" host), apart from netd's."""
        return self.base / "scratch-netns"

    @property
    def target(self) -> str:
        return f"unix://{self.run_dir / 'netd.sock'}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "ESTIBA_ROOT": str(self.root),
            "ESTIBA_RUN_DIR": str(self.run_dir),
            "ESTIBA_NODE_NAME": "test-node",
            "ESTIBA_NETD_KERNEL_PREFIX": self.prefix,
            "ESTIBA_NETD_ADDRESS_POOL": "10.213.0.0/16",
            # Leave the host's global net.ipv4.ip_forward alone: the machine is shared.
            "ESTIBA_NETD_IP_FORWARD": "false",
            **self.extra_env,
        }

    def config(self) -> NetdConfig:
        return kconfig.load(NetdConfig, "netd", env=self.env)

    def leftovers(self) -> kernel.Leftovers:
        return kernel.leftovers(self.prefix, self.netns_dir)

    async def leftovers_become(self, expected: kernel.Leftovers, timeout: float = 5) -> bool:
        """Whether the leftovers come to equal ``expected``: a sandbox's teardown finishes
        after RemoveSandbox has answered."""
        for _ in range(int(timeout / 0.02)):
            if await asyncio.to_thread(self.leftovers) == expected:
                return True
            await asyncio.sleep(0.02)
        return False


@pytest.fixture
def site() -> Iterator[Site]:
    """A fresh prefix ("t" + 4 hex digits) and temporary dirs; all of it removed afterwards."""
    prefix = "t" + secrets.token_hex(2)
    base = Path(tempfile.mkdtemp(prefix="nd-", dir="/tmp"))
    s = Site(prefix, base)
    try:
        yield s
    finally:
        kernel.remove_all(prefix, s.netns_dir)
        kernel.remove_netns_files(s.scratch_netns_dir)
        shutil.rmtree(base, ignore_errors=True)


class Client:
    """Stubs for the three netd services over one channel."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.system = netd_pb2_grpc.SystemStub(channel)
        self.networks = netd_pb2_grpc.NetworksStub(channel)
        self.sandboxes = netd_pb2_grpc.SandboxesStub(channel)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, site: Site) -> AsyncIterator[Client]:
        async with open_channel(site.target) as channel:
            yield cls(channel)

    async def create(
        self,
        container_id: str,
        network: str = "bridge",
        hostname: str = "",
        aliases: Sequence[str] = (),
    ) -> netd_pb2.Sandbox:
        request = netd_pb2.CreateSandboxRequest(
            container_id=container_id, network=network, hostname=hostname, aliases=aliases
        )
        return (await self.sandboxes.CreateSandbox(request)).sandbox

    async def remove(self, container_id: str) -> bool:
        reply = await self.sandboxes.RemoveSandbox(
            netd_pb2.RemoveSandboxRequest(container_id=container_id)
        )
        return reply.removed

    async def list(self) -> list[netd_pb2.Sandbox]:
        reply = await self.sandboxes.ListSandboxes(netd_pb2.ListSandboxesRequest())
        return list(reply.sandboxes)

    async def default_network(self) -> netd_pb2.Network:
        return await self.network("bridge")

    async def network(self, ref: str) -> netd_pb2.Network:
        reply = await self.networks.GetNetwork(netd_pb2.GetNetworkRequest(network=ref))
        return reply.network

    async def create_network(self, name: str, **fields: Any) -> netd_pb2.Network:
        request = netd_pb2.CreateNetworkRequest(name=name, **fields)
        return (await self.networks.CreateNetwork(request)).network

    async def delete_network(self, ref: str) -> netd_pb2.Network:
        request = netd_pb2.DeleteNetworkRequest(network=ref)
        return (await self.networks.DeleteNetwork(request)).network

    async def sandbox(
        self,
        container_id: str,
        network: str,
        name: str = "",
        aliases: Sequence[str] = (),
        ip: str = "",
        ports: Sequence[netd_pb2.PortBinding] = (),
    ) -> netd_pb2.Sandbox:
        request = netd_pb2.CreateSandboxRequest(
            container_id=container_id,
            network=network,
            name=name,
            aliases=aliases,
            ip_address=ip,
            ports=ports,
        )
        return (await self.sandboxes.CreateSandbox(request)).sandbox

    async def attach(
        self, container_id: str, network: str, ip: str = "", aliases: Sequence[str] = ()
    ) -> netd_pb2.Sandbox:
        """Connect: one more network for the container's sandbox."""
        request = netd_pb2.ConnectRequest(
            container_id=container_id, network=network, ip_address=ip, aliases=aliases
        )
        return (await self.sandboxes.Connect(request)).sandbox

    async def detach(self, container_id: str, network: str) -> netd_pb2.Sandbox:
        """Disconnect: the container leaves the network."""
        request = netd_pb2.DisconnectRequest(container_id=container_id, network=network)
        return (await self.sandboxes.Disconnect(request)).sandbox

    async def rename(self, container_id: str, name: str) -> netd_pb2.Sandbox:
        request = netd_pb2.UpdateSandboxRequest(container_id=container_id, name=name)
        return (await self.sandboxes.UpdateSandbox(request)).sandbox


async def wait_healthy(target: str, alive: Callable[[], None], timeout: float = 20) -> None:
    """Until netd answers its health check; ``alive`` raises if netd died meanwhile."""
    channel = open_channel(target)
    try:
        for _ in range(int(timeout / 0.05)):
            alive()
            if await check_health(channel, service="netd", timeout=1):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"netd at {target} did not become healthy")
    finally:
        await channel.close()


class InProcessNetd:
    """netd's ``main`` on the test's event loop."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop = asyncio.Event()
        task = self._task = spawn(netd_main(self.site.config(), self._stop), name="test-netd")

        def alive() -> None:
            if task.done():
                task.result()
                raise RuntimeError("netd ended during start-up")

        await wait_healthy(self.site.target, alive)

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            task, self._task = self._task, None
            await task


class NetdProcess:
    """``python -m services.netd`` as a child process, stopped by its pid."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = site.base / "netd.log"

    def spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "services.netd"],
                cwd=REPO,
                env={**os.environ, **self.site.env, "ESTIBA_LOG_FORMAT": "json"},
                stdout=log,
                stderr=log,
            )

    async def start(self) -> None:
        proc = self.proc = self.spawn()

        def alive() -> None:
            if proc.poll() is not None:
                raise RuntimeError(f"netd exited {proc.returncode}: {self.log.read_text()[-2000:]}")

        await wait_healthy(self.site.target, alive)

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> int:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)
        code = self.proc.wait(timeout=20)
        self.proc = None
        return code


@pytest.fixture
async def netd(site: Site) -> AsyncIterator[InProcessNetd]:
    """netd started in-process for ``site``; stopped (not torn down) afterwards."""
    instance = InProcessNetd(site)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
async def netd_process(site: Site) -> AsyncIterator[NetdProcess]:
    """A netd child process for ``site`` (not started); killed by pid afterwards if alive."""
    instance = NetdProcess(site)
    try:
        yield instance
    finally:
        if instance.proc is not None and instance.proc.poll() is None:
            with contextlib.suppress(Exception):
                instance.kill(signal.SIGTERM)
