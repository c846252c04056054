"""The gateway's settings (see services.kit.config for where they come from)."""

from __future__ import annotations

import dataclasses
import re
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
    nodes: tuple[str, ...] = ()
    """The nodes (one engine + one netd each) behind this gateway, one entry each:
    ``"NAME engine=TARGET netd=TARGET"``; a target left out is the ``engine``/``netd`` setting
    above. Empty: the one local node, named ``node_name``. In the environment, entries are
    separated by commas."""

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
        self.node_specs()

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

    def node_specs(self) -> list[NodeSpec]:
        """The configured nodes, in order (the first is where anything unplaced goes)."""
        if not self.nodes:
            return [NodeSpec(self.node, self.target("engine"), self.target("netd"))]
        specs: list[NodeSpec] = []
        for index, entry in enumerate(self.nodes):
            spec = _parse_node(entry, self, f"nodes[{index}]")
            if any(s.name == spec.name for s in specs):
                raise ValueError(f"nodes[{index}]: the node name {spec.name!r} is given twice")
            specs.append(spec)
        return specs


NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One node as configured: its name and the gRPC targets of its engine and netd."""

    name: str
    engine: str
    netd: str


def _parse_node(entry: str, config: GatewayConfig, key: str) -> NodeSpec:
    """``"NAME engine=TARGET netd=TARGET"`` (targets optional) → NodeSpec, or ValueError."""
    name, *pairs = entry.split()
    if not NODE_NAME.fullmatch(name) or "=" in name:
        raise ValueError(f"{key}: {name!r} is not a node name (letters, digits, '_.-')")
    given: dict[str, str] = {}
    for pair in pairs:
        service, sep, target = pair.partition("=")
        if not sep or service not in ("engine", "netd") or service in given:
            raise ValueError(f"{key}: {pair!r} is not engine=TARGET or netd=TARGET (in {entry!r})")
        try:
            given[service] = grpc_target(target, config.run_dir, service)
        except ValueError:
            raise ValueError(
                f"{key}: {service} must be unix:///PATH or HOST:PORT, not {target!r}"
            ) from None
    return NodeSpec(
        name,
        given.get("engine") or config.target("engine"),
        given.get("netd") or config.target("netd"),
    )
