"""The container domain's ``Sandboxes`` port, over netd's gRPC API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.engine.containers.models import Endpoint, Port, Sandbox, Wiring
from services.kit.grpcclient import call

if TYPE_CHECKING:
    from estiba.netd.v1.netd_pb2_grpc import SandboxesAsyncStub

TIMEOUT = 30.0


class NetdSandboxes:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub: SandboxesAsyncStub = netd_pb2_grpc.SandboxesStub(channel)

    async def create(
        self,
        container_id: str,
        mode: str,
        hostname: str,
        name: str = "",
        wiring: Wiring | None = None,
    ) -> Sandbox:
        wiring = wiring or Wiring()
        request = netd_pb2.CreateSandboxRequest(
            container_id=container_id,
            network=mode,
            hostname=hostname,
            name=name,
            ip_address=wiring.ip_address,
            aliases=list(wiring.aliases),
        )
        for p in wiring.ports:
            request.ports.add(
                protocol=p.protocol,
                container_port=p.container_port,
                host_ip=p.host_ip,
                host_port=p.host_port,
            )
        reply = await call(self._stub.CreateSandbox, request, service="netd", timeout=TIMEOUT)
        return sandbox_from_proto(reply.sandbox)

    async def remove(self, container_id: str) -> None:
        request = netd_pb2.RemoveSandboxRequest(container_id=container_id)
        await call(self._stub.RemoveSandbox, request, service="netd", timeout=TIMEOUT)

    async def rename(self, container_id: str, name: str) -> None:
        request = netd_pb2.UpdateSandboxRequest(container_id=container_id, name=name)
        await call(self._stub.UpdateSandbox, request, service="netd", timeout=TIMEOUT)

    async def current(self, container_id: str) -> Sandbox:
        request = netd_pb2.GetSandboxRequest(container_id=container_id, files=True)
        reply = await call(self._stub.GetSandbox, request, service="netd", timeout=TIMEOUT)
        return sandbox_from_proto(reply.sandbox)

    async def all_endpoints(self) -> dict[str, tuple[Endpoint, ...]]:
        request = netd_pb2.ListSandboxesRequest()
        reply = await call(self._stub.ListSandboxes, request, service="netd", timeout=TIMEOUT)
        return {s.container_id: sandbox_from_proto(s).endpoints for s in reply.sandboxes}


def sandbox_from_proto(s: netd_pb2.Sandbox) -> Sandbox:
    """netd's sandbox as the engine records it: every endpoint, in netd's order."""
    return Sandbox(
        mode=s.mode,
        netns=s.netns_path,
        hosts=s.hosts,
        resolv_conf=s.resolv_conf,
        endpoints=tuple(
            Endpoint(
                network=e.network_name,
                network_id=e.network_id,
                ip_address=e.ip_address,
                prefix_length=e.prefix_length,
                gateway=e.gateway,
                mac_address=e.mac_address,
                id=e.id,
                aliases=tuple(e.aliases),
            )
            for e in s.endpoints
        ),
        ports=tuple(Port(p.protocol, p.container_port, p.host_ip, p.host_port) for p in s.ports),
    )
