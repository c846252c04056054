"""estiba.engine.v1.Containers: a thin layer over ContainerManager."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import grpc

from estiba.engine.v1 import containers_pb2 as pb
from estiba.engine.v1 import containers_pb2_grpc
from services.engine.api.convert import container_to_proto, spec_from_proto
from services.engine.containers import attach, logs
from services.engine.containers.execs import ExecManager, ExecState
from services.engine.containers.manager import ContainerManager, now
from services.engine.containers.models import PAUSED, RUNNING
from services.engine.containers.ports import Process
from services.engine.events import actors
from services.engine.runtime import cgroups
from services.kit import errors
from services.kit.tasks import spawn

Ctx = grpc.aio.ServicerContext[Any, Any]


class ContainersServicer(containers_pb2_grpc.ContainersServicer):
    def __init__(self, manager: ContainerManager, execs: ExecManager, host_memory: int) -> None:
        self._m = manager
        self._execs = execs
        self._host_memory = host_memory

    def _proto(self, c: Any) -> pb.Container:
        return container_to_proto(c, str(self._m.runtime.log_path(c.id).parent))

    async def Create(
        self, request: pb.CreateContainerRequest, context: Ctx
    ) -> pb.CreateContainerResponse:
        c = await self._m.create(request.name, spec_from_proto(request.spec))
        return pb.CreateContainerResponse(container=self._proto(c))

    async def Get(self, request: pb.GetContainerRequest, context: Ctx) -> pb.Container:
        return self._proto(await self._m.get(request.ref))

    async def List(
        self, request: pb.ListContainersRequest, context: Ctx
    ) -> pb.ListContainersResponse:
        filters = {k: list(v.values) for k, v in request.filters.items()}
        found = await self._m.list_containers(all=request.all, filters=filters)
        return pb.ListContainersResponse(containers=[self._proto(c) for c in found])

    async def Start(self, request: pb.StartContainerRequest, context: Ctx) -> pb.Container:
        try:
            return self._proto(await self._m.start(request.ref))
        except errors.EstibaError:
            await self._remove_if_auto(request.ref)
            raise

    async def _remove_if_auto(self, ref: str) -> None:
        """An AutoRemove (``run --rm``) container whose start failed is removed, as Docker does:
        the docker CLI waits for that removal before it reports the error."""
        with contextlib.suppress(errors.EstibaError):
            c = await self._m.get(ref)
            if c.spec.auto_remove and c.state not in (RUNNING, PAUSED):
                await self._m.remove(c.id, force=True)

    async def Stop(self, request: pb.StopContainerRequest, context: Ctx) -> pb.Container:
        c = await self._m.stop(request.ref, timeout=request.timeout, signal=request.signal)
        return self._proto(c)

    async def Restart(self, request: pb.StopContainerRequest, context: Ctx) -> pb.Container:
        c = await self._m.restart(request.ref, timeout=request.timeout, signal=request.signal)
        return self._proto(c)

    async def Kill(self, request: pb.KillContainerRequest, context: Ctx) -> pb.Empty:
        await self._m.kill(request.ref, request.signal)
        return pb.Empty()

    async def Pause(self, request: pb.GetContainerRequest, context: Ctx) -> pb.Empty:
        await self._m.pause(request.ref)
        return pb.Empty()

    async def Unpause(self, request: pb.GetContainerRequest, context: Ctx) -> pb.Empty:
        await self._m.unpause(request.ref)
        return pb.Empty()

    async def Remove(self, request: pb.RemoveContainerRequest, context: Ctx) -> pb.Empty:
        await self._m.remove(request.ref, force=request.force)
        return pb.Empty()

    async def Rename(self, request: pb.RenameContainerRequest, context: Ctx) -> pb.Empty:
        await self._m.rename(request.ref, request.new_name)
        return pb.Empty()

    async def RefreshNetworks(self, request: pb.GetContainerRequest, context: Ctx) -> pb.Empty:
        await self._m.refresh_networks(request.ref)
        return pb.Empty()

    async def Resize(self, request: pb.ResizeRequest, context: Ctx) -> pb.Empty:
        if request.exec_id:
            self._execs.resize(request.exec_id, request.height, request.width)
        else:
            self._m.resize(await self._m.get(request.ref), request.height, request.width)
        return pb.Empty()

    async def Wait(
        self, request: pb.WaitContainerRequest, context: Ctx
    ) -> AsyncIterator[pb.WaitContainerEvent]:
        async for code in self._m.wait(request.ref, request.condition):
            if code is None:
                yield pb.WaitContainerEvent(waiting=True)
            else:
                yield pb.WaitContainerEvent(result=pb.WaitContainerResponse(status_code=code))

    async def Logs(self, request: pb.LogsRequest, context: Ctx) -> AsyncIterator[pb.OutputChunk]:
        c = await self._m.get(request.ref)

        async def running() -> bool:
            try:
                return (await self._m.get(c.id)).state in (RUNNING, PAUSED)
            except errors.NotFound:
                return False

        state = {"running": c.state in (RUNNING, PAUSED)}

        def still_running() -> bool:
            return state["running"]

        poller = spawn(_poll_state(running, state), name=f"logs-{c.short_id}")
        try:
            async for line in logs.read(
                self._m.runtime.log_path(c.id),
                stdout=request.stdout,
                stderr=request.stderr,
                since=request.since,
                until=request.until,
                tail=request.tail,
                follow=request.follow,
                still_running=still_running,
            ):
                data = line.data
                if request.timestamps:
                    data = line.time.encode() + b" " + data
                yield pb.OutputChunk(stream=line.stream, data=data)
        finally:
            poller.cancel()

    async def Top(self, request: pb.TopRequest, context: Ctx) -> pb.TopResponse:
        rows = await self._m.top(request.ref)
        return pb.TopResponse(
            titles=["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            processes=[pb.ProcessRow(columns=row) for row in rows],
        )

    async def Stats(self, request: pb.StatsRequest, context: Ctx) -> pb.StatsResponse:
        u = await self._m.usage(request.ref, self._host_memory)
        return pb.StatsResponse(
            memory_usage=u.memory_usage,
            memory_limit=u.memory_limit,
            cpu_total_ns=u.cpu_total_ns,
            system_cpu_ns=cgroups.system_cpu_ns(),
            pids=u.pids,
            online_cpus=os.cpu_count() or 1,
            block_read=u.block_read,
            block_write=u.block_write,
            read=now(),
        )

    async def Prune(
        self, request: pb.PruneContainersRequest, context: Ctx
    ) -> pb.PruneContainersResponse:
        filters = {k: list(v.values) for k, v in request.filters.items()}
        return pb.PruneContainersResponse(deleted=await self._m.prune(filters))

    async def CreateExec(
        self, request: pb.CreateExecRequest, context: Ctx
    ) -> pb.CreateExecResponse:
        state = await self._execs.create(
            request.ref,
            cmd=tuple(request.cmd),
            env=tuple(request.env),
            user=request.user,
            working_dir=request.working_dir,
            tty=request.tty,
            attach_stdin=request.attach_stdin,
            attach_stdout=request.attach_stdout,
            attach_stderr=request.attach_stderr,
            detach_keys=request.detach_keys,
        )
        return pb.CreateExecResponse(id=state.request.id)

    async def GetExec(self, request: pb.GetExecRequest, context: Ctx) -> pb.Exec:
        return _exec_proto(self._execs.get(request.id))

    async def StartExec(self, request: pb.StartExecRequest, context: Ctx) -> pb.Exec:
        await self._execs.launch(request.id)
        return _exec_proto(self._execs.get(request.id))

    async def Attach(
        self, request_iterator: AsyncIterator[pb.AttachInput], context: Ctx
    ) -> AsyncIterator[pb.AttachOutput]:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("input") != "open":
            raise errors.InvalidArgument("an attach stream starts with an open message")
        opening = first.open
        if opening.exec_id:
            async for out in self._attach_exec(opening, request_iterator):
                yield out
            return
        c = await self._m.get(opening.ref)
        yield pb.AttachOutput(
            opened=pb.AttachOpened(container_id=c.id, tty=c.spec.tty, stdin_once=c.spec.stdin_once)
        )
        session = attach.Session(
            stdin=opening.stdin and c.spec.open_stdin,
            stdout=opening.stdout,
            stderr=opening.stderr,
            detach_keys=attach.parse_detach_keys(opening.detach_keys) if opening.stdin else b"",
        )
        if opening.logs:
            async for line in logs.read(
                self._m.runtime.log_path(c.id), stdout=opening.stdout, stderr=opening.stderr
            ):
                yield pb.AttachOutput(chunk=pb.OutputChunk(stream=line.stream, data=line.data))
        if not opening.stream:
            return
        if c.state in (RUNNING, PAUSED):
            await session.connect(self._m.runtime.attach_paths(c).attach_socket)
        else:  # created or exited: connected by the next start, before the process runs
            self._m.attach.hold(c.id, session)
        actors.container(self._m.events, c, "attach")
        yield pb.AttachOutput(ready=True)
        detached = asyncio.Event()
        pump = spawn(
            _pump_input(request_iterator, session, self._m, c, detached),
            name=f"attach-in-{c.short_id}",
        )
        try:
            async for chunk in _until(session.output(), detached):
                yield pb.AttachOutput(chunk=pb.OutputChunk(stream=chunk.stream, data=chunk.data))
            yield pb.AttachOutput(end=pb.AttachEnd(exit_code=-1, detached=detached.is_set()))
        finally:
            pump.cancel()
            self._m.attach.release(c.id, session)
            session.close()

    async def _attach_exec(
        self, opening: pb.AttachOpen, inputs: AsyncIterator[pb.AttachInput]
    ) -> AsyncIterator[pb.AttachOutput]:
        """Start the exec once the client is attached, then relay until it exits."""
        state = self._execs.get(opening.exec_id)
        yield pb.AttachOutput(ready=True)
        process = await self._execs.launch(opening.exec_id)
        pump = spawn(
            _pump_exec_input(inputs, process, state.request.attach_stdin),
            name=f"exec-in-{opening.exec_id[:12]}",
        )
        try:
            async for stream, data in process.output():
                if (stream == 1 and opening.stdout) or (stream == 2 and opening.stderr):
                    yield pb.AttachOutput(chunk=pb.OutputChunk(stream=stream, data=data))
            code = await self._execs.wait(opening.exec_id)
            yield pb.AttachOutput(end=pb.AttachEnd(exit_code=code))
        finally:
            pump.cancel()

    def register(self, server: grpc.aio.Server) -> None:
        containers_pb2_grpc.add_ContainersServicer_to_server(self, server)


def _exec_proto(state: ExecState) -> pb.Exec:
    r = state.request
    return pb.Exec(
        id=r.id,
        container_id=r.container_id,
        running=state.running,
        exit_code=state.exit_code or 0,
        has_exit_code=state.exit_code is not None,
        pid=state.pid,
        cmd=list(r.cmd),
        tty=r.tty,
        open_stdin=r.attach_stdin,
        user=r.user,
        working_dir=r.working_dir,
    )


async def _pump_exec_input(
    inputs: AsyncIterator[pb.AttachInput], process: Process, stdin: bool
) -> None:
    with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
        async for item in inputs:
            kind = item.WhichOneof("input")
            if kind == "stdin" and stdin:
                await process.write(item.stdin)
            elif kind == "close_stdin" and stdin:
                process.close_stdin()
            elif kind == "resize":
                process.resize(item.resize.height, item.resize.width)


async def _poll_state(running: Any, state: dict[str, bool]) -> None:
    while state["running"]:
        state["running"] = await running()
        await asyncio.sleep(0.2)


async def _pump_input(
    inputs: AsyncIterator[pb.AttachInput],
    session: attach.Session,
    manager: ContainerManager,
    c: Any,
    detached: asyncio.Event,
) -> None:
    with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
        async for item in inputs:
            kind = item.WhichOneof("input")
            if kind == "stdin" and not await session.feed(attach.Input(data=item.stdin)):
                detached.set()
                return
            if kind == "close_stdin":
                await session.feed(attach.Input(close=True))
            if kind == "resize":
                manager.resize(await manager.get(c.id), item.resize.height, item.resize.width)


async def _until(
    chunks: AsyncIterator[attach.Chunk], stop: asyncio.Event
) -> AsyncIterator[attach.Chunk]:
    """The chunks, until the iterator ends or ``stop`` is set."""
    iterator = aiter(chunks)
    stopper = spawn(stop.wait(), name="attach-detach")
    try:
        while True:
            nxt = spawn(anext(iterator, None), name="attach-next")
            done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                nxt.cancel()
                return
            chunk = nxt.result()
            if chunk is None:
                return
            yield chunk
    finally:
        stopper.cancel()
