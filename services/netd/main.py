"""netd's composition root: config → database → kernel adapters → reconcile → servicers → server.

Reconcile runs before the server listens, so no request ever sees a half-repaired state. On
stop, the server closes; the teardowns of sandboxes removed just before are waited for (a
while: what is left stays recorded, and reconcile finishes it at the next start); then the
DNS servers and the sockets holding published host ports close (they are netd's own, remade
at the next start). Nothing else happens: bridges, sandboxes and the nftables table stay in
the kernel, because containers keep running while netd restarts or upgrades.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from services.kit import grpcserver, tasks
from services.kit.db import Database
from services.kit.tasks import spawn
from services.netd.api.networks import NetworksServicer
from services.netd.api.overlay import OverlayServicer
from services.netd.api.sandboxes import SandboxesServicer
from services.netd.api.system import SystemServicer
from services.netd.config import NetdConfig
from services.netd.dns.server import DnsServers
from services.netd.dns.upstream import Upstream
from services.netd.domain.directory import Directory
from services.netd.domain.networks import NetworkManager
from services.netd.domain.reconcile import reconcile
from services.netd.domain.sandboxes import SandboxManager
from services.netd.firewall.hostports import SocketHostPorts
from services.netd.firewall.nft import NftFirewall
from services.netd.hostfiles import HostFileReader
from services.netd.netlink.kernel import NetlinkKernel
from services.netd.peering import Peering
from services.netd.store.migrations import MIGRATIONS
from services.netd.store.sqlite import NetdStore

SERVICES = ["estiba.netd.v1.System", "estiba.netd.v1.Networks", "estiba.netd.v1.Sandboxes"]


@dataclasses.dataclass(frozen=True)
class Netd:
    """netd's parts, assembled and reconciled: what the servicers (or a benchmark) drive."""

    store: NetdStore
    kernel: NetlinkKernel
    networks: NetworkManager
    sandboxes: SandboxManager
    directory: Directory
    registrars: list[grpcserver.Registrar]


async def assemble(config: NetdConfig, stack: contextlib.AsyncExitStack) -> Netd:
    """Open everything netd uses (closed by ``stack``), reconcile, and restore its state."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.netns_dir.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.state_dir / "netd.db", MIGRATIONS, inline=True)
    stack.push_async_callback(db.close)
    store = NetdStore(db)
    kernel = await stack.enter_async_context(NetlinkKernel.open(config.kernel_prefix))
    host = HostFileReader()
    directory = Directory()
    dns = DnsServers(directory, Upstream(config.dns_upstream))
    stack.push_async_callback(dns.close)
    host_ports = SocketHostPorts()
    stack.callback(host_ports.close)
    networks = NetworkManager(
        store,
        kernel,
        NftFirewall(config.kernel_prefix),
        host,
        dns,
        directory,
        prefix=config.kernel_prefix,
        pool=config.pool,
        subnet_prefixlen=config.subnet_prefixlen,
        ip_forward=config.ip_forward,
        underlay=config.underlay,
    )
    sandboxes = SandboxManager(
        store,
        kernel,
        host,
        networks,
        host_ports,
        prefix=config.kernel_prefix,
        netns_dir=config.netns_dir,
        dns_fallback=config.dns_fallback,
    )
    await reconcile(store, kernel, networks, config.netns_dir)
    await sandboxes.restore()
    stack.push_async_callback(sandboxes.drain)  # before the database and the kernel close
    registrars: list[grpcserver.Registrar] = [
        SystemServicer(config, store).register,
        NetworksServicer(networks).register,
        SandboxesServicer(sandboxes).register,
    ]
    return Netd(store, kernel, networks, sandboxes, directory, registrars)


async def main(config: NetdConfig, stop: asyncio.Event) -> None:
    async with contextlib.AsyncExitStack() as stack:
        netd = await assemble(config, stack)
        underlay = config.underlay
        if underlay is not None:
            peering = Peering(netd.directory, netd.networks.list_all, underlay)
            await stack.enter_async_context(
                grpcserver.serving(
                    f"{underlay.local}:{underlay.peer_port}",
                    [OverlayServicer(peering).register],
                    services=["estiba.netd.v1.Overlay"],
                )
            )
            swaps = spawn(peering.run(), name="peering")
            stack.push_async_callback(tasks.stop, swaps)
        async with grpcserver.serving(config.grpc_target, netd.registrars, services=SERVICES):
            await stop.wait()
