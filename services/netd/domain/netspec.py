"""Checking what a caller asks for in a new network, and turning it into one: pure, no I/O.

Every refusal names the field and the value, so the caller can correct the request without
guessing. A user-given subnet must overlap neither another network of netd (two bridges with
one subnet make routing ambiguous, and isolation meaningless) nor anything the host reaches
directly (an interface's subnet or a route: the host would lose that traffic to the bridge).
Docker checks only the first; the machine netd runs on is shared, so it checks both.

The classes of the refusals follow dockerd's status codes, which clients act on: an overlap
with another network, like the reserved names, is PermissionDenied (dockerd's 403 Forbidden);
a name in use is AlreadyExists (409, on which docker compose retries a lookup).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, ip_network

from services.kit import errors
from services.netd.domain import ipam, names, overlay, subnets
from services.netd.domain.models import (
    DEFAULT_NETWORK,
    OVERLAY_DRIVER,
    Mode,
    Network,
    NetworkSpec,
    now,
)

DRIVERS = ("", "bridge", OVERLAY_DRIVER)
PREDEFINED = (DEFAULT_NETWORK, Mode.HOST, Mode.NONE, "default")
"""Names dockerd reserves (403 "operation is not permitted"): the default network, the two
network modes, and "default", which clients send for the default network."""


def build(
    spec: NetworkSpec,
    existing: Sequence[Network],
    host: Sequence[IPv4Network],
    *,
    prefix: str,
    pool: IPv4Network,
    prefixlen: int,
    overlay: bool = False,
) -> Network:
    """The network ``spec`` describes, or the first reason it cannot be made; ``overlay``
    says whether this node has an underlay (netd's ``overlay_local``) for overlay networks."""
    name = names.check_network_name(spec.name)
    if name in PREDEFINED:
        raise errors.PermissionDenied(
            f"operation is not permitted on predefined {name} network", reason="NETWORK_PREDEFINED"
        )
    if any(n.name == name for n in existing):
        raise errors.AlreadyExists(
            f"network with name {name} already exists", reason="NETWORK_EXISTS"
        )
    if spec.driver not in DRIVERS:
        raise errors.InvalidArgument(
            f"network driver {spec.driver!r} is not supported: netd makes bridge and overlay"
            " networks",
            reason="DRIVER_UNSUPPORTED",
        )
    if spec.driver == OVERLAY_DRIVER:
        _check_overlay(spec, overlay)
    if spec.subnet:
        subnet = _subnet(spec.subnet)
        _check_overlaps(subnet, existing, host)
    elif spec.gateway or spec.ip_range:
        raise errors.InvalidArgument(
            "a gateway or an IP range needs a subnet to be given too", reason="SUBNET_INVALID"
        )
    else:
        taken = [*host, *(n.subnet for n in existing)]
        subnet = subnets.pick_subnet(pool, prefixlen, taken)
    gateway = _gateway(spec.gateway, subnet) if spec.gateway else ipam.gateway_of(subnet)
    ip_range = _ip_range(spec.ip_range, subnet) if spec.ip_range else None
    network_id = secrets.token_hex(32)
    if spec.driver == OVERLAY_DRIVER:
        _check_slot(spec, ip_range or subnet)
    return Network(
        id=network_id,
        name=name,
        driver=spec.driver or "bridge",
        subnet=subnet,
        gateway=gateway,
        bridge=names.user_bridge_name(prefix, network_id),
        created_at=now(),
        internal=spec.internal,
        attachable=spec.attachable,
        ip_range=ip_range,
        labels=tuple(sorted(spec.labels)),
        options=tuple(sorted(spec.options)),
    )


def _subnet(text: str) -> IPv4Network:
    try:
        network = ip_network(text)
    except ValueError:
        raise errors.InvalidArgument(
            f"invalid subnet {text!r}: an IPv4 network in CIDR notation such as 10.20.0.0/24,"
            " without host bits set",
            reason="SUBNET_INVALID",
        ) from None
    if not isinstance(network, IPv4Network):
        raise errors.InvalidArgument(
            f"subnet {text!r} is IPv6; netd's networks are IPv4 only", reason="SUBNET_INVALID"
        )
    if network.prefixlen > 30:
        raise errors.InvalidArgument(
            f"subnet {network} is too small: at most /30, for a gateway and a container",
            reason="SUBNET_INVALID",
        )
    return network


def _check_overlaps(
    subnet: IPv4Network, existing: Sequence[Network], host: Sequence[IPv4Network]
) -> None:
    for network in existing:
        if subnet.overlaps(network.subnet):
            raise errors.PermissionDenied(  # dockerd's "Pool overlaps with other one" (403)
                f"invalid pool request: subnet {subnet} overlaps network {network.name}'s subnet"
                f" {network.subnet}",
                reason="SUBNET_OVERLAP",
            )
    for used in host:
        if used.prefixlen > 0 and subnet.overlaps(used):
            raise errors.InvalidArgument(
                f"subnet {subnet} overlaps {used}, which the host uses (an interface or a route)",
                reason="SUBNET_OVERLAP",
            )


def _gateway(text: str, subnet: IPv4Network) -> IPv4Address:
    try:
        gateway = IPv4Address(text)
    except ValueError:
        raise errors.InvalidArgument(
            f"invalid gateway {text!r}: an IPv4 address", reason="GATEWAY_INVALID"
        ) from None
    if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
        raise errors.InvalidArgument(
            f"gateway {gateway} is not a usable address of subnet {subnet}",
            reason="GATEWAY_INVALID",
        )
    return gateway


def _ip_range(text: str, subnet: IPv4Network) -> IPv4Network:
    try:
        network = IPv4Network(text)
    except ValueError:
        raise errors.InvalidArgument(
            f"invalid IP range {text!r}: an IPv4 network in CIDR notation inside the subnet",
            reason="IP_RANGE_INVALID",
        ) from None
    if not network.subnet_of(subnet):
        raise errors.InvalidArgument(
            f"IP range {network} is not inside subnet {subnet}", reason="IP_RANGE_INVALID"
        )
    return network


def _check_slot(spec: NetworkSpec, addresses: IPv4Network) -> None:
    """The node's part of the addresses, if the network gives it one, must hold some."""
    slot = dict(spec.options).get(overlay.SLOT_OPTION)
    if slot is not None:
        overlay.check_slot(slot, addresses)


def _check_overlay(spec: NetworkSpec, underlay: bool) -> None:
    """An overlay network needs an underlay, and a subnet every node is given alike."""
    if not underlay:
        raise errors.InvalidArgument(
            "overlay networks are not supported on this node: set netd's overlay_local (its"
            " address on the underlay between nodes) and overlay_peers (the other nodes')",
            reason="DRIVER_UNSUPPORTED",
        )
    options = dict(spec.options)
    # Made by hand on each node, the network needs the same subnet given everywhere; made by
    # the gateway (which names the peers), the first node picks it and the others are told.
    if not spec.subnet and overlay.PEERS_OPTION not in options:
        raise errors.InvalidArgument(
            "an overlay network needs --subnet: every node must be given the same one",
            reason="SUBNET_INVALID",
        )
    given = options.get(overlay.VNI_OPTION)
    if given is not None:
        overlay.check_vni(given)
    overlay.check_peers(options.get(overlay.PEERS_OPTION, ""))
