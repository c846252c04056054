"""What netd's rules need from storage, the kernel, the firewall and the host's files.

Declared here, implemented in ``store/`` (netd.db), ``netlink/`` (namespaces, links, sysctls),
``firewall/`` (nftables and the host ports netd holds), ``dns/`` (the embedded DNS servers) and
``hostfiles`` (resolv.conf, hosts). ``State.write()`` yields one
transaction that commits when the block ends and rolls back if it raises; writes are
serialized, so what a write transaction reads still holds when it commits (IPAM relies on it).
Kernel methods raise ``services.kit.errors`` classes; "already gone" is never an error for the
methods that delete.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Protocol

from services.netd.domain.models import (
    BridgePlan,
    Endpoint,
    EndpointPlan,
    LinkState,
    NetnsFile,
    Network,
    PortBinding,
    Publication,
    Sandbox,
)


class NetworkRows(Protocol):
    async def networks(self) -> list[Network]: ...
    async def add_network(self, network: Network) -> None:
        """Record the network; a name in use raises AlreadyExists (NETWORK_EXISTS)."""
        ...

    async def delete_network(self, network_id: str) -> bool: ...
    async def endpoint_counts(self) -> dict[str, int]:
        """Endpoints per network id (networks without any are left out), those of sandboxes
        being removed left out."""
        ...

    async def ipam_state(
        self, network_id: str
    ) -> tuple[set[IPv4Address], IPv4Address | None] | None:
        """The addresses in use on the network and the one handed out last; None if the
        network is not (any more) recorded."""
        ...

    async def free_ifname(self, candidates: Sequence[str]) -> str | None:
        """The first of ``candidates`` no endpoint uses as its host-side veth name."""
        ...

    async def set_ipam_last(self, network_id: str, address: IPv4Address) -> None: ...
    async def endpoints_of(self, network_id: str) -> list[Endpoint]:
        """The network's endpoints, those of sandboxes being removed left out."""
        ...

    async def removing_on(self, network_id: str) -> list[str]:
        """The containers being removed that still hold an endpoint on the network."""
        ...


class SandboxRows(Protocol):
    async def sandbox(self, container_id: str) -> Sandbox | None: ...
    async def sandboxes(self) -> list[Sandbox]:
        """Every recorded sandbox, those being removed included (``Sandbox.removing``)."""
        ...

    async def add_sandbox(self, sandbox: Sandbox) -> None:
        """Record the sandbox and its endpoints; a taken address raises AlreadyExists."""
        ...

    async def mark_removing(self, container_id: str) -> bool:
        """Mark the sandbox as being removed (its addresses and ports stay held); False if
        there is none or it was marked already."""
        ...

    async def delete_sandbox(self, container_id: str) -> bool:
        """Forget the sandbox, its endpoints and ports, which releases their addresses."""
        ...

    async def add_endpoint(self, endpoint: Endpoint) -> None:
        """Record one more endpoint of an existing sandbox; a taken address, interface or
        network raises AlreadyExists."""
        ...

    async def delete_endpoint(self, container_id: str, network_id: str) -> bool: ...
    async def set_sandbox_name(self, container_id: str, name: str) -> bool: ...
    async def published(self) -> list[tuple[str, PortBinding]]:
        """Every published port with the container it belongs to, oldest first."""
        ...


class SettingRows(Protocol):
    async def setting(self, name: str) -> str | None: ...
    async def set_setting(self, name: str, value: str, *, replace: bool = True) -> None:
        """Store ``value``; with ``replace=False`` a value already stored is kept."""
        ...


class StateTx(NetworkRows, SandboxRows, SettingRows, Protocol):
    """Every statement the rules may run, bound to one transaction."""


class State(Protocol):
    def read(self) -> contextlib.AbstractAsyncContextManager[StateTx]: ...
    def write(self) -> contextlib.AbstractAsyncContextManager[StateTx]: ...


class Kernel(Protocol):
    """Links, namespaces and sysctls of this host, restricted to netd's own objects."""

    async def host_networks(self) -> list[IPv4Network]:
        """Networks the host reaches directly: its interfaces' subnets and its routes."""
        ...

    async def ensure_bridge(self, plan: BridgePlan) -> None:
        """Create the bridge if missing; give it its address and MAC; up; forwarding on, and
        route_localnet (so ports published on 127.0.0.1 reach its containers)."""
        ...

    async def links(self) -> list[LinkState]:
        """netd's own bridges and veths (its prefix and its link group)."""
        ...

    async def delete_link(self, name: str) -> None: ...
    async def create_sandbox(self, path: Path, endpoint: EndpointPlan | None) -> None:
        """A new namespace bound to ``path``, loopback up, and the endpoint if one is given.

        On failure nothing of it is left behind.
        """
        ...

    async def add_endpoint(self, path: Path, endpoint: EndpointPlan) -> None:
        """One more interface in the existing namespace bound to ``path``, configured.

        On failure nothing of it is left behind.
        """
        ...

    async def set_default_route(self, path: Path, gateway: IPv4Address | None) -> None:
        """Point the namespace's default route at ``gateway``; None removes it."""
        ...

    async def repair_sandbox(self, path: Path, endpoints: Sequence[EndpointPlan]) -> bool:
        """Bring an existing namespace (and its endpoints) to the planned state, idempotently.

        Returns whether anything was missing.
        """
        ...

    async def remove_sandbox(self, path: Path, host_ifnames: Sequence[str]) -> None:
        """Delete the veths, then unmount and remove the namespace file. Slow (the kernel
        waits for RCU grace periods), hence run after RemoveSandbox answered (``removals``)."""
        ...

    async def netns_files(self, directory: Path) -> list[NetnsFile]: ...
    async def enable_ip_forward(self) -> str:
        """Turn on net.ipv4.ip_forward; returns the value it had before."""
        ...


class Firewall(Protocol):
    async def apply(self, networks: Sequence[Network], published: Sequence[Publication]) -> None:
        """Replace netd's whole nftables table with the rules for ``networks`` and the
        published ports, atomically."""
        ...


class HostPorts(Protocol):
    """The host ports of published ports, held by netd so nobody else takes them."""

    def reserve(self, port: PortBinding) -> PortBinding:
        """Hold the port (choosing one for host port 0); FailedPrecondition (PORT_IN_USE) if
        something on the host has it."""
        ...

    def release(self, port: PortBinding) -> None: ...


class NameServers(Protocol):
    """The embedded DNS: one server (UDP and TCP) per user-defined network, on its gateway."""

    async def start(self, network: Network) -> None:
        """Serve the network's names on its gateway address; a failure is logged, not raised
        (the network works without names)."""
        ...

    async def stop(self, network_id: str) -> None: ...


class HostFiles(Protocol):
    async def resolv_conf(self) -> str:
        """The resolver configuration containers start from (see ``dnsfiles``)."""
        ...

    async def etc_resolv_conf(self) -> str:
        """The host's /etc/resolv.conf as it is, for host-mode containers."""
        ...

    async def etc_hosts(self) -> str:
        """The host's /etc/hosts as it is, for host-mode containers."""
        ...
