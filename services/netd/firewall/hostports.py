"""The domain's ``HostPorts`` port: a bound socket held for every published host port.

A published port is served by DNAT rules, not by a socket; but a socket bound to the port
(without SO_REUSEADDR, never listening) is how the host knows the port is taken: a program that
holds the port already makes the bind fail (a clear PORT_IN_USE instead of a publication that
silently steals or loses traffic), and a program that comes later gets EADDRINUSE. Host port 0
lets the kernel choose a free port, from the same range it uses for its own ephemeral ports.

The sockets live as long as netd; at start, the recorded ports are held again.
"""

from __future__ import annotations

import errno
import socket

from services.kit import errors
from services.netd.domain import publish
from services.netd.domain.models import PortBinding

_Key = tuple[str, str, int]


class SocketHostPorts:
    """Bound sockets, one per published host port."""

    def __init__(self) -> None:
        self._held: dict[_Key, socket.socket] = {}

    def reserve(self, port: PortBinding) -> PortBinding:
        if port.host_port and _key(port) in self._held:
            return port  # held already (at start, for a port recorded before)
        kind = socket.SOCK_STREAM if port.protocol == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.bind((str(port.host_ip) if port.host_ip else "", port.host_port))
        except OSError as exc:
            sock.close()
            raise _refusal(port, exc) from exc
        chosen = PortBinding(
            port.protocol, port.container_port, port.host_ip, int(sock.getsockname()[1])
        )
        self._held[_key(chosen)] = sock
        return chosen

    def release(self, port: PortBinding) -> None:
        sock = self._held.pop(_key(port), None)
        if sock is not None:
            sock.close()

    def close(self) -> None:
        for sock in self._held.values():
            sock.close()
        self._held.clear()


def _key(port: PortBinding) -> _Key:
    return (port.protocol, str(port.host_ip) if port.host_ip else "", port.host_port)


def _refusal(port: PortBinding, exc: OSError) -> errors.EstibaError:
    where = publish.describe(port)
    if exc.errno == errno.EADDRINUSE:
        return errors.FailedPrecondition(
            f"host port {where} is already in use on the host", reason="PORT_IN_USE"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return errors.InvalidArgument(
            f"cannot publish on {where}: {port.host_ip} is not an address of this host",
            reason="PORT_INVALID",
        )
    return errors.Internal(f"cannot hold host port {where}: {exc.strerror}", reason="PORT_FAILED")
