"""The middleware that routes every request to its node before its handler runs (the package's
docstring says how), or has a list answered by every node."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from services.gateway.nodes.merge import json_of, merged
from services.gateway.nodes.where import NODE, NODE_LABEL, NODES, Node, Nodes
from services.kit import errors

VERSION_PREFIX = "/v{api_version}"

MERGED = {
    ("GET", "/containers/json"),
    ("GET", "/images/json"),
    ("GET", "/volumes"),
    ("GET", "/networks"),
    ("GET", "/system/df"),
    ("POST", "/containers/prune"),
    ("POST", "/images/prune"),
    ("POST", "/volumes/prune"),
    ("POST", "/networks/prune"),
}
CREATES = ("/containers/create", "/networks/create", "/volumes/create")
OBJECTS = {
    "/images/{name}": "image",
    "/volumes/{name}": "volume",
    "/networks/{id}": "network",
}


@web.middleware
async def routing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Route the request to its node (see the package docstring), or fan a list out."""
    nodes = request.app[NODES]
    path = _route_path(request)
    if nodes.several and (request.method, path) in MERGED and "node" not in request.query:
        return await merged(request, handler, nodes, path)
    node, cached = await _node_for(request, nodes, path)
    request[NODE] = node
    try:
        response = await handler(request)
    except errors.NotFound:
        if cached:  # gone since it was remembered: ask every node next time
            nodes.forget(cached)
        raise
    if nodes.several and path == "/containers/create" and isinstance(response, web.Response):
        nodes.remember(_created_id(response), node)  # what a client does next is about it
    return response


def _created_id(response: web.Response) -> str:
    try:
        return str(json_of(response)["Id"])
    except (ValueError, KeyError, TypeError):
        return ""


def _route_path(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    canonical = resource.canonical if resource is not None else request.path
    return canonical.removeprefix(VERSION_PREFIX)


async def _node_for(request: web.Request, nodes: Nodes, path: str) -> tuple[Node, str]:
    """The request's node, and the reference it was found by in the cache ("" if not)."""
    requested = request.query.get("node", "")
    if path in CREATES:
        body = await _body(request)
        requested = requested or _label_of(body)
        if path == "/containers/create":
            image = str(body.get("Image") or "")
            return await nodes.for_new(requested, image), ""
        return (nodes.named(requested) if requested else nodes.default), ""
    if requested:
        return nodes.named(requested), ""
    if not nodes.several:
        return nodes.default, ""
    ref = ""
    if path.startswith("/containers/{id}"):
        ref = request.match_info["id"]
    elif path == "/commit":
        ref = request.query.get("container", "")
    elif path in ("/networks/{id}/connect", "/networks/{id}/disconnect"):
        body = await _body(request)
        ref = str(body.get("Container") or "")
    elif path.startswith("/exec/{id}"):
        exec_id = request.match_info["id"]
        cached = exec_id if nodes.is_cached(exec_id) else ""
        return await nodes.for_exec(exec_id), cached
    elif (kind := _object_kind(path)) is not None:
        name = request.match_info.get("name") or request.match_info.get("id", "")
        return await nodes.for_object(kind, name), ""
    if not ref:
        return nodes.default, ""
    cached = ref if nodes.is_cached(ref) else ""
    try:
        return await nodes.for_container(ref), cached
    except errors.NotFound:
        return nodes.default, ""  # the handler says "No such container" in its own words


def _object_kind(path: str) -> str | None:
    """ "image" for /images/{name}/..., "volume" and "network" for theirs; None otherwise."""
    for prefix, kind in OBJECTS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return kind
    return None


async def _body(request: web.Request) -> dict[str, Any]:
    """The JSON body, if it is an object (the handler reports a bad one)."""
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _label_of(body: dict[str, Any]) -> str:
    labels = body.get("Labels")
    value = labels.get(NODE_LABEL, "") if isinstance(labels, dict) else ""
    return value if isinstance(value, str) else ""
