"""Prunes, system df, and the answers Docker clients need from what estiba does not do.

Swarm and plugin endpoints answer 503 "This node is not part of a swarm", as a Docker engine
outside a swarm does: docker-py and compose tear down cleanly on it, where a 404 breaks them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from estiba.engine.v1 import containers_pb2 as cpb
from estiba.engine.v1 import images_pb2 as ipb
from estiba.engine.v1 import volumes_pb2 as vpb
from services.gateway.docker import containers_out, images_out, params
from services.gateway.errors import docker_error, json_response
from services.gateway.nodes import backends_of
from services.gateway.routes import add
from services.kit.grpcclient import call

LONG = 600.0
NOT_A_SWARM = "This node is not part of a swarm"


async def prune_containers(request: web.Request) -> web.Response:
    req = cpb.PruneContainersRequest()
    params.filters_into(request, req.filters)
    reply = await call(backends_of(request).containers.Prune, req, service="engine", timeout=LONG)
    return json_response(
        {"ContainersDeleted": list(reply.deleted) or None, "SpaceReclaimed": reply.space_reclaimed}
    )


async def prune_images(request: web.Request) -> web.Response:
    filters = params.filters(request)
    dangling = filters.get("dangling", ["true"])
    req = ipb.PruneImagesRequest(all=dangling[0] in ("false", "0"), labels=filters.get("label", []))
    reply = await call(backends_of(request).images.Prune, req, service="engine", timeout=LONG)
    items = images_out.deleted(reply.items)
    return json_response({"ImagesDeleted": items or None, "SpaceReclaimed": reply.space_reclaimed})


async def system_df(request: web.Request) -> web.Response:
    backends = backends_of(request)
    images = await call(
        backends.images.List, ipb.ListImagesRequest(all=True), service="engine", timeout=60
    )
    containers = await call(
        backends.containers.List, cpb.ListContainersRequest(all=True), service="engine", timeout=60
    )
    volumes = await call(
        backends.volumes.List, vpb.ListVolumesRequest(with_size=True), service="engine", timeout=60
    )
    used = {c.image_id for c in containers.containers}
    image_list: list[dict[str, Any]] = []
    for image in images.images:
        item = images_out.summary(image)
        item["Containers"] = sum(1 for c in containers.containers if c.image_id == image.id)
        image_list.append(item)
    return json_response(
        {
            "LayersSize": sum(i.size for i in images.images),
            "Images": image_list,
            "Containers": [
                {**containers_out.summary(c), "SizeRw": 0, "SizeRootFs": 0}
                for c in containers.containers
            ],
            "Volumes": [
                {
                    "Name": v.name,
                    "Driver": v.driver,
                    "Mountpoint": v.mountpoint,
                    "CreatedAt": v.created_at,
                    "Labels": dict(v.labels),
                    "Scope": "local",
                    "Options": None,
                    "UsageData": {"Size": v.size, "RefCount": len(v.used_by)},
                }
                for v in volumes.volumes
            ],
            "BuildCache": [],
            "ImagesInUse": len(used),
        }
    )


async def not_a_swarm(request: web.Request) -> web.Response:
    return docker_error(503, NOT_A_SWARM)


async def no_plugins(request: web.Request) -> web.Response:
    if request.method == "GET" and request.path.rstrip("/").endswith("/plugins"):
        return json_response([])
    return docker_error(404, "plugins are not supported by estiba")


async def search(request: web.Request) -> web.Response:
    """``docker search``: estiba has no index to search; an empty answer, not an error."""
    return json_response([])


def setup(app: web.Application) -> None:
    add(app, "POST", "/containers/prune", prune_containers)
    add(app, "POST", "/images/prune", prune_images)
    add(app, "GET", "/system/df", system_df)
    add(app, "GET", "/images/search", search)
    for path in (
        "/swarm",
        "/swarm/init",
        "/swarm/join",
        "/swarm/leave",
        "/swarm/update",
        "/swarm/unlockkey",
        "/swarm/unlock",
        "/nodes",
        "/services",
        "/services/create",
        "/tasks",
        "/secrets",
        "/secrets/create",
        "/configs",
        "/configs/create",
    ):
        for method in ("GET", "POST"):
            add(app, method, path, not_a_swarm)
    add(app, "GET", "/plugins", no_plugins)
