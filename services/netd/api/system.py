"""estiba.netd.v1.System: what netd is and manages."""

from __future__ import annotations

from typing import Any

import grpc

from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.kit.info import service_info
from services.netd.config import NetdConfig
from services.netd.store.sqlite import NetdStore


class SystemServicer(netd_pb2_grpc.SystemServicer):
    def __init__(self, config: NetdConfig, store: NetdStore) -> None:
        self._config = config
        self._store = store

    async def GetInfo(
        self,
        request: netd_pb2.GetInfoRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> netd_pb2.GetInfoResponse:
        networks, endpoints = await self._store.counts()
        cfg = self._config
        return netd_pb2.GetInfoResponse(
            service=service_info("netd", state_dir=cfg.state_dir, node_name=cfg.node),
            networks=networks,
            endpoints=endpoints,
            kernel_prefix=cfg.kernel_prefix,
            overlay_local=cfg.overlay_local,
        )

    def register(self, server: grpc.aio.Server) -> None:
        netd_pb2_grpc.add_SystemServicer_to_server(self, server)
