"""RUN: a real container of the image built so far, its output, its exit code, its diff.

The container is an ordinary one of the engine (``ContainerManager``): it gets the default
network, the image's user and working directory, and is listed while it runs, as Docker's
classic builder does. Its output is read from conmon's log as it is written. Once it exited,
its read-write layer (the overlay upper dir) is the step's layer, written the way ``commit``
writes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from services.engine.build.models import BuildOptions
from services.engine.containers import logs
from services.engine.containers.manager import ContainerManager
from services.engine.containers.models import Container, ContainerSpec
from services.engine.runtime import diff
from services.kit import errors
from services.kit.tasks import spawn

POLL = 0.02


@dataclasses.dataclass
class RunResult:
    container: Container | None = None
    exit_code: int = -1


@dataclasses.dataclass(frozen=True)
class RunRequest:
    image_id: str
    args: tuple[str, ...]
    env: tuple[str, ...]
    working_dir: str
    user: str
    network: str = ""


async def run(
    containers: ContainerManager, request: RunRequest, result: RunResult
) -> AsyncIterator[bytes]:
    """Run the step, yielding b"" once it started, then its output; ``result`` holds the
    container and the exit code."""
    spec = ContainerSpec(
        image=request.image_id,
        cmd=request.args,
        entrypoint=(),
        has_entrypoint=True,
        env=request.env,
        working_dir=request.working_dir,
        user=request.user,
        network_mode=request.network,
    )
    c = await containers.create("", spec)
    result.container = c
    waiter = containers.wait(c.id, "next-exit")
    await anext(waiter)
    await containers.start(c.id)
    yield b""  # started: the caller names the container before its output
    exited = spawn(_next(waiter), name=f"build-run-{c.short_id}")
    log_path = containers.runtime.log_path(c.id)
    offset = 0
    try:
        while True:
            done = exited.done()
            data = await asyncio.to_thread(_read_from, log_path, offset)
            end = data.rfind(b"\n") + 1
            if end:
                offset += end
                for line in logs.parse(data[:end]):
                    yield line.data
            if done:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(exited), POLL)
        code = exited.result()
    finally:
        if not exited.done():
            exited.cancel()
    result.exit_code = int(code) if code is not None else -1


async def _next(waiter: AsyncIterator[int | None]) -> int | None:
    return await anext(waiter)


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""


async def write_layer(
    containers: ContainerManager, c: Container, lowers: list[Path], target: Path
) -> None:
    """The container's changes as a layer tar at ``target``."""
    upper = containers.runtime.log_path(c.id).parent / "upper"
    await asyncio.to_thread(diff.write_layer, upper, lowers, target)


Emit = Callable[[str], Awaitable[None]]


class Step:
    """One RUN from start to layer: announced, its output relayed, its container removed as
    Docker's ``rm``/``forcerm`` say (and always when the client went away)."""

    def __init__(self, containers: ContainerManager, emit: Emit, options: BuildOptions) -> None:
        self.containers = containers
        self.emit = emit
        self.options = options

    async def run(self, request: RunRequest, lowers: list[Path], tar: Path) -> int:
        """The exit code; the layer is written to ``tar`` when it is 0."""
        result = RunResult()
        try:
            async for chunk in run(self.containers, request, result):
                if not chunk and result.container is not None:
                    await self.emit(f" ---> Running in {result.container.short_id}\n")
                elif not self.options.quiet:
                    await self.emit(chunk.decode("utf-8", errors="replace"))
            c = result.container
            assert c is not None
            if result.exit_code != 0:
                if self.options.force_remove:
                    await self._remove(c.id)
                return result.exit_code
            await write_layer(self.containers, c, lowers, tar)
        except asyncio.CancelledError:  # the client went away: nobody will ever look at it
            if result.container is not None:
                await asyncio.shield(self._remove(result.container.id))
            raise
        except BaseException:
            if result.container is not None and self.options.force_remove:
                await self._remove(result.container.id)
            raise
        if self.options.remove or self.options.force_remove:
            await self._remove(c.id)
            await self.emit(f" ---> Removed intermediate container {c.short_id}\n")
        return 0

    async def _remove(self, cid: str) -> None:
        with contextlib.suppress(errors.EstibaError):
            await self.containers.remove(cid, force=True)
