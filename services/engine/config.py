"""The engine's settings (see services.kit.config for where they come from)."""

from __future__ import annotations

import dataclasses
import ipaddress
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
    insecure_registries: tuple[str, ...] = ("127.0.0.0/8", "::1/128", "localhost")
    """Registries spoken to over plain HTTP (or HTTPS without verification): CIDRs, host names
    or host:port."""
    busybox: str = "/bin/busybox"
    """The static busybox that ``busybox:latest`` is built from at start; "" to build none."""
    debian_mirror: str = "http://deb.debian.org/debian"
    """The mirror Debian images are bootstrapped from."""
    cgroup_parent: str = "estiba"
    """The cgroup every container's cgroup is made under, in every hierarchy: /<parent>/<id>."""

    def validate(self) -> None:
        super().validate()
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        grpc_target(self.grpc_listen, self.run_dir, "engine")
        grpc_target(self.netd, self.run_dir, "netd")
        if not self.cgroup_parent or "/" in self.cgroup_parent or self.cgroup_parent[0] == ".":
            raise ValueError(f"cgroup_parent must be one path segment, not {self.cgroup_parent!r}")
        for item in self.insecure_registries:
            if not item or ("/" in item and not _is_network(item)):
                raise ValueError(f"insecure_registries: {item!r} is not a CIDR or host[:port]")

    @property
    def state_dir(self) -> Path:
        return self.root / "engine"

    @property
    def content_dir(self) -> Path:
        return self.state_dir / "content"

    @property
    def layers_dir(self) -> Path:
        return self.state_dir / "layers"

    @property
    def tmp_dir(self) -> Path:
        return self.state_dir / "tmp"

    @property
    def grpc_target(self) -> str:
        return grpc_target(self.grpc_listen, self.run_dir, "engine")

    @property
    def netd_target(self) -> str:
        return grpc_target(self.netd, self.run_dir, "netd")

    @property
    def engine_run_dir(self) -> Path:
        """The engine's transient files: runc state, conmon's exit files and attach sockets."""
        return self.run_dir / "engine"


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True
