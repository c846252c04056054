"""Overlay networks made and removed on every node in one request.

``docker network create -d overlay NAME`` through a gateway with several nodes (and no node
named) makes the network on each of them, in the nodes' order: the first picks the subnet
(unless one is given) and the others are given it; every node is told the others' underlay
addresses (``estiba.overlay.peers``, from each netd's ``overlay_local``), which are the
peers its VXLAN link floods to and its netd swaps names with, and its own part of the address
range (``estiba.overlay.slot``), so that no two nodes hand out one address. A node that fails
takes back what was made before it. Removing such a network removes it from every node, once
none has containers on it.
"""

from __future__ import annotations

import asyncio

from estiba.netd.v1 import netd_pb2
from services.gateway.nodes.where import Node
from services.kit import errors
from services.kit.grpcclient import call
from services.kit.log import get_logger

log = get_logger()

OVERLAY = "overlay"
PEERS_OPTION = "estiba.overlay.peers"
SLOT_OPTION = "estiba.overlay.slot"
TIMEOUT = 30.0


async def create_everywhere(
    nodes: list[Node], request: netd_pb2.CreateNetworkRequest
) -> netd_pb2.Network:
    """The network made on every node; the first node's record is the answer."""
    underlays = await _underlays(nodes)
    made: list[tuple[Node, netd_pb2.Network]] = []
    try:
        for index, node in enumerate(nodes):
            one = netd_pb2.CreateNetworkRequest()
            one.CopyFrom(request)
            if made:
                one.subnet, one.gateway = made[0][1].subnet, made[0][1].gateway
            one.options[PEERS_OPTION] = ",".join(u for u in underlays if u != underlays[index])
            one.options[SLOT_OPTION] = f"{index}/{len(nodes)}"
            reply = await call(
                node.backends.networks.CreateNetwork, one, service="netd", timeout=TIMEOUT
            )
            made.append((node, reply.network))
    except BaseException:
        for node, network in made:
            try:
                await _delete(node, network.id)
            except errors.EstibaError as exc:
                log.warning("overlay_rollback_failed", node=node.name, error=str(exc))
        raise
    return made[0][1]


async def delete_everywhere(nodes: list[Node], name: str) -> None:
    """Remove the overlay network called ``name`` from every node that has it; nothing is
    removed while any node has a container on it (dockerd's 403, NETWORK_IN_USE)."""
    found = await asyncio.gather(*(_overlay_on(node, name) for node in nodes))
    for node, network in zip(nodes, found, strict=True):
        if network is not None and network.endpoints:
            raise errors.PermissionDenied(
                f"error while removing network: network {name} has active endpoints on node"
                f" {node.name}",
                reason="NETWORK_IN_USE",
            )
    for node, network in zip(nodes, found, strict=True):
        if network is not None:
            await _delete(node, network.id)


async def _underlays(nodes: list[Node]) -> list[str]:
    infos = await asyncio.gather(
        *(
            call(
                node.backends.netd_system.GetInfo,
                netd_pb2.GetInfoRequest(),
                service="netd",
                timeout=TIMEOUT,
            )
            for node in nodes
        )
    )
    missing = [node.name for node, info in zip(nodes, infos, strict=True) if not info.overlay_local]
    if missing:
        raise errors.InvalidArgument(
            "an overlay network spans every node, and these have no underlay address (netd's"
            f" overlay_local): {', '.join(missing)}",
            reason="DRIVER_UNSUPPORTED",
        )
    return [info.overlay_local for info in infos]


async def _overlay_on(node: Node, name: str) -> netd_pb2.Network | None:
    try:
        reply = await call(
            node.backends.networks.GetNetwork,
            netd_pb2.GetNetworkRequest(network=name),
            service="netd",
            timeout=TIMEOUT,
        )
    except errors.NotFound:
        return None
    network = reply.network
    return network if network.name == name and network.driver == OVERLAY else None


async def _delete(node: Node, network_id: str) -> None:
    await call(
        node.backends.networks.DeleteNetwork,
        netd_pb2.DeleteNetworkRequest(network=network_id),
        service="netd",
        timeout=TIMEOUT,
    )
