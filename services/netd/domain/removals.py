"""Sandbox teardowns that finish after RemoveSandbox has answered.

Removing a sandbox is decided in one write transaction that marks its record as being removed;
from then on it is gone for every caller (not listed, not found, its names do not resolve),
but its addresses, veth names and host ports stay held in netd.db until the kernel objects
that carried them are gone. The kernel work (``Kernel.remove_sandbox``: RTM_DELLINK waits for
RCU grace periods) runs here, in the background, and ends with the transaction that forgets
the record, which releases all of it at once.

What must see a sandbox really gone waits here: a new sandbox for the same container, a
network whose last endpoints are being torn down, an allocation that found its address or
port held by a removal, and netd's graceful stop. A teardown that failed is logged by the
caller's ``finish``, kept, and tried again by the next ``wait`` that concerns it, or by
reconcile at the next start, which also finishes those netd died in the middle of.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from services.kit.tasks import spawn

Finish = Callable[[], Coroutine[Any, Any, bool]]
"""One teardown, idempotent: True once the kernel objects and the record are gone."""


class Removals:
    """The teardowns running now, and those that failed and wait for a retry."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[None]] = {}
        self._failed: dict[str, Finish] = {}

    def start(self, container_id: str, finish: Finish) -> None:
        """Run ``finish`` in the background, unless a teardown of the container runs already."""
        if container_id in self._running:
            return
        self._failed.pop(container_id, None)
        self._running[container_id] = spawn(
            self._run(container_id, finish), name=f"teardown-{container_id[:12]}"
        )

    def pending(self) -> set[str]:
        """The containers whose teardown runs or failed."""
        return set(self._running) | set(self._failed)

    async def wait(
        self, container_ids: Iterable[str] | None = None, timeout: float | None = None
    ) -> bool:
        """Until the teardowns of ``container_ids`` (every one if None) have ended, each that
        failed before tried once more; True if none is left pending. Cancelling the caller
        does not cancel a teardown."""
        pending = self.pending()
        wanted = pending if container_ids is None else pending & set(container_ids)
        for cid in wanted:
            retry = self._failed.get(cid)
            if retry is not None:
                self.start(cid, retry)
        tasks = [self._running[c] for c in wanted if c in self._running]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        return not (wanted & self.pending())

    async def _run(self, container_id: str, finish: Finish) -> None:
        done = False
        try:
            done = await finish()
        finally:
            del self._running[container_id]
            if not done:
                self._failed[container_id] = finish
