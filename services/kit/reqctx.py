"""The request id: made or accepted by the gateway, sent in gRPC metadata, logged everywhere."""

from __future__ import annotations

import contextvars
import secrets

import structlog

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_METADATA = "x-request-id"
REASON_TRAILER = "estiba-error-reason"

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def new_request_id() -> str:
    """A fresh, short, random request id."""
    return secrets.token_hex(8)


def current_request_id() -> str:
    """The request id of the request being served, or "" outside one."""
    return _request_id.get()


def bind_request_id(request_id: str) -> None:
    """Make ``request_id`` current for this task and every log line it writes."""
    _request_id.set(request_id)
    structlog.contextvars.bind_contextvars(request_id=request_id)


def valid_request_id(value: str) -> bool:
    """A client-given id is accepted if it is short and printable."""
    return 0 < len(value) <= 128 and value.isprintable() and " " not in value


def outgoing_metadata() -> tuple[tuple[str, str], ...]:
    """gRPC metadata that carries the current request id to a peer."""
    rid = _request_id.get()
    return ((REQUEST_ID_METADATA, rid),) if rid else ()
