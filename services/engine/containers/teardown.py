"""A removed container's record goes first; what the kernel holds for it follows.

A removal is decided by one transaction that deletes the container's record and notes its
teardown (engine.db ``teardowns``). From then on the container no longer exists for any API:
its name is free and a ``wait`` for ``removed`` is answered. What is left is taking down its
kernel state (runc's state and cgroups, the root's overlay mount, its directory) and its
network sandbox in netd, a few milliseconds that ``run --rm`` need not wait for: like netd's
own removals, they follow in the background (``start``). An explicit ``rm`` waits for them
(``finish``), so what it answers is all gone, as with Docker.

Every step is idempotent, and the note is deleted only once all of them succeeded: a teardown
cut short by a crash, or one that failed (netd not answering), is done again at the engine's
next start (``resume``). Until its root is unmounted the note keeps the container's image in
use, and an image removal first lets teardowns in flight finish (``ImageUsersAfterTeardowns``)
rather than be refused because of a container that is already gone.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from services.kit import errors
from services.kit.log import get_logger
from services.kit.tasks import spawn

log = get_logger()


class TeardownRecords(Protocol):
    async def root_down(self, container_id: str) -> None:
        """The root is no longer mounted: the note stops holding the image."""
        ...

    async def torn_down(self, container_id: str) -> None:
        """Forget the note of a finished teardown."""
        ...

    async def teardowns(self) -> list[str]:
        """The containers whose teardown is noted and not finished."""
        ...


class RootRemover(Protocol):
    async def remove(self, container_id: str) -> None:
        """runc's state and cgroups, the root's mount and the directory of a stopped container;
        fine if some or all of it is gone already."""
        ...


class SandboxRemover(Protocol):
    async def remove(self, container_id: str) -> None:
        """netd's sandbox of the container; fine if it has none."""
        ...


class ImageUsers(Protocol):
    async def containers_using(self, image_id: str) -> list[str]: ...


class Teardowns:
    def __init__(
        self, records: TeardownRecords, runtime: RootRemover, sandboxes: SandboxRemover
    ) -> None:
        self._records = records
        self._runtime = runtime
        self._sandboxes = sandboxes
        self._running: dict[str, asyncio.Task[bool]] = {}

    def start(self, container_id: str) -> None:
        """Take the retired container down in the background (once at a time)."""
        if container_id not in self._running:
            self._running[container_id] = spawn(
                self._teardown(container_id), name=f"teardown-{container_id[:12]}"
            )

    async def finish(self, container_id: str) -> bool:
        """Wait for the container's teardown; True if it is done (or was never started)."""
        task = self._running.get(container_id)
        return True if task is None else await asyncio.shield(task)

    async def settled(self) -> None:
        """Wait for every teardown in flight."""
        running = list(self._running.values())
        if running:
            await asyncio.shield(asyncio.gather(*running, return_exceptions=True))

    async def resume(self) -> int:
        """At the engine's start, with netd answering: take down again every container whose
        teardown did not finish. Returns how many were finished now."""
        pending = await self._records.teardowns()
        for container_id in pending:
            self.start(container_id)
        done = [await self.finish(container_id) for container_id in pending]
        return sum(done)

    async def _teardown(self, container_id: str) -> bool:
        try:
            outcomes = await asyncio.gather(
                self._runtime.remove(container_id),
                self._sandboxes.remove(container_id),
                return_exceptions=True,
            )
            failures = [o for o in outcomes if isinstance(o, BaseException)]
            if not failures:
                await self._records.torn_down(container_id)
            elif not isinstance(outcomes[0], BaseException):  # the root is down, netd failed
                await self._records.root_down(container_id)
        finally:
            del self._running[container_id]
        for failure in failures:
            if not isinstance(failure, errors.EstibaError | OSError):
                raise failure
        if failures:
            log.warning(
                "container_teardown_failed",
                container_id=container_id,
                error="; ".join(str(f) for f in failures),
                retry="at the engine's next start",
            )
            return False
        return True


class ImageUsersAfterTeardowns:
    """``ImageUsers`` that first lets the teardowns in flight finish: a container just removed
    has its root mounted on its image's layers for a few more milliseconds, and removing the
    image right after ``run --rm`` must not be refused for it."""

    def __init__(self, users: ImageUsers, teardowns: Teardowns) -> None:
        self._users = users
        self._teardowns = teardowns

    async def containers_using(self, image_id: str) -> list[str]:
        await self._teardowns.settled()
        return await self._users.containers_using(image_id)
