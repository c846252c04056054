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
        found = await self._networks.list_filtered(convert.filters(request.filters))
        return netd_pb2.ListNetworksResponse(
            networks=[convert.network(n, count=count) for n, count in found]
        )

    async def GetNetwork(
        self,
        request: netd_pb2.GetNetworkRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.GetNetworkResponse:
        network, endpoints = await self._networks.get(request.network)
        return netd_pb2.GetNetworkResponse(network=convert.network(network, endpoints))

    async def CreateNetwork(
        self,
        request: netd_pb2.CreateNetworkRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.CreateNetworkResponse:
        network = await self._networks.create(convert.network_spec(request))
        return netd_pb2.CreateNetworkResponse(network=convert.network(network))

    async def DeleteNetwork(
        self,
        request: netd_pb2.DeleteNetworkRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.DeleteNetworkResponse:
        network = await self._networks.delete(request.network)
        return netd_pb2.DeleteNetworkResponse(network=convert.network(network))

    async def PruneNetworks(
        self,
        request: netd_pb2.PruneNetworksRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.PruneNetworksResponse:
        removed = await self._networks.prune(convert.filters(request.filters))
        return netd_pb2.PruneNetworksResponse(deleted=[n.name for n in removed])

    def register(self, server: grpc.aio.Server) -> None:
        netd_pb2_grpc.add_NetworksServicer_to_server(self, server)
