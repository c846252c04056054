"""estiba.engine.v1.Volumes: a thin layer over VolumeManager."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from estiba.engine.v1 import volumes_pb2 as pb
from estiba.engine.v1 import volumes_pb2_grpc
from services.engine.events import actors
from services.engine.events.bus import EventBus
from services.engine.volumes.manager import Volume, VolumeManager, size_of
from services.kit import errors

Ctx = grpc.aio.ServicerContext[Any, Any]


def _proto(v: Volume, used_by: list[str], size: int = -1) -> pb.Volume:
    msg = pb.Volume(
        name=v.name,
        driver=v.driver,
        mountpoint=str(v.mountpoint),
        created_at=v.created_at,
        used_by=used_by,
        size=size,
    )
    msg.labels.update(v.labels)
    msg.options.update(v.options)
    return msg


class VolumesServicer(volumes_pb2_grpc.VolumesServicer):
    def __init__(self, volumes: VolumeManager, events: EventBus | None = None) -> None:
        self._v = volumes
        self._events = events or EventBus()

    def register(self, server: grpc.aio.Server) -> None:
        volumes_pb2_grpc.add_VolumesServicer_to_server(self, server)

    async def Create(self, request: pb.CreateVolumeRequest, context: Ctx) -> pb.Volume:
        existed = bool(request.name) and await self._exists(request.name)
        v = await self._v.create(
            request.name,
            driver=request.driver,
            labels=dict(request.labels),
            options=dict(request.options),
        )
        if not existed:
            actors.volume(self._events, "create", v.name)
        return _proto(v, (await self._v.users()).get(v.name, []))

    async def Get(self, request: pb.GetVolumeRequest, context: Ctx) -> pb.Volume:
        v = await self._v.get(request.name)
        return _proto(v, (await self._v.users()).get(v.name, []))

    async def List(self, request: pb.ListVolumesRequest, context: Ctx) -> pb.ListVolumesResponse:
        users = await self._v.users()
        found = []
        for v in await self._v.list_volumes():
            if not _matches(v, users.get(v.name, []), request.filters):
                continue
            size = await asyncio.to_thread(size_of, v.mountpoint) if request.with_size else -1
            found.append(_proto(v, users.get(v.name, []), size))
        return pb.ListVolumesResponse(volumes=found)

    async def Remove(
        self, request: pb.RemoveVolumeRequest, context: Ctx
    ) -> pb.RemoveVolumeResponse:
        await self._v.remove(request.name, force=request.force)
        actors.volume(self._events, "destroy", request.name)
        return pb.RemoveVolumeResponse()

    async def _exists(self, name: str) -> bool:
        try:
            await self._v.get(name)
        except errors.NotFound:
            return False
        return True

    async def Prune(self, request: pb.PruneVolumesRequest, context: Ctx) -> pb.PruneVolumesResponse:
        deleted, freed = await self._v.prune(list(request.labels))
        for name in deleted:
            actors.volume(self._events, "destroy", name)
        return pb.PruneVolumesResponse(deleted=deleted, space_reclaimed=freed)


def _matches(v: Volume, users: list[str], filters: Any) -> bool:
    for key, values in filters.items():
        wanted = list(values.values)
        if key == "name":
            ok = any(w in v.name for w in wanted)
        elif key == "label":
            ok = all(
                (k := w.partition("=")[0]) in v.labels
                and (not w.partition("=")[1] or v.labels[k] == w.partition("=")[2])
                for w in wanted
            )
        elif key == "dangling":
            ok = any((w in ("true", "1")) == (not users) for w in wanted)
        elif key == "driver":
            ok = v.driver in wanted
        else:
            raise errors.InvalidArgument(f"invalid filter '{key}'")
        if not ok:
            return False
    return True
