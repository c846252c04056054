"""System endpoints: ``/_ping``, ``/version``, ``/info``, and estiba's ``/estiba/v1/services``."""

from __future__ import annotations

from aiohttp import web

from services.gateway import views
from services.gateway.errors import json_response
from services.gateway.keys import BACKENDS, CONFIG
from services.gateway.routes import add
from services.gateway.status import SystemStatus, gather

PING_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Builder-Version": "1",
    "Swarm": "inactive",
}


async def _status(request: web.Request) -> SystemStatus:
    config = request.app[CONFIG]
    return await gather(request.app[BACKENDS], timeout=config.info_timeout, node_name=config.node)


async def ping(request: web.Request) -> web.Response:
    """Docker clients negotiate the API version from these headers before anything else."""
    body = b"" if request.method == "HEAD" else b"OK"
    headers = {**PING_HEADERS, "Content-Type": "text/plain; charset=utf-8"}
    return web.Response(body=body, headers=headers)


async def version(request: web.Request) -> web.Response:
    return json_response(views.version(await _status(request)))


async def info(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    status = await _status(request)
    return json_response(views.info(status, root=str(config.root), listen=config.listen_url))


async def services(request: web.Request) -> web.Response:
    return json_response(views.services(await _status(request)))


def setup(app: web.Application) -> None:
    add(app, "GET", "/_ping", ping)
    add(app, "HEAD", "/_ping", ping)
    add(app, "GET", "/version", version)
    add(app, "GET", "/info", info)
    app.router.add_get("/estiba/v1/services", services)
