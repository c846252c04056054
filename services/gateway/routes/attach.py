"""``POST /containers/{id}/attach``: the hijacked socket ↔ the engine's Attach stream."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
from aiohttp import web

from estiba.engine.v1 import containers_pb2 as pb
from services.gateway.docker import params
from services.gateway.hijack import Hijacked, upgrade
from services.gateway.nodes import backends_of
from services.kit import reqctx
from services.kit.grpcclient import call
from services.kit.grpcerr import from_rpc_error
from services.kit.tasks import spawn


async def attach(request: web.Request) -> web.StreamResponse:
    stub = backends_of(request).containers
    container = await call(
        stub.Get, pb.GetContainerRequest(ref=request.match_info["id"]), service="engine", timeout=30
    )
    opening = pb.AttachOpen(
        ref=container.id,
        stdin=params.flag(request, "stdin"),
        stdout=params.flag(request, "stdout"),
        stderr=params.flag(request, "stderr"),
        logs=params.flag(request, "logs"),
        stream=params.flag(request, "stream"),
        detach_keys=request.query.get("detachKeys", ""),
    )
    stream = stub.Attach(metadata=reqctx.outgoing_metadata())
    try:
        await stream.write(pb.AttachInput(open=opening))
        first = await stream.read()  # an error here is still an HTTP error, before the 101
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc, service="engine") from exc
    tty = container.spec.tty
    response, sock = await upgrade(request, multiplexed=not tty)
    await relay(sock, stream, first, close_stdin=container.spec.stdin_once and not tty)
    return response


async def relay(sock: Hijacked, stream: Any, first: Any, *, close_stdin: bool) -> None:
    """Engine output to the client until the end, client input to the engine meanwhile."""
    pump = spawn(_stdin(sock, stream, close_stdin), name="attach-stdin")
    try:
        message: Any = first
        while message is not grpc.aio.EOF:
            await _deliver(sock, message)
            if message.WhichOneof("output") == "end":
                break
            message = await stream.read()
    except grpc.aio.AioRpcError:
        pass  # the engine went away: end the client's stream the way a daemon does, by closing
    finally:
        pump.cancel()
        stream.cancel()
        await sock.close()


async def _deliver(sock: Hijacked, message: Any) -> None:
    if message.WhichOneof("output") == "chunk":
        await sock.write(message.chunk.stream, message.chunk.data)


async def _stdin(sock: Hijacked, stream: Any, close_stdin: bool) -> None:
    """Client bytes to the engine; the client's half-close ends stdin, not the output."""
    with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
        while True:
            data = await sock.inbox.get()
            if data is None:
                if close_stdin:
                    await stream.write(pb.AttachInput(close_stdin=True))
                return
            await stream.write(pb.AttachInput(stdin=data))
