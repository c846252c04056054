"""The gateway's settings (see services.kit.config for where they come from)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from services.kit.settings import Common, check_host_port, grpc_target


@dataclasses.dataclass(frozen=True)
class GatewayConfig(Common):
    """Settings of the gateway."""

    listen: str = ""
    """Where the Docker Engine API is served: "" for unix://<run_dir>/estiba.sock,
    unix:///path, or tcp://HOST:PORT."""
    engine: str = ""
    """The engine's gRPC address: "" for <run_dir>/engine.sock, unix:///path, or HOST:PORT."""
    netd: str = ""
    """netd's gRPC address, as for ``engine``."""
    registry: str = ""
    """The registry's gRPC address, as for ``engine``."""
    grpc_listen: str = ""
    """Where the gateway answers the gRPC health protocol: "" for <run_dir>/gateway.sock,
    unix:///path, or HOST:PORT."""
    info_timeout: float = 0.8
    """Seconds to wait for a service when gathering /info and /version; a slower one is down."""

    def validate(self) -> None:
        super().validate()
        listen = self.listen_url
        if listen.startswith("tcp://"):
            check_host_port(listen.removeprefix("tcp://"), "listen")
        elif not listen.startswith("unix:///"):
            raise ValueError(f"listen must be unix:///PATH or tcp://HOST:PORT, not {listen!r}")
        for name in ("engine", "netd", "registry"):
            grpc_target(getattr(self, name), self.run_dir, name)
        if not 0 < self.info_timeout <= 10:
            raise ValueError("info_timeout must be between 0 and 10 seconds")

    @property
    def listen_url(self) -> str:
        return self.listen or f"unix://{self.run_dir / 'estiba.sock'}"

    @property
    def socket_path(self) -> Path | None:
        url = self.listen_url
        return Path(url.removeprefix("unix://")) if url.startswith("unix://") else None

    @property
    def grpc_target(self) -> str:
        return grpc_target(self.grpc_listen, self.run_dir, "gateway")

    def target(self, service: str) -> str:
        """The gRPC target of ``service`` (engine, netd or registry)."""
        return grpc_target(getattr(self, service), self.run_dir, service)
