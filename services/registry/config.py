"""The registry's settings (see services.kit.config for where they come from)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from services.kit.settings import Common, check_host_port, grpc_target


@dataclasses.dataclass(frozen=True)
class RegistryConfig(Common):
    """Settings of the registry service."""

    grpc_listen: str = ""
    """gRPC address: "" for <run_dir>/registry.sock, unix:///path, or HOST:PORT."""
    http_addr: str = "127.0.0.1:5000"
    """Where the OCI Distribution HTTP API listens, HOST:PORT."""

    def validate(self) -> None:
        super().validate()
        check_host_port(self.http_addr, "http_addr")
        grpc_target(self.grpc_listen, self.run_dir, "registry")

    @property
    def state_dir(self) -> Path:
        return self.root / "registry"

    @property
    def grpc_target(self) -> str:
        return grpc_target(self.grpc_listen, self.run_dir, "registry")
