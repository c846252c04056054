"""A gateway in front of two nodes, routing against real services: one node up, and one whose
address answers nothing (a node that is down)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from services.gateway.app import make_app
from services.gateway.config import GatewayConfig
from services.gateway.nodes import merge
from services.kit import config as kconfig
from tests.services.conftest import Instance, free_port

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


def load(env: dict[str, str]) -> GatewayConfig:
    return kconfig.load(GatewayConfig, "gateway", env=env)


# -- routing with a node that is down ---------------------------------------------------------


@pytest.fixture
def two_nodes(instance: Instance) -> web.Application:
    """The instance's engine and netd as node "n1", and "n2" at an address nothing answers."""
    port = free_port()
    env = {
        **instance.env,
        "ESTIBA_GATEWAY_NODES": f"n1, n2 engine=127.0.0.1:{port} netd=127.0.0.1:{port}",
    }
    return make_app(load(env))


async def body(response: Any, status: int) -> Any:
    text = await response.text()
    assert response.status == status, text
    return json.loads(text) if text else None


async def test_lists_leave_a_down_node_out_with_a_warning(
    services: Instance, two_nodes: web.Application, aiohttp_client: MakeClient
) -> None:
    client = await aiohttp_client(two_nodes)
    created = await body(
        await client.post("/v1.44/containers/create", json={"Image": "busybox", "Cmd": ["true"]}),
        201,
    )
    response = await client.get("/v1.44/containers/json", params={"all": "1"})
    listed = await body(response, 200)
    assert [(c["Id"], c["Labels"]["estiba.node"]) for c in listed] == [(created["Id"], "n1")]
    assert response.headers["Warning"].startswith('199 estiba "node n2 is unavailable')
    for path in ("/images/json", "/networks"):
        response = await client.get(path)
        items = await body(response, 200)
        assert items, path
        assert {i["Labels"]["estiba.node"] for i in items} == {"n1"}, path
        assert "node n2" in response.headers["Warning"]
    volumes = await body(await client.get("/volumes"), 200)
    assert [w for w in volumes["Warnings"] if w.startswith("node n2 is unavailable")]
    # Requests about the container reach n1, the one node that has it.
    found = await body(await client.get(f"/containers/{created['Id'][:12]}/json"), 200)
    assert found["Id"] == created["Id"]
    assert (await client.delete(f"/containers/{created['Id']}")).status == 204


async def test_placement_and_its_errors(
    services: Instance, two_nodes: web.Application, aiohttp_client: MakeClient
) -> None:
    client = await aiohttp_client(two_nodes)
    spec = {"Image": "busybox", "Cmd": ["true"]}
    unknown = await body(await client.post("/containers/create?node=n9", json=spec), 400)
    assert unknown["message"] == "no node named 'n9' (nodes: n1, n2)"
    labelled = {**spec, "Labels": {"estiba.node": "n9"}}
    assert (await body(await client.post("/containers/create", json=labelled), 400))["message"]
    down = await client.post("/containers/create?node=n2", json=spec)
    assert down.status == 503, await down.text()
    # Unplaced: the least loaded node that answers, n1.
    placed = await body(await client.post("/containers/create", json=spec), 201)
    nodes = await body(await client.get("/estiba/v1/nodes"), 200)
    by_name = {n["Name"]: n for n in nodes}
    assert list(by_name) == ["n1", "n2"]
    n1, n2 = by_name["n1"], by_name["n2"]
    assert (n1["Status"], n1["Engine"]["Status"], n1["Netd"]["Status"]) == ("healthy",) * 3
    assert (n1["Default"], n1["Containers"], n1["ContainersRunning"]) == (True, 1, 0)
    assert n1["Images"] >= 1
    assert n1["Version"]
    assert n1["Engine"]["Address"] == f"unix://{services.run_dir / 'engine.sock'}"
    assert (n2["Status"], n2["Engine"]["Status"], n2["Containers"]) == ("down", "down", 0)
    assert n2["Engine"]["Error"] == "not reachable"
    # A container no node has: 503, since n2 might have it.
    missing = await client.get("/containers/nothing-here/json")
    assert missing.status == 503
    assert "nothing-here" in (await missing.json())["message"]
    assert (await client.delete(f"/containers/{placed['Id']}")).status == 204


async def test_a_node_label_filter_narrows_and_prunes_merge(
    services: Instance, two_nodes: web.Application, aiohttp_client: MakeClient
) -> None:
    client = await aiohttp_client(two_nodes)
    spec = {"Image": "busybox", "Cmd": ["true"], "Labels": {"team": "a"}}
    made = await body(await client.post("/containers/create?node=n1", json=spec), 201)
    only_n1 = {"all": "1", "filters": json.dumps({"label": ["estiba.node=n1", "team=a"]})}
    response = await client.get("/containers/json", params=only_n1)
    assert [c["Id"] for c in await body(response, 200)] == [made["Id"]]
    assert "Warning" not in response.headers  # n2 was not asked
    other_team = {
        "all": "1",
        "filters": json.dumps({"label": {"estiba.node=n1": True, "team=b": True}}),
    }
    assert await body(await client.get("/containers/json", params=other_team), 200) == []
    unknown = {"filters": json.dumps({"label": ["estiba.node=n9"]})}
    response = await client.get("/containers/json", params=unknown)
    assert (await body(response, 400))["message"] == "no node named 'n9' (nodes: n1, n2)"
    response = await client.post("/containers/prune")
    pruned = await body(response, 200)
    assert pruned["ContainersDeleted"] == [made["Id"]]
    assert "node n2" in response.headers["Warning"]
    volumes = await body(await client.post("/volumes/prune"), 200)
    assert volumes["SpaceReclaimed"] == 0
    response = await client.get("/system/df")
    df = await body(response, 200)
    assert df["Images"]
    assert isinstance(df["LayersSize"], int)
    assert "node n2" in response.headers["Warning"]


class _Hang(grpc.GenericRpcHandler):
    """A gRPC server that takes every call and never answers: a node that hangs."""

    def service(self, handler_call_details: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(self._hang)

    async def _hang(self, request: bytes, context: Any) -> bytes:
        await asyncio.sleep(3600)
        return b""


async def test_a_node_that_never_answers_is_left_out_after_the_list_timeout(
    services: Instance, aiohttp_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(merge, "LIST_TIMEOUT", 0.5)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_Hang(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        hung = f"n1, hung engine=127.0.0.1:{port} netd=127.0.0.1:{port}"
        client = await aiohttp_client(
            make_app(load({**services.env, "ESTIBA_GATEWAY_NODES": hung}))
        )
        began = time.monotonic()
        response = await client.get("/containers/json")
        assert await body(response, 200) == []
        assert time.monotonic() - began < 5
        warning = response.headers["Warning"]
        assert warning == '199 estiba "node hung is unavailable, left out: no answer within 0.5s"'
    finally:
        await server.stop(0)
