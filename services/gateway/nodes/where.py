"""The nodes behind the gateway and where things are on them: which node holds a container,
an exec, an image, a volume or a network, and which node takes a new container."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from estiba.engine.v1 import containers_pb2, engine_pb2, images_pb2, volumes_pb2
from estiba.netd.v1 import netd_pb2
from services.gateway.backends import Backends
from services.gateway.config import GatewayConfig
from services.kit import errors
from services.kit.grpcclient import call, check_health, open_channel

NODE_LABEL = "estiba.node"
"""The label naming a container's (or image's, volume's, network's) node in lists, and the one
a Docker client sets on a create body to choose the node."""
ROUTE_TIMEOUT = 5.0
CACHE_SIZE = 4096
SHORT_ID = 12  # the shortest id prefix remembered: docker's short id, unique in practice

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

    async def for_new(self, requested: str = "", image: str = "") -> Node:
        """``requested``, else the healthy node (its engine and its netd answer) running the
        fewest containers (ties: the first configured) among those that have ``image``.

        When no healthy node has the image, the first node if it is healthy: that is where a
        client's pull goes (a create refused for want of the image makes Docker clients pull
        and create again), so the second create finds the image. Unavailable if no node is
        healthy.
        """
        if requested:
            return self.named(requested)
        if not self.several:
            return self.default
        loads, failures = await self._ask_all(lambda n: _load(n, image))
        if not loads:
            raise errors.Unavailable("no node is available: " + "; ".join(failures))
        holding = [(node, running) for node, (running, has) in loads if has]
        if not holding and any(node is self.default for node, _ in loads):
            return self.default
        return min(holding or [(n, running) for n, (running, _) in loads], key=lambda p: p[1])[0]

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


async def _load(node: Node, image: str) -> tuple[int, bool]:
    """How many containers ``node`` runs, and whether it has ``image`` (True when none is
    named); Unavailable if its engine or its netd is down."""
    info, netd_up, has = await asyncio.gather(
        call(
            node.backends.engine_system.GetInfo,
            engine_pb2.GetInfoRequest(),
            service="engine",
            timeout=ROUTE_TIMEOUT,
        ),
        check_health(node.backends.channels["netd"], service="netd", timeout=ROUTE_TIMEOUT),
        _has_image(node, image),
    )
    if not netd_up:
        raise errors.Unavailable(f"netd at {node.backends.targets['netd']} is not serving")
    return info.containers_running, has


async def _has_image(node: Node, image: str) -> bool:
    if not image:
        return True
    try:
        await call(
            node.backends.images.Inspect,
            images_pb2.InspectImageRequest(image=image),
            service="engine",
            timeout=ROUTE_TIMEOUT,
        )
    except (errors.NotFound, errors.InvalidArgument):
        return False  # a malformed name: the create itself says so
    return True


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
