"""A container's endpoints: allocating one, and what the kernel must make of each.

An endpoint is allocated inside the write transaction that records it, so the address (serial,
or static and checked) and the host-side veth name are never handed out twice, whatever point
netd dies at. Inside the container, interfaces are named in order of connection (eth0, eth1,
...), reusing the lowest free number, as Docker does.

The default route goes through the gateway of the oldest endpoint that is not on an internal
network (``Sandbox.default_endpoint``); a container only on internal networks has none, which
is what keeps it from leaving them.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from ipaddress import IPv4Address

from services.kit import errors
from services.netd.domain import ipam, names, overlay
from services.netd.domain.models import Endpoint, EndpointPlan, Network, Sandbox
from services.netd.domain.ports import StateTx


async def allocate(
    tx: StateTx,
    *,
    prefix: str,
    container_id: str,
    network: Network,
    aliases: tuple[str, ...],
    created: str,
    static: str = "",
    taken_ifnames: set[str] | None = None,
    elsewhere: Collection[IPv4Address] = (),
) -> Endpoint:
    """A new endpoint of ``container_id`` on ``network``, not yet recorded (the caller does,
    in the same transaction). ``elsewhere``: addresses the other nodes' containers hold on an
    overlay network, as far as they told (a static address among them is refused too)."""
    state = await tx.ipam_state(network.id)
    if state is None:  # removed since the caller looked it up
        raise errors.NotFound(f"network {network.name} not found", reason="NETWORK_UNKNOWN")
    used, last = state
    used = {*used, *elsewhere}
    if static:
        if network.builtin:
            raise errors.InvalidArgument(
                "user specified IP address is supported on user defined networks only",
                reason="ADDRESS_INVALID",
            )
        address = ipam.claim(network.subnet, network.gateway, used, static)
    else:
        address = ipam.next_address(
            network.subnet,
            used,
            last,
            gateway=network.gateway,
            within=overlay.dynamic_range(network),
        )
        await tx.set_ipam_last(network.id, address)
    ifname = await tx.free_ifname(names.veth_names(prefix, container_id, network.id))
    if ifname is None:
        raise errors.Aborted(f"no free interface name for container {container_id!r}; retry")
    return Endpoint(
        id=secrets.token_hex(32),
        container_id=container_id,
        network_id=network.id,
        network_name=network.name,
        address=ipam.with_prefix(address, network.subnet),
        gateway=network.gateway,
        mac=ipam.mac_for(address),
        host_ifname=ifname,
        aliases=aliases,
        created_at=created,
        ifname=names.container_ifname(taken_ifnames or set()),
        internal=network.internal,
    )


def plan(endpoint: Endpoint, network: Network, *, default_route: bool) -> EndpointPlan:
    return EndpointPlan(
        host_ifname=endpoint.host_ifname,
        bridge=network.bridge,
        address=endpoint.address,
        gateway=endpoint.gateway if default_route else None,
        mac=endpoint.mac,
        ifname=endpoint.ifname,
        mtu=overlay.mtu_of(network),
    )


def plans(sandbox: Sandbox, networks: Mapping[str, Network]) -> list[EndpointPlan]:
    """What the kernel must hold for every endpoint of the sandbox (for a repair)."""
    default = sandbox.default_endpoint
    return [
        plan(e, networks[e.network_id], default_route=default is not None and e == default)
        for e in sandbox.endpoints
    ]


def find(sandbox: Sandbox, network: Network) -> Endpoint | None:
    return next((e for e in sandbox.endpoints if e.network_id == network.id), None)
