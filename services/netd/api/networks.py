"""estiba.netd.v1.Networks: the node's networks."""

from __future__ import annotations

from typing import Any

import grpc

from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.netd.api import convert
from services.netd.domain.networks import NetworkManager


class NetworksServicer(netd_pb2_grpc.NetworksServicer):
    def __init__(self, networks: NetworkManager) -> None:
        self._networks = networks

    async def ListNetworks(
        self,
        request: netd_pb2.ListNetworksRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.ListNetworksResponse:
        found = await self._networks.list_all()
        return netd_pb2.ListNetworksResponse(networks=[convert.network(n) for n in found])

    async def GetNetwork(
        self,
        request: netd_pb2.GetNetworkRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.GetNetworkResponse:
        network, endpoints = await self._networks.get(request.network)
        return netd_pb2.GetNetworkResponse(network=convert.network(network, endpoints))

    def register(self, server: grpc.aio.Server) -> None:
        netd_pb2_grpc.add_NetworksServicer_to_server(self, server)
