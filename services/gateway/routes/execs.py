"""Docker's exec endpoints, and top and stats: the engine's Containers service again."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from estiba.engine.v1 import containers_pb2 as pb
from services.gateway.docker import params
from services.gateway.errors import json_response
from services.gateway.hijack import upgrade
from services.gateway.nodes import backends_of
from services.gateway.routes import add
from services.gateway.routes.attach import open_stream, relay
from services.kit import errors
from services.kit.grpcclient import call

TIMEOUT = 30.0


def _stub(request: web.Request) -> Any:
    return backends_of(request).containers


async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request)
    cmd = body.get("Cmd") or []
    if isinstance(cmd, str):
        cmd = [cmd]
    req = pb.CreateExecRequest(
        ref=request.match_info["id"],
        cmd=[str(c) for c in cmd],
        env=[str(e) for e in body.get("Env") or []],
        user=str(body.get("User") or ""),
        working_dir=str(body.get("WorkingDir") or ""),
        tty=bool(body.get("Tty")),
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout", True)),
        attach_stderr=bool(body.get("AttachStderr", True)),
        privileged=bool(body.get("Privileged")),
        detach_keys=str(body.get("DetachKeys") or ""),
    )
    reply = await call(_stub(request).CreateExec, req, service="engine", timeout=TIMEOUT)
    return json_response({"Id": reply.id}, status=201)


async def inspect(request: web.Request) -> web.Response:
    e = await call(
        _stub(request).GetExec,
        pb.GetExecRequest(id=request.match_info["id"]),
        service="engine",
        timeout=TIMEOUT,
    )
    return json_response(
        {
            "ID": e.id,
            "Running": e.running,
            "ExitCode": e.exit_code if e.has_exit_code else None,
            "ProcessConfig": {
                "tty": e.tty,
                "entrypoint": e.cmd[0] if e.cmd else "",
                "arguments": list(e.cmd[1:]),
                "privileged": False,
                "user": e.user,
            },
            "OpenStdin": e.open_stdin,
            "OpenStderr": True,
            "OpenStdout": True,
            "CanRemove": False,
            "ContainerID": e.container_id,
            "DetachKeys": "",
            "Pid": e.pid,
        }
    )


async def start(request: web.Request) -> web.StreamResponse:
    exec_id = request.match_info["id"]
    body = await params.json_body(request)
    stub = _stub(request)
    e = await call(stub.GetExec, pb.GetExecRequest(id=exec_id), service="engine", timeout=TIMEOUT)
    if body.get("Detach"):
        await call(
            stub.StartExec,
            pb.StartExecRequest(id=exec_id, detach=True),
            service="engine",
            timeout=TIMEOUT,
        )
        return web.Response(status=200)
    opening = pb.AttachOpen(
        ref=e.container_id,
        exec_id=exec_id,
        stdin=e.open_stdin,
        stdout=True,
        stderr=True,
        stream=True,
    )
    stream, first = await open_stream(stub, opening)
    size = body.get("ConsoleSize")
    if isinstance(size, list) and len(size) == 2 and e.tty:
        resize = pb.TerminalSize(height=int(size[0]), width=int(size[1]))
        await stream.write(pb.AttachInput(resize=resize))
    response, sock = await upgrade(request, multiplexed=not e.tty)
    await asyncio.sleep(0.02)  # clients that read the 101 with one recv lose bytes sent with it
    await relay(sock, stream, first, close_stdin=True)
    return response


async def resize(request: web.Request) -> web.Response:
    exec_id = request.match_info["id"]
    e = await call(
        _stub(request).GetExec, pb.GetExecRequest(id=exec_id), service="engine", timeout=TIMEOUT
    )
    req = pb.ResizeRequest(
        ref=e.container_id,
        exec_id=exec_id,
        height=params.integer(request, "h", 0),
        width=params.integer(request, "w", 0),
    )
    await call(_stub(request).Resize, req, service="engine", timeout=TIMEOUT)
    return web.Response(status=201)


async def top(request: web.Request) -> web.Response:
    reply = await call(
        _stub(request).Top,
        pb.TopRequest(ref=request.match_info["id"]),
        service="engine",
        timeout=TIMEOUT,
    )
    return json_response(
        {"Titles": list(reply.titles), "Processes": [list(p.columns) for p in reply.processes]}
    )


async def stats(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    container = await call(
        _stub(request).Get, pb.GetContainerRequest(ref=ref), service="engine", timeout=TIMEOUT
    )
    once = not params.flag(request, "stream", True) or params.flag(request, "one-shot")
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    previous: dict[str, Any] | None = None
    while True:
        try:
            s = await call(
                _stub(request).Stats,
                pb.StatsRequest(ref=container.id),
                service="engine",
                timeout=TIMEOUT,
            )
            current = _stats_json(container, s, previous)
        except errors.FailedPrecondition:
            current = _stats_json(container, pb.StatsResponse(), previous)
        if not response.prepared:
            await response.prepare(request)
        await response.write(json.dumps(current).encode() + b"\n")
        if once:
            break
        previous = current
        await asyncio.sleep(1.0)
    await response.write_eof()
    return response


def _stats_json(
    c: pb.Container, s: pb.StatsResponse, previous: dict[str, Any] | None
) -> dict[str, Any]:
    cpu = {
        "cpu_usage": {
            "total_usage": s.cpu_total_ns,
            "usage_in_kernelmode": 0,
            "usage_in_usermode": 0,
        },
        "system_cpu_usage": s.system_cpu_ns,
        "online_cpus": s.online_cpus,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    empty_cpu = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    return {
        "read": s.read or datetime.now(UTC).isoformat(),
        "preread": previous["read"] if previous else "0001-01-01T00:00:00Z",
        "pids_stats": {"current": s.pids},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 0, "minor": 0, "op": "read", "value": s.block_read},
                {"major": 0, "minor": 0, "op": "write", "value": s.block_write},
            ]
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": previous["cpu_stats"] if previous else empty_cpu,
        "memory_stats": {
            "usage": s.memory_usage,
            "limit": s.memory_limit,
            "stats": {"total_inactive_file": 0},
        },
        "name": "/" + c.name,
        "id": c.id,
        "networks": {},
    }


def setup(app: web.Application) -> None:
    add(app, "POST", "/containers/{id}/exec", create)
    add(app, "POST", "/exec/{id}/start", start)
    add(app, "POST", "/exec/{id}/resize", resize)
    add(app, "GET", "/exec/{id}/json", inspect)
    add(app, "GET", "/containers/{id}/top", top)
    add(app, "GET", "/containers/{id}/stats", stats)
