"""Docker's volume endpoints over the engine's Volumes service."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from estiba.engine.v1 import volumes_pb2 as pb
from services.gateway.docker import params
from services.gateway.errors import json_response
from services.gateway.nodes import backends_of
from services.gateway.routes import add
from services.kit.grpcclient import call

TIMEOUT = 30.0


def _stub(request: web.Request) -> Any:
    return backends_of(request).volumes


def view(v: pb.Volume) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Name": v.name,
        "Driver": v.driver,
        "Mountpoint": v.mountpoint,
        "CreatedAt": v.created_at,
        "Status": None,
        "Labels": dict(v.labels),
        "Scope": "local",
        "Options": dict(v.options) or None,
    }
    if v.size >= 0:
        out["UsageData"] = {"Size": v.size, "RefCount": len(v.used_by)}
    return out


async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request)
    req = pb.CreateVolumeRequest(
        name=str(body.get("Name") or ""), driver=str(body.get("Driver") or "")
    )
    req.labels.update({str(k): str(v) for k, v in (body.get("Labels") or {}).items()})
    req.options.update({str(k): str(v) for k, v in (body.get("DriverOpts") or {}).items()})
    volume = await call(_stub(request).Create, req, service="engine", timeout=TIMEOUT)
    return json_response(view(volume), status=201)


async def list_(request: web.Request) -> web.Response:
    req = pb.ListVolumesRequest()
    params.filters_into(request, req.filters)
    reply = await call(_stub(request).List, req, service="engine", timeout=TIMEOUT)
    return json_response({"Volumes": [view(v) for v in reply.volumes], "Warnings": None})


async def inspect(request: web.Request) -> web.Response:
    req = pb.GetVolumeRequest(name=request.match_info["name"])
    return json_response(
        view(await call(_stub(request).Get, req, service="engine", timeout=TIMEOUT))
    )


async def remove(request: web.Request) -> web.Response:
    req = pb.RemoveVolumeRequest(
        name=request.match_info["name"], force=params.flag(request, "force")
    )
    await call(_stub(request).Remove, req, service="engine", timeout=TIMEOUT)
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    labels = params.filters(request).get("label", [])
    reply = await call(
        _stub(request).Prune, pb.PruneVolumesRequest(labels=labels), service="engine", timeout=300
    )
    return json_response(
        {"VolumesDeleted": list(reply.deleted) or None, "SpaceReclaimed": reply.space_reclaimed}
    )


def setup(app: web.Application) -> None:
    add(app, "GET", "/volumes", list_)
    add(app, "POST", "/volumes/create", create)
    add(app, "POST", "/volumes/prune", prune)
    add(app, "GET", "/volumes/{name}", inspect)
    add(app, "DELETE", "/volumes/{name}", remove)
