"""Execs: processes started inside running containers (docker exec).

Like Docker, the engine keeps exec records in memory only: they belong to the engine process
that started them, and an exec's exit code is read through ``GET /exec/{id}/json`` soon after.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

from services.engine.containers.manager import ContainerManager
from services.engine.containers.models import PAUSED, RUNNING, Container, ExecRequest
from services.engine.containers.ports import Process
from services.engine.events import actors
from services.kit import errors
from services.kit.log import get_logger
from services.kit.tasks import spawn

log = get_logger()
KEEP = 256  # ended execs remembered per engine


@dataclasses.dataclass
class ExecState:
    request: ExecRequest
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    reaper: asyncio.Task[None] | None = None
    process: Process | None = None


class ExecManager:
    def __init__(self, containers: ContainerManager) -> None:
        self._containers = containers
        self._execs: dict[str, ExecState] = {}

    async def create(self, ref: str, **options: object) -> ExecState:
        c = await self._containers.get(ref)
        if c.state == PAUSED:
            raise errors.FailedPrecondition(
                f"container {c.id} is paused, unpause the container before exec",
                reason="CONTAINER_PAUSED",
            )
        if c.state != RUNNING:
            raise errors.FailedPrecondition(
                f"container {c.id} is not running", reason="NOT_RUNNING"
            )
        request = ExecRequest(id=secrets.token_hex(32), container_id=c.id, **options)  # type: ignore[arg-type]
        if not request.cmd:
            raise errors.InvalidArgument("No exec command specified", reason="NO_COMMAND")
        state = ExecState(request)
        self._execs[request.id] = state
        self._forget_old()
        action = f"exec_create: {' '.join(request.cmd)}"
        actors.container(self._containers.events, c, action, execID=request.id)
        return state

    def get(self, exec_id: str) -> ExecState:
        state = self._execs.get(exec_id)
        if state is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}", reason="EXEC_UNKNOWN")
        return state

    async def launch(self, exec_id: str, *, height: int = 0, width: int = 0) -> Process:
        """Start the exec's process; it may be started once."""
        state = self.get(exec_id)
        if state.started:
            raise errors.FailedPrecondition(
                f"exec {exec_id} has already been started", reason="EXEC_STARTED"
            )
        c = await self._containers.get(state.request.container_id)
        if c.state != RUNNING:
            raise errors.FailedPrecondition(
                f"container {c.id} is not running", reason="NOT_RUNNING"
            )
        state.started = True
        request = dataclasses.replace(state.request, height=height, width=width)
        process = await self._containers.runtime.exec(c, request)
        state.running, state.pid, state.process = True, process.pid, process
        action = f"exec_start: {' '.join(request.cmd)}"
        actors.container(self._containers.events, c, action, execID=exec_id)
        state.reaper = spawn(self._reap(state, process, c), name=f"exec-{exec_id[:12]}")
        log.info("exec_started", container_id=c.id, exec_id=exec_id, pid=process.pid)
        return process

    async def _reap(self, state: ExecState, process: Process, c: Container) -> None:
        code = await process.wait()
        state.running, state.exit_code, state.process = False, code, None
        state.done.set()
        extra = {"execID": state.request.id, "exitCode": str(code)}
        actors.container(self._containers.events, c, "exec_die", **extra)
        log.info("exec_exited", exec_id=state.request.id, exit_code=code)

    def resize(self, exec_id: str, height: int, width: int) -> None:
        process = self.get(exec_id).process
        if process is not None:
            process.resize(height, width)

    def _forget_old(self) -> None:
        ended = [key for key, s in self._execs.items() if s.started and not s.running]
        for key in ended[: max(0, len(self._execs) - KEEP)]:
            del self._execs[key]

    async def wait(self, exec_id: str) -> int:
        state = self.get(exec_id)
        if state.started:
            await state.done.wait()
        return state.exit_code if state.exit_code is not None else -1
