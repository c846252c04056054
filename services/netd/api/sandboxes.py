"""estiba.netd.v1.Sandboxes: each container's network sandbox."""

from __future__ import annotations

from typing import Any

import grpc

from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.netd.api import convert
from services.netd.domain.models import ConnectRequest, SandboxRequest
from services.netd.domain.sandboxes import SandboxManager


class SandboxesServicer(netd_pb2_grpc.SandboxesServicer):
    def __init__(self, sandboxes: SandboxManager) -> None:
        self._sandboxes = sandboxes

    async def CreateSandbox(
        self,
        request: netd_pb2.CreateSandboxRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.CreateSandboxResponse:
        asked = SandboxRequest(
            container_id=request.container_id,
            network=request.network,
            hostname=request.hostname,
            aliases=tuple(request.aliases),
            name=request.name,
            ip_address=request.ip_address,
            ports=tuple(convert.port_from(p) for p in request.ports),
        )
        sandbox, files = await self._sandboxes.create(asked)
        return netd_pb2.CreateSandboxResponse(sandbox=convert.sandbox(sandbox, files))

    async def RemoveSandbox(
        self,
        request: netd_pb2.RemoveSandboxRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.RemoveSandboxResponse:
        removed = await self._sandboxes.remove(request.container_id)
        return netd_pb2.RemoveSandboxResponse(removed=removed)

    async def GetSandbox(
        self,
        request: netd_pb2.GetSandboxRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.GetSandboxResponse:
        sandbox, files = await self._sandboxes.get(request.container_id, files=request.files)
        return netd_pb2.GetSandboxResponse(sandbox=convert.sandbox(sandbox, files))

    async def ListSandboxes(
        self,
        request: netd_pb2.ListSandboxesRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.ListSandboxesResponse:
        found = await self._sandboxes.list_all(files=request.files)
        return netd_pb2.ListSandboxesResponse(sandboxes=[convert.sandbox(*s) for s in found])

    async def Connect(
        self,
        request: netd_pb2.ConnectRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.ConnectResponse:
        asked = ConnectRequest(
            container_id=request.container_id,
            network=request.network,
            ip_address=request.ip_address,
            aliases=tuple(request.aliases),
        )
        sandbox, files = await self._sandboxes.connect(asked)
        return netd_pb2.ConnectResponse(sandbox=convert.sandbox(sandbox, files))

    async def Disconnect(
        self,
        request: netd_pb2.DisconnectRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.DisconnectResponse:
        sandbox, files = await self._sandboxes.disconnect(request.container_id, request.network)
        return netd_pb2.DisconnectResponse(sandbox=convert.sandbox(sandbox, files))

    async def UpdateSandbox(
        self,
        request: netd_pb2.UpdateSandboxRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.UpdateSandboxResponse:
        sandbox, files = await self._sandboxes.update(request.container_id, request.name)
        return netd_pb2.UpdateSandboxResponse(sandbox=convert.sandbox(sandbox, files))

    def register(self, server: grpc.aio.Server) -> None:
        netd_pb2_grpc.add_SandboxesServicer_to_server(self, server)
