"""What the gateway knows of the services behind it, gathered at once with a short deadline.

A service that does not answer within ``info_timeout`` is reported as down; nothing here ever
waits longer than that.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Generic, TypeVar

from estiba.engine.v1 import engine_pb2
from estiba.netd.v1 import netd_pb2
from estiba.registry.v1 import registry_pb2
from estiba.types.v1 import service_pb2
from services.gateway.backends import Backends
from services.kit import errors
from services.kit.grpcclient import call, check_health
from services.kit.info import service_info

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Probe(Generic[T]):
    """One service as the gateway sees it: its health and, when it answered, its info."""

    name: str
    target: str
    status: str  # "healthy", "unhealthy" (answers, but not SERVING) or "down"
    info: T | None
    error: str = ""

    def require(self) -> T:
        """The info, or Unavailable naming the service."""
        if self.info is None:
            raise errors.Unavailable(
                f"the estiba {self.name} service is unavailable at {self.target}: {self.error}"
            )
        return self.info


@dataclasses.dataclass(frozen=True)
class SystemStatus:
    engine: Probe[engine_pb2.GetInfoResponse]
    netd: Probe[netd_pb2.GetInfoResponse]
    registry: Probe[registry_pb2.GetInfoResponse]
    gateway: service_pb2.ServiceInfo

    def probes(self) -> list[Probe[engine_pb2.GetInfoResponse] | Probe[netd_pb2.GetInfoResponse]
                          | Probe[registry_pb2.GetInfoResponse]]:  # fmt: skip
        return [self.engine, self.netd, self.registry]


async def gather(backends: Backends, *, timeout: float, node_name: str) -> SystemStatus:
    """Ask every service for its health and info at once."""
    engine, netd, registry = await asyncio.gather(
        _probe(backends, "engine", timeout, lambda: call(
            backends.engine_system.GetInfo, engine_pb2.GetInfoRequest(),
            service="engine", timeout=timeout)),
        _probe(backends, "netd", timeout, lambda: call(
            backends.netd_system.GetInfo, netd_pb2.GetInfoRequest(),
            service="netd", timeout=timeout)),
        _probe(backends, "registry", timeout, lambda: call(
            backends.registry_system.GetInfo, registry_pb2.GetInfoRequest(),
            service="registry", timeout=timeout)),
    )  # fmt: skip
    gateway = service_info("gateway", state_dir=Path("-"), node_name=node_name)
    return SystemStatus(engine=engine, netd=netd, registry=registry, gateway=gateway)


async def _probe(
    backends: Backends, name: str, timeout: float, get_info: Callable[[], Awaitable[T]]
) -> Probe[T]:
    target = backends.targets[name]
    healthy, info = await asyncio.gather(
        check_health(backends.channels[name], service=name, timeout=timeout),
        get_info(),
        return_exceptions=True,
    )
    if isinstance(info, BaseException):
        if isinstance(info, errors.Unavailable):
            reason = "not reachable"
        elif isinstance(info, errors.DeadlineExceeded):
            reason = f"no answer within {timeout:g}s"
        elif isinstance(info, errors.EstibaError):
            reason = info.message
        else:
            raise info
        return Probe(name=name, target=target, status="down", info=None, error=reason)
    status = "healthy" if healthy is True else "unhealthy"
    return Probe(name=name, target=target, status=status, info=info)
