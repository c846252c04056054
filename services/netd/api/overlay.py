"""estiba.netd.v1.Overlay: the endpoints of overlay networks, swapped between nodes' netd.

Served on the underlay address only, apart from the API: a peer can tell this node about its
containers and learn this node's, and nothing else. The caller is known by the address its
call came from, not by anything it says, so one node cannot speak for another.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address
from typing import Any

import grpc

from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.kit import errors
from services.netd.domain.directory import Directory
from services.netd.domain.models import RemoteEndpoint


class OverlayServicer(netd_pb2_grpc.OverlayServicer):
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def ShareEndpoints(
        self,
        request: netd_pb2.ShareEndpointsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.ShareEndpointsResponse:
        peer = caller_address(context.peer())
        self._directory.set_remote(peer, from_wire(request.endpoints))
        return netd_pb2.ShareEndpointsResponse(
            endpoints=to_wire(self._directory.overlay_endpoints())
        )

    def register(self, server: grpc.aio.Server) -> None:
        netd_pb2_grpc.add_OverlayServicer_to_server(self, server)


def caller_address(peer: str) -> IPv4Address:
    """The IPv4 address in gRPC's peer string ("ipv4:10.0.0.2:51234")."""
    kind, _, rest = peer.partition(":")
    if kind != "ipv4":
        raise errors.InvalidArgument(f"overlay peers call over IPv4, not {peer!r}")
    return IPv4Address(rest.rpartition(":")[0])


def to_wire(endpoints: Iterable[RemoteEndpoint]) -> list[netd_pb2.OverlayEndpoint]:
    return [
        netd_pb2.OverlayEndpoint(
            network=e.network,
            container_id=e.container_id,
            container_name=e.name,
            aliases=list(e.aliases),
            ip_address=str(e.address),
        )
        for e in endpoints
    ]


def from_wire(endpoints: Iterable[netd_pb2.OverlayEndpoint]) -> list[RemoteEndpoint]:
    """What a peer sent; an entry with a malformed address is left out, not trusted."""
    found = []
    for e in endpoints:
        try:
            address = IPv4Address(e.ip_address)
        except ValueError:
            continue
        found.append(
            RemoteEndpoint(
                network=e.network,
                container_id=e.container_id,
                name=e.container_name,
                aliases=tuple(e.aliases),
                address=address,
            )
        )
    return found
