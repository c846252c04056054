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
from collections.abc import AsyncIterator
from pathlib import Path

from services.engine.containers import logs
from services.engine.containers.manager import ContainerManager
from services.engine.containers.models import Container, ContainerSpec
from services.engine.runtime import diff
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
