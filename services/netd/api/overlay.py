"""estiba.netd.v1.Overlay: the endpoints of overlay networks, swapped between nodes' netd.

Served on the underlay address only, apart from the API: a peer can tell this node about its
containers and learn this node's, and nothing else. The caller is known by the address its
call came from, not by anything it says, so one node cannot speak for another; and only the
peers of this node's overlay networks are heard (PERMISSION_DENIED for anybody else).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import grpc

from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.kit import errors
from services.netd.api import convert
from services.netd.peering import Peering


class OverlayServicer(netd_pb2_grpc.OverlayServicer):
    def __init__(self, peering: Peering) -> None:
        self._peering = peering

    async def ShareEndpoints(
        self,
        request: netd_pb2.ShareEndpointsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.ShareEndpointsResponse:
        peer = caller_address(context.peer())
        mine = await self._peering.heard(peer, convert.remote_endpoints(request.endpoints))
        return netd_pb2.ShareEndpointsResponse(endpoints=convert.overlay_endpoints(mine))

    def register(self, server: grpc.aio.Server) -> None:
        netd_pb2_grpc.add_OverlayServicer_to_server(self, server)


def caller_address(peer: str) -> IPv4Address:
    """The IPv4 address in gRPC's peer string ("ipv4:10.0.0.2:51234")."""
    kind, _, rest = peer.partition(":")
    if kind != "ipv4":
        raise errors.PermissionDenied(f"overlay peers call over IPv4, not {peer!r}")
    return IPv4Address(rest.rpartition(":")[0])
