"""``Builder``: what the engine's Builder service calls. It owns the scratch space of builds,
turns one build into a stream of events, tags the result, and prunes the cache.

A build runs as its own task that writes events into a queue; the caller reads the queue, so
a RUN's output reaches the client while the container runs. If the caller goes away, the task
is cancelled and its container removed.
"""

from __future__ import annotations

import asyncio
import posixpath
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

from services.engine.build import dockerfile as parser
from services.engine.build import dockerignore
from services.engine.build.context import ContextTree, Spool
from services.engine.build.executor import Execution
from services.engine.build.models import BuildEvent, BuildOptions, RecordMemo, StepFailed
from services.engine.build.tarindex import Member
from services.engine.containers.manager import ContainerManager
from services.engine.images import reference as refs
from services.engine.images.service import ImageService
from services.engine.store.build_cache import BuildCacheStore
from services.kit import errors
from services.kit.log import get_logger
from services.kit.tasks import spawn, stop

log = get_logger()
_DONE = BuildEvent()


class Builder:
    def __init__(
        self, images: ImageService, containers: ContainerManager, cache: BuildCacheStore
    ) -> None:
        self.images = images
        self.containers = containers
        self.cache = cache
        self.memo = RecordMemo()
        self._touching: asyncio.Task[None] | None = None

    @property
    def scratch(self) -> Path:
        return self.images.scratch_dir / "build"

    def spool(self) -> Spool:
        """Where a client's context goes while it arrives. Blocking (small): makes the dir."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        return Spool(self.scratch / f"context-{secrets.token_hex(8)}.tar")

    async def build(
        self, context: Path, options: BuildOptions, members: list[Member] | None = None
    ) -> AsyncIterator[BuildEvent]:
        """Build from the spooled context tar (removed afterwards); yields the progress, then
        the image id, or an error event naming the Dockerfile line."""
        tags = [refs.parse(t).with_default_tag() for t in options.tags]
        queue: asyncio.Queue[BuildEvent] = asyncio.Queue()
        task = spawn(self._run(context, options, members, tags, queue), name="build")
        try:
            done = False
            while not done:
                batch = [await queue.get()]
                while not queue.empty():  # what piled up goes out as few messages as it can
                    batch.append(queue.get_nowait())
                for event in _coalesced(batch):
                    if event is _DONE:
                        done = True
                        break
                    yield event
            await task
        finally:
            await stop(task)

    async def _run(
        self,
        context: Path,
        options: BuildOptions,
        members: list[Member] | None,
        tags: list[refs.Reference],
        queue: asyncio.Queue[BuildEvent],
    ) -> None:
        async def emit(text: str) -> None:
            if not options.quiet:
                queue.put_nowait(BuildEvent(stream=text))

        work = self.scratch / f"work-{secrets.token_hex(6)}"
        tree: ContextTree | None = None
        try:
            started = time.perf_counter()
            tree = await asyncio.to_thread(ContextTree.load, context, members)
            indexed = time.perf_counter()
            df = await asyncio.to_thread(_dockerfile, tree, options.dockerfile)
            execution = Execution(
                self.images, self.containers, self.cache, tree, df, options, emit, work, self.memo
            )
            image = await execution.run()
            if execution.hits:  # bookkeeping the client need not wait for
                self._touching = spawn(self._touch(execution.hits), name="build-cache-touch")
            short = image.id.hex[:12]
            queue.put_nowait(BuildEvent(image_id=str(image.id)))
            if options.quiet:  # what docker -q prints: the id, as the only output
                queue.put_nowait(BuildEvent(stream=f"{image.id}\n"))
            await emit(f"Successfully built {short}\n")
            if tags:
                await self.images.ctx.records.set_names(str(image.id), [t.tagged for t in tags])
                for tag in tags:
                    await emit(f"Successfully tagged {tag.familiar}\n")
            log.info(
                "image_built",
                image_id=str(image.id),
                tags=[t.tagged for t in tags],
                steps=execution.step,
                cache_hits=len(execution.hits),
                index_ms=round((indexed - started) * 1000, 1),
                build_ms=round((time.perf_counter() - indexed) * 1000, 1),
            )
        except StepFailed as exc:
            queue.put_nowait(BuildEvent(error=exc.message, line=exc.line, exit_code=exc.exit_code))
        except parser.DockerfileError as exc:
            queue.put_nowait(BuildEvent(error=exc.message, line=exc.line))
        except errors.EstibaError as exc:
            queue.put_nowait(BuildEvent(error=exc.message))
        finally:
            if tree is not None:
                tree.close()
            await asyncio.to_thread(_remove, context, work)
            queue.put_nowait(_DONE)

    async def _touch(self, keys: list[str]) -> None:
        try:
            await self.cache.touch(keys)
        except errors.EstibaError as exc:
            log.warning("build_cache_touch_failed", error=exc.message)

    async def prune(self) -> tuple[list[str], int]:
        """Forget the cache and remove the step images nothing else needs (untagged, unused,
        not the parent of a kept image); (removed image ids, bytes freed)."""
        removed: list[str] = []
        freed = 0
        for image_id in await self.cache.clear():
            try:
                image = await self.images.get(image_id)
            except errors.NotFound:
                continue
            if image.tags or await self.images.ctx.users.containers_using(image_id):
                continue
            size = image.size
            try:
                items = await self.images.remove(image_id, force=False)
            except (errors.FailedPrecondition, errors.NotFound, errors.Aborted):
                continue
            removed += [i.deleted for i in items if i.deleted]
            freed += size
        return removed, freed


def _coalesced(events: list[BuildEvent]) -> list[BuildEvent]:
    """Consecutive output joined into one event; everything else kept as it is, in order."""
    out: list[BuildEvent] = []
    for event in events:
        if out and _text_only(event) and _text_only(out[-1]):  # _DONE carries no text
            out[-1] = BuildEvent(stream=out[-1].stream + event.stream)
        else:
            out.append(event)
    return out


def _text_only(event: BuildEvent) -> bool:
    return bool(event.stream) and not (event.image_id or event.error)


def _dockerfile(tree: ContextTree, name: str) -> parser.Dockerfile:
    name = name or "Dockerfile"
    data = tree.read(name)
    if data is None and name == "Dockerfile":
        data = tree.read("dockerfile")
    if data is None:
        raise errors.InvalidArgument(
            f"Cannot locate specified Dockerfile: {name}", reason="DOCKERFILE_MISSING"
        )
    ignore = tree.read(".dockerignore")
    if ignore is not None:
        tree.ignore(dockerignore.Matcher.from_text(ignore))
    return parser.parse(data, name=posixpath.basename(name))


def _remove(context: Path, work: Path) -> None:
    context.unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
