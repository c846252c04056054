"""estiba.engine.v1.Images: a thin layer over ImageService.

Load and Import take a stream: the first message says where the tar is, or that its bytes
follow; the bytes are spooled to a file under the engine's scratch directory (never held whole
in memory) and the domain reads that file. They answer with a stream of progress events, as
Docker's load and import do, which also lets the shared interceptor map their errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from estiba.engine.v1 import images_pb2 as pb
from estiba.engine.v1 import images_pb2_grpc
from services.engine.api import images_convert as convert
from services.engine.distribution.client import login
from services.engine.events import actors
from services.engine.events.bus import EventBus
from services.engine.images import reference as refs
from services.engine.images.load import events as load_events
from services.engine.images.platform import parse_platform
from services.engine.images.service import ImageService
from services.kit import errors
from services.kit.files import open_binary

Ctx = grpc.aio.ServicerContext[Any, Any]
CHUNK = 1 << 20


class ImagesServicer(images_pb2_grpc.ImagesServicer):
    def __init__(self, images: ImageService, events: EventBus | None = None) -> None:
        self._images = images
        self._events = events or EventBus()

    def _announce(self, action: str, actor_id: str, name: str = "") -> None:
        actors.image(self._events, action, actor_id, name or actor_id)

    def register(self, server: grpc.aio.Server) -> None:
        images_pb2_grpc.add_ImagesServicer_to_server(self, server)

    async def Prune(self, request: pb.PruneImagesRequest, context: Ctx) -> pb.PruneImagesResponse:
        items, freed = await self._images.prune(all=request.all, labels=list(request.labels))
        return pb.PruneImagesResponse(
            items=[pb.DeletedImage(untagged=i.untagged, deleted=i.deleted) for i in items],
            space_reclaimed=freed,
        )

    async def Login(self, request: pb.LoginRequest, context: Ctx) -> pb.LoginResponse:
        registry = request.registry
        if registry in ("", "https://index.docker.io/v1/", "index.docker.io", "docker.io"):
            registry = "docker.io"
        registry = registry.removeprefix("https://").removeprefix("http://").rstrip("/")
        await login(self._images.ctx.registries, registry, convert.credentials(request.auth))
        return pb.LoginResponse()

    async def Pull(
        self, request: pb.PullImageRequest, context: Ctx
    ) -> AsyncIterator[pb.ImageProgress]:
        platform = parse_platform(request.platform) if request.platform else None
        creds = convert.credentials(request.auth)
        async for event in self._images.pull(request.reference, creds, platform):
            yield convert.progress(event)
        ref = refs.parse(request.reference).with_default_tag()
        self._announce("pull", ref.familiar, ref.familiar_repository)

    async def List(self, request: pb.ListImagesRequest, context: Ctx) -> pb.ListImagesResponse:
        filters = [(f.name, f.value) for f in request.filters]
        found = await self._images.list_images(all=request.all, filters=filters)
        return pb.ListImagesResponse(images=[convert.summary(i) for i in found])

    async def Inspect(
        self, request: pb.InspectImageRequest, context: Ctx
    ) -> pb.InspectImageResponse:
        return pb.InspectImageResponse(
            image=convert.details(await self._images.inspect(request.image))
        )

    async def History(
        self, request: pb.ImageHistoryRequest, context: Ctx
    ) -> pb.ImageHistoryResponse:
        entries = await self._images.history(request.image)
        return pb.ImageHistoryResponse(entries=[convert.history(e) for e in entries])

    async def Tag(self, request: pb.TagImageRequest, context: Ctx) -> pb.TagImageResponse:
        await self._images.tag(request.source, request.target)
        image = await self._images.get(request.source)
        self._announce("tag", str(image.id), refs.parse(request.target).with_default_tag().familiar)
        return pb.TagImageResponse()

    async def Remove(self, request: pb.RemoveImageRequest, context: Ctx) -> pb.RemoveImageResponse:
        image_id = str((await self._images.get(request.image)).id)
        items = await self._images.remove(
            request.image, force=request.force, prune=not request.no_prune
        )
        for item in items:
            if item.untagged:
                self._announce("untag", image_id)
            if item.deleted:
                self._announce("delete", str(item.deleted))
        return pb.RemoveImageResponse(items=[convert.deleted(i) for i in items])

    async def Push(
        self, request: pb.PushImageRequest, context: Ctx
    ) -> AsyncIterator[pb.ImageProgress]:
        creds = convert.credentials(request.auth)
        async for event in self._images.push(request.reference, creds):
            yield convert.progress(event)
        self._announce("push", refs.parse(request.reference).with_default_tag().familiar)

    async def Save(
        self, request: pb.SaveImagesRequest, context: Ctx
    ) -> AsyncIterator[pb.SaveImagesChunk]:
        pending: list[bytes] = []
        size = 0
        async for data in await self._images.save(list(request.names)):
            pending.append(data)
            size += len(data)
            if size >= CHUNK:
                yield pb.SaveImagesChunk(data=b"".join(pending))
                pending, size = [], 0
        if pending:
            yield pb.SaveImagesChunk(data=b"".join(pending))
        for name in request.names:
            self._announce("save", str((await self._images.get(name)).id))

    async def Load(
        self, request_iterator: AsyncIterator[pb.LoadImagesRequest], context: Ctx
    ) -> AsyncIterator[pb.ImageProgress]:
        first = await _first(request_iterator, "source")
        async with self._spooled(first.source.path, request_iterator) as path:
            loaded = await self._images.load(path)
        for image in loaded:
            for name in image.names or [image.id]:
                self._announce("load", image.id, refs.familiar(name))
        for event in load_events(loaded):
            yield convert.progress(event)

    async def Import(
        self, request_iterator: AsyncIterator[pb.ImportImageRequest], context: Ctx
    ) -> AsyncIterator[pb.ImageProgress]:
        opts = (await _first(request_iterator, "options")).options
        platform = parse_platform(opts.platform) if opts.platform else None
        async with self._spooled(opts.path, request_iterator) as path:
            image = await self._images.import_image(
                path,
                reference=opts.reference,
                changes=list(opts.changes),
                message=opts.message,
                platform=platform,
            )
        self._announce("import", str(image.id))
        yield pb.ImageProgress(status=str(image.id), image_id=str(image.id))

    async def Bootstrap(
        self, request: pb.BootstrapImageRequest, context: Ctx
    ) -> AsyncIterator[pb.ImageProgress]:
        stream = self._images.bootstrap(
            request.reference,
            suite=request.suite or "bookworm",
            mirror=request.mirror,
            variant=request.variant or "minbase",
        )
        async for event in stream:
            yield convert.progress(event)

    @contextlib.asynccontextmanager
    async def _spooled(self, path: str, rest: AsyncIterator[Any]) -> AsyncIterator[Path]:
        """The node-local file named, or the streamed bytes written to a scratch file."""
        if path:
            yield Path(path)
            return
        tmp = self._images.scratch_dir / f"upload-{secrets.token_hex(8)}"
        f = await open_binary(tmp, "xb")
        try:
            try:
                async for message in rest:
                    if message.WhichOneof("part") != "data":
                        raise errors.InvalidArgument(
                            "only data may follow the first message", reason="STREAM_INVALID"
                        )
                    await asyncio.to_thread(f.write, message.data)
            finally:
                await asyncio.to_thread(f.close)
            yield tmp
        finally:
            await asyncio.to_thread(tmp.unlink, True)


async def _first(request_iterator: AsyncIterator[Any], part: str) -> Any:
    try:
        first = await anext(request_iterator)
    except StopAsyncIteration:
        first = None
    if first is None or first.WhichOneof("part") != part:
        raise errors.InvalidArgument(
            f"the first message of the stream must carry {part}", reason="STREAM_INVALID"
        )
    return first
