"""A sandbox's kernel work, done in one fresh thread with raw rtnetlink (``rtnl``).

The thread opens a netlink socket in the host namespace first, then moves into the sandbox's
namespace (new, or existing for a repair) and opens a second one there. With both at hand, the
fast path is six messages: lo up; the veth pair, host end in netd's link group, on the bridge
and up, peer created directly inside the namespace as eth0 with its MAC (moving a link between
namespaces afterwards costs ~30 ms in the kernel); eth0's index; eth0 up; its address; the
default route.

Blocking, and raising ``OSError``: called through ``netns.in_fresh_thread`` by ``kernel``.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from services.netd.netlink import netns
from services.netd.netlink.rtnl import Rtnl

LOOPBACK_INDEX = 1  # the kernel numbers every namespace's lo 1
PEER_NAME = "eth0"


@dataclasses.dataclass(frozen=True)
class Veth:
    """An endpoint as the kernel needs it: names and numbers resolved."""

    host_ifname: str
    group: int
    bridge_index: int
    address: IPv4Interface
    gateway: IPv4Address
    mac: str


def create(path: Path, veth: Veth | None) -> None:
    """A new namespace bound to ``path``: lo up, and the endpoint if one is given."""
    with Rtnl() as host:
        netns.bind_new(path)
        with Rtnl() as inner:
            inner.set_up(LOOPBACK_INDEX)
            if veth is not None:
                ns_fd = os.open(netns.THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    _add_veth(host, veth, ns_fd)
                finally:
                    os.close(ns_fd)
                _configure_eth0(inner, veth)


def repair(path: Path, veth: Veth | None) -> bool:
    """Bring the namespace bound to ``path`` to the planned state; True if anything was missing."""
    with Rtnl() as host:
        ns_fd = netns.enter(path)
        try:
            with Rtnl() as inner:
                inner.set_up(LOOPBACK_INDEX)
                if veth is None:
                    return False
                changed = False
                link = host.link(veth.host_ifname)
                if link is None:
                    _add_veth(host, veth, ns_fd)
                    changed = True
                elif link.master != veth.bridge_index or not link.up:
                    host.set_up(link.index, master=veth.bridge_index)
                    changed = True
                return _configure_eth0(inner, veth) or changed
        finally:
            os.close(ns_fd)


def _add_veth(host: Rtnl, veth: Veth, ns_fd: int) -> None:
    host.add_veth(
        veth.host_ifname,
        group=veth.group,
        master=veth.bridge_index,
        peer=PEER_NAME,
        peer_netns_fd=ns_fd,
        peer_mac=veth.mac,
    )


def _configure_eth0(inner: Rtnl, veth: Veth) -> bool:
    """eth0 up with its address and the default route; True if the address was missing."""
    eth0 = inner.link(PEER_NAME)
    if eth0 is None:
        raise OSError(errno.ENODEV, f"{PEER_NAME} is missing in the sandbox")
    if not eth0.up:
        inner.set_up(eth0.index)
    added = inner.add_address(eth0.index, veth.address)
    inner.replace_default_route(veth.gateway)
    return added
