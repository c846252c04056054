"""``POST /containers/{id}/attach``: the hijacked socket ↔ the engine's Attach stream; and
``GET /containers/{id}/attach/ws``: the same over a WebSocket, where each message carries raw
bytes (output is never multiplexed there: a WebSocket message has no stream number)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
from aiohttp import WSMsgType, web

from estiba.engine.v1 import containers_pb2 as pb
from services.gateway.docker import params
from services.gateway.hijack import Hijacked, upgrade
from services.gateway.nodes import backends_of
from services.gateway.routes import add
from services.kit import reqctx
from services.kit.grpcerr import from_rpc_error
from services.kit.tasks import spawn


async def open_stream(stub: Any, opening: pb.AttachOpen) -> tuple[Any, Any]:
    """The engine's Attach stream opened with ``opening``, and its first answer: an error there
    is still an HTTP error, sent before the upgrade."""
    stream = stub.Attach(metadata=reqctx.outgoing_metadata())
    try:
        await stream.write(pb.AttachInput(open=opening))
        first = await stream.read()
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc, service="engine") from exc
    return stream, first


async def _open(request: web.Request) -> tuple[Any, Any, Any]:
    """What the engine says of the container as the attach opens (its terminal), the engine's
    Attach stream, and the stream's first answer after that."""
    opening = pb.AttachOpen(
        ref=request.match_info["id"],
        stdin=params.flag(request, "stdin"),
        stdout=params.flag(request, "stdout"),
        stderr=params.flag(request, "stderr"),
        logs=params.flag(request, "logs"),
        stream=params.flag(request, "stream"),
        detach_keys=request.query.get("detachKeys", ""),
    )
    stream, opened = await open_stream(backends_of(request).containers, opening)
    try:
        first = await stream.read()
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc, service="engine") from exc
    return opened.opened, stream, first


async def attach(request: web.Request) -> web.StreamResponse:
    container, stream, first = await _open(request)
    response, sock = await upgrade(request, multiplexed=not container.tty)
    await relay(sock, stream, first, close_stdin=container.stdin_once and not container.tty)
    return response


async def attach_ws(request: web.Request) -> web.StreamResponse:
    container, stream, first = await _open(request)
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    close_stdin = container.stdin_once and not container.tty
    pump = spawn(_ws_stdin(ws, stream, close_stdin), name="attach-ws-stdin")
    try:
        message: Any = first
        while message is not grpc.aio.EOF and not ws.closed:
            if message.WhichOneof("output") == "chunk":
                await ws.send_bytes(message.chunk.data)
            elif message.WhichOneof("output") == "end":
                break
            message = await stream.read()
    except (grpc.aio.AioRpcError, ConnectionResetError):
        pass  # the engine or the client went away: close, as for the hijacked socket
    finally:
        pump.cancel()
        stream.cancel()
        await ws.close()
    return ws


async def _ws_stdin(ws: web.WebSocketResponse, stream: Any, close_stdin: bool) -> None:
    """Client messages (text or binary) are stdin; the client's close ends stdin."""
    with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                await stream.write(pb.AttachInput(stdin=msg.data))
            elif msg.type == WSMsgType.TEXT:
                await stream.write(pb.AttachInput(stdin=msg.data.encode()))
        if close_stdin:
            await stream.write(pb.AttachInput(close_stdin=True))


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


def setup(app: web.Application) -> None:
    """The WebSocket attach (the hijacked one is with the other container routes)."""
    add(app, "GET", "/containers/{id}/attach/ws", attach_ws)
    add(app, "POST", "/containers/{id}/attach/ws", attach_ws)  # the method docker-py uses
