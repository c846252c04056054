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
    read_only: bool = False
    """Refuse pushes, deletions and garbage collection (pulls go on): for backups."""
    upload_ttl: float = 86400.0
    """Seconds an upload session lives without a request before it expires."""
    max_uploads: int = 1000
    """Upload sessions open at once; more are refused with TOOMANYREQUESTS."""
    max_manifest_bytes: int = 4 << 20
    """The largest manifest accepted; a larger one is refused with 413."""
    max_page_size: int = 1000
    """The most entries in one page of /v2/_catalog or a tag list."""
    gc_interval: float = 3600.0
    """Seconds between scheduled garbage collections; 0 turns them off."""
    gc_grace_period: float = 3600.0
    """Seconds during which new unreferenced blobs and manifests are kept (pushes in flight)."""

    def validate(self) -> None:
        super().validate()
        check_host_port(self.http_addr, "http_addr")
        grpc_target(self.grpc_listen, self.run_dir, "registry")
        for key in ("upload_ttl", "gc_interval", "gc_grace_period"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must not be negative")
        if self.upload_ttl == 0:
            raise ValueError("upload_ttl must be positive")
        for key in ("max_uploads", "max_manifest_bytes", "max_page_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1")

    @property
    def state_dir(self) -> Path:
        return self.root / "registry"

    @property
    def grpc_target(self) -> str:
        return grpc_target(self.grpc_listen, self.run_dir, "registry")
