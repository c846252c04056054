"""``make_app``: the gateway's aiohttp application, its middlewares, routes and backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.gateway.config import GatewayConfig
from services.gateway.keys import BACKENDS, CONFIG
from services.gateway.middleware import MIDDLEWARES
from services.gateway.nodes import NODES, Nodes, routing
from services.gateway.routes import (
    attach,
    build,
    containers,
    events,
    execs,
    files,
    images,
    misc,
    networks,
    nodes,
    registry,
    system,
    volumes,
)


def make_app(config: GatewayConfig) -> web.Application:
    app = web.Application(middlewares=[*MIDDLEWARES, routing])
    app[CONFIG] = config
    app.cleanup_ctx.append(_backends)
    system.setup(app)
    containers.setup(app)
    attach.setup(app)
    images.setup(app)
    execs.setup(app)
    volumes.setup(app)
    files.setup(app)
    misc.setup(app)
    networks.setup(app)
    registry.setup(app)
    events.setup(app)
    nodes.setup(app)
    build.setup(app)
    return app


async def _backends(app: web.Application) -> AsyncIterator[None]:
    """The nodes' channels; ``BACKENDS`` is the first node's, for what has no node of its own."""
    nodes = Nodes(app[CONFIG])
    app[NODES] = nodes
    app[BACKENDS] = nodes.default.backends
    yield
    await nodes.close()
