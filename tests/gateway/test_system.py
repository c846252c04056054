"""The gateway's system endpoints against real services over their sockets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from services.gateway.app import make_app
from services.gateway.config import GatewayConfig
from services.kit import config as kconfig
from tests.services.conftest import Instance

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
def gateway_app(instance: Instance) -> web.Application:
    return make_app(kconfig.load(GatewayConfig, "gateway", env=instance.env))


async def test_ping_answers_docker_negotiation_headers(
    services: Instance, gateway_app: web.Application, aiohttp_client: MakeClient
) -> None:
    client = await aiohttp_client(gateway_app)
    for method in ("GET", "HEAD"):
        response = await client.request(method, "/_ping")
        assert response.status == 200
        assert response.headers["Api-Version"] == "1.44"
        assert response.headers["Ostype"] == "linux"
        assert response.headers["Cache-Control"].startswith("no-cache")
        assert response.headers["X-Request-Id"]
    response = await client.get("/_ping")
    assert await response.text() == "OK"


async def test_version_and_info_carry_real_data(
    services: Instance, gateway_app: web.Application, aiohttp_client: MakeClient
) -> None:
    client = await aiohttp_client(gateway_app)
    for path in ("/version", "/v1.44/version", "/v1.24/version"):
        response = await client.get(path)
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        body = await response.json()
        assert body["ApiVersion"] == "1.44"
        assert body["MinAPIVersion"] == "1.24"
        names = [c["Name"] for c in body["Components"]]
        assert names[:4] == ["Engine", "estiba-netd", "estiba-registry", "estiba-gateway"]
    info = await (await client.get("/v1.41/info")).json()
    assert info["Containers"] == 0
    assert info["DockerRootDir"] == str(services.root)
    assert info["Warnings"] == []
    statuses = {s["Name"]: s["Status"] for s in info["Estiba"]["Services"]}
    assert statuses == dict.fromkeys(("engine", "netd", "registry", "gateway"), "healthy")
    assert info["Estiba"]["Registry"]["Address"] == services.registry_http


async def test_request_id_is_accepted_and_echoed(
    services: Instance, gateway_app: web.Application, aiohttp_client: MakeClient
) -> None:
    client = await aiohttp_client(gateway_app)
    response = await client.get("/version", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/v1.99/version", 400, "too new. Maximum supported API version is 1.44"),
        ("/v1.12/version", 400, "too old. Minimum supported API version is 1.24"),
        ("/no/such/thing", 404, "page not found"),
    ],
)
async def test_errors_are_docker_shaped(
    services: Instance,
    gateway_app: web.Application,
    aiohttp_client: MakeClient,
    path: str,
    status: int,
    words: str,
) -> None:
    client = await aiohttp_client(gateway_app)
    response = await client.get(path)
    assert response.status == status
    assert response.headers["Content-Type"] == "application/json"
    assert words in (await response.json())["message"]


async def test_a_down_service_is_named(
    instance: Instance, gateway_app: web.Application, aiohttp_client: MakeClient
) -> None:
    await instance.start("netd")
    await instance.start("registry")  # the engine is not started
    client = await aiohttp_client(gateway_app)
    response = await client.get("/version")
    assert response.status == 503
    message = (await response.json())["message"]
    assert "engine" in message
    assert str(instance.run_dir / "engine.sock") in message
    info = await (await client.get("/info")).json()
    statuses = {s["Name"]: s["Status"] for s in info["Estiba"]["Services"]}
    assert statuses["engine"] == "down"
    assert statuses["netd"] == "healthy"
    assert any("engine" in w for w in info["Warnings"])
