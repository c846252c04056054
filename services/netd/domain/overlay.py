"""Overlay networks: one layer-2 segment across nodes, over VXLAN.

An overlay network is a bridge network whose bridge has one more port, a VXLAN link, that
carries its frames to the same network's bridges on the other nodes (UDP to each peer's
underlay address). Without a cluster store, the nodes agree by construction: the user creates
the network with the same name and subnet on every node (and, so that two nodes never hand out
one address, a different ``--ip-range`` inside it on each); the VNI is derived from the name
(or given as Docker's ``com.docker.network.driver.overlay.vxlanid_list`` option), so every
node computes the same one; the peers are netd's ``overlay_peers`` setting, and those named
by the network's ``PEERS_OPTION`` (what the gateway sets when it makes the network on every
node at once: then each node also gets a range of the subnet of its own).

Names cross nodes too: each netd swaps the containers of its overlay networks with its peers
(``services.netd.peering``), and the directory adds the peers' containers to the names of the
local network of the same name.

Every node's bridge holds the network's gateway address with the same MAC (both derived from
the address): an anycast gateway. A container's traffic to the gateway (its default route, the
embedded DNS) stays on its own node, because a bridge keeps frames for its own MAC; what the
other nodes answer to a flooded ARP request is dropped by the bridge that receives it.

Every device of the segment has an MTU of ``MTU``: the underlay's 1500 minus VXLAN's 50 bytes
of headers over IPv4. A bridge drops frames larger than a port's MTU, so a container left at
1500 would silently lose its large packets.
"""

from __future__ import annotations

import dataclasses
import zlib
from ipaddress import IPv4Address, IPv4Network

from services.kit import errors
from services.netd.domain.models import Network, VxlanPlan

MTU = 1450
VXLAN_PORT = 4789  # IANA's
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
PEERS_OPTION = "estiba.overlay.peers"
"""The other nodes' underlay addresses for this network, comma-separated: the gateway names
them when it makes the network on every node, so no node needs ``overlay_peers`` set."""
SLOT_OPTION = "estiba.overlay.slot"
"""``I/N``: this node is the I-th (from 0) of the N nodes the network spans, and hands out its
containers' addresses from the I-th of N equal parts of the IP range (or subnet), so no two
nodes ever give one address out. The gateway sets it when it makes the network everywhere."""
PEER_PORT = 7946  # where netd swaps endpoints with its peers: Docker's port for the same job
_FIRST_VNI = 4096  # Docker's swarm overlays count up from 4096; a derived one lies above it
_VNI_COUNT = (1 << 24) - _FIRST_VNI


@dataclasses.dataclass(frozen=True)
class Underlay:
    """This node's place on the underlay: its address and the other nodes' (``overlay_*``)."""

    local: IPv4Address
    peers: tuple[IPv4Address, ...]
    port: int = VXLAN_PORT
    peer_port: int = PEER_PORT


def peers_of(network: Network) -> tuple[IPv4Address, ...]:
    """The peers ``PEERS_OPTION`` names; InvalidArgument if one is not an IPv4 address."""
    given = dict(network.options).get(PEERS_OPTION, "")
    return check_peers(given)


def check_peers(text: str) -> tuple[IPv4Address, ...]:
    """``PEERS_OPTION``'s value: IPv4 addresses separated by commas."""
    found = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            found.append(IPv4Address(item))
        except ValueError:
            raise errors.InvalidArgument(
                f"{PEERS_OPTION} must list IPv4 addresses separated by commas, not {text!r}",
                reason="PEERS_INVALID",
            ) from None
    return tuple(found)


def check_slot(text: str, subnet: IPv4Network) -> tuple[int, int]:
    """``SLOT_OPTION``'s value as (index, count); InvalidArgument if it cannot be or if a part
    would hold no address."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = 0
    if not sep or n < 1 or not 0 <= i < n:
        raise errors.InvalidArgument(
            f"{SLOT_OPTION} must be I/N with 0 <= I < N, not {text!r}", reason="SLOT_INVALID"
        )
    if subnet.prefixlen + _bits(n) > 30:
        raise errors.InvalidArgument(
            f"{subnet} is too small to give each of {n} nodes a range of its own",
            reason="SLOT_INVALID",
        )
    return i, n


def dynamic_range(network: Network) -> IPv4Network | None:
    """Where this node hands out the network's addresses: its part of the IP range (or subnet)
    when the network has a slot, else the IP range (None: the whole subnet)."""
    given = dict(network.options).get(SLOT_OPTION)
    if not network.is_overlay or given is None:
        return network.ip_range
    base = network.ip_range or network.subnet
    index, count = check_slot(given, base)
    return list(base.subnets(prefixlen_diff=_bits(count)))[index]


def _bits(count: int) -> int:
    return max(count - 1, 0).bit_length()


def peers(network: Network, underlay: Underlay) -> tuple[IPv4Address, ...]:
    """Every peer of the network: the settings' and the network's own, this node left out."""
    found = dict.fromkeys((*underlay.peers, *peers_of(network)))
    found.pop(underlay.local, None)
    return tuple(found)


def vni(network: Network) -> int:
    """The network's VXLAN id: the one given, else one derived from its name."""
    given = dict(network.options).get(VNI_OPTION, "")
    return (
        check_vni(given) if given else _FIRST_VNI + zlib.crc32(network.name.encode()) % _VNI_COUNT
    )


def check_vni(text: str) -> int:
    """A VNI as the option gives it (one number, 1 to 16777215)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value < 1 << 24:
        raise errors.InvalidArgument(
            f"{VNI_OPTION} must be one VXLAN id from 1 to 16777215, not {text!r}",
            reason="VNI_INVALID",
        )
    return value


def vxlan_name(bridge: str) -> str:
    """The VXLAN link of the network whose bridge is ``bridge`` ("<prefix>-1a2b" → "<prefix>x1a2b"):
    the prefix kept (netd's links), the dash replaced (apart from bridges and veths)."""
    head, _, tail = bridge.partition("-")
    return f"{head}x{tail}"


def mtu_of(network: Network) -> int:
    """The MTU every device of the network needs; 0 for the kernel's default."""
    return MTU if network.is_overlay else 0


def plan(network: Network, underlay: Underlay | None) -> VxlanPlan | None:
    """The network's VXLAN link; None for a bridge network, or on a node with no underlay (an
    overlay network recorded before its settings were removed: it stays local)."""
    if not network.is_overlay or underlay is None:
        return None
    return VxlanPlan(
        name=vxlan_name(network.bridge),
        vni=vni(network),
        local=underlay.local,
        port=underlay.port,
        peers=peers(network, underlay),
    )
