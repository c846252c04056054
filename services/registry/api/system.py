"""estiba.registry.v1.System: what the registry is and holds."""

from __future__ import annotations

from typing import Any

import grpc

from estiba.registry.v1 import registry_pb2, registry_pb2_grpc
from services.kit.info import service_info
from services.registry.config import RegistryConfig
from services.registry.domain.repositories import RepositoryService


class SystemServicer(registry_pb2_grpc.SystemServicer):
    def __init__(
        self, config: RegistryConfig, repositories: RepositoryService, trust_pem: str = ""
    ) -> None:
        self._config = config
        self._repositories = repositories
        self._trust_pem = trust_pem

    async def GetInfo(
        self,
        request: registry_pb2.GetInfoRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> registry_pb2.GetInfoResponse:
        usage = await self._repositories.store_usage()
        cfg = self._config
        return registry_pb2.GetInfoResponse(
            service=service_info("registry", state_dir=cfg.state_dir, node_name=cfg.node),
            http_address=cfg.http_addr,
            repositories=usage.repositories,
            blobs=usage.blobs,
            blob_bytes=usage.blob_bytes,
            read_only=cfg.read_only,
            tls=cfg.tls,
            tls_trust_pem=self._trust_pem,
            auth=cfg.auth,
        )

    def register(self, server: grpc.aio.Server) -> None:
        registry_pb2_grpc.add_SystemServicer_to_server(self, server)
