"""Middlewares, outermost first: request id, API version and common headers, errors."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from services.gateway.errors import docker_error, from_error
from services.kit import errors, reqctx
from services.kit.log import get_logger
from services.kit.version import VERSION

log = get_logger()

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"


def version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor)


COMMON_HEADERS = {
    "Api-Version": API_VERSION,
    "Ostype": "linux",
    "Server": f"estiba/{VERSION} (linux)",
    "Docker-Experimental": "false",
}


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Accept the client's X-Request-Id (or make one), bind it for logs and gRPC, echo it."""
    given = request.headers.get(reqctx.REQUEST_ID_HEADER, "")
    request_id = given if reqctx.valid_request_id(given) else reqctx.new_request_id()
    reqctx.bind_request_id(request_id)
    response = await handler(request)
    if not response.prepared:
        response.headers[reqctx.REQUEST_ID_HEADER] = request_id
        response.headers.update(COMMON_HEADERS)
    return response


@web.middleware
async def api_version(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a ``/vX.Y/`` path outside the versions estiba speaks, as dockerd does."""
    asked = request.match_info.get("api_version")
    if asked is not None:
        if version_tuple(asked) > version_tuple(API_VERSION):
            return docker_error(
                400,
                f"client version {asked} is too new. "
                f"Maximum supported API version is {API_VERSION}",
            )
        if version_tuple(asked) < version_tuple(MIN_API_VERSION):
            return docker_error(
                400,
                f"client version {asked} is too old. Minimum supported API version is "
                f"{MIN_API_VERSION}, please upgrade your client to a newer version",
            )
    return await handler(request)


@web.middleware
async def error_mapping(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Write every error once, as Docker does; log the unexpected ones with their traceback."""
    try:
        return await handler(request)
    except errors.EstibaError as exc:
        if exc.http_status >= 500:
            log.warning("request_failed", path=request.path, error=exc.message)
        return from_error(exc)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return docker_error(exc.status, exc.reason if exc.status != 404 else "page not found")
        raise
    except Exception:
        log.exception("request_crashed", method=request.method, path=request.path)
        rid = reqctx.current_request_id()
        return docker_error(500, f"internal error (request id {rid})")


MIDDLEWARES = [request_context, error_mapping, api_version]
