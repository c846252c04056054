"""estiba.engine.v1.Builder: a thin layer over ``Builder``.

Build takes a stream: the options first, then the context tar's bytes, which are spooled to a
file under the engine's scratch directory (ungzipped on the way) before the build starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from estiba.engine.v1 import build_pb2 as pb
from estiba.engine.v1 import build_pb2_grpc
from services.engine.build.builder import Builder
from services.engine.build.models import BuildEvent, BuildOptions
from services.kit import errors

Ctx = grpc.aio.ServicerContext[Any, Any]


def options_of(o: pb.BuildOptions) -> BuildOptions:
    return BuildOptions(
        dockerfile=o.dockerfile or "Dockerfile",
        tags=tuple(o.tags),
        build_args={a.name: None if a.unset else a.value for a in o.build_args},
        labels=dict(o.labels),
        target=o.target,
        no_cache=o.no_cache,
        pull=o.pull,
        quiet=o.quiet,
        remove=o.remove,
        force_remove=o.force_remove,
        platform=o.platform,
    )


def event_of(e: BuildEvent) -> pb.BuildEvent:
    if e.error:
        return pb.BuildEvent(
            error=pb.BuildError(message=e.error, line=e.line, exit_code=e.exit_code)
        )
    if e.image_id:
        return pb.BuildEvent(image_id=e.image_id)
    return pb.BuildEvent(stream=e.stream)


class BuilderServicer(build_pb2_grpc.BuilderServicer):
    def __init__(self, builder: Builder) -> None:
        self._builder = builder

    def register(self, server: grpc.aio.Server) -> None:
        build_pb2_grpc.add_BuilderServicer_to_server(self, server)

    async def Build(
        self, request_iterator: AsyncIterator[pb.BuildRequest], context: Ctx
    ) -> AsyncIterator[pb.BuildEvent]:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "options":
            raise errors.InvalidArgument("Build starts with its options")
        options = options_of(first.options)
        spool = await asyncio.to_thread(self._builder.spool)
        try:
            async for item in request_iterator:
                await asyncio.to_thread(spool.write, item.data)
        except BaseException:
            await asyncio.to_thread(spool.discard)
            raise
        await asyncio.to_thread(spool.close)
        async for event in self._builder.build(spool.path, options, spool.members):
            yield event_of(event)

    async def Prune(
        self, request: pb.PruneBuildCacheRequest, context: Ctx
    ) -> pb.PruneBuildCacheResponse:
        deleted, freed = await self._builder.prune()
        return pb.PruneBuildCacheResponse(deleted=deleted, space_reclaimed=freed)
