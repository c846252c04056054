"""estiba.registry.v1.Maintenance: garbage collection and upload sessions."""

from __future__ import annotations

from typing import Any

import grpc

from estiba.registry.v1 import registry_pb2 as pb
from estiba.registry.v1 import registry_pb2_grpc
from services.registry.api import convert
from services.registry.domain.gc import GarbageCollector
from services.registry.domain.uploads import UploadService

Context = grpc.aio.ServicerContext[Any, Any]


class MaintenanceServicer(registry_pb2_grpc.MaintenanceServicer):
    def __init__(
        self, gc: GarbageCollector, uploads: UploadService, *, interval: float, grace: float
    ) -> None:
        self._gc = gc
        self._uploads = uploads
        self._interval = interval
        self._grace = grace

    async def RunGC(self, request: pb.RunGCRequest, context: Context) -> pb.RunGCResponse:
        report = await self._gc.run(dry_run=request.dry_run)
        return pb.RunGCResponse(report=convert.gc_report(report))

    async def GetGCStatus(
        self, request: pb.GetGCStatusRequest, context: Context
    ) -> pb.GetGCStatusResponse:
        last = self._gc.last
        return pb.GetGCStatusResponse(
            running=self._gc.running,
            last_run=None if last is None else convert.gc_report(last),
            next_run_at=convert.timestamp(self._gc.next_run_at) if self._interval > 0 else "",
            interval_seconds=self._interval,
            grace_period_seconds=self._grace,
        )

    async def ListUploads(
        self, request: pb.ListUploadsRequest, context: Context
    ) -> pb.ListUploadsResponse:
        sessions = await self._uploads.sessions(request.repository or None)
        return pb.ListUploadsResponse(uploads=[convert.upload(s) for s in sessions])

    async def AbortUpload(
        self, request: pb.AbortUploadRequest, context: Context
    ) -> pb.AbortUploadResponse:
        session = await self._uploads.abort(request.id)
        return pb.AbortUploadResponse(upload=convert.upload(session))

    def register(self, server: grpc.aio.Server) -> None:
        registry_pb2_grpc.add_MaintenanceServicer_to_server(self, server)
