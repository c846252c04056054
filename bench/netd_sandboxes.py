"""How long netd takes to set up and tear down a container's network sandbox (bridge mode).

    sudo .venv/bin/python -m bench.netd_sandboxes [--count 50]

Three layers, each timed over ``--count`` sandboxes created one after another (then removed):

* kernel: ``NetlinkKernel.create_sandbox``: namespace, veth pair, address, routes;
* netd: ``SandboxManager.create``: the above plus IPAM and the records in netd.db;
* gRPC: ``Sandboxes/CreateSandbox`` over netd's UNIX socket, as the engine calls it.

Runs netd's own code in this process with a fresh kernel prefix ("b" + 4 hex digits) and a
temporary state dir, and removes everything it made (sandboxes, bridge, nftables table) at the
end. Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.kit import config as kconfig
from services.kit.db import Database
from services.kit.grpcclient import check_health, open_channel
from services.kit.tasks import spawn
from services.netd.config import NetdConfig
from services.netd.dns.server import DnsServers
from services.netd.dns.upstream import Upstream
from services.netd.domain.directory import Directory
from services.netd.domain.endpoints import plan as endpoint_plan
from services.netd.domain.models import SandboxRequest
from services.netd.domain.networks import NetworkManager
from services.netd.domain.sandboxes import SandboxManager
from services.netd.firewall.hostports import SocketHostPorts
from services.netd.firewall.nft import NftFirewall
from services.netd.hostfiles import HostFileReader
from services.netd.main import main as netd_main
from services.netd.netlink.kernel import NetlinkKernel
from services.netd.store.migrations import MIGRATIONS
from services.netd.store.sqlite import NetdStore


async def timed(count: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    times = []
    for n in range(count):
        t0 = time.perf_counter()
        await step(n)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def row(name: str, times: list[float]) -> str:
    p90 = statistics.quantiles(times, n=10)[-1]
    median = statistics.median(times)
    return f"{name:<28} median {median:6.2f} ms   p90 {p90:6.2f}   min {min(times):6.2f}"


async def bench(cfg: NetdConfig, count: int) -> list[str]:
    lines = []
    stop = asyncio.Event()
    server = spawn(netd_main(cfg, stop), name="bench-netd")
    async with open_channel(cfg.grpc_target) as channel:
        for _ in range(200):
            if server.done():
                server.result()  # netd failed to start: its error, not a timeout
            if await check_health(channel, service="netd", timeout=1):
                break
            await asyncio.sleep(0.05)
        stub = netd_pb2_grpc.SandboxesStub(channel)
        ids = [f"{n:012x}" + "c" * 52 for n in range(count)]
        times = await timed(count, lambda n: stub.CreateSandbox(
            netd_pb2.CreateSandboxRequest(container_id=ids[n])))  # fmt: skip
        lines.append(row("gRPC CreateSandbox", times))
        times = await timed(count, lambda n: stub.RemoveSandbox(
            netd_pb2.RemoveSandboxRequest(container_id=ids[n])))  # fmt: skip
        lines.append(row("gRPC RemoveSandbox", times))
    stop.set()
    await server

    # The same netd.db and kernel objects, driven without the server.
    db = await Database.open(cfg.state_dir / "netd.db", MIGRATIONS)
    try:
        store = NetdStore(db)
        async with NetlinkKernel.open(cfg.kernel_prefix) as kernel:
            host = HostFileReader()
            directory = Directory()
            networks = NetworkManager(
                store, kernel, NftFirewall(cfg.kernel_prefix), host,
                DnsServers(directory, Upstream()), directory, prefix=cfg.kernel_prefix,
                pool=cfg.pool, subnet_prefixlen=cfg.subnet_prefixlen, ip_forward=False,
            )  # fmt: skip
            manager = SandboxManager(
                store, kernel, host, networks, SocketHostPorts(), prefix=cfg.kernel_prefix,
                netns_dir=cfg.netns_dir, dns_fallback=cfg.dns_fallback,
            )  # fmt: skip
            ids = [f"{n:012x}" + "d" * 52 for n in range(count)]
            times = await timed(count, lambda n: manager.create(SandboxRequest(ids[n], "", "")))
            lines.append(row("SandboxManager.create", times))
            plans = []
            for cid in ids:
                sandbox, _ = await manager.get(cid)
                plans.append((Path(sandbox.netns_path), sandbox.endpoints[0]))
            for cid in ids:
                await manager.remove(cid)
            network, _ = await networks.get("bridge")
            times = await timed(count, lambda n: kernel.create_sandbox(plans[n][0], endpoint_plan(
                plans[n][1], network.bridge, default_route=True)))  # fmt: skip
            lines.append(row("NetlinkKernel.create_sandbox", times))
            times = await timed(count, lambda n: kernel.remove_sandbox(
                plans[n][0], [plans[n][1].host_ifname]))  # fmt: skip
            lines.append(row("NetlinkKernel.remove_sandbox", times))
            await kernel.delete_link(network.bridge)
    finally:
        await db.close()
    return lines


async def cleanup(cfg: NetdConfig) -> None:
    """Whatever is left with this run's prefix: sandboxes' files, links, the table."""
    async with NetlinkKernel.open(cfg.kernel_prefix) as kernel:
        for f in await kernel.netns_files(cfg.netns_dir):
            await kernel.remove_sandbox(f.path, [])
        for link in sorted(await kernel.links(), key=lambda link: link.kind == "bridge"):
            await kernel.delete_link(link.name)
    proc = await asyncio.create_subprocess_exec(
        "nft", "delete", "table", "inet", f"estiba_{cfg.kernel_prefix}",
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="nb-", dir="/tmp"))
    prefix = "b" + secrets.token_hex(2)
    env = {
        "ESTIBA_ROOT": str(base / "root"),
        "ESTIBA_RUN_DIR": str(base / "run"),
        "ESTIBA_NETD_KERNEL_PREFIX": prefix,
        "ESTIBA_NETD_ADDRESS_POOL": "10.214.0.0/16",
        "ESTIBA_NETD_IP_FORWARD": "false",
    }
    cfg = kconfig.load(NetdConfig, "netd", env=env)
    try:
        lines = asyncio.run(bench(cfg, args.count))
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(cleanup(cfg))
        shutil.rmtree(base, ignore_errors=True)
    print(f"netd sandbox set-up, {args.count} sandboxes each, prefix {prefix}:")
    for line in lines:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
