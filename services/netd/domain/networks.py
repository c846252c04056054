"""NetworkManager: the default ``bridge`` network, user-defined networks, and lookups.

The default network is made once, at netd's first start: a subnet is picked from the pool that
overlaps nothing on the host, recorded in netd.db, and kept from then on, so containers keep
their addresses across restarts. Every start then makes the kernel match the record again
(bridges, addresses, forwarding, the nftables table, the DNS servers), whatever happened to it
meanwhile.

User-defined networks follow the same order as sandboxes: record first, then build. Creating
one records it, makes its bridge, replaces the firewall table (isolation from every other
network is part of the table) and starts its DNS server; a failure takes all of it back.
Removing one forgets it first (refused while containers use it), then takes the rules, the DNS
server and the bridge away; if netd dies in between, reconcile at start deletes the bridge that
no record explains. A container removed just before (``docker compose down`` removes the
containers, then at once the network) is no user any more, but its endpoint is released only
once its teardown has finished: removing the network waits for that teardown first
(``removals``). Network changes are serialized.
"""

from __future__ import annotations

import asyncio
import secrets
from ipaddress import IPv4Interface, IPv4Network

from services.kit import errors
from services.kit.log import get_logger
from services.netd.domain import (
    dnsfiles,
    ipam,
    names,
    netfilters,
    netspec,
    overlay,
    publish,
    subnets,
)
from services.netd.domain.directory import Directory
from services.netd.domain.models import (
    DEFAULT_NETWORK,
    BridgePlan,
    Endpoint,
    Network,
    NetworkSpec,
    now,
)
from services.netd.domain.ports import (
    Firewall,
    HostFiles,
    Kernel,
    NameServers,
    State,
    StateTx,
)
from services.netd.domain.removals import Removals

log = get_logger()

PREFIX_SETTING = "kernel_prefix"
IP_FORWARD_SETTING = "sysctl.net.ipv4.ip_forward.before"


class NetworkManager:
    """Rules about networks. ``ensure()`` runs once at start, before anything is served."""

    def __init__(
        self,
        state: State,
        kernel: Kernel,
        firewall: Firewall,
        host: HostFiles,
        nameservers: NameServers,
        directory: Directory,
        *,
        prefix: str,
        pool: IPv4Network,
        subnet_prefixlen: int,
        ip_forward: bool,
        underlay: overlay.Underlay | None = None,
    ) -> None:
        self._state = state
        self._underlay = underlay
        self._kernel = kernel
        self._firewall = firewall
        self._host = host
        self._nameservers = nameservers
        self.directory = directory
        self.removals = Removals()
        """Sandbox teardowns still running, shared with the ``SandboxManager``."""
        self._prefix = prefix
        self._pool = pool
        self._subnet_prefixlen = subnet_prefixlen
        self._ip_forward = ip_forward
        # netd is netd.db's only writer and this manager the only writer of networks, so the
        # list read once stays the record; every change below refreshes it.
        self._networks: list[Network] | None = None
        self._changing = asyncio.Lock()
        self._applying = asyncio.Lock()

    async def ensure(self) -> list[Network]:
        """Create the default network if missing; make bridges, sysctls and firewall match
        the records. The DNS servers come later (``serve_names``), once the directory they
        answer from is loaded."""
        await self._check_prefix()
        if await self.find(DEFAULT_NETWORK) is None:
            await self._create_default()
        networks = await self.list_all()
        if self._ip_forward:
            await self._enable_forwarding()
        for network in networks:
            await self._kernel.ensure_bridge(bridge_plan(network, self._underlay))
        await self.apply_firewall()
        self.directory.set_networks(networks)
        return networks

    async def serve_names(self) -> None:
        """Start the DNS server of every user-defined network (at start, after reconcile)."""
        for network in await self.list_all():
            if network.has_dns:
                await self._nameservers.start(network)

    async def list_all(self) -> list[Network]:
        """Every network, oldest first."""
        if self._networks is None:
            async with self._state.read() as tx:
                self._networks = await tx.networks()
        return list(self._networks)

    async def list_filtered(self, filters: netfilters.Filters) -> list[tuple[Network, int]]:
        """The networks matching Docker's list filters, with their numbers of endpoints."""
        test = netfilters.list_matcher(filters)
        networks = await self.list_all()
        async with self._state.read() as tx:
            counts = await tx.endpoint_counts()
        return [(n, counts.get(n.id, 0)) for n in networks if test(n, counts.get(n.id, 0))]

    async def find(self, ref: str) -> Network | None:
        """By exact id, exact name, then unique id prefix (as Docker looks networks up)."""
        networks = await self.list_all()
        for network in networks:
            if network.id == ref:
                return network
        for network in networks:
            if network.name == ref:
                return network
        matches = [n for n in networks if ref and n.id.startswith(ref)]
        if len(matches) > 1:
            raise errors.InvalidArgument(
                f"network id prefix {ref!r} is ambiguous ({len(matches)} networks)",
                reason="NETWORK_AMBIGUOUS",
            )
        return matches[0] if matches else None

    async def require(self, ref: str) -> Network:
        """``find``, or NotFound (NETWORK_UNKNOWN)."""
        network = await self.find(ref)
        if network is None:
            raise errors.NotFound(f"network {ref} not found", reason="NETWORK_UNKNOWN")
        return network

    async def get(self, ref: str) -> tuple[Network, list[Endpoint]]:
        """The network and its endpoints; NotFound (NETWORK_UNKNOWN) if there is none."""
        network = await self.require(ref)
        async with self._state.read() as tx:
            endpoints = await tx.endpoints_of(network.id)
        return network, endpoints

    # -- user-defined networks -------------------------------------------------------------

    async def create(self, spec: NetworkSpec) -> Network:
        """Record, build and announce a user-defined network; see the module docstring."""
        async with self._changing:
            taken = await self._taken_by_host()
            network = netspec.build(
                spec,
                await self.list_all(),
                taken,
                prefix=self._prefix,
                pool=self._pool,
                prefixlen=self._subnet_prefixlen,
                overlay=self._underlay is not None,
            )
            async with self._state.write() as tx:
                await tx.add_network(network)
            self._networks = None
            try:
                await self._kernel.ensure_bridge(bridge_plan(network, self._underlay))
                await self.apply_firewall()
            except BaseException:
                await self._forget(network)
                raise
            self.directory.set_networks(await self.list_all())
            await self._nameservers.start(network)
        log.info(
            "network_created",
            network=network.name,
            subnet=str(network.subnet),
            bridge=network.bridge,
            internal=network.internal,
        )
        return network

    async def delete(self, ref: str) -> Network:
        """Remove a user-defined network no container uses."""
        async with self._changing:
            network = await self.require(ref)
            if network.builtin:
                raise errors.PermissionDenied(
                    f"{network.name} is a pre-defined network and cannot be removed",
                    reason="NETWORK_PREDEFINED",
                )
            async with self._state.read() as tx:
                await _refuse_if_used(tx, network)
                removing = await tx.removing_on(network.id)
            if removing:  # containers just removed: their endpoints go with their teardown
                await self.removals.wait(removing)
            async with self._state.write() as tx:
                await _refuse_if_used(tx, network)
                if still := await tx.removing_on(network.id):
                    ids = ", ".join(c[:12] for c in still)
                    raise errors.PermissionDenied(
                        f"error while removing network: network {network.name} has endpoints"
                        f" of removed containers not torn down yet ({ids}); retry, or restart"
                        " netd",
                        reason="NETWORK_IN_USE",
                    )
                await tx.delete_network(network.id)
            await self._forget(network)
        log.info("network_removed", network=network.name, bridge=network.bridge)
        return network

    async def prune(self, filters: netfilters.Filters) -> list[Network]:
        """Remove every user-defined network without endpoints that matches ``filters``."""
        test = netfilters.prune_matcher(filters)
        removed = []
        for network in await self.list_all():
            if network.builtin or not test(network):
                continue
            try:
                removed.append(await self.delete(network.id))
            except (errors.PermissionDenied, errors.NotFound):
                continue  # in use (or gone) meanwhile: not prunable
        return removed

    async def apply_firewall(self) -> None:
        """Render the whole table from the records and apply it (after every change of
        networks or published ports). Serialized, and each apply reads the latest records, so
        the last one to run always leaves the kernel matching the database."""
        async with self._applying:
            networks = await self.list_all()
            async with self._state.read() as tx:
                sandboxes = await tx.sandboxes()
            await self._firewall.apply(networks, publish.publications(networks, sandboxes))

    async def _forget(self, network: Network) -> None:
        """Take a network out of the kernel after its record is gone (or was never kept)."""
        async with self._state.write() as tx:
            await tx.delete_network(network.id)
        self._networks = None
        self.directory.set_networks(await self.list_all())
        await self._nameservers.stop(network.id)
        try:
            await self.apply_firewall()
            if network.is_overlay:
                await self._kernel.delete_link(overlay.vxlan_name(network.bridge))
            await self._kernel.delete_link(network.bridge)
        except errors.EstibaError as exc:
            # The record is gone; reconcile at the next start removes what is left.
            log.warning("network_cleanup_failed", network=network.name, error=str(exc))

    # -- start-up ----------------------------------------------------------------------------

    async def _check_prefix(self) -> None:
        """One netd.db belongs to one prefix: its records name kernel objects with it."""
        async with self._state.write() as tx:
            recorded = await tx.setting(PREFIX_SETTING)
            if recorded is None:
                await tx.set_setting(PREFIX_SETTING, self._prefix)
        if recorded not in (None, self._prefix):
            raise errors.FailedPrecondition(
                f"netd.db was made with kernel_prefix {recorded!r}, not {self._prefix!r}:"
                " set it back, or remove that netd's sandboxes and start with a new state dir",
                reason="KERNEL_PREFIX_CHANGED",
            )

    async def _taken_by_host(self) -> list[IPv4Network]:
        """What a new subnet must not overlap on the host: its networks and its resolvers."""
        taken = list(await self._kernel.host_networks())
        for server in dnsfiles.nameservers(await self._host.resolv_conf()):
            if dnsfiles.is_loopback(server):
                continue
            try:
                taken.append(IPv4Network(server))
            except ValueError:
                continue  # IPv6 resolvers do not collide with IPv4 subnets
        return taken

    async def _create_default(self) -> None:
        taken = await self._taken_by_host()
        async with self._state.write() as tx:
            existing = await tx.networks()
            taken.extend(n.subnet for n in existing)
            subnet = subnets.pick_subnet(self._pool, self._subnet_prefixlen, taken)
            network = Network(
                id=secrets.token_hex(32),
                name=DEFAULT_NETWORK,
                driver="bridge",
                subnet=subnet,
                gateway=ipam.gateway_of(subnet),
                bridge=names.bridge_name(self._prefix, 0),
                created_at=now(),
            )
            await tx.add_network(network)
        self._networks = None
        log.info("network_created", network=network.name, subnet=str(subnet), bridge=network.bridge)

    async def _enable_forwarding(self) -> None:
        before = await self._kernel.enable_ip_forward()
        if before != "1":
            async with self._state.write() as tx:
                await tx.set_setting(IP_FORWARD_SETTING, before, replace=False)
            log.info("ip_forward_enabled", before=before)


def bridge_plan(network: Network, underlay: overlay.Underlay | None = None) -> BridgePlan:
    gateway = IPv4Interface(f"{network.gateway}/{network.subnet.prefixlen}")
    return BridgePlan(
        name=network.bridge,
        gateway=gateway,
        mac=ipam.mac_for(network.gateway),
        mtu=overlay.mtu_of(network),
        vxlan=overlay.plan(network, underlay),
    )


async def _refuse_if_used(tx: StateTx, network: Network) -> None:
    """PermissionDenied (NETWORK_IN_USE, dockerd's 403) while a container is on the network."""
    if (await tx.endpoint_counts()).get(network.id, 0):
        users = ", ".join(
            f'name:"{e.container_name}" id:"{e.id[:12]}"' for e in await tx.endpoints_of(network.id)
        )
        raise errors.PermissionDenied(
            f"error while removing network: network {network.name} has active endpoints ({users})",
            reason="NETWORK_IN_USE",
        )
