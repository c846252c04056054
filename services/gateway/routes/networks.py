"""Docker's network endpoints: each one call to netd (connect and disconnect also ask the
engine for the container's full id first and to refresh its record after), plus the predefined
"host" and "none" networks."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from aiohttp import web

from estiba.engine.v1 import containers_pb2
from estiba.netd.v1 import netd_pb2
from services.gateway.docker import networks_out, params
from services.gateway.errors import json_response
from services.gateway.keys import CONFIG
from services.gateway.nodes import NODE_LABEL, NODES, backends_of, spread
from services.gateway.routes import add
from services.gateway.routes.events import network_event
from services.kit import errors
from services.kit.grpcclient import call

if TYPE_CHECKING:
    from estiba.netd.v1.netd_pb2_grpc import NetworksAsyncStub, SandboxesAsyncStub

TIMEOUT = 30.0


def _networks(request: web.Request) -> NetworksAsyncStub:
    return backends_of(request).networks


def _sandboxes(request: web.Request) -> SandboxesAsyncStub:
    return backends_of(request).sandboxes


async def _predefined(request: web.Request, created: str = "") -> list[networks_out.Predefined]:
    """host and none, made when the node's default network was."""
    if not created:
        reply = await call(
            _networks(request).GetNetwork,
            netd_pb2.GetNetworkRequest(network="bridge"),
            service="netd",
            timeout=TIMEOUT,
        )
        created = reply.network.created_at
    return networks_out.predefined(request.app[CONFIG].node, created)


async def _get(request: web.Request, ref: str) -> netd_pb2.Network | networks_out.Predefined:
    try:
        reply = await call(
            _networks(request).GetNetwork,
            netd_pb2.GetNetworkRequest(network=ref),
            service="netd",
            timeout=TIMEOUT,
        )
    except errors.NotFound:
        found = networks_out.find_predefined(await _predefined(request), ref)
        if found is None:
            raise errors.NotFound(f"network {ref} not found", reason="NETWORK_UNKNOWN") from None
        return found
    return reply.network


async def list_(request: web.Request) -> web.Response:
    req = netd_pb2.ListNetworksRequest()
    filters = params.filters_into(request, req.filters)
    reply = await call(_networks(request).ListNetworks, req, service="netd", timeout=TIMEOUT)
    found = [networks_out.network(n, containers=False) for n in reply.networks]
    default = next((n for n in reply.networks if n.builtin), None)
    at = 1 if default else 0  # right after the default network, as the built-in ones
    for item in await _predefined(request, default.created_at if default else ""):
        if networks_out.predefined_matches(item, filters):
            found.insert(at, networks_out.predefined_network(item))
            at += 1
    return json_response(found)


async def inspect(request: web.Request) -> web.Response:
    found = await _get(request, request.match_info["id"])
    if isinstance(found, networks_out.Predefined):
        return json_response(networks_out.predefined_network(found))
    return json_response(networks_out.network(found, containers=True))


async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request)
    req = create_request(body)
    if req.driver == spread.OVERLAY and _spans_nodes(request, req):
        network = await spread.create_everywhere(list(request.app[NODES].nodes.values()), req)
        await network_event(request, "create", network)
        return json_response({"Id": network.id, "Warning": ""}, status=201)
    reply = await call(_networks(request).CreateNetwork, req, service="netd", timeout=TIMEOUT)
    await network_event(request, "create", reply.network)
    return json_response({"Id": reply.network.id, "Warning": reply.warning}, status=201)


def _spans_nodes(request: web.Request, req: netd_pb2.CreateNetworkRequest) -> bool:
    """An overlay network goes to every node, unless the request names one (``?node=`` or
    the ``estiba.node`` label): then it is made there alone, as by hand."""
    named = request.query.get("node") or req.labels.get(NODE_LABEL)
    return request.app[NODES].several and not named


async def remove(request: web.Request) -> web.Response:
    ref = request.match_info["id"]
    found = await _get(request, ref)
    if isinstance(found, networks_out.Predefined):
        raise errors.PermissionDenied(  # dockerd's 403, as netd's for "bridge"
            f"{found.name} is a pre-defined network and cannot be removed",
            reason="NETWORK_PREDEFINED",
        )
    nodes = request.app[NODES]
    if found.driver == spread.OVERLAY and nodes.several and "node" not in request.query:
        await spread.delete_everywhere(list(nodes.nodes.values()), found.name)
        await network_event(request, "destroy", found)
        return web.Response(status=204)
    await call(
        _networks(request).DeleteNetwork,
        netd_pb2.DeleteNetworkRequest(network=found.id),
        service="netd",
        timeout=TIMEOUT,
    )
    await network_event(request, "destroy", found)
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    req = netd_pb2.PruneNetworksRequest()
    params.filters_into(request, req.filters)
    reply = await call(_networks(request).PruneNetworks, req, service="netd", timeout=TIMEOUT)
    return json_response({"NetworksDeleted": list(reply.deleted)})


async def connect(request: web.Request) -> web.Response:
    body = await params.json_body(request)
    network = await _managed(request, request.match_info["id"], "connected to")
    config = _object(body, "EndpointConfig")
    ipam = _object(config, "IPAMConfig")
    aliases = config.get("Aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise errors.InvalidArgument("EndpointConfig.Aliases must be a list of names")
    container_id = await _container_id(request, body, force=False, joining=True)
    req = netd_pb2.ConnectRequest(
        container_id=container_id,
        network=network.id,
        ip_address=_text(ipam, "IPv4Address"),
        aliases=aliases,
    )
    await call(_sandboxes(request).Connect, req, service="netd", timeout=TIMEOUT)
    await _refresh_networks(request, container_id)
    await network_event(request, "connect", network, container=container_id)
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    body = await params.json_body(request)
    network = await _managed(request, request.match_info["id"], "disconnected from")
    req = netd_pb2.DisconnectRequest(
        container_id=await _container_id(request, body, force=bool(body.get("Force"))),
        network=network.id,
    )
    await call(_sandboxes(request).Disconnect, req, service="netd", timeout=TIMEOUT)
    await _refresh_networks(request, req.container_id)
    await network_event(request, "disconnect", network, container=req.container_id)
    return web.Response(status=200)


async def _refresh_networks(request: web.Request, container_id: str) -> None:
    """The engine's record of the container's networks (which inspect and ps show) and its
    /etc/hosts and /etc/resolv.conf follow the change; a container removed meanwhile has none
    to follow."""
    with contextlib.suppress(errors.NotFound):
        await call(
            backends_of(request).containers.RefreshNetworks,
            containers_pb2.GetContainerRequest(ref=container_id),
            service="engine",
            timeout=TIMEOUT,
        )


def create_request(body: dict[str, Any]) -> netd_pb2.CreateNetworkRequest:
    """The body of ``POST /networks/create`` as netd's request; what netd cannot make is 400."""
    if body.get("EnableIPv6"):
        raise errors.InvalidArgument("IPv6 networks are not supported")
    for flag in ("Ingress", "ConfigOnly"):
        if body.get(flag):
            raise errors.InvalidArgument(f"{flag} networks are not supported")
    if (body.get("ConfigFrom") or {}).get("Network"):
        raise errors.InvalidArgument("ConfigFrom is not supported")
    if body.get("Scope") not in (None, "", "local"):
        raise errors.InvalidArgument(f"scope {body['Scope']!r} is not supported (only local)")
    ipam = _object(body, "IPAM")
    if ipam.get("Driver") not in (None, "", "default"):
        raise errors.InvalidArgument(f"IPAM driver {ipam['Driver']!r} is not supported")
    configs = ipam.get("Config") or []
    if not isinstance(configs, list) or len(configs) > 1:
        raise errors.InvalidArgument("at most one IPAM config (one IPv4 subnet) per network")
    config: dict[str, Any] = configs[0] if configs else {}
    if not isinstance(config, dict):
        raise errors.InvalidArgument("an IPAM config must be an object")
    if config.get("AuxiliaryAddresses"):
        raise errors.InvalidArgument("auxiliary addresses are not supported")
    return netd_pb2.CreateNetworkRequest(
        name=_text(body, "Name"),
        driver=_text(body, "Driver"),
        subnet=_text(config, "Subnet"),
        gateway=_text(config, "Gateway"),
        ip_range=_text(config, "IPRange"),
        internal=bool(body.get("Internal")),
        attachable=bool(body.get("Attachable")),
        labels=_strings(body, "Labels"),
        options=_strings(body, "Options"),
    )


async def _managed(request: web.Request, ref: str, verb: str) -> netd_pb2.Network:
    found = await _get(request, ref)
    if isinstance(found, networks_out.Predefined):
        raise errors.InvalidArgument(
            f"a container cannot be {verb} the {found.name} network: it is a network mode,"
            " chosen when the container is created",
            reason="NETWORK_PREDEFINED",
        )
    return found


async def _container_id(
    request: web.Request, body: dict[str, Any], *, force: bool, joining: bool = False
) -> str:
    """The full id of the container ``body["Container"]`` names (a name, id or prefix).

    A container in another container's network has no interfaces of its own: joining a
    network is refused for it with dockerd's words (400).
    """
    ref = _text(body, "Container")
    if not ref:
        raise errors.InvalidArgument("Container is required")
    try:
        reply = await call(
            backends_of(request).containers.Get,
            containers_pb2.GetContainerRequest(ref=ref),
            service="engine",
            timeout=TIMEOUT,
        )
    except errors.NotFound:
        if force:
            return ref  # Docker's force: the endpoint of a container that is gone
        raise
    if joining and reply.spec.network_mode.startswith("container:"):
        raise errors.InvalidArgument(
            "container sharing network namespace with another container or host cannot be"
            " connected to any other network",
            reason="SANDBOX_MODE",
        )
    return reply.id


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key) or {}
    if not isinstance(value, dict):
        raise errors.InvalidArgument(f"{key} must be an object")
    return value


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str):
        raise errors.InvalidArgument(f"{key} must be a string")
    return value


def _strings(body: dict[str, Any], key: str) -> dict[str, str]:
    value = _object(body, key)
    if not all(isinstance(v, str) for v in value.values()):  # JSON keys are strings
        raise errors.InvalidArgument(f"{key} must map strings to strings")
    return value


def setup(app: web.Application) -> None:
    add(app, "GET", "/networks", list_)
    add(app, "POST", "/networks/create", create)
    add(app, "POST", "/networks/prune", prune)
    add(app, "GET", "/networks/{id}", inspect)
    add(app, "DELETE", "/networks/{id}", remove)
    add(app, "POST", "/networks/{id}/connect", connect)
    add(app, "POST", "/networks/{id}/disconnect", disconnect)
