"""The settings every service shares, and the listen-address grammar they use."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

DEFAULT_ROOT = Path("/var/lib/estiba")
DEFAULT_RUN_DIR = Path("/run/estiba")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "json", "console")


@dataclasses.dataclass(frozen=True)
class Common:
    """Settings shared by all four services."""

    root: Path = DEFAULT_ROOT
    run_dir: Path = DEFAULT_RUN_DIR
    node_name: str = ""
    log_level: str = "info"
    log_format: str = "auto"

    def validate(self) -> None:
        if not self.root.is_absolute():
            raise ValueError(f"root must be an absolute path, not {str(self.root)!r}")
        if not self.run_dir.is_absolute():
            raise ValueError(f"run_dir must be an absolute path, not {str(self.run_dir)!r}")
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}")

    @property
    def node(self) -> str:
        """This node's name: the configured one, else the host name."""
        return self.node_name or socket.gethostname()


def grpc_target(listen: str, run_dir: Path, service: str) -> str:
    """The gRPC address a service listens on, in grpc's own syntax.

    ``""`` means the default UNIX socket ``<run_dir>/<service>.sock``; ``unix:///path`` and
    ``host:port`` (TCP) are taken as given.
    """
    if not listen:
        return f"unix://{run_dir / f'{service}.sock'}"
    if listen.startswith("unix://"):
        return listen
    check_host_port(listen, "grpc_listen")
    return listen


def check_host_port(value: str, key: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:PORT`` for IPv6) or raise ValueError naming ``key``."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{key} must be HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)
