"""The engine's settings (see services.kit.config for where they come from)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from services.kit.settings import Common, grpc_target

RUNTIMES = ("runc", "crun")


@dataclasses.dataclass(frozen=True)
class EngineConfig(Common):
    """Settings of the engine service."""

    grpc_listen: str = ""
    """gRPC address: "" for <run_dir>/engine.sock, unix:///path, or HOST:PORT."""
    netd: str = ""
    """netd's gRPC address on this node: "" for <run_dir>/netd.sock."""
    runtime: str = "runc"
    """The OCI runtime that starts containers: runc or crun."""

    def validate(self) -> None:
        super().validate()
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        grpc_target(self.grpc_listen, self.run_dir, "engine")
        grpc_target(self.netd, self.run_dir, "netd")

    @property
    def state_dir(self) -> Path:
        return self.root / "engine"

    @property
    def grpc_target(self) -> str:
        return grpc_target(self.grpc_listen, self.run_dir, "engine")
