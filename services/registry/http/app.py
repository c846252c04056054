"""The OCI Distribution HTTP API (``/v2/...``) of the registry: routes, middleware, headers.

Each resource has its module (``blobs``, ``uploads``, ``manifests``, ``tags``, ``catalog``,
``referrers``); handlers parse the request, call one domain service and render the answer.
``auth.access_middleware`` decides who may call what, and ``token`` hands out tokens.
Failures become the spec's error envelope in ``errors.error_middleware``, and every response
carries ``Docker-Distribution-API-Version: registry/2.0``.
"""

from __future__ import annotations

import time

from aiohttp import web

from services.kit.log import get_logger
from services.registry.http import blobs, catalog, manifests, referrers, tags, token, uploads
from services.registry.http.auth import GATE, Gate, access_middleware
from services.registry.http.context import SERVICES, Services
from services.registry.http.errors import Handler, error_middleware

log = get_logger()

API_VERSION_HEADER = "Docker-Distribution-API-Version"

# Bytes aiohttp buffers per connection before it pauses reading a request body.
READ_BUFFER = 1 << 20


async def base(request: web.Request) -> web.Response:
    """``GET /v2/``: the spec's end-1 check that this is a registry speaking the API."""
    return web.Response(status=200, body=b"{}", content_type="application/json")


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One debug line per request: what clients do, in the order they do it."""
    started = time.monotonic()
    response = await handler(request)
    log.debug(
        "http_request",
        method=request.method,
        path=request.path_qs,
        status=response.status,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return response


async def _api_version(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[API_VERSION_HEADER] = "registry/2.0"


def make_app(services: Services, gate: Gate) -> web.Application:
    app = web.Application(
        middlewares=[access_log, error_middleware, access_middleware],
        handler_args={"read_bufsize": READ_BUFFER},
    )
    app[SERVICES] = services
    app[GATE] = gate
    app.router.add_get("/v2/", base)
    app.router.add_get("/v2", base)
    app.router.add_routes(token.routes)
    # Order matters where patterns overlap: the catalog before any name, uploads before blobs.
    for module in (catalog, uploads, blobs, manifests, tags, referrers):
        app.router.add_routes(module.routes)
    app.on_response_prepare.append(_api_version)
    return app
