"""Which node a request is for: the gateway's one routing decision when it fronts several nodes.

A node is one engine and one netd. The gateway's configuration lists them (``nodes``; by
default the one local node), and every request is routed here, once, before its handler runs:

- a ``node`` query parameter names the node, for any request;
- about an existing container (``/containers/{id}/...``, ``/commit?container=``, a network
  connect or disconnect naming a ``Container``) or exec (``/exec/{id}/...``): the node that has
  it, found by asking every node's engine at once, remembered in a small id → node cache;
- about an image, volume or network by name: the first node if it has one, else the one node
  that has it;
- creating a container: the node named by ``node`` or by the ``estiba.node`` label of the body
  (what any Docker client can send: ``docker run -l estiba.node=n2``), else the healthy node
  running the fewest containers; a network, volume, pull or load: the named node, else the
  first; builds and events are the first node's;
- listing containers, images, volumes or networks, pruning, ``/system/df``: every node (or those
  a ``label=estiba.node=NAME`` filter names); the answers are merged, list items labelled
  ``estiba.node`` with their node, and a node that does not answer is left out with an HTTP
  ``Warning`` header (``199 estiba "..."``) instead of failing the whole answer.

Handlers then take the services of their node from ``backends_of(request)``. With one node
nothing is asked, merged or labelled: the single node is the answer, at no cost.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from estiba.engine.v1 import containers_pb2, engine_pb2, images_pb2, volumes_pb2
from estiba.netd.v1 import netd_pb2
from services.gateway.backends import Backends
from services.gateway.config import GatewayConfig
from services.gateway.docker import params
from services.gateway.errors import json_response
from services.kit import errors
from services.kit.grpcclient import call, check_health, open_channel

NODE_LABEL = "estiba.node"
"""The label naming a container's (or image's, volume's, network's) node in lists, and the one
a Docker client sets on a create body to choose the node."""
ROUTE_TIMEOUT = 5.0
CACHE_SIZE = 4096
LIST_TIMEOUT = 10.0
"""Seconds a list waits for a node before leaving it out: a node that accepts connections but
never answers must not hold every ``ps`` for the handlers' own 30 s."""
SHORT_ID = 12  # the shortest id prefix remembered: docker's short id, unique in practice
VERSION_PREFIX = "/v{api_version}"

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    backends: Backends


NODE = web.RequestKey("node", Node)


def backends_of(request: web.Request) -> Backends:
    """The services of the node this request was routed to."""
    return request[NODE].backends


class Nodes:
    """The configured nodes, their channels, and where containers and execs live."""

    def __init__(self, config: GatewayConfig) -> None:
        registry = open_channel(config.target("registry"))
        self._registry = registry
        self.nodes = {
            spec.name: Node(spec.name, Backends.connect(config, spec, registry))
            for spec in config.node_specs()
        }
        self.default = next(iter(self.nodes.values()))
        self._where: collections.OrderedDict[str, str] = collections.OrderedDict()

    @property
    def several(self) -> bool:
        return len(self.nodes) > 1

    async def close(self) -> None:
        await asyncio.gather(*(n.backends.close() for n in self.nodes.values()))
        await self._registry.close()

    def named(self, name: str) -> Node:
        """The node called ``name``; InvalidArgument (400) naming the known ones otherwise."""
        node = self.nodes.get(name)
        if node is None:
            known = ", ".join(self.nodes)
            raise errors.InvalidArgument(f"no node named {name!r} (nodes: {known})")
        return node

    # -- finding things ---------------------------------------------------------------------

    async def for_container(self, ref: str) -> Node:
        """The node holding container ``ref`` (id, id prefix or name).

        The full id, and a reference that is a prefix of it of at least 12 characters, are
        remembered once found: ids are unique and containers never move. Names and shorter
        prefixes are asked every time, since a name freed on one node may be taken on another
        and a short prefix may come to match on two. Several nodes answering: the one whose
        container has that exact id, then that exact name; otherwise the reference is
        ambiguous (400).
        """
        cached = self._cached(ref)
        if cached is not None:
            return cached
        found, failures = await self._ask_all(
            lambda n: call(
                n.backends.containers.Get,
                containers_pb2.GetContainerRequest(ref=ref),
                service="engine",
                timeout=ROUTE_TIMEOUT,
            )
        )
        node = _choose(ref, found, lambda c: (c.id, c.name), "container", failures)
        for n, c in found:
            if n is node:
                self.remember(c.id, node)
                if len(ref) >= SHORT_ID and c.id.startswith(ref):
                    self.remember(ref, node)
        return node

    async def for_exec(self, exec_id: str) -> Node:
        cached = self._cached(exec_id)
        if cached is not None:
            return cached
        found, failures = await self._ask_all(
            lambda n: call(
                n.backends.containers.GetExec,
                containers_pb2.GetExecRequest(id=exec_id),
                service="engine",
                timeout=ROUTE_TIMEOUT,
            )
        )
        node = _choose(exec_id, found, lambda e: (e.id, ""), "exec instance", failures)
        self.remember(exec_id, node)
        return node

    async def for_object(self, kind: str, ref: str) -> Node:
        """The node holding the image, volume or network ``ref``: the first node if it has one
        (every node has the network "bridge", and often the same images), else the one other
        node that has it; the first node when none does, to answer "not found" in its words."""
        ask = {
            "image": lambda n: call(
                n.backends.images.Inspect,
                images_pb2.InspectImageRequest(image=ref),
                service="engine",
                timeout=ROUTE_TIMEOUT,
            ),
            "volume": lambda n: call(
                n.backends.volumes.Get,
                volumes_pb2.GetVolumeRequest(name=ref),
                service="engine",
                timeout=ROUTE_TIMEOUT,
            ),
            "network": lambda n: call(
                n.backends.networks.GetNetwork,
                netd_pb2.GetNetworkRequest(network=ref),
                service="netd",
                timeout=ROUTE_TIMEOUT,
            ),
        }[kind]
        found, _ = await self._ask_all(ask)
        holders = [node for node, _ in found]
        if not holders or self.default in holders:
            return self.default
        if len(holders) == 1:
            return holders[0]
        names = ", ".join(n.name for n in holders)
        raise errors.InvalidArgument(
            f"{kind} {ref!r} is on several nodes ({names}): name one with ?node=NAME",
            reason="NODE_AMBIGUOUS",
        )

    async def for_new(self, requested: str = "") -> Node:
        """``requested``, else the healthy node (its engine and its netd answer) running the
        fewest containers (ties: the first configured). Unavailable if no node is healthy."""
        if requested:
            return self.named(requested)
        if not self.several:
            return self.default
        loads, failures = await self._ask_all(_running)
        if not loads:
            raise errors.Unavailable("no node is available: " + "; ".join(failures))
        return min(loads, key=lambda pair: pair[1])[0]

    def forget(self, ref: str) -> None:
        self._where.pop(ref, None)

    def is_cached(self, ref: str) -> bool:
        return ref in self._where

    def _cached(self, ref: str) -> Node | None:
        name = self._where.get(ref)
        if name is None:
            return None
        self._where.move_to_end(ref)
        return self.nodes[name]

    def remember(self, ref: str, node: Node) -> None:
        if not ref:
            return
        self._where[ref] = node.name
        self._where.move_to_end(ref)
        while len(self._where) > CACHE_SIZE:
            self._where.popitem(last=False)

    async def _ask_all(
        self, ask: Callable[[Node], Awaitable[T]]
    ) -> tuple[list[tuple[Node, T]], list[str]]:
        """Every node's answer to ``ask``: those found, and one line per node that was down
        (a NotFound is neither)."""
        nodes = list(self.nodes.values())
        answers = await asyncio.gather(*(ask(n) for n in nodes), return_exceptions=True)
        found: list[tuple[Node, T]] = []
        failures: list[str] = []
        for node, answer in zip(nodes, answers, strict=True):
            if isinstance(answer, errors.NotFound):
                continue
            if isinstance(answer, (errors.Unavailable, errors.DeadlineExceeded)):
                failures.append(down_message(node, answer))
            elif isinstance(answer, BaseException):
                raise answer
            else:
                found.append((node, answer))
        return found, failures

    # -- lists over every node --------------------------------------------------------------

    async def each(
        self, request: web.Request, handler: Handler, nodes: list[Node], timeout: float | None
    ) -> tuple[list[tuple[Node, Any]], list[str]]:
        """``handler`` run once per node of ``nodes`` on a copy of ``request`` routed there: the
        decoded JSON answers of the nodes that answered (within ``timeout`` seconds, if given),
        and a warning for each that did not."""

        async def one(node: Node) -> Any:
            copy = request.clone()
            copy[NODE] = node
            try:
                async with asyncio.timeout(timeout):
                    response = await handler(copy)
            except TimeoutError:
                raise errors.DeadlineExceeded(f"no answer within {timeout:g}s") from None
            if not isinstance(response, web.Response) or response.status != 200:
                raise errors.Internal(f"the handler for {request.path} did not answer 200")
            return _json_of(response)

        answers = await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True)
        found: list[tuple[Node, Any]] = []
        warnings: list[str] = []
        for node, answer in zip(nodes, answers, strict=True):
            if isinstance(answer, (errors.Unavailable, errors.DeadlineExceeded)):
                warnings.append(down_message(node, answer))
            elif isinstance(answer, BaseException):
                raise answer
            else:
                found.append((node, answer))
        return found, warnings


async def _running(node: Node) -> int:
    """How many containers ``node`` runs; Unavailable if its engine or its netd is down."""
    info, netd_up = await asyncio.gather(
        call(
            node.backends.engine_system.GetInfo,
            engine_pb2.GetInfoRequest(),
            service="engine",
            timeout=ROUTE_TIMEOUT,
        ),
        check_health(node.backends.channels["netd"], service="netd", timeout=ROUTE_TIMEOUT),
    )
    if not netd_up:
        raise errors.Unavailable(f"netd at {node.backends.targets['netd']} is not serving")
    return info.containers_running


def down_message(node: Node, exc: BaseException) -> str:
    return f"node {node.name} is unavailable, left out: {exc}"


def _choose(
    ref: str,
    found: list[tuple[Node, T]],
    keys: Callable[[T], tuple[str, str]],
    kind: str,
    failures: list[str],
) -> Node:
    if len(found) == 1:
        return found[0][0]
    if not found:
        if failures:
            raise errors.Unavailable(f"no such {kind} on the nodes that answered: {ref} "
                                     f"({'; '.join(failures)})")  # fmt: skip
        raise errors.NotFound(f"No such {kind}: {ref}")
    for position in (0, 1):  # the exact id first, then the exact name
        exact = [n for n, item in found if keys(item)[position] in (ref, ref.lstrip("/"))]
        if len(exact) == 1:
            return exact[0]
    names = ", ".join(n.name for n, _ in found)
    raise errors.InvalidArgument(
        f"{kind} {ref!r} is ambiguous: it matches on nodes {names}; use a longer id",
        reason="NODE_AMBIGUOUS",
    )


# -- the middleware ---------------------------------------------------------------------------

NODES = web.AppKey("nodes", Nodes)

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
    """Route the request to its node (see the module's docstring), or fan a list out."""
    nodes = request.app[NODES]
    path = _route_path(request)
    if nodes.several and (request.method, path) in MERGED and "node" not in request.query:
        return await _merged(request, handler, nodes, path)
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
        return str(_json_of(response)["Id"])
    except (ValueError, KeyError, TypeError):
        return ""


def _json_of(response: web.Response) -> Any:
    """The decoded body of a JSON answer the gateway's own handler made (always bytes)."""
    body = response.body
    return json.loads(body if isinstance(body, bytes) else b"null")


def _route_path(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    canonical = resource.canonical if resource is not None else request.path
    return canonical.removeprefix(VERSION_PREFIX)


async def _node_for(request: web.Request, nodes: Nodes, path: str) -> tuple[Node, str]:
    """The request's node, and the reference it was found by in the cache ("" if not)."""
    requested = request.query.get("node", "")
    if path in CREATES:
        requested = requested or await _label_of(request)
        if path == "/containers/create":
            return await nodes.for_new(requested), ""
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
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _label_of(request: web.Request) -> str:
    labels = (await _body(request)).get("Labels")
    value = labels.get(NODE_LABEL, "") if isinstance(labels, dict) else ""
    return value if isinstance(value, str) else ""


async def _merged(
    request: web.Request, handler: Handler, nodes: Nodes, path: str
) -> web.StreamResponse:
    """One answer from every node's (or those a ``label=estiba.node=NAME`` filter names), list
    items labelled with their node; a node that does not answer is a warning."""
    chosen, request = _narrowed(request, nodes)
    timeout = LIST_TIMEOUT if request.method == "GET" else None  # a prune takes what it takes
    answers, warnings = await nodes.each(request, handler, chosen, timeout)
    if not answers and warnings:
        raise errors.Unavailable("no node answered: " + "; ".join(warnings))
    if not answers:  # a filter no node can match
        return json_response({"Volumes": [], "Warnings": None} if path == "/volumes" else [])
    merged: Any
    if isinstance(answers[0][1], list):
        merged = [_tag(item, n) for n, a in answers for item in a or []]
    else:
        merged = _merge_objects(answers, tag=path == "/volumes")
    if path == "/volumes":
        merged["Warnings"] = (merged.get("Warnings") or []) + warnings or None
    if path == "/containers/json":
        merged.sort(key=lambda c: -int(c.get("Created") or 0))
        limit = request.query.get("limit", "")
        if limit.lstrip("-").isdigit() and int(limit) > 0:
            merged = merged[: int(limit)]
    response = json_response(merged)
    if warnings:  # RFC 7234's Warning: one header, the warnings separated by commas
        response.headers["Warning"] = ", ".join(f'199 estiba "{_quoted(t)}"' for t in warnings)
    return response


def _narrowed(request: web.Request, nodes: Nodes) -> tuple[list[Node], web.Request]:
    """The nodes a ``label`` filter ``estiba.node=NAME`` picks, and the request without that
    filter (no engine stores the label: the gateway adds it to what it lists)."""
    filters = params.filters(request)
    labels = filters.get("label", [])
    ours = [v for v in labels if v.partition("=")[0] == NODE_LABEL]
    if not ours:
        return list(nodes.nodes.values()), request
    names = {v.partition("=")[2] for v in ours} - {""}  # "estiba.node" alone: any node
    chosen = [nodes.named(name) for name in names] if names else list(nodes.nodes.values())
    if len(names) > 1:
        chosen = []  # every label filter must hold, and an item has one node
    rest = [v for v in labels if v not in ours]
    if rest:
        filters["label"] = rest
    else:
        filters.pop("label")
    query = {k: v for k, v in request.query.items() if k != "filters"}
    if filters:
        query["filters"] = json.dumps(filters)
    return chosen, request.clone(rel_url=request.rel_url.with_query(query))


def _merge_objects(answers: list[tuple[Node, Any]], *, tag: bool) -> dict[str, Any]:
    """Object answers (prunes, df, the volume list) field by field: lists joined, numbers
    added; ``tag`` labels the items of the lists with their node."""
    merged: dict[str, Any] = {}
    for node, answer in answers:
        for key, value in (answer or {}).items():
            if isinstance(value, list):
                items = [_tag(v, node) if tag and isinstance(v, dict) else v for v in value]
                merged[key] = (merged.get(key) or []) + items
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                merged[key] = merged.get(key, 0) + value
            else:
                merged.setdefault(key, value)
    return merged


def _tag(item: dict[str, Any], node: Node) -> dict[str, Any]:
    item["Labels"] = {**(item.get("Labels") or {}), NODE_LABEL: node.name}
    return item


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
