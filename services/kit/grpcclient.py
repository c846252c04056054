"""Channels to peer services, and calls that carry the request id and map errors back."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.kit import errors, reqctx
from services.kit.grpcerr import from_rpc_error

Req = TypeVar("Req")
Resp = TypeVar("Resp")


def open_channel(target: str) -> grpc.aio.Channel:
    """A channel to ``target`` (``unix:///path`` or ``host:port``); fails fast when it is down."""
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.max_receive_message_length", 16 << 20),
        ],
    )


async def call(
    method: Callable[..., Awaitable[Resp]],
    request: object,
    *,
    service: str,
    timeout: float,
) -> Resp:
    """Call a unary RPC of ``service``; a failure comes back as a ``kit.errors`` class."""
    try:
        return await method(request, timeout=timeout, metadata=reqctx.outgoing_metadata())
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc, service=service) from exc


async def stream(calling: AsyncIterable[Resp], *, service: str) -> AsyncIterator[Resp]:
    """A server stream's messages; a failure comes back as a ``kit.errors`` class."""
    try:
        async for item in calling:
            yield item
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc, service=service) from exc


async def check_health(channel: grpc.aio.Channel, *, service: str, timeout: float) -> bool:
    """True if the peer answers the standard health check with SERVING."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await call(
            stub.Check, health_pb2.HealthCheckRequest(service=""), service=service, timeout=timeout
        )
    except errors.EstibaError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
