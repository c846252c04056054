"""The gateway's connections to the services: one gRPC channel and typed stubs per service."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import grpc

from estiba.engine.v1 import (
    containers_pb2_grpc,
    engine_pb2_grpc,
    images_pb2_grpc,
    volumes_pb2_grpc,
)
from estiba.netd.v1 import netd_pb2_grpc
from estiba.registry.v1 import registry_pb2_grpc
from services.gateway.config import GatewayConfig
from services.kit.grpcclient import open_channel

if TYPE_CHECKING:
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
    """Open channels to the three services of the local node."""

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

    @classmethod
    def connect(cls, config: GatewayConfig) -> Backends:
        targets = {name: config.target(name) for name in SERVICES}
        channels = {name: open_channel(target) for name, target in targets.items()}
        return cls(
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
        )

    async def close(self) -> None:
        await asyncio.gather(*(ch.close() for ch in self.channels.values()))
