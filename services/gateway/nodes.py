"""Which node a request is for: the gateway's one routing decision when it fronts several nodes.

A node is one engine and one netd. The gateway's configuration lists them (``nodes``; by
default the one local node), and every request is routed here, once, before its handler runs:

- about an existing container (``/containers/{id}/...``, ``/commit?container=``, a network
  connect or disconnect naming a ``Container``) or exec (``/exec/{id}/...``): the node that has
  it, found by asking every node's engine at once, remembered in a small id → node cache;
- creating a container: the node named by the ``node`` query parameter or the ``estiba.node``
  label of the body, else the healthy node running the fewest containers;
- creating a network, volume or image, or anything else: the named node, else the first one;
- listing containers, images, volumes or networks: every node; the answers are merged, each
  item labelled ``estiba.node`` with its node, and a node that does not answer is left out
  with an HTTP ``Warning`` header (``199 estiba "..."``) instead of failing the list.

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

from estiba.engine.v1 import containers_pb2, engine_pb2
from services.gateway.backends import Backends
from services.gateway.config import GatewayConfig
from services.gateway.errors import json_response
from services.kit import errors
from services.kit.grpcclient import call, open_channel

NODE_LABEL = "estiba.node"
"""The label naming a container's (or image's, volume's, network's) node in lists, and the one
a Docker client sets on a create body to choose the node."""
ROUTE_TIMEOUT = 5.0
CACHE_SIZE = 4096
VERSION_PREFIX = "/v{api_version}"

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    backends: Backends


NODE = web.RequestKey("node", Node)
WARNINGS = web.RequestKey("node_warnings", list[str])


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

        An id, full or prefix, is remembered once found: ids are unique and containers never
        move. Names are asked every time, since a name freed on one node may be taken on
        another. Several nodes answering: the one whose container has that exact id, then that
        exact name; otherwise the reference is ambiguous (400).
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
        if any(c.id.startswith(ref) for n, c in found if n is node):
            self._remember(ref, node)
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
        self._remember(exec_id, node)
        return node

    async def for_new(self, requested: str = "") -> Node:
        """``requested``, else the healthy node running the fewest containers (ties: the first
        configured). Unavailable if no node answers."""
        if requested:
            return self.named(requested)
        if not self.several:
            return self.default
        loads, failures = await self._ask_all(
            lambda n: call(
                n.backends.engine_system.GetInfo,
                engine_pb2.GetInfoRequest(),
                service="engine",
                timeout=ROUTE_TIMEOUT,
            )
        )
        if not loads:
            raise errors.Unavailable("no node is available: " + "; ".join(failures))
        return min(loads, key=lambda pair: pair[1].containers_running)[0]

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

    def _remember(self, ref: str, node: Node) -> None:
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
        self, request: web.Request, handler: Handler
    ) -> tuple[list[tuple[Node, Any]], list[str]]:
        """``handler`` run once per node on a copy of ``request`` routed there: the decoded JSON
        answers of the nodes that answered, and a warning for each that did not."""
        nodes = list(self.nodes.values())

        async def one(node: Node) -> Any:
            copy = request.clone()
            copy[NODE] = node
            response = await handler(copy)
            if not isinstance(response, web.Response) or response.status != 200:
                raise errors.Internal(f"the list handler for {request.path} did not answer 200")
            return json.loads(response.body or b"null")  # type: ignore[arg-type]

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

LISTS = ("/containers/json", "/images/json", "/volumes", "/networks")
CREATES = ("/containers/create", "/networks/create", "/volumes/create")


@web.middleware
async def routing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Route the request to its node (see the module's docstring), or fan a list out."""
    nodes = request.app[NODES]
    path = _route_path(request)
    if nodes.several and request.method == "GET" and path in LISTS:
        return await _merged(request, handler, nodes, path)
    node, from_cache = await _node_for(request, nodes, path)
    request[NODE] = node
    try:
        return await handler(request)
    except errors.NotFound:
        if from_cache:  # gone since it was remembered: ask every node next time
            nodes.forget(request.match_info.get("id", ""))
        raise


def _route_path(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    canonical = resource.canonical if resource is not None else request.path
    return canonical.removeprefix(VERSION_PREFIX)


async def _node_for(request: web.Request, nodes: Nodes, path: str) -> tuple[Node, bool]:
    """The request's node, and whether it came from the cache."""
    requested = request.query.get("node", "")
    if path in CREATES:
        requested = requested or await _label_of(request)
        if path == "/containers/create":
            return await nodes.for_new(requested), False
        return (nodes.named(requested) if requested else nodes.default), False
    if requested:
        return nodes.named(requested), False
    if not nodes.several:
        return nodes.default, False
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
        cached = nodes.is_cached(exec_id)
        return await nodes.for_exec(exec_id), cached
    if not ref:
        return nodes.default, False
    cached = nodes.is_cached(ref)
    try:
        return await nodes.for_container(ref), cached
    except errors.NotFound:
        return nodes.default, False  # the handler says "No such container" in its own words


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
    """One list from every node's answer, each item labelled with its node."""
    answers, warnings = await nodes.each(request, handler)
    if not answers:
        raise errors.Unavailable("no node answered: " + "; ".join(warnings))
    if path == "/volumes":
        merged: Any = {
            "Volumes": [_tag(v, n) for n, a in answers for v in a.get("Volumes") or []],
            "Warnings": [w for _, a in answers for w in a.get("Warnings") or []] + warnings or None,
        }
    else:
        merged = [_tag(item, n) for n, a in answers for item in a or []]
    if path == "/containers/json":
        merged.sort(key=lambda c: -int(c.get("Created") or 0))
        limit = request.query.get("limit", "")
        if limit.lstrip("-").isdigit() and int(limit) > 0:
            merged = merged[: int(limit)]
    response = json_response(merged)
    if warnings:  # RFC 7234's Warning: one header, the warnings separated by commas
        response.headers["Warning"] = ", ".join(f'199 estiba "{_quoted(t)}"' for t in warnings)
    return response


def _tag(item: dict[str, Any], node: Node) -> dict[str, Any]:
    item["Labels"] = {**(item.get("Labels") or {}), NODE_LABEL: node.name}
    return item


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
