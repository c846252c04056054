"""estiba.engine.v1.System: what the engine and its node are and hold."""

from __future__ import annotations

import dataclasses
from typing import Any

import grpc

from estiba.engine.v1 import engine_pb2, engine_pb2_grpc
from services.engine.config import EngineConfig
from services.engine.domain.host import Host
from services.engine.store.sqlite import EngineStore
from services.kit.info import service_info


class SystemServicer(engine_pb2_grpc.SystemServicer):
    def __init__(
        self, config: EngineConfig, store: EngineStore, host: Host, runtime_version: str
    ) -> None:
        self._config = config
        self._store = store
        self._host = engine_pb2.HostInfo(os_type="linux", **dataclasses.asdict(host))
        self._runtime_version = runtime_version

    async def GetInfo(
        self,
        request: engine_pb2.GetInfoRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> engine_pb2.GetInfoResponse:
        counts = await self._store.counts()
        cfg = self._config
        return engine_pb2.GetInfoResponse(
            service=service_info("engine", state_dir=cfg.state_dir, node_name=cfg.node),
            host=self._host,
            containers=counts.containers,
            containers_running=counts.running,
            containers_paused=counts.paused,
            containers_stopped=counts.stopped,
            images=counts.images,
            storage_driver="overlayfs",
            runtime=cfg.runtime,
            runtime_version=self._runtime_version,
        )

    def register(self, server: grpc.aio.Server) -> None:
        engine_pb2_grpc.add_SystemServicer_to_server(self, server)
