"""The OCI Distribution error codes as data, and the one place that writes the error envelope.

Domain errors carry a ``reason``; ``CODES`` maps it to the code the spec names, the HTTP status
and the spec's description. Reasons the table does not know fall back by error class to the
spec's generic codes (UNAUTHORIZED, DENIED, UNSUPPORTED, TOOMANYREQUESTS) or to UNKNOWN.
Every error body is ``{"errors": [{"code", "message", "detail"}]}`` sent as application/json.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from services.kit import errors
from services.kit.log import get_logger

log = get_logger()


@dataclasses.dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    description: str


def _spec(code: str, status: int, description: str) -> tuple[str, ErrorCode]:
    return code, ErrorCode(code, status, description)


# reason → what the client sees. The first block is the spec's table (plus RANGE_INVALID,
# TAG_INVALID and PAGINATION_NUMBER_INVALID, which Docker's registry API defined); the second
# maps reasons of our own onto the spec's codes; the last names the token endpoint's errors.
CODES: Mapping[str, ErrorCode] = dict(
    [
        _spec("BLOB_UNKNOWN", 404, "blob unknown to registry"),
        _spec("BLOB_UPLOAD_INVALID", 400, "blob upload invalid"),
        _spec("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"),
        _spec("DIGEST_INVALID", 400, "provided digest did not match uploaded content"),
        _spec("MANIFEST_BLOB_UNKNOWN", 400, "manifest references a manifest or blob unknown"),
        _spec("MANIFEST_INVALID", 400, "manifest invalid"),
        _spec("MANIFEST_UNKNOWN", 404, "manifest unknown to registry"),
        _spec("NAME_INVALID", 400, "invalid repository name"),
        _spec("NAME_UNKNOWN", 404, "repository name not known to registry"),
        _spec("SIZE_INVALID", 400, "provided length did not match content length"),
        _spec("UNAUTHORIZED", 401, "authentication required"),
        _spec("DENIED", 403, "requested access to the resource is denied"),
        _spec("UNSUPPORTED", 405, "the operation is unsupported"),
        _spec("TOOMANYREQUESTS", 429, "too many requests"),
        _spec("RANGE_INVALID", 416, "invalid content range"),
        _spec("TAG_INVALID", 400, "invalid tag"),
        _spec("PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"),
        _spec("UNAVAILABLE", 503, "service unavailable"),
        _spec("UNKNOWN", 500, "unknown error"),
        ("MANIFEST_TOO_LARGE", ErrorCode("SIZE_INVALID", 413, "manifest too large")),
        ("BODY_TOO_LARGE", ErrorCode("SIZE_INVALID", 413, "request body too large")),
        ("ROUTE_UNKNOWN", ErrorCode("UNSUPPORTED", 404, "no such endpoint")),
        ("QUOTA_EXCEEDED", ErrorCode("DENIED", 403, "storage quota exceeded")),
        # The token endpoint's own refusals (it is outside the spec's /v2/ API).
        _spec("SCOPE_INVALID", 400, "invalid scope"),
        _spec("SERVICE_UNKNOWN", 400, "unknown service"),
        _spec("GRANT_TYPE_INVALID", 400, "unsupported grant type"),
    ]
)

# Errors whose reason the table does not know, by class (first match wins).
_BY_CLASS: tuple[tuple[type[errors.EstibaError], str], ...] = (
    (errors.Unauthenticated, "UNAUTHORIZED"),
    (errors.PermissionDenied, "DENIED"),
    (errors.ResourceExhausted, "TOOMANYREQUESTS"),
    (errors.Unimplemented, "UNSUPPORTED"),
    (errors.Unavailable, "UNAVAILABLE"),
)


def lookup(exc: errors.EstibaError) -> ErrorCode:
    """The spec's code and status for a domain error."""
    if exc.reason in CODES:
        return CODES[exc.reason]
    for cls, reason in _BY_CLASS:
        if isinstance(exc, cls):
            return CODES[reason]
    return ErrorCode("UNKNOWN", exc.http_status, "unknown error")


def error_response(
    exc: errors.EstibaError, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The response for ``exc``: the spec's status and the envelope, plus ``headers``."""
    entry = lookup(exc)
    body = {
        "errors": [
            {
                "code": entry.code,
                "message": exc.message or entry.description,
                "detail": {},
            }
        ]
    }
    return web.Response(
        status=entry.status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


_HTTP_REASONS = {404: "ROUTE_UNKNOWN", 405: "UNSUPPORTED", 413: "BODY_TOO_LARGE"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into the envelope; log what is not the client's fault, once."""
    try:
        return await handler(request)
    except errors.EstibaError as exc:
        if lookup(exc).status >= 500:
            log.error(
                "http_request_failed", method=request.method, path=request.path, error=str(exc)
            )
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = errors.EstibaError(
            f"{exc.reason}: {request.method} {request.path}",
            reason=_HTTP_REASONS.get(exc.status, ""),
        )
        error.http_status = exc.status  # kept for statuses the table does not name
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(error, headers=allow)
    except Exception:
        log.exception("http_request_failed", method=request.method, path=request.path)
        return error_response(errors.Internal("internal error", reason="UNKNOWN"))
