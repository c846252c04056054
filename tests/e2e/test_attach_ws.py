"""``/containers/{id}/attach/ws``: attach over a WebSocket against a running estiba, each
message raw bytes both ways; errors before the upgrade are Docker's JSON errors."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import aiohttp
import docker
import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(estiba_instance: EstibaInstance) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=estiba_instance.host, version="auto", timeout=60)
    yield c
    c.close()


def _sock_path(inst: EstibaInstance) -> str:
    return str(inst.run_dir / "estiba.sock")


async def test_attach_over_a_websocket(
    estiba_instance: EstibaInstance, client: docker.DockerClient
) -> None:
    cid = client.api.create_container("busybox", ["sh", "-c", "echo ready; cat"], stdin_open=True)[
        "Id"
    ]
    client.api.start(cid)
    connector = aiohttp.UnixConnector(path=_sock_path(estiba_instance))
    url = f"http://localhost/v1.44/containers/{cid}/attach/ws?stream=1&stdin=1&stdout=1&logs=1"
    received = b""
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.ws_connect(url) as ws,
    ):
        while b"ready\n" not in received:
            received += await _ws_bytes(ws)
        await ws.send_bytes(b"through the websocket\n")
        while b"through the websocket\n" not in received:
            received += await _ws_bytes(ws)
        await ws.send_str("as text too\n")
        while b"as text too\n" not in received:
            received += await _ws_bytes(ws)
    assert received == b"ready\nthrough the websocket\nas text too\n"  # raw: never framed
    assert client.api.inspect_container(cid)["State"]["Running"]  # closing it detaches
    client.api.remove_container(cid, force=True)


async def _ws_bytes(ws: aiohttp.ClientWebSocketResponse) -> bytes:
    msg = await ws.receive(timeout=20)
    assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg
    return msg.data if isinstance(msg.data, bytes) else str(msg.data).encode()


def test_websocket_attach_to_a_missing_container_is_a_404(
    estiba_instance: EstibaInstance,
) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(_sock_path(estiba_instance))
    sock.sendall(
        b"GET /v1.44/containers/nope/attach/ws?stream=1 HTTP/1.1\r\nHost: x\r\n"
        b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404")
    assert b"Content-Type: application/json\r\n" in head
    if body:
        assert "message" in json.loads(body[: body.rindex(b"}") + 1])
