"""Route tables. ``add`` registers a route both bare and under Docker's ``/vX.Y`` prefix."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

VERSION_PREFIX = r"/v{api_version:[0-9]+\.[0-9]+}"


def add(app: web.Application, method: str, path: str, handler: Handler) -> None:
    app.router.add_route(method, path, handler)
    app.router.add_route(method, VERSION_PREFIX + path, handler)
