"""estiba.engine.v1.Filesystems: copy in and out, export, diff and commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from estiba.engine.v1 import containers_pb2 as pb
from estiba.engine.v1 import containers_pb2_grpc
from services.engine.runtime.files import ContainerFiles
from services.kit import errors

Ctx = grpc.aio.ServicerContext[Any, Any]


def _stat(d: dict[str, Any]) -> pb.PathStat:
    return pb.PathStat(
        name=d["name"],
        size=d["size"],
        mode=d["mode"],
        mtime=d["mtime"],
        link_target=d["linkTarget"],
        is_dir=d["isdir"],
    )


async def _chunks(items: AsyncIterator[dict[str, Any] | bytes]) -> AsyncIterator[pb.ArchiveChunk]:
    async for item in items:
        if isinstance(item, dict):
            yield pb.ArchiveChunk(stat=_stat(item))
        else:
            yield pb.ArchiveChunk(data=item)


class FilesystemsServicer(containers_pb2_grpc.FilesystemsServicer):
    def __init__(self, files: ContainerFiles) -> None:
        self._f = files

    def register(self, server: grpc.aio.Server) -> None:
        containers_pb2_grpc.add_FilesystemsServicer_to_server(self, server)

    async def StatPath(self, request: pb.PathRequest, context: Ctx) -> pb.PathStat:
        return _stat(await self._f.stat(request.ref, request.path))

    async def GetArchive(
        self, request: pb.PathRequest, context: Ctx
    ) -> AsyncIterator[pb.ArchiveChunk]:
        async for chunk in _chunks(self._f.get_archive(request.ref, request.path)):
            yield chunk

    async def Export(
        self, request: pb.GetContainerRequest, context: Ctx
    ) -> AsyncIterator[pb.ArchiveChunk]:
        async for chunk in _chunks(self._f.export(request.ref)):
            yield chunk

    async def PutArchive(
        self, request_iterator: AsyncIterator[pb.PutArchiveRequest], context: Ctx
    ) -> pb.Empty:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "target":
            raise errors.InvalidArgument("PutArchive starts with its target")
        target = first.target

        async def data() -> AsyncIterator[bytes]:
            async for item in request_iterator:
                yield item.data

        await self._f.put_archive(
            target.ref, target.path, data(), no_overwrite=target.no_overwrite_dir_non_dir
        )
        return pb.Empty()

    async def Commit(self, request: pb.CommitRequest, context: Ctx) -> pb.CommitResponse:
        image_id = await self._f.commit(
            request.ref,
            reference=request.reference,
            comment=request.comment,
            author=request.author,
            changes=list(request.changes),
            pause=request.pause,
        )
        return pb.CommitResponse(image_id=image_id)

    async def Changes(self, request: pb.GetContainerRequest, context: Ctx) -> pb.ChangesResponse:
        found = await self._f.changes(request.ref)
        return pb.ChangesResponse(changes=[pb.Change(path=p, kind=k) for p, k in found])
