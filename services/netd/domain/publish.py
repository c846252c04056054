"""Published ports: checking what is asked, finding conflicts, and what the firewall renders.

A port is published on the host as ``[host_ip:]host_port -> container:container_port/proto``.
The rules:

* ``host_ip`` empty (or 0.0.0.0) means every address of the host, 127.0.0.1 included;
* two publications conflict when they share protocol and host port and one of them is on every
  address or both are on the same one;
* the port leads to the container's address on its default-route endpoint (the oldest one not
  on an internal network): a container only on internal networks publishes nothing, as an
  internal network has no way in either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address

from services.kit import errors
from services.netd.domain.models import Network, PortBinding, Publication, Sandbox

PROTOCOLS = ("tcp", "udp")


def check(ports: Iterable[PortBinding]) -> tuple[PortBinding, ...]:
    """The ports as netd records them (0.0.0.0 → every address); a bad one is refused."""
    checked: list[PortBinding] = []
    for port in ports:
        protocol = port.protocol.lower() or "tcp"
        if protocol not in PROTOCOLS:
            raise _invalid(f"protocol {port.protocol!r} (tcp or udp)")
        if not 1 <= port.container_port <= 65535:
            raise _invalid(f"container port {port.container_port} (1 to 65535)")
        if not 0 <= port.host_port <= 65535:
            raise _invalid(f"host port {port.host_port} (1 to 65535, or 0 for any)")
        host_ip = port.host_ip
        if host_ip is not None and host_ip.is_unspecified:
            host_ip = None
        checked.append(PortBinding(protocol, port.container_port, host_ip, port.host_port))
    for i, port in enumerate(checked):
        for other in checked[:i]:
            if port.host_port and overlap(port, other):
                raise errors.InvalidArgument(
                    f"host port {describe(port)} is asked for twice", reason="PORT_INVALID"
                )
    return tuple(checked)


def parse_host_ip(text: str) -> IPv4Address | None:
    """A publication's host address as given; "" for every address."""
    if not text:
        return None
    try:
        return IPv4Address(text)
    except ValueError:
        raise _invalid(f"host address {text!r} (an IPv4 address)") from None


def overlap(a: PortBinding, b: PortBinding) -> bool:
    """Whether two publications want the same host port."""
    return (
        a.protocol == b.protocol
        and a.host_port == b.host_port
        and (a.host_ip is None or b.host_ip is None or a.host_ip == b.host_ip)
    )


def check_free(wanted: Sequence[PortBinding], published: Iterable[tuple[str, PortBinding]]) -> None:
    """FailedPrecondition (PORT_IN_USE) if another container has published one of ``wanted``."""
    for cid, other in published:
        for port in wanted:
            if port.host_port and overlap(port, other):
                raise errors.FailedPrecondition(
                    f"host port {describe(port)} is already published by container {cid[:12]}",
                    reason="PORT_IN_USE",
                )


def publications(networks: Sequence[Network], sandboxes: Iterable[Sandbox]) -> list[Publication]:
    """Every published port with the container address it leads to."""
    by_id = {n.id: n for n in networks}
    found: list[Publication] = []
    for sandbox in sandboxes:
        endpoint = sandbox.default_endpoint
        if not sandbox.ports or endpoint is None or endpoint.network_id not in by_id:
            continue
        network = by_id[endpoint.network_id]
        for port in sandbox.ports:
            found.append(Publication(port, endpoint.address.ip, network.bridge, network.subnet))
    return found


def describe(port: PortBinding) -> str:
    where = f"{port.host_ip}:" if port.host_ip else "0.0.0.0:"
    return f"{where}{port.host_port}/{port.protocol}"


def _invalid(what: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid published port: {what}", reason="PORT_INVALID")
