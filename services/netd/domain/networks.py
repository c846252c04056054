"""NetworkManager: the default ``bridge`` network, its bridge and firewall, and lookups.

The default network is made once, at netd's first start: a subnet is picked from the pool that
overlaps nothing on the host, recorded in netd.db, and kept from then on, so containers keep
their addresses across restarts. Every start then makes the kernel match the record again
(bridge, address, forwarding, the nftables table), whatever happened to it meanwhile.
"""

from __future__ import annotations

import secrets
from ipaddress import IPv4Interface, IPv4Network

from services.kit import errors
from services.kit.log import get_logger
from services.netd.domain import dnsfiles, ipam, names, subnets
from services.netd.domain.models import DEFAULT_NETWORK, BridgePlan, Endpoint, Network, now
from services.netd.domain.ports import Firewall, HostFiles, Kernel, State

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
        *,
        prefix: str,
        pool: IPv4Network,
        subnet_prefixlen: int,
        ip_forward: bool,
    ) -> None:
        self._state = state
        self._kernel = kernel
        self._firewall = firewall
        self._host = host
        self._prefix = prefix
        self._pool = pool
        self._subnet_prefixlen = subnet_prefixlen
        self._ip_forward = ip_forward
        # netd is netd.db's only writer and this manager the only writer of networks, so the
        # list read once stays the record; every change below refreshes it.
        self._networks: list[Network] | None = None

    async def ensure(self) -> list[Network]:
        """Create the default network if missing; make bridges, sysctls and firewall match."""
        await self._check_prefix()
        if await self.find(DEFAULT_NETWORK) is None:
            await self._create_default()
        networks = await self.list_all()
        if self._ip_forward:
            await self._enable_forwarding()
        for network in networks:
            await self._kernel.ensure_bridge(bridge_plan(network))
        await self._firewall.apply(networks)
        return networks

    async def list_all(self) -> list[Network]:
        """Every network, oldest first."""
        if self._networks is None:
            async with self._state.read() as tx:
                self._networks = await tx.networks()
        return list(self._networks)

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

    async def get(self, ref: str) -> tuple[Network, list[Endpoint]]:
        """The network and its endpoints; NotFound (NETWORK_UNKNOWN) if there is none."""
        network = await self.find(ref)
        if network is None:
            raise errors.NotFound(f"network {ref!r} not found", reason="NETWORK_UNKNOWN")
        async with self._state.read() as tx:
            endpoints = await tx.endpoints_of(network.id)
        return network, endpoints

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

    async def _create_default(self) -> None:
        taken = list(await self._kernel.host_networks())
        for server in dnsfiles.nameservers(await self._host.resolv_conf()):
            if dnsfiles.is_loopback(server):
                continue
            try:
                taken.append(IPv4Network(server))
            except ValueError:
                continue  # IPv6 resolvers do not collide with IPv4 subnets
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
                bridge=names.bridge_name(self._prefix, len(existing)),
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


def bridge_plan(network: Network) -> BridgePlan:
    gateway = IPv4Interface(f"{network.gateway}/{network.subnet.prefixlen}")
    return BridgePlan(name=network.bridge, gateway=gateway, mac=ipam.mac_for(network.gateway))
