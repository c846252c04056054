"""The gRPC hop of the error vocabulary, both ways.

Server side: ``ServiceInterceptor`` wraps every handler. It binds the request id from the call's
metadata, turns an ``EstibaError`` into ``context.abort(code, message)`` with the specific reason
in the ``estiba-error-reason`` trailer, and logs anything unexpected once before answering
INTERNAL. Client side: ``from_rpc_error`` turns an ``AioRpcError`` back into the same class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import grpc

from services.kit import errors, reqctx
from services.kit.log import get_logger

log = get_logger()


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Request context and error mapping for every RPC of a service."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler: Any = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        metadata = dict(handler_call_details.invocation_metadata or ())
        request_id = str(metadata.get(reqctx.REQUEST_ID_METADATA, "")) or reqctx.new_request_id()
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, method, request_id),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, method, request_id),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream, method, request_id),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return cast("grpc.RpcMethodHandler[Any, Any]", handler)


def _wrap_unary(inner: Any, method: str, request_id: str) -> Any:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        reqctx.bind_request_id(request_id)
        try:
            return await inner(request, context)
        except Exception as exc:
            await _abort(context, exc, method)

    return handle


def _wrap_stream(inner: Any, method: str, request_id: str) -> Any:
    async def handle(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        reqctx.bind_request_id(request_id)
        try:
            async for item in inner(request, context):
                yield item
        except Exception as exc:
            await _abort(context, exc, method)

    return handle


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: Exception, method: str) -> None:
    if isinstance(exc, errors.EstibaError):
        # the reason trailer marks a domain error even when the reason is empty, so that a peer
        # can tell "the registry is unreachable" (ours) from "this service is down" (transport)
        trailer = ((reqctx.REASON_TRAILER, exc.reason or "-"),)
        await context.abort(exc.grpc_code, exc.message, trailing_metadata=trailer)
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    log.exception("rpc_failed", method=method)
    rid = reqctx.current_request_id()
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {rid})")


def from_rpc_error(exc: grpc.aio.AioRpcError, *, service: str) -> errors.EstibaError:
    """The domain error that a peer's status stands for; UNAVAILABLE names ``service``."""
    code = exc.code()
    reason = None
    for key, value in exc.trailing_metadata() or ():
        if key == reqctx.REASON_TRAILER:
            reason = str(value)
    cls = errors.BY_GRPC_CODE.get(code, errors.Internal)
    if reason is not None:  # raised on purpose by the peer's own code
        return cls(exc.details() or code.name.lower(), reason="" if reason == "-" else reason)
    reason = ""
    if code == grpc.StatusCode.UNAVAILABLE:
        return errors.Unavailable(f"the {service} service is unavailable", reason=reason)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.DeadlineExceeded(f"the {service} service did not answer in time")
    return cls(exc.details() or code.name.lower(), reason=reason)
