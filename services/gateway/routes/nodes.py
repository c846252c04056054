"""``GET /estiba/v1/nodes``: every configured node, its services' health and what it holds.

Docker has no word for a node behind one daemon socket, so this is estiba's own endpoint. All
nodes are asked at once with ``info_timeout``; a node that does not answer is listed as down,
never left out.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from services.gateway.errors import json_response
from services.gateway.keys import CONFIG
from services.gateway.nodes import NODES, Node
from services.gateway.status import Probe, gather


async def list_(request: web.Request) -> web.Response:
    nodes = request.app[NODES]
    config = request.app[CONFIG]
    every = list(nodes.nodes.values())
    found = await asyncio.gather(
        *(gather(n.backends, timeout=config.info_timeout, node_name=n.name) for n in every)
    )
    return json_response(
        [
            view(node, status.engine, status.netd, default=node is nodes.default)
            for node, status in zip(every, found, strict=True)
        ]
    )


def view(node: Node, engine: Probe[Any], netd: Probe[Any], *, default: bool) -> dict[str, Any]:
    """One node: "healthy" when its engine and netd both are, "down" when neither answers."""
    states = {engine.status, netd.status}
    status = "healthy" if states == {"healthy"} else "down" if states == {"down"} else "degraded"
    info = engine.info
    return {
        "Name": node.name,
        "Status": status,
        "Default": default,
        "Engine": _service(engine),
        "Netd": _service(netd),
        "Containers": info.containers if info else 0,
        "ContainersRunning": info.containers_running if info else 0,
        "Images": info.images if info else 0,
        "Networks": netd.info.networks if netd.info else 0,
        "Version": info.service.version if info else "",
        "Host": info.service.node_name if info else "",
    }


def _service(probe: Probe[Any]) -> dict[str, Any]:
    return {
        "Address": probe.target,
        "Status": probe.status,
        "Version": probe.info.service.version if probe.info else "",
        "Error": probe.error,
    }


def setup(app: web.Application) -> None:
    app.router.add_get("/estiba/v1/nodes", list_)
