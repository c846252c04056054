"""The gateway's connections to the services: one gRPC channel and typed stubs per service.

One ``Backends`` per node: the node's engine and netd, and the lab's registry (one channel to
it, shared by every node's ``Backends``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import grpc

from estiba.engine.v1 import (
    build_pb2_grpc,
    containers_pb2_grpc,
    engine_pb2_grpc,
    images_pb2_grpc,
    volumes_pb2_grpc,
)
from estiba.netd.v1 import netd_pb2_grpc
from estiba.registry.v1 import registry_pb2_grpc
from services.gateway.config import GatewayConfig, NodeSpec
from services.kit.grpcclient import open_channel

if TYPE_CHECKING:
    from estiba.engine.v1.build_pb2_grpc import BuilderAsyncStub
    from estiba.engine.v1.containers_pb2_grpc import ContainersAsyncStub, FilesystemsAsyncStub
    from estiba.engine.v1.engine_pb2_grpc import SystemAsyncStub as EngineSystemStub
    from estiba.engine.v1.images_pb2_grpc import ImagesAsyncStub
    from estiba.engine.v1.volumes_pb2_grpc import VolumesAsyncStub
    from estiba.netd.v1.netd_pb2_grpc import NetworksAsyncStub, SandboxesAsyncStub
    from estiba.netd.v1.netd_pb2_grpc import SystemAsyncStub as NetdSystemStub
    from estiba.registry.v1.registry_pb2_grpc import MaintenanceAsyncStub, RepositoriesAsyncStub
    from estiba.registry.v1.registry_pb2_grpc import SystemAsyncStub as RegistrySystemStub

SERVICES = ("engine", "netd", "registry")


@dataclasses.dataclass
class Backends:
    """Open channels to a node's engine and netd and to the registry."""

    channels: dict[str, grpc.aio.Channel]
    targets: dict[str, str]
    engine_system: EngineSystemStub
    netd_system: NetdSystemStub
    registry_system: RegistrySystemStub
    containers: ContainersAsyncStub
    images: ImagesAsyncStub
    volumes: VolumesAsyncStub
    filesystems: FilesystemsAsyncStub
    registry_repositories: RepositoriesAsyncStub
    registry_maintenance: MaintenanceAsyncStub
    networks: NetworksAsyncStub
    sandboxes: SandboxesAsyncStub
    builder: BuilderAsyncStub

    owned: tuple[str, ...] = SERVICES
    """The channels this one closes (not the registry's when it is shared)."""

    @classmethod
    def connect(
        cls,
        config: GatewayConfig,
        node: NodeSpec | None = None,
        registry: grpc.aio.Channel | None = None,
    ) -> Backends:
        """Channels to ``node`` (default: the first configured) and to the registry, reusing
        ``registry`` when given."""
        node = node or config.node_specs()[0]
        targets = {"engine": node.engine, "netd": node.netd, "registry": config.target("registry")}
        channels = {name: open_channel(t) for name, t in targets.items() if name != "registry"}
        channels["registry"] = registry or open_channel(targets["registry"])
        return cls(
            owned=SERVICES if registry is None else ("engine", "netd"),
            channels=channels,
            targets=targets,
            engine_system=engine_pb2_grpc.SystemStub(channels["engine"]),
            netd_system=netd_pb2_grpc.SystemStub(channels["netd"]),
            registry_system=registry_pb2_grpc.SystemStub(channels["registry"]),
            containers=containers_pb2_grpc.ContainersStub(channels["engine"]),
            images=images_pb2_grpc.ImagesStub(channels["engine"]),
            volumes=volumes_pb2_grpc.VolumesStub(channels["engine"]),
            filesystems=containers_pb2_grpc.FilesystemsStub(channels["engine"]),
            registry_repositories=registry_pb2_grpc.RepositoriesStub(channels["registry"]),
            registry_maintenance=registry_pb2_grpc.MaintenanceStub(channels["registry"]),
            networks=netd_pb2_grpc.NetworksStub(channels["netd"]),
            sandboxes=netd_pb2_grpc.SandboxesStub(channels["netd"]),
            builder=build_pb2_grpc.BuilderStub(channels["engine"]),
        )

    async def close(self) -> None:
        await asyncio.gather(*(self.channels[name].close() for name in self.owned))
