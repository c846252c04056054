"""Progress of a long operation as an async iterator of ``Progress`` events.

The operation runs as its own task and emits into a queue; the iterator yields from it and, at
the end, re-raises the operation's error. If the consumer goes away (a cancelled RPC), the
operation is cancelled with it. ``threadsafe`` lets a worker thread (an unpack) emit too.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from services.engine.images.models import Progress
from services.kit import errors
from services.kit.tasks import spawn, stop

Emit = Callable[[Progress], None]
T = TypeVar("T")


async def stream(work: Callable[[Emit], Awaitable[None]], *, name: str) -> AsyncIterator[Progress]:
    queue: asyncio.Queue[Progress | None] = asyncio.Queue()

    async def run() -> None:
        try:
            await work(queue.put_nowait)
        finally:
            queue.put_nowait(None)

    task = spawn(run(), name=name)
    try:
        while (item := await queue.get()) is not None:
            yield item
        await task
    finally:
        await stop(task)


def threadsafe(emit: Emit) -> Emit:
    """``emit`` callable from a worker thread."""
    loop = asyncio.get_running_loop()

    def send(event: Progress) -> None:
        loop.call_soon_threadsafe(emit, event)

    return send


class Throttle:
    """Emits byte progress at most every ``step`` bytes, and always at the end."""

    def __init__(self, emit: Emit, id: str, status: str, total: int, step: int = 1 << 18) -> None:
        self._emit = emit
        self._id = id
        self._status = status
        self._total = total
        self._step = step
        self._last = -1

    def __call__(self, current: int) -> None:
        if current - self._last >= self._step or current >= self._total:
            self._last = current
            self._emit(Progress(self._id, self._status, current, self._total))


async def in_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn`` in a worker thread; if the caller is cancelled, wait for the thread to finish.

    A thread cannot be stopped, and an unpack or a blob write that outlives the operation that
    started it would race with whatever comes next (a retry, a removal, a test's checks).
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


async def run_all(coros: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run concurrently; on the first failure cancel the rest and raise that failure itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as eg:
        raise first_error(eg) from None
    return [t.result() for t in tasks]


def first_error(eg: BaseExceptionGroup[Any]) -> BaseException:
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for inner in e.exceptions:
                walk(inner)
        else:
            leaves.append(e)

    walk(eg)
    for leaf in leaves:
        if isinstance(leaf, errors.EstibaError):
            return leaf
    return leaves[0]
