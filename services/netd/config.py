"""netd's settings (see services.kit.config for where they come from)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from services.kit.settings import Common, grpc_target

PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,5}$")


@dataclasses.dataclass(frozen=True)
class NetdConfig(Common):
    """Settings of the netd service."""

    grpc_listen: str = ""
    """gRPC address: "" for <run_dir>/netd.sock, unix:///path, or HOST:PORT."""
    kernel_prefix: str = "est"
    """Prefix of every link, namespace and nftables table netd creates (2-6 of [a-z0-9])."""

    def validate(self) -> None:
        super().validate()
        if not PREFIX_RE.match(self.kernel_prefix):
            raise ValueError(
                f"kernel_prefix must be 2 to 6 lowercase letters or digits starting with a letter,"
                f" not {self.kernel_prefix!r}"
            )
        grpc_target(self.grpc_listen, self.run_dir, "netd")

    @property
    def state_dir(self) -> Path:
        return self.root / "netd"

    @property
    def grpc_target(self) -> str:
        return grpc_target(self.grpc_listen, self.run_dir, "netd")
