"""``estiba network ...``: the CLI as a user runs it, against the gateway and real services."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.gateway.test_networks import gateway_app, pytestmark
from tests.services.conftest import Instance

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]

__all__ = ["gateway_app", "pytestmark"]
REPO_ROOT = Path(__file__).resolve().parents[2]


class Cli:
    def __init__(self, port: int) -> None:
        self.host = f"tcp://127.0.0.1:{port}"

    async def __call__(self, *argv: str, stdin: str = "", code: int = 0) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "client", "-H", self.host, *argv,
            cwd=REPO_ROOT, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate(stdin.encode())
        assert proc.returncode == code, (argv, out.decode(), err.decode())
        return out.decode() + err.decode()


@pytest.fixture
async def cli(services: Instance, gateway_app: web.Application, aiohttp_client: MakeClient) -> Cli:
    client = await aiohttp_client(gateway_app)
    assert client.server.port is not None
    return Cli(client.server.port)


async def test_network_commands(cli: Cli) -> None:
    created = (await cli("network", "create", "--label", "team=a", "-o", "k=v", "front")).strip()
    assert len(created) == 64
    await cli("network", "create", "--internal", "back")
    table = (await cli("network", "ls")).splitlines()
    assert table[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    rows = [line.split() for line in table[1:]]
    assert [r[1:] for r in rows] == [
        ["back", "bridge", "local"], ["bridge", "bridge", "local"], ["front", "bridge", "local"],
        ["host", "host", "local"], ["none", "null", "local"]]  # fmt: skip
    assert [r[0] for r in rows if r[1] == "front"] == [created[:12]]
    quiet = (await cli("network", "ls", "-q", "--filter", "label=team=a")).split()
    assert quiet == [created[:12]]
    [front] = json.loads(await cli("network", "inspect", "front"))
    assert (front["Id"], front["Labels"], front["Options"]) == (created, {"team": "a"}, {"k": "v"})
    out = await cli("network", "inspect", "front", "nosuch", code=1)
    assert "Error: No such network: nosuch" in out
    out = await cli("network", "create", "front", code=125)
    assert "network with name front already exists" in out
    # connect and disconnect a container that was created (not started)
    cid = (await cli("create", "--name", "box", "busybox", "true")).strip().splitlines()[-1]
    subnet = front["IPAM"]["Config"][0]["Subnet"]
    static = subnet.rsplit(".", 1)[0] + ".50"
    await cli("network", "connect", "--ip", static, "--alias", "web", "front", "box")
    [front] = json.loads(await cli("network", "inspect", "front"))
    assert front["Containers"][cid]["IPv4Address"] == f"{static}/24"
    out = await cli("network", "rm", "front", code=1)
    assert "has active endpoints" in out
    await cli("network", "disconnect", "front", "box")
    # prune asks first; "n" keeps everything
    out = await cli("network", "prune", stdin="n\n")
    assert "Are you sure you want to continue? [y/N]" in out
    assert "Deleted Networks" not in out
    out = await cli("network", "prune", "-f", "--filter", "label=team=a")
    assert out.splitlines() == ["Deleted Networks:", "front"]
    assert (await cli("network", "rm", "back")).strip() == "back"
    assert (await cli("network", "ls", "-q", "--filter", "type=custom")).strip() == ""
    await cli("rm", "-f", cid)
