"""Docker's container endpoints: each one call to the engine's Containers service (whose record
of a container lists every network it is on now)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from estiba.engine.v1 import containers_pb2 as pb
from services.gateway.docker import containers_in, containers_out, params
from services.gateway.errors import json_response
from services.gateway.hijack import MULTIPLEXED, RAW, frame
from services.gateway.nodes import backends_of
from services.gateway.routes import add
from services.gateway.routes.attach import attach
from services.kit import errors, reqctx
from services.kit.grpcclient import call, stream

TIMEOUT = 30.0
LONG = 3600.0 * 24 * 365


def _stub(request: web.Request) -> Any:
    return backends_of(request).containers


async def _get(request: web.Request, ref: str) -> pb.Container:
    return await call(
        _stub(request).Get, pb.GetContainerRequest(ref=ref), service="engine", timeout=TIMEOUT
    )


async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request)
    spec = containers_in.spec_from_body(body)
    name = request.query.get("name", "")
    reply = await call(
        _stub(request).Create,
        pb.CreateContainerRequest(name=name, spec=spec),
        service="engine",
        timeout=TIMEOUT,
    )
    return json_response({"Id": reply.container.id, "Warnings": list(reply.warnings)}, status=201)


async def list_(request: web.Request) -> web.Response:
    req = pb.ListContainersRequest(all=params.flag(request, "all"))
    params.filters_into(request, req.filters)
    reply = await call(_stub(request).List, req, service="engine", timeout=TIMEOUT)
    items = [containers_out.summary(c) for c in reply.containers]
    limit = params.integer(request, "limit", -1)
    return json_response(items[:limit] if limit > 0 else items)


async def inspect(request: web.Request) -> web.Response:
    return json_response(containers_out.inspect(await _get(request, request.match_info["id"])))


async def start(request: web.Request) -> web.Response:
    try:
        await call(
            _stub(request).Start,
            pb.StartContainerRequest(ref=request.match_info["id"]),
            service="engine",
            timeout=TIMEOUT,
        )
    except errors.FailedPrecondition as exc:
        if exc.reason == "ALREADY_RUNNING":
            return web.Response(status=304)
        raise
    return web.Response(status=204)


def _stop_request(request: web.Request) -> pb.StopContainerRequest:
    return pb.StopContainerRequest(
        ref=request.match_info["id"],
        timeout=params.integer(request, "t", -1),
        signal=request.query.get("signal", ""),
    )


async def stop(request: web.Request) -> web.Response:
    try:
        await call(_stub(request).Stop, _stop_request(request), service="engine", timeout=LONG)
    except errors.FailedPrecondition as exc:
        if exc.reason == "NOT_RUNNING":
            return web.Response(status=304)
        raise
    return web.Response(status=204)


async def restart(request: web.Request) -> web.Response:
    await call(_stub(request).Restart, _stop_request(request), service="engine", timeout=LONG)
    return web.Response(status=204)


async def kill(request: web.Request) -> web.Response:
    req = pb.KillContainerRequest(
        ref=request.match_info["id"], signal=request.query.get("signal", "")
    )
    await call(_stub(request).Kill, req, service="engine", timeout=TIMEOUT)
    return web.Response(status=204)


async def remove(request: web.Request) -> web.Response:
    req = pb.RemoveContainerRequest(
        ref=request.match_info["id"],
        force=params.flag(request, "force"),
        volumes=params.flag(request, "v"),
    )
    await call(_stub(request).Remove, req, service="engine", timeout=LONG)
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    req = pb.RenameContainerRequest(
        ref=request.match_info["id"], new_name=request.query.get("name", "")
    )
    await call(_stub(request).Rename, req, service="engine", timeout=TIMEOUT)
    return web.Response(status=204)


async def pause(request: web.Request) -> web.Response:
    ref = pb.GetContainerRequest(ref=request.match_info["id"])
    await call(_stub(request).Pause, ref, service="engine", timeout=TIMEOUT)
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    ref = pb.GetContainerRequest(ref=request.match_info["id"])
    await call(_stub(request).Unpause, ref, service="engine", timeout=TIMEOUT)
    return web.Response(status=204)


async def resize(request: web.Request) -> web.Response:
    req = pb.ResizeRequest(
        ref=request.match_info["id"],
        height=params.integer(request, "h", 0),
        width=params.integer(request, "w", 0),
    )
    await call(_stub(request).Resize, req, service="engine", timeout=TIMEOUT)
    return web.Response(status=200)


async def wait(request: web.Request) -> web.StreamResponse:
    """Headers go out as soon as the wait is in place; the body when the condition is met."""
    req = pb.WaitContainerRequest(
        ref=request.match_info["id"], condition=request.query.get("condition", "")
    )
    events = aiter(
        stream(_stub(request).Wait(req, metadata=reqctx.outgoing_metadata()), service="engine")
    )
    first = await anext(events)  # "waiting", or an error before any header is written
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    result: dict[str, Any] = {"StatusCode": 0, "Error": None}
    try:
        event = first if first.WhichOneof("event") == "result" else await anext(events)
        result["StatusCode"] = event.result.status_code
    except errors.EstibaError as exc:
        result["Error"] = {"Message": exc.message}
    await response.write(json.dumps(result).encode() + b"\n")
    await response.write_eof()
    return response


async def logs(request: web.Request) -> web.StreamResponse:
    container = await _get(request, request.match_info["id"])
    tail = request.query.get("tail", "all")
    req = pb.LogsRequest(
        ref=container.id,
        stdout=params.flag(request, "stdout"),
        stderr=params.flag(request, "stderr"),
        follow=params.flag(request, "follow"),
        tail=-1 if tail in ("all", "") else int(tail),
        timestamps=params.flag(request, "timestamps"),
        since=float(request.query.get("since") or 0),
        until=float(request.query.get("until") or 0),
    )
    tty = container.spec.tty
    response = web.StreamResponse(headers={"Content-Type": RAW if tty else MULTIPLEXED})
    await response.prepare(request)
    async for chunk in stream(
        _stub(request).Logs(req, metadata=reqctx.outgoing_metadata()), service="engine"
    ):
        data = chunk.data if tty else frame(chunk.stream, chunk.data)
        await response.write(data)
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    add(app, "POST", "/containers/create", create)
    add(app, "GET", "/containers/json", list_)
    add(app, "GET", "/containers/{id}/json", inspect)
    add(app, "POST", "/containers/{id}/start", start)
    add(app, "POST", "/containers/{id}/stop", stop)
    add(app, "POST", "/containers/{id}/restart", restart)
    add(app, "POST", "/containers/{id}/kill", kill)
    add(app, "DELETE", "/containers/{id}", remove)
    add(app, "POST", "/containers/{id}/rename", rename)
    add(app, "POST", "/containers/{id}/pause", pause)
    add(app, "POST", "/containers/{id}/unpause", unpause)
    add(app, "POST", "/containers/{id}/resize", resize)
    add(app, "POST", "/containers/{id}/wait", wait)
    add(app, "GET", "/containers/{id}/logs", logs)
    add(app, "POST", "/containers/{id}/attach", attach)
