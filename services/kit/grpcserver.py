"""A service's gRPC server: our interceptor, the standard health service, a clean stop."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.kit.grpcerr import ServiceInterceptor
from services.kit.log import get_logger

log = get_logger()

Registrar = Callable[[grpc.aio.Server], None]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@contextlib.asynccontextmanager
async def serving(
    target: str, registrars: list[Registrar], *, services: list[str], grace: float = 5.0
) -> AsyncIterator[health.aio.HealthServicer]:
    """Serve the given servicers on ``target`` until the block ends, then stop within ``grace``.

    ``target`` is ``unix:///path`` or ``host:port``. Health reports SERVING for "" and every name
    in ``services`` once the block is entered, and NOT_SERVING as soon as it is left.
    """
    server = grpc.aio.server(
        interceptors=[ServiceInterceptor()],
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 16 << 20)],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for register in registrars:
        register(server)
    if target.startswith("unix://"):
        prepare_unix_socket(Path(target.removeprefix("unix://")))
    port = server.add_insecure_port(target)
    if port == 0:
        raise OSError(f"cannot listen for gRPC on {target}")
    await server.start()
    for name in ["", *services]:
        await health_servicer.set(name, SERVING)
    log.info("grpc_listening", target=target)
    try:
        yield health_servicer
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(grace)
        if target.startswith("unix://"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target.removeprefix("unix://"))


def prepare_unix_socket(path: Path) -> None:
    """Make the socket's directory; remove a stale socket file, refuse a live one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return
    if not path.is_socket():
        raise OSError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody listens: left behind by a process that died
    else:
        raise OSError(f"another process already listens on {path}")
    finally:
        probe.close()
