"""Names: what callers may pass, and what netd calls its kernel objects.

Every link netd creates starts with the configured prefix, so an operator (and a test run with a
prefix of its own) can tell netd's objects from everybody else's. Interface names are limited to
15 bytes (IFNAMSIZ - 1); the prefix takes at most 6, leaving 9 or more for the rest.
"""

from __future__ import annotations

import hashlib
import re

from services.kit import errors

IFNAMSIZ = 15

_CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


def check_container_id(container_id: str) -> str:
    """A container id is also a file name in the namespace directory: keep it file-safe."""
    if not _CONTAINER_ID.match(container_id):
        raise errors.InvalidArgument(
            f"invalid container id {container_id!r}: 1 to 128 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit",
            reason="CONTAINER_ID_INVALID",
        )
    return container_id


def check_hostname(hostname: str) -> str:
    """A host name as the kernel and /etc/hosts take it: DNS labels, at most 64 characters."""
    if len(hostname) > 64 or not _HOSTNAME.match(hostname):
        raise errors.InvalidArgument(
            f"invalid hostname {hostname!r}: dot-separated labels of letters, digits and '-',"
            " at most 64 characters",
            reason="HOSTNAME_INVALID",
        )
    return hostname


def check_alias(alias: str) -> str:
    """A network alias is a name other containers will resolve: the same rules as host names."""
    if len(alias) > 253 or not _HOSTNAME.match(alias):
        raise errors.InvalidArgument(f"invalid alias {alias!r}", reason="ALIAS_INVALID")
    return alias


def check_network_name(name: str) -> str:
    """Docker's rule for network names: letters, digits, '_', '.', '-', from a letter or digit."""
    if not _NAME.match(name):
        raise errors.InvalidArgument(
            f"invalid network name {name!r}: 1 to 128 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit",
            reason="NETWORK_NAME_INVALID",
        )
    return name


def check_container_name(name: str) -> str:
    """A container's name as the engine keeps it (Docker's leading '/' dropped); "" for none."""
    name = name.removeprefix("/")
    if name and not _NAME.match(name):
        raise errors.InvalidArgument(
            f"invalid container name {name!r}", reason="CONTAINER_NAME_INVALID"
        )
    return name


def bridge_name(prefix: str, index: int) -> str:
    """The bridge of the ``index``-th network: ``est0`` for the default one."""
    return f"{prefix}{index}"


def user_bridge_name(prefix: str, network_id: str) -> str:
    """The bridge of a user-defined network: the prefix, '-', and the start of its id.

    The dash keeps bridge names apart from veth names (prefix and hexadecimal digits only).
    """
    return f"{prefix}-{network_id[: IFNAMSIZ - len(prefix) - 1]}"


def container_ifname(taken: set[str]) -> str:
    """The interface name inside the container for its next network: the lowest free ethN."""
    index = 0
    while f"eth{index}" in taken:
        index += 1
    return f"eth{index}"


def veth_names(prefix: str, container_id: str, network_id: str) -> list[str]:
    """Host-side veth names for a container's endpoint on a network, best first.

    The first is the prefix plus the start of the container id when that id is hexadecimal (as
    engine ids are), so ``est1a2b3c4d5e6f`` is recognisably container ``1a2b3c4d5e6f...``. The
    next ones are hashes, for ids that are not hexadecimal or whose start collides with another
    container's.
    """
    room = IFNAMSIZ - len(prefix)
    key = container_id.lower()
    names = [prefix + key[:room]] if _HEX.match(key) and len(key) >= room else []
    for salt in ("", "1", "2", "3"):
        digest = hashlib.sha256(f"{container_id}/{network_id}/{salt}".encode()).hexdigest()
        names.append(prefix + digest[:room])
    return names


def firewall_table(prefix: str) -> str:
    """netd's own nftables table (family inet): ``estiba_est``."""
    return f"estiba_{prefix}"


def link_group(prefix: str) -> int:
    """The link group (IFLA_GROUP) netd puts its links in, derived from the prefix.

    Set when a link is created, in the same netlink message, so a link that carries the prefix but
    not the group was made by someone else (another estiba with a longer prefix, for one), and
    reconcile leaves it alone.
    """
    value = int.from_bytes(hashlib.sha256(f"estiba:{prefix}".encode()).digest()[:4], "big")
    # Never 0 (the default group of every other link), and below 2**31, which is as far as
    # iproute2 reads a group number: ``ip link show group N`` lists netd's links.
    return (value & 0x7FFF_FFFF) | 0x1000_0000
