"""netd's settings (see services.kit.config for where they come from)."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from pathlib import Path

from services.kit.settings import Common, grpc_target
from services.netd.dns.upstream import parse_server
from services.netd.domain.overlay import PEER_PORT, Underlay

PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,5}$")


@dataclasses.dataclass(frozen=True)
class NetdConfig(Common):
    """Settings of the netd service."""

    grpc_listen: str = ""
    """gRPC address: "" for <run_dir>/netd.sock, unix:///path, or HOST:PORT."""
    kernel_prefix: str = "est"
    """Prefix of every link, namespace and nftables table netd creates (2-6 of [a-z0-9])."""
    address_pool: str = "172.30.0.0/16"
    """Where bridge networks take their subnets from; subnets in use on the host are skipped."""
    subnet_prefixlen: int = 24
    """The size of each network's subnet carved from ``address_pool`` (a /24: 253 containers)."""
    ip_forward: bool = True
    """Turn on net.ipv4.ip_forward so containers reach beyond the host (as Docker does).

    The previous value is recorded in netd.db and never restored on exit: other software on the
    host may rely on forwarding once it is on. With ``false`` only the bridges forward, which is
    enough between containers and to the host but not to the outside."""
    dns_fallback: tuple[str, ...] = ("8.8.8.8", "8.8.4.4")
    """Nameservers for containers when the host has only loopback resolvers they cannot reach."""
    dns_upstream: tuple[str, ...] = ()
    """Where the embedded DNS of user-defined networks forwards the names it does not know
    (HOST or HOST:PORT each); empty for the nameservers of the host's /etc/resolv.conf, read
    again as it changes."""
    overlay_local: str = ""
    """This node's address on the underlay between nodes, the source of its VXLAN tunnels; ""
    for none: then overlay networks (``network create -d overlay``) cannot be made here."""
    overlay_peers: tuple[str, ...] = ()
    """The other nodes' underlay addresses: every overlay network's broadcasts (ARP) and
    frames for unknown addresses are sent to each of them. The gateway names them by itself
    for the overlay networks it makes on every node at once."""
    overlay_port: int = PEER_PORT
    """The TCP port on ``overlay_local`` where netd swaps overlay endpoints with its peers
    (plain gRPC, for names across nodes); every node must use the same."""

    def validate(self) -> None:
        super().validate()
        if not PREFIX_RE.match(self.kernel_prefix):
            raise ValueError(
                f"kernel_prefix must be 2 to 6 lowercase letters or digits starting with a letter,"
                f" not {self.kernel_prefix!r}"
            )
        grpc_target(self.grpc_listen, self.run_dir, "netd")
        pool = self.pool
        if not pool.prefixlen <= self.subnet_prefixlen <= 30:
            raise ValueError(
                f"subnet_prefixlen must lie between the pool's /{pool.prefixlen} and /30,"
                f" not {self.subnet_prefixlen}"
            )
        for server in self.dns_fallback:
            try:
                ipaddress.IPv4Address(server)
            except ValueError:
                raise ValueError(f"dns_fallback: {server!r} is not an IPv4 address") from None
        for server in self.dns_upstream:
            parse_server(server)
        _ = self.underlay  # parsing it is the check

    @property
    def pool(self) -> ipaddress.IPv4Network:
        """``address_pool`` parsed; a ValueError names the setting."""
        try:
            return ipaddress.IPv4Network(self.address_pool)
        except ValueError:
            raise ValueError(
                f"address_pool must be an IPv4 network such as 172.30.0.0/16,"
                f" not {self.address_pool!r}"
            ) from None

    @property
    def underlay(self) -> Underlay | None:
        """``overlay_local`` and ``overlay_peers`` parsed; a ValueError names the setting."""
        if not self.overlay_local:
            if self.overlay_peers:
                raise ValueError("overlay_peers needs overlay_local, this node's own address")
            return None
        addresses = []
        for setting, value in [("overlay_local", self.overlay_local)] + [
            ("overlay_peers", peer) for peer in self.overlay_peers
        ]:
            try:
                addresses.append(ipaddress.IPv4Address(value))
            except ValueError:
                raise ValueError(f"{setting}: {value!r} is not an IPv4 address") from None
        if not 0 < self.overlay_port < 65536:
            raise ValueError(f"overlay_port must be a TCP port, not {self.overlay_port}")
        return Underlay(addresses[0], tuple(addresses[1:]), peer_port=self.overlay_port)

    @property
    def state_dir(self) -> Path:
        return self.root / "netd"

    @property
    def netns_dir(self) -> Path:
        """Where each sandbox's network namespace is bound to a file named by its container."""
        return self.run_dir / "netns"

    @property
    def grpc_target(self) -> str:
        return grpc_target(self.grpc_listen, self.run_dir, "netd")
