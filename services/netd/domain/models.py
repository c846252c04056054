"""netd's values: what the managers hand to the gRPC layer and take from stores and the kernel.

Times are RFC 3339 strings in UTC, as netd.db keeps them.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

DEFAULT_NETWORK = "bridge"
OVERLAY_DRIVER = "overlay"
"""The name of the network every node has and containers join unless told otherwise."""


class Mode(enum.StrEnum):
    """How a container is networked."""

    BRIDGE = "bridge"
    """Its own namespace with one interface on a bridge network."""
    NONE = "none"
    """Its own namespace with only loopback."""
    HOST = "host"
    """The host's namespace: no isolation, nothing for netd to build."""


@dataclasses.dataclass(frozen=True)
class Network:
    """A bridge network: a Linux bridge, a subnet, and the gateway address the bridge holds."""

    id: str
    name: str
    driver: str
    subnet: IPv4Network
    gateway: IPv4Address
    bridge: str
    created_at: str
    internal: bool = False
    """No way out: no default route, masquerade or forwarding beyond the bridge."""
    attachable: bool = False
    ip_range: IPv4Network | None = None
    """Where dynamic addresses come from; None for the whole subnet."""
    labels: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()

    @property
    def builtin(self) -> bool:
        """The default network: made by netd, never removed, no embedded DNS (as Docker's)."""
        return self.name == DEFAULT_NETWORK

    @property
    def has_dns(self) -> bool:
        """User-defined networks resolve their containers' names; the default one does not."""
        return not self.builtin

    @property
    def is_overlay(self) -> bool:
        """A bridge joined to the same network's bridges on other nodes by a VXLAN link."""
        return self.driver == OVERLAY_DRIVER


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """What a caller asks for when creating a network, as given (checked by ``netspec``)."""

    name: str
    driver: str = ""
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    internal: bool = False
    attachable: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A container's interface on a network and the address allocated to it."""

    id: str
    container_id: str
    network_id: str
    network_name: str
    address: IPv4Interface
    """The container's address with the subnet's prefix length."""
    gateway: IPv4Address
    mac: str
    host_ifname: str
    """The host end of the veth pair, attached to the network's bridge."""
    aliases: tuple[str, ...]
    created_at: str
    ifname: str = "eth0"
    """The interface's name inside the container: eth0, eth1, ... in order of connection."""
    container_name: str = ""
    internal: bool = False
    """The network's ``internal``: such an endpoint never carries the default route."""


@dataclasses.dataclass(frozen=True)
class Sandbox:
    """A container's network namespace and its endpoints."""

    container_id: str
    mode: Mode
    netns_path: str
    """The file the namespace is bound to; "" in host mode."""
    hostname: str
    endpoints: tuple[Endpoint, ...]
    created_at: str
    name: str = ""
    """The container's name, resolved by other containers on user-defined networks."""
    ports: tuple[PortBinding, ...] = ()
    removing: bool = False
    """Removed for every caller, its teardown not finished yet: its addresses, veth names and
    host ports stay held until the kernel objects are gone (``removals``)."""

    @property
    def default_endpoint(self) -> Endpoint | None:
        """The endpoint whose gateway is the default route: the oldest not internal one."""
        return next((e for e in self.endpoints if not e.internal), None)


@dataclasses.dataclass(frozen=True)
class RemoteEndpoint:
    """A container on an overlay network of another node, as that node's netd told this one."""

    network: str
    """The overlay network's name, the same on every node."""
    container_id: str
    name: str
    aliases: tuple[str, ...]
    address: IPv4Address


@dataclasses.dataclass(frozen=True)
class PortBinding:
    """A container port published on the host: ``[host_ip:]host_port:container_port/proto``."""

    protocol: str
    """"tcp" or "udp"."""
    container_port: int
    host_ip: IPv4Address | None
    """None for every address of the host."""
    host_port: int
    """0 in a request: netd chooses a free port and records it."""


@dataclasses.dataclass(frozen=True)
class Publication:
    """A published port as the firewall renders it: the container address it leads to."""

    port: PortBinding
    address: IPv4Address
    bridge: str
    """The bridge of the network the address is on (for hairpin and localhost rules)."""
    subnet: IPv4Network


@dataclasses.dataclass(frozen=True)
class SandboxFiles:
    """What the engine writes into the container as /etc/hosts and /etc/resolv.conf."""

    hosts: str
    resolv_conf: str


NO_FILES = SandboxFiles("", "")  # for callers that asked for a sandbox without its files


@dataclasses.dataclass(frozen=True)
class SandboxRequest:
    """What a caller asks for: a container's sandbox on a network (or in none/host mode)."""

    container_id: str
    network: str
    hostname: str
    aliases: tuple[str, ...] = ()
    name: str = ""
    ip_address: str = ""
    ports: tuple[PortBinding, ...] = ()


@dataclasses.dataclass(frozen=True)
class ConnectRequest:
    """Another interface for an existing sandbox, on ``network``."""

    container_id: str
    network: str
    ip_address: str = ""
    aliases: tuple[str, ...] = ()


# What the rules ask of the kernel, and what they learn from it.


@dataclasses.dataclass(frozen=True)
class VxlanPlan:
    """An overlay network's VXLAN link, a port of its bridge: VNI, this node's underlay address
    (the tunnel's source), the UDP port, and the peers every broadcast is flooded to."""

    name: str
    vni: int
    local: IPv4Address
    port: int
    peers: tuple[IPv4Address, ...]


@dataclasses.dataclass(frozen=True)
class BridgePlan:
    """A network's bridge as it must be: name, gateway address with prefix, fixed MAC; for an
    overlay network also its MTU and VXLAN link."""

    name: str
    gateway: IPv4Interface
    mac: str
    mtu: int = 0
    """0 leaves the kernel's (1500, or the smallest of the ports')."""
    vxlan: VxlanPlan | None = None


@dataclasses.dataclass(frozen=True)
class EndpointPlan:
    """A veth pair: host end on ``bridge``, peer ``ifname`` inside the namespace, configured."""

    host_ifname: str
    bridge: str
    address: IPv4Interface
    gateway: IPv4Address | None
    """The default route's gateway when this endpoint carries it, else None."""
    mac: str
    ifname: str = "eth0"
    mtu: int = 0
    """Of both ends; 0 leaves the kernel's 1500."""


@dataclasses.dataclass(frozen=True)
class LinkState:
    """One of netd's own links as the kernel shows it."""

    name: str
    kind: str
    """"bridge" or "veth"."""
    master: str | None
    """The bridge a port is attached to, if any."""
    up: bool


@dataclasses.dataclass(frozen=True)
class NetnsFile:
    """A file in netd's namespace directory; ``mounted`` once a namespace is bound to it."""

    path: Path
    mounted: bool


def now() -> str:
    """The current time, RFC 3339 in UTC with microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
