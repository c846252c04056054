"""Ask a service whether it is serving: ``python -m services.kit.healthcheck [--ping] TARGET``.

For container healthchecks and unit start-up checks. TARGET is ``unix:///path`` or ``host:port``,
the same syntax as the services' ``grpc_listen``. The check is the standard gRPC health protocol
(``grpc.health.v1.Health/Check``), for the whole server (``--service ""``) unless a service name
is given. With ``--ping`` it is the Docker Engine API's ``GET /_ping`` instead, for the gateway,
which serves HTTP only (TARGET may then also be ``tcp://host:port``). Exit status 0 when the
answer is SERVING (or 200), 1 otherwise (not serving, no answer within ``--timeout`` seconds,
nobody listening), 2 for bad arguments. With ``--wait SECONDS`` the check is repeated until it
succeeds or that much time has passed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_TIMEOUT = 2.0
RETRY_INTERVAL = 0.2


class Unhealthy(Exception):
    """The target did not answer SERVING; the message says what it answered or why not."""


async def check(target: str, *, service: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
    """Return if ``target`` reports SERVING for ``service`` within ``timeout``; else raise."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise Unhealthy(f"{exc.code().name}: {exc.details() or 'no details'}") from exc
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        raise Unhealthy(status)


async def ping(target: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Return if ``GET /_ping`` at ``target`` answers 200 within ``timeout``; else raise."""
    try:
        async with asyncio.timeout(timeout):
            if target.startswith("unix://"):
                reader, writer = await asyncio.open_unix_connection(target.removeprefix("unix://"))
            else:
                host, _, port = target.removeprefix("tcp://").rpartition(":")
                reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
            try:
                writer.write(b"GET /_ping HTTP/1.1\r\nHost: estiba\r\nConnection: close\r\n\r\n")
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError as exc:
        raise Unhealthy(f"no answer within {timeout:g}s") from exc
    except (OSError, ValueError) as exc:
        raise Unhealthy(str(exc) or type(exc).__name__) from exc
    parts = status_line.decode(errors="replace").split(maxsplit=2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise Unhealthy("not an HTTP answer")
    if parts[1] != "200":
        raise Unhealthy(f"GET /_ping answered {' '.join(parts[1:]).strip()}")


async def wait(
    target: str, *, service: str, timeout: float, wait_for: float, http: bool = False
) -> None:
    """Check until healthy; give up and raise the last failure after ``wait_for`` seconds."""
    deadline = time.monotonic() + wait_for
    while True:
        try:
            if http:
                await ping(target, timeout=timeout)
            else:
                await check(target, service=service, timeout=timeout)
            return
        except Unhealthy:
            if time.monotonic() + RETRY_INTERVAL >= deadline:
                raise
        await asyncio.sleep(RETRY_INTERVAL)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.kit.healthcheck",
        description="Exit 0 if the gRPC health service at TARGET answers SERVING, else 1.",
    )
    parser.add_argument("target", metavar="TARGET", help="unix:///path or host:port")
    parser.add_argument("--service", default="", help='service name to ask about (default "")')
    parser.add_argument(
        "--ping", action="store_true", help="check the Docker Engine API's GET /_ping instead"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for one check (2)"
    )
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="retry for this long (0)"
    )
    args = parser.parse_args(argv)
    tcp_url = args.ping and args.target.startswith("tcp://")
    if not (args.target.startswith("unix://") or tcp_url) and (
        "://" in args.target or ":" not in args.target
    ):
        parser.error(f"TARGET must be unix:///path or host:port, not {args.target!r}")
    if args.timeout <= 0 or args.wait < 0:
        parser.error("--timeout must be positive and --wait not negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        asyncio.run(
            wait(
                args.target,
                service=args.service,
                timeout=args.timeout,
                wait_for=args.wait,
                http=args.ping,
            )
        )
    except Unhealthy as exc:
        print(f"{args.target}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
