"""Docker's network endpoints against real services (registry, engine, netd in-process, on the
real kernel with the instance's own prefix): shapes, filters, status codes."""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from services.gateway.app import make_app
from services.gateway.config import GatewayConfig
from services.kit import config as kconfig
from tests.services.conftest import Instance

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None, reason="needs root and nft"
)


@pytest.fixture
def gateway_app(instance: Instance) -> web.Application:
    return make_app(kconfig.load(GatewayConfig, "gateway", env=instance.env))


async def body(response: Any, status: int) -> Any:
    """The JSON body of a response that must have ``status`` and Docker's Content-Type."""
    text = await response.text()
    assert response.status == status, text
    if not text:
        return None
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(text)


async def names(client: Client, filters: object = None) -> list[str]:
    params = {"filters": json.dumps(filters)} if filters is not None else {}
    return [n["Name"] for n in await body(await client.get("/networks", params=params), 200)]


async def test_list_create_inspect_and_remove(
    services: Instance, gateway_app: web.Application, aiohttp_client: MakeClient
) -> None:
    client = await aiohttp_client(gateway_app)
    listed = await body(await client.get("/v1.44/networks"), 200)
    by_name = {n["Name"]: n for n in listed}
    assert list(by_name) == ["bridge", "host", "none"]
    assert [by_name[n]["Driver"] for n in ("bridge", "host", "none")] == ["bridge", "host", "null"]
    assert all(n["Scope"] == "local" and len(n["Id"]) == 64 for n in listed)
    bridge = by_name["bridge"]
    assert bridge["IPAM"]["Config"][0]["Subnet"].endswith("/24")
    assert bridge["Options"]["com.docker.network.bridge.default_bridge"] == "true"
    # As the docker CLI sends it.
    request = {
        "Name": "mynet", "Driver": "bridge", "Scope": "", "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": []}, "Internal": False,
        "Attachable": False, "Ingress": False, "ConfigOnly": False, "ConfigFrom": None,
        "Options": {"com.docker.network.driver.mtu": "1400"}, "Labels": {"team": "a"},
    }  # fmt: skip
    created = await body(await client.post("/networks/create", json=request), 201)
    assert set(created) == {"Id", "Warning"}
    assert len(created["Id"]) == 64
    assert created["Warning"] == ""
    network = await body(await client.get(f"/networks/{created['Id'][:12]}"), 200)
    assert set(network) == {
        "Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal",
        "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels",
    }  # fmt: skip
    assert (network["Name"], network["Id"], network["Driver"]) == ("mynet", created["Id"], "bridge")
    assert network["IPAM"]["Driver"] == "default"
    [config] = network["IPAM"]["Config"]
    assert config["Subnet"] != bridge["IPAM"]["Config"][0]["Subnet"]
    assert (network["Internal"], network["EnableIPv6"], network["Ingress"]) == (False,) * 3
    assert (network["ConfigFrom"], network["Containers"]) == ({"Network": ""}, {})
    assert network["Options"] == {"com.docker.network.driver.mtu": "1400"}
    assert network["Labels"] == {"team": "a"}
    net = f"172.31.{random.randrange(256)}"
    internal = {"Name": "closed", "Internal": True,
                "IPAM": {"Config": [{"Subnet": f"{net}.0/24", "IPRange": f"{net}.128/25",
                                     "Gateway": f"{net}.254"}]}}  # fmt: skip
    await body(await client.post("/networks/create", json=internal), 201)
    closed = await body(await client.get("/networks/closed"), 200)
    assert closed["Internal"] is True
    assert closed["IPAM"]["Config"] == [
        {"Subnet": f"{net}.0/24", "Gateway": f"{net}.254", "IPRange": f"{net}.128/25"}
    ]
    # Filters, in the map form of the Go CLI and the list form of docker-py.
    assert await names(client, {"name": {"mynet": True}}) == ["mynet"]
    assert await names(client, {"name": ["mynet"]}) == ["mynet"]
    assert await names(client, {"driver": ["null"]}) == ["none"]
    assert await names(client, {"type": ["builtin"]}) == ["bridge", "host", "none"]
    assert await names(client, {"type": {"custom": True}}) == ["mynet", "closed"]
    assert await names(client, {"label": ["team=a"]}) == ["mynet"]
    assert await names(client, {"dangling": ["true"]}) == ["mynet", "closed"]
    host = by_name["host"]
    assert await names(client, {"id": [host["Id"][:10]]}) == ["host"]
    assert (await body(await client.get("/networks/host"), 200))["Id"] == host["Id"]
    # Errors, Docker-shaped.
    for bad, status, words in [
        ({"Name": "mynet"}, 409, "network with name mynet already exists"),
        ({"Name": "host"}, 403, "operation is not permitted on predefined host network"),
        ({"Name": "bridge"}, 403, "operation is not permitted on predefined bridge network"),
        ({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.0.0.0/33"}]}}, 400, "invalid subnet"),
        ({"Name": "x", "EnableIPv6": True}, 400, "IPv6"),
        ({"Name": "x", "Driver": "overlay"}, 400, "not supported"),
        ({"Name": "x", "IPAM": {"Config": [{"Subnet": f"{net}.0/25"}]}}, 403, "overlaps"),
        ({"Name": "x", "Labels": ["a"]}, 400, "Labels must be an object"),
    ]:
        error = await body(await client.post("/networks/create", json=bad), status)
        assert words in error["message"], error
    error = await body(await client.get("/networks/nope"), 404)
    assert error == {"message": "network nope not found"}
    assert (await client.delete(f"/networks/{created['Id']}")).status == 204
    error = await body(await client.delete("/networks/mynet"), 404)
    assert error == {"message": "network mynet not found"}
    error = await body(await client.delete("/v1.41/networks/host"), 403)
    assert error["message"] == "host is a pre-defined network and cannot be removed"
    error = await body(await client.delete("/networks/bridge"), 403)
    assert error["message"] == "bridge is a pre-defined network and cannot be removed"
    error = await body(await client.delete("/networks/none"), 403)
    assert error["message"] == "none is a pre-defined network and cannot be removed"
    assert (await client.delete("/networks/closed")).status == 204
    assert await names(client) == ["bridge", "host", "none"]


async def test_connect_disconnect_and_prune(
    services: Instance, gateway_app: web.Application, aiohttp_client: MakeClient
) -> None:
    client = await aiohttp_client(gateway_app)
    for name in ("app", "spare"):
        await body(await client.post("/networks/create", json={"Name": name}), 201)
    app = await body(await client.get("/networks/app"), 200)
    subnet = app["IPAM"]["Config"][0]["Subnet"]
    static = subnet.rsplit(".", 1)[0] + ".77"
    spec = {"Image": "busybox", "Cmd": ["true"]}
    made = await body(await client.post("/containers/create?name=web", json=spec), 201)
    cid = made["Id"]
    cids = [cid]
    try:
        connect = {"Container": "web", "EndpointConfig": {
            "IPAMConfig": {"IPv4Address": static}, "Aliases": ["www"]}}  # fmt: skip
        response = await client.post("/networks/app/connect", json=connect)
        assert response.status == 200, await response.text()
        app = await body(await client.get("/networks/app"), 200)
        entry = app["Containers"][cid]
        assert entry["Name"] == "web"
        assert entry["IPv4Address"] == f"{static}/24"
        assert entry["IPv6Address"] == ""
        assert entry["MacAddress"] == "02:42:" + ":".join(
            f"{int(x):02x}" for x in static.split(".")
        )
        assert len(entry["EndpointID"]) == 64
        listed = await body(
            await client.get("/networks", params={"filters": '{"name":["app"]}'}), 200
        )
        assert listed[0]["Containers"] == {}  # the list leaves containers out, as Docker's does
        # Refusals.
        error = await body(await client.post("/networks/app/connect", json=connect), 403)
        assert "already exists in network app" in error["message"]
        shared = {**spec, "HostConfig": {"NetworkMode": "container:web"}}
        other = await body(await client.post("/containers/create?name=web2", json=shared), 201)
        cids.append(other["Id"])
        error = await body(await client.post("/networks/app/connect", json={
            "Container": "web2"}), 400)  # fmt: skip
        assert "sharing network namespace" in error["message"]
        plain = await body(await client.post("/containers/create?name=web3", json=spec), 201)
        cids.append(plain["Id"])
        error = await body(await client.post("/networks/app/connect", json={
            **connect, "Container": "web3"}), 403)  # fmt: skip
        assert error["message"].startswith("Address already in use")
        taken = {"Container": cid[:12], "EndpointConfig": {"IPAMConfig": {"IPv4Address": static}}}
        error = await body(await client.post("/networks/spare/connect", json=taken), 400)
        assert "is not in the network's subnet" in error["message"]
        error = await body(await client.post(
            "/networks/app/connect", json={"Container": "nobody"}), 404)  # fmt: skip
        assert "nobody" in error["message"]
        error = await body(
            await client.post("/networks/host/connect", json={"Container": "web"}), 400
        )
        assert "host" in error["message"]
        error = await body(
            await client.post("/networks/nonet/connect", json={"Container": "web"}), 404
        )
        assert error == {"message": "network nonet not found"}
        error = await body(await client.delete("/networks/app"), 403)
        endpoint = app["Containers"][cid]["EndpointID"][:12]
        assert error["message"] == (
            "error while removing network: network app has active endpoints"
            f' (name:"web" id:"{endpoint}")'
        )
        pruned = await body(await client.post("/networks/prune"), 200)
        assert pruned == {"NetworksDeleted": ["spare"]}  # app is in use, bridge is built in
        # Disconnect, then the network can go.
        response = await client.post("/networks/app/disconnect", json={"Container": "web"})
        assert response.status == 200, await response.text()
        assert (await body(await client.get("/networks/app"), 200))["Containers"] == {}
        error = await body(
            await client.post("/networks/app/disconnect", json={"Container": "web"}), 404
        )
        assert "is not connected to network app" in error["message"]
        pruned = await body(
            await client.post("/networks/prune", params={"filters": '{"label":{"x":true}}'}), 200
        )
        assert pruned == {"NetworksDeleted": []}
        pruned = await body(await client.post("/networks/prune"), 200)
        assert pruned == {"NetworksDeleted": ["app"]}
    finally:
        for made_id in reversed(cids):
            assert (await client.delete(f"/containers/{made_id}?force=1")).status == 204


async def test_inspect_and_list_show_every_network_from_the_engine(
    services: Instance, gateway_app: web.Application, aiohttp_client: MakeClient
) -> None:
    """After connect, inspect and the list show both networks; they ask the engine only, so
    they answer the same with netd stopped."""
    client = await aiohttp_client(gateway_app)
    config = {"Subnet": "10.231.9.0/24"}
    await body(await client.post("/networks/create", json={"Name": "gw-a", "IPAM": {
        "Config": [config]}}), 201)  # fmt: skip
    await body(await client.post("/networks/create", json={"Name": "gw-b"}), 201)
    spec = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "gw-a"},
            "NetworkingConfig": {"EndpointsConfig": {"gw-a": {
                "IPAMConfig": {"IPv4Address": "10.231.9.9"}, "Aliases": ["svc"]}}}}  # fmt: skip
    cid = (await body(await client.post("/containers/create?name=gw-multi", json=spec), 201))["Id"]
    try:
        connect = {"Container": "gw-multi", "EndpointConfig": {"Aliases": ["other"]}}
        assert (await client.post("/networks/gw-b/connect", json=connect)).status == 200
        settings = (await body(await client.get("/containers/gw-multi/json"), 200))[
            "NetworkSettings"
        ]
        by_id = (await body(await client.get(f"/containers/{cid}/json"), 200))["NetworkSettings"]
        assert by_id == settings
        nets = settings["Networks"]
        assert list(nets) == ["gw-a", "gw-b"]
        a, b = nets["gw-a"], nets["gw-b"]
        assert (a["IPAddress"], a["IPPrefixLen"], a["Gateway"]) == ("10.231.9.9", 24, "10.231.9.1")
        assert a["IPAMConfig"] == {"IPv4Address": "10.231.9.9"}
        assert a["Aliases"] == ["svc", cid[:12]]
        assert a["DNSNames"] == ["gw-multi", "svc", cid[:12]]
        assert (b["IPAMConfig"], b["Aliases"]) == (None, ["other", cid[:12]])
        for name, entry in nets.items():
            network = await body(await client.get(f"/networks/{name}"), 200)
            assert entry["NetworkID"] == network["Id"]
            assert entry["EndpointID"] == network["Containers"][cid]["EndpointID"]
            assert entry["MacAddress"] == network["Containers"][cid]["MacAddress"]
        assert settings["IPAddress"] == ""  # not on the default network
        params = {"all": "1", "filters": json.dumps({"network": ["gw-b"]})}
        listed = await body(await client.get("/containers/json", params=params), 200)
        assert [c["Id"] for c in listed] == [cid]
        assert listed[0]["NetworkSettings"]["Networks"] == nets
        await services.stop("netd")
        try:
            stopped = await body(await client.get("/containers/gw-multi/json"), 200)
            assert stopped["NetworkSettings"] == settings
            again = await body(await client.get("/containers/json", params=params), 200)
            assert again == listed
        finally:
            await services.start("netd")
        disconnect = {"Container": "gw-multi"}
        assert (await client.post("/networks/gw-a/disconnect", json=disconnect)).status == 200
        left = (await body(await client.get(f"/containers/{cid}/json"), 200))["NetworkSettings"]
        assert left["Networks"] == {"gw-b": b}
        params = {"all": "1", "filters": json.dumps({"network": ["gw-a"]})}
        assert await body(await client.get("/containers/json", params=params), 200) == []
    finally:
        assert (await client.delete(f"/containers/{cid}?force=1")).status == 204
        for name in ("gw-a", "gw-b"):
            assert (await client.delete(f"/networks/{name}")).status == 204
