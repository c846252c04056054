"""The content of a container's /etc/hosts and /etc/resolv.conf: pure functions, no I/O.

resolv.conf rule. A container in its own namespace cannot reach the host's loopback, so:

1. Take the host's /etc/resolv.conf. If every nameserver in it is a loopback address (a local
   caching resolver such as systemd-resolved's 127.0.0.53) and systemd-resolved's list of real
   upstream servers (/run/systemd/resolve/resolv.conf) exists, take that file instead.
2. Drop loopback nameservers, and IPv6 nameservers (containers get IPv4 only for now).
3. If no nameserver is left, use the configured fallback servers (``dns_fallback``).
4. Keep ``search``, ``domain`` and ``options`` lines as they are.

A host-mode container shares the host's namespace, so it gets the host's files unchanged.

A container on a user-defined network asks netd's embedded DNS instead: the server on the
gateway address of its first such network, which answers the names of the containers it can
reach and forwards every other name to the host's resolvers (from the host's side, so loopback
resolvers work too). ``options ndots:0`` (Docker's choice) makes a bare container name go out
as it is before any search domain is tried, unless the host sets ndots itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from ipaddress import IPv4Address

LOCALHOST = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def hosts_file(hostname: str, addresses: Sequence[IPv4Address]) -> str:
    """localhost lines, then the container's own name on each of its addresses, one line per
    network it is on, as Docker writes them."""
    names = [hostname]
    short = hostname.split(".", 1)[0]
    if short != hostname:
        names.append(short)
    own = "".join(f"{address}\t{' '.join(names)}\n" for address in addresses)
    return LOCALHOST + own


def nameservers(text: str) -> list[str]:
    """The nameserver addresses a resolv.conf lists, in order."""
    servers = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            servers.append(fields[1])
    return servers


def is_loopback(server: str) -> bool:
    try:
        return ipaddress.ip_address(server.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def choose_host_resolv_conf(etc_text: str, systemd_text: str | None) -> str:
    """Step 1 of the rule: the host file to start from."""
    servers = nameservers(etc_text)
    if systemd_text is not None and servers and all(is_loopback(s) for s in servers):
        return systemd_text
    return etc_text


def container_resolv_conf(host_text: str, fallback: Sequence[str]) -> str:
    """Steps 2 to 4 of the rule: the file a container in its own namespace gets."""
    kept: list[str] = []
    servers: list[str] = []
    for line in host_text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(("#", ";")):
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            if _usable_ipv4(fields[1]) and fields[1] not in servers:
                servers.append(fields[1])
        elif fields[0] in ("search", "domain", "options"):
            kept.append(" ".join(fields))
    if not servers:
        servers = list(fallback)
    return "".join(f"nameserver {s}\n" for s in servers) + "".join(f"{k}\n" for k in kept)


def embedded_resolv_conf(nameserver: IPv4Address, host_text: str) -> str:
    """The file for a container on a user-defined network: netd's server, the host's search
    domains and options."""
    kept: list[str] = []
    for line in host_text.splitlines():
        fields = line.split()
        if fields and fields[0] in ("search", "domain", "options"):
            kept.append(" ".join(fields))
    if not any(k.startswith("options") and "ndots:" in k for k in kept):
        kept.append("options ndots:0")
    return f"nameserver {nameserver}\n" + "".join(f"{k}\n" for k in kept)


def _usable_ipv4(server: str) -> bool:
    try:
        address = ipaddress.ip_address(server)
    except ValueError:
        return False
    return isinstance(address, IPv4Address) and not address.is_loopback
