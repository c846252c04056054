"""One error vocabulary for every estiba service.

Domain code raises only these classes. Each class knows its gRPC status code, mapped once here
(``grpc_code``), and its HTTP status, also mapped once here (``http_status``). Peers turn a gRPC
status back into the same class (``services.kit.grpcerr.from_rpc_error``), so ``except NotFound``
works the same in-process and across a socket.

``reason`` is a specific, stable UPPER_SNAKE code (``BLOB_UNKNOWN``, ``NAME_CONFLICT``) that travels
beside the class for clients that need to tell two errors of one class apart.
"""

from __future__ import annotations

import grpc


class EstibaError(Exception):
    """Base of every error estiba raises on purpose."""

    grpc_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    http_status: int = 500

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

    def __str__(self) -> str:
        return self.message


class InvalidArgument(EstibaError):
    """The request is malformed: a bad name, a bad value, a missing field."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400


class OutOfRange(EstibaError):
    """An offset or range lies outside what exists (an upload chunk, a byte range)."""

    grpc_code = grpc.StatusCode.OUT_OF_RANGE
    http_status = 416


class NotFound(EstibaError):
    """The named object does not exist."""

    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404


class AlreadyExists(EstibaError):
    """An object of that name or id exists already."""

    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409


class FailedPrecondition(EstibaError):
    """The object is in the wrong state for the request (a running container, a used image).

    HTTP 409, as Docker answers state conflicts (google.rpc.Code suggests 400).
    """

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409


class Aborted(EstibaError):
    """A concurrent change won; the request may be retried."""

    grpc_code = grpc.StatusCode.ABORTED
    http_status = 409


class Unauthenticated(EstibaError):
    """No valid credentials were given."""

    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401


class PermissionDenied(EstibaError):
    """The credentials do not allow the request."""

    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403


class ResourceExhausted(EstibaError):
    """A limit was reached: addresses in a subnet, a quota, a body size."""

    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429


class Unimplemented(EstibaError):
    """estiba does not do this (yet)."""

    grpc_code = grpc.StatusCode.UNIMPLEMENTED
    http_status = 501


class Unavailable(EstibaError):
    """A service that the request needs is down or unreachable."""

    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503


class DeadlineExceeded(EstibaError):
    """The request ran out of time."""

    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    http_status = 504


class Cancelled(EstibaError):
    """The caller went away."""

    grpc_code = grpc.StatusCode.CANCELLED
    http_status = 499


class Internal(EstibaError):
    """A bug or an unexpected failure; the message given to clients is generic."""

    grpc_code = grpc.StatusCode.INTERNAL
    http_status = 500


ALL_ERRORS: tuple[type[EstibaError], ...] = (
    InvalidArgument,
    OutOfRange,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    Aborted,
    Unauthenticated,
    PermissionDenied,
    ResourceExhausted,
    Unimplemented,
    Unavailable,
    DeadlineExceeded,
    Cancelled,
    Internal,
)

BY_GRPC_CODE: dict[grpc.StatusCode, type[EstibaError]] = {cls.grpc_code: cls for cls in ALL_ERRORS}
BY_GRPC_CODE[grpc.StatusCode.UNKNOWN] = Internal
BY_GRPC_CODE[grpc.StatusCode.DATA_LOSS] = Internal
