"""Docker's classic builder endpoints: ``POST /build`` and ``POST /build/prune``.

The body of ``/build`` is the context tar (maybe gzip), relayed to the engine's Builder in
chunks as it arrives. The answer is Docker's JSON stream: ``{"stream": ...}`` lines, then
``{"aux": {"ID": ...}}`` with the image id, or ``{"errorDetail": ..., "error": ...}``; the
docker CLI exits with ``errorDetail.code`` (a failed RUN's exit code) when it is set.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from estiba.engine.v1 import build_pb2 as pb
from services.gateway.docker import params
from services.gateway.errors import json_response
from services.gateway.nodes import backends_of
from services.gateway.routes import add
from services.kit import errors, reqctx
from services.kit.grpcclient import call, stream
from services.kit.tasks import spawn

CHUNK = 1 << 20
PRUNE_TIMEOUT = 600.0
WATCH_S = 0.5


def _json_query(request: web.Request, name: str) -> dict[str, Any]:
    raw = request.query.get(name, "")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise errors.InvalidArgument(f"invalid {name}: {raw}") from exc
    if not isinstance(value, dict):
        raise errors.InvalidArgument(f"invalid {name}: {raw}: not a JSON object")
    return value


def options(request: web.Request) -> pb.BuildOptions:
    if request.query.get("remote"):
        raise errors.InvalidArgument("building from a remote context is not supported")
    args = [
        pb.BuildArg(name=str(k), value="" if v is None else str(v), unset=v is None)
        for k, v in _json_query(request, "buildargs").items()
    ]
    labels = {str(k): str(v) for k, v in _json_query(request, "labels").items()}
    return pb.BuildOptions(
        dockerfile=request.query.get("dockerfile", ""),
        tags=[t for t in request.query.getall("t", []) if t],
        build_args=args,
        labels=labels,
        target=request.query.get("target", ""),
        no_cache=params.flag(request, "nocache"),
        pull=params.flag(request, "pull"),
        quiet=params.flag(request, "q"),
        remove=params.flag(request, "rm", True),
        force_remove=params.flag(request, "forcerm"),
        platform=request.query.get("platform", ""),
    )


def message(event: pb.BuildEvent) -> dict[str, Any]:
    kind = event.WhichOneof("event")
    if kind == "image_id":
        return {"aux": {"ID": event.image_id}}
    if kind == "error":
        detail: dict[str, Any] = {"message": event.error.message}
        if event.error.exit_code:
            detail["code"] = event.error.exit_code
        return {"errorDetail": detail, "error": event.error.message}
    return {"stream": event.stream}


async def build(request: web.Request) -> web.StreamResponse:
    first = pb.BuildRequest(options=options(request))

    async def requests() -> AsyncIterator[pb.BuildRequest]:
        yield first
        async for chunk in request.content.iter_chunked(CHUNK):
            yield pb.BuildRequest(data=chunk)

    calling = backends_of(request).builder.Build(requests(), metadata=reqctx.outgoing_metadata())
    watcher = spawn(_watch(request, calling), name="build-client")
    try:
        return await _relay(request, aiter(stream(calling, service="engine")))
    finally:
        watcher.cancel()
        calling.cancel()  # a no-op once the build ended


async def _watch(request: web.Request, calling: Any) -> None:
    """A client that goes away ends its build (and the step container running for it); a RUN
    may write nothing for minutes, so the connection is watched rather than found dead at the
    next write."""
    while True:
        await asyncio.sleep(WATCH_S)
        transport = request.transport
        if transport is None or transport.is_closing():
            calling.cancel()
            return


async def _relay(request: web.Request, events: AsyncIterator[pb.BuildEvent]) -> web.StreamResponse:
    head = await anext(events, None)  # errors before the build started are plain HTTP errors
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    try:
        if head is not None:
            await response.write(json.dumps(message(head)).encode() + b"\r\n")
        async for event in events:
            await response.write(json.dumps(message(event)).encode() + b"\r\n")
    except errors.EstibaError as exc:
        error = {"errorDetail": {"message": exc.message}, "error": exc.message}
        await response.write(json.dumps(error).encode() + b"\r\n")
    await response.write_eof()
    return response


async def prune(request: web.Request) -> web.Response:
    reply = await call(
        backends_of(request).builder.Prune,
        pb.PruneBuildCacheRequest(),
        service="engine",
        timeout=PRUNE_TIMEOUT,
    )
    return json_response(
        {"CachesDeleted": list(reply.deleted) or None, "SpaceReclaimed": reply.space_reclaimed}
    )


def setup(app: web.Application) -> None:
    add(app, "POST", "/build", build)
    add(app, "POST", "/build/prune", prune)
