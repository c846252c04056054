"""services.kit.healthcheck against a real grpc.aio server with the standard health service."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.kit import healthcheck

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, health.aio.HealthServicer]]:
    """A grpc.aio server on a UNIX socket in tmp_path, reporting SERVING for ""."""
    target = f"unix://{tmp_path / 'svc.sock'}"
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    assert server.add_insecure_port(target) != 0
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await servicer.set("estiba.test.v1.Other", health_pb2.HealthCheckResponse.NOT_SERVING)
    try:
        yield target, servicer
    finally:
        await server.stop(0)


@pytest.fixture
def dead_socket(tmp_path: Path) -> str:
    """A socket file that nobody listens on, as a crashed service leaves behind."""
    path = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()
    return f"unix://{path}"


async def run_module(*args: str) -> tuple[int, str, float]:
    """Run ``python -m services.kit.healthcheck ARGS``: exit status, stderr, seconds taken."""
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.kit.healthcheck",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode(), time.monotonic() - start


async def test_serving_passes(served: tuple[str, health.aio.HealthServicer]) -> None:
    target, _ = served
    await healthcheck.check(target)


async def test_not_serving_fails_with_the_status(
    served: tuple[str, health.aio.HealthServicer],
) -> None:
    target, servicer = served
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    with pytest.raises(healthcheck.Unhealthy, match="NOT_SERVING"):
        await healthcheck.check(target)


async def test_named_service(served: tuple[str, health.aio.HealthServicer]) -> None:
    target, _ = served
    with pytest.raises(healthcheck.Unhealthy, match="NOT_SERVING"):
        await healthcheck.check(target, service="estiba.test.v1.Other")
    with pytest.raises(healthcheck.Unhealthy, match="NOT_FOUND"):
        await healthcheck.check(target, service="estiba.test.v1.Unknown")


async def test_dead_socket_fails_fast(dead_socket: str) -> None:
    start = time.monotonic()
    with pytest.raises(healthcheck.Unhealthy, match="UNAVAILABLE"):
        await healthcheck.check(dead_socket)
    assert time.monotonic() - start < healthcheck.DEFAULT_TIMEOUT + 0.5


async def test_silent_peer_times_out(tmp_path: Path) -> None:
    """A listener that accepts and never answers costs the timeout, not more."""
    path = tmp_path / "silent.sock"
    conns: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(writer)

    server = await asyncio.start_unix_server(hold, path=str(path))
    try:
        start = time.monotonic()
        with pytest.raises(healthcheck.Unhealthy, match=r"DEADLINE_EXCEEDED|UNAVAILABLE"):
            await healthcheck.check(f"unix://{path}", timeout=0.5)
        assert time.monotonic() - start < 1.5
    finally:
        for writer in conns:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_wait_until_serving(served: tuple[str, health.aio.HealthServicer]) -> None:
    target, servicer = served
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)

    async def recover() -> None:
        await asyncio.sleep(0.3)
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    async with asyncio.TaskGroup() as group:
        group.create_task(recover())
        await healthcheck.wait(target, service="", timeout=1.0, wait_for=5.0)


async def test_wait_gives_up(dead_socket: str) -> None:
    start = time.monotonic()
    with pytest.raises(healthcheck.Unhealthy):
        await healthcheck.wait(dead_socket, service="", timeout=0.5, wait_for=0.6)
    assert time.monotonic() - start < 2.0


async def test_module_exit_status(
    served: tuple[str, health.aio.HealthServicer], dead_socket: str
) -> None:
    target, _ = served
    code, err, _ = await run_module(target)
    assert (code, err) == (0, "")
    code, err, seconds = await run_module(dead_socket)
    assert code == 1
    assert "UNAVAILABLE" in err
    assert seconds < 10  # interpreter start and imports included
    code, err, _ = await run_module(target, "--service", "estiba.test.v1.Other")
    assert code == 1
    assert "NOT_SERVING" in err


async def test_module_rejects_bad_target() -> None:
    code, err, _ = await run_module("not-a-target")
    assert code == 2
    assert "TARGET" in err


@pytest.fixture
async def http_server(tmp_path: Path) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A UNIX-socket HTTP server answering each request with the next status line queued."""
    path = tmp_path / "api.sock"
    answers: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        assert request.startswith(b"GET /_ping HTTP/1.1\r\n")
        status = answers.pop(0) if answers else b"200 OK"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\nOK")
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(serve, path=str(path))
    try:
        yield f"unix://{path}", answers
    finally:
        server.close()
        await server.wait_closed()


async def test_ping(http_server: tuple[str, list[bytes]]) -> None:
    target, answers = http_server
    await healthcheck.ping(target)
    answers.append(b"500 Internal Server Error")
    with pytest.raises(healthcheck.Unhealthy, match="answered 500"):
        await healthcheck.ping(target)


async def test_ping_over_tcp() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await healthcheck.ping(f"tcp://127.0.0.1:{port}")
        await healthcheck.ping(f"127.0.0.1:{port}")
    finally:
        server.close()
        await server.wait_closed()


async def test_ping_dead_socket(dead_socket: str) -> None:
    with pytest.raises(healthcheck.Unhealthy):
        await healthcheck.ping(dead_socket)


async def test_ping_a_grpc_server_fails(served: tuple[str, health.aio.HealthServicer]) -> None:
    target, _ = served
    with pytest.raises(healthcheck.Unhealthy):
        await healthcheck.ping(target, timeout=1.0)


async def test_module_ping(http_server: tuple[str, list[bytes]], dead_socket: str) -> None:
    target, _ = http_server
    assert (await run_module("--ping", target))[:2] == (0, "")
    code, _, _ = await run_module("--ping", dead_socket)
    assert code == 1
