"""A sandbox's kernel work, done in one fresh thread with raw rtnetlink (``rtnl``).

The thread opens a netlink socket in the host namespace first, then moves into the sandbox's
namespace (new, or existing for a connect or a repair) and opens a second one there. With both
at hand, the fast path is a handful of messages: lo up; the veth pair, host end in netd's link
group, on the bridge and up, peer created directly inside the namespace under its final name
(eth0, eth1, ...) with its MAC (moving a link between namespaces afterwards costs ~30 ms in the
kernel); hairpin mode on the host end; the peer's index; the peer up; its address; the default
route when this endpoint carries it.

Blocking, and raising ``OSError``: called through ``netns.in_fresh_thread`` by ``kernel``.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from services.netd.netlink import netns
from services.netd.netlink.rtnl import Rtnl

LOOPBACK_INDEX = 1  # the kernel numbers every namespace's lo 1


@dataclasses.dataclass(frozen=True)
class Veth:
    """An endpoint as the kernel needs it: names and numbers resolved."""

    host_ifname: str
    group: int
    bridge_index: int
    address: IPv4Interface
    gateway: IPv4Address | None
    """The default route's gateway if this endpoint carries it."""
    mac: str
    peer_name: str = "eth0"
    mtu: int = 0
    """Of both ends; 0 for the kernel's default."""


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
                _configure(inner, veth)


def add(path: Path, veth: Veth) -> None:
    """One more endpoint in the existing namespace bound to ``path``."""
    with Rtnl() as host:
        ns_fd = netns.enter(path)
        try:
            with Rtnl() as inner:
                if inner.link(veth.peer_name) is not None:
                    raise OSError(errno.EEXIST, f"{veth.peer_name} exists in the sandbox")
                _add_veth(host, veth, ns_fd)
                _configure(inner, veth)
        finally:
            os.close(ns_fd)


def set_default_route(path: Path, gateway: IPv4Address | None) -> None:
    """The namespace's default route through ``gateway``, or none."""
    ns_fd = netns.enter(path)
    try:
        with Rtnl() as inner:
            if gateway is None:
                inner.delete_default_route()
            else:
                inner.replace_default_route(gateway)
    finally:
        os.close(ns_fd)


def repair(path: Path, veths: Sequence[Veth]) -> bool:
    """Bring the namespace bound to ``path`` to the planned state; True if anything was missing."""
    with Rtnl() as host:
        ns_fd = netns.enter(path)
        try:
            with Rtnl() as inner:
                inner.set_up(LOOPBACK_INDEX)
                changed = False
                for veth in veths:
                    link = host.link(veth.host_ifname)
                    if link is None:
                        _add_veth(host, veth, ns_fd)
                        changed = True
                    else:
                        if link.master != veth.bridge_index or not link.up:
                            host.set_up(link.index, master=veth.bridge_index)
                            changed = True
                        host.set_hairpin(link.index)  # sandboxes made before it was set
                    changed = _configure(inner, veth) or changed
                if not any(v.gateway for v in veths):
                    changed = inner.delete_default_route() or changed
                return changed
        finally:
            os.close(ns_fd)


def _add_veth(host: Rtnl, veth: Veth, ns_fd: int) -> None:
    host.add_veth(
        veth.host_ifname,
        group=veth.group,
        master=veth.bridge_index,
        peer=veth.peer_name,
        peer_netns_fd=ns_fd,
        peer_mac=veth.mac,
        mtu=veth.mtu,
    )
    link = host.link(veth.host_ifname)
    if link is not None:
        host.set_hairpin(link.index)


def _configure(inner: Rtnl, veth: Veth) -> bool:
    """The peer up with its address (and the default route); True if the address was missing."""
    peer = inner.link(veth.peer_name)
    if peer is None:
        raise OSError(errno.ENODEV, f"{veth.peer_name} is missing in the sandbox")
    if not peer.up:
        inner.set_up(peer.index)
    added = inner.add_address(peer.index, veth.address)
    if veth.gateway is not None:
        inner.replace_default_route(veth.gateway)
    return added
