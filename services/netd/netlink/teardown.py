"""A sandbox taken down in a worker thread: its host-side links, then its namespace.

Deleting a veth makes the kernel wait for RCU grace periods, 20-30 ms on a busy machine, all of
it inside the ``sendmsg()`` of the delete request. Sent through pyroute2's socket, that wait
happened on netd's event loop, which served nothing else meanwhile (another container's
set-up, a DNS answer). Here the same requests go through raw rtnetlink (``rtnl``) from a worker
thread: the loop stays free, and each message costs microseconds of Python, not pyroute2's
~0.5 ms.

The host end is deleted explicitly, which takes its peer inside the namespace along; it is not
left to the namespace's own teardown, because something else may still hold the namespace (a
container that shares it, an ``nsenter``) and would keep a link whose address netd has just
released. Only links in netd's link group are deleted (the caller has checked the prefix).

Blocking, and raising ``OSError``: called through ``asyncio.to_thread`` by ``kernel``. The
thread never changes namespace. Nobody waits for it to answer a request: RemoveSandbox has
answered already (the sandbox is marked as being removed), and netd releases the sandbox's
addresses and ports only once this has returned (``domain.removals``).
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Sequence
from pathlib import Path

from services.netd.netlink import netns, rtnl
from services.netd.netlink.rtnl import Rtnl

RTM_DELLINK = 17
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg, as in ``rtnl``
_ATTR = struct.Struct("=HH")  # rtattr: length, type


def remove(path: Path, host_ifnames: Sequence[str], group: int) -> list[str]:
    """Delete the links of ``host_ifnames`` that are in ``group``, then unbind the namespace at
    ``path``. Returns the names that exist but are not in ``group`` (left alone)."""
    foreign = []
    if host_ifnames:
        with Rtnl() as host:
            for name in host_ifnames:
                found = _index_and_group(host, name)
                if found is None:
                    continue
                index, link_group = found
                if link_group != group:
                    foreign.append(name)
                    continue
                try:
                    host.request(RTM_DELLINK, 0, rtnl.ifinfo(index))
                except OSError as exc:
                    if exc.errno not in (errno.ENODEV, errno.ENOENT):
                        raise
    netns.unbind(path)
    return foreign


def _index_and_group(host: Rtnl, name: str) -> tuple[int, int] | None:
    """The link's index and link group, or None if there is no link called ``name``."""
    try:
        replies = host.request(rtnl.RTM_GETLINK, 0, rtnl.ifinfo() + rtnl.name_attr(name))
    except OSError as exc:
        if exc.errno in (errno.ENODEV, errno.ENOENT):
            return None
        raise
    reply = replies[0]
    _, _, index, _, _ = _IFINFO.unpack_from(reply)
    offset, group = _IFINFO.size, 0
    while offset + _ATTR.size <= len(reply):
        length, kind = _ATTR.unpack_from(reply, offset)
        if length < _ATTR.size:
            break
        if kind == rtnl.IFLA_GROUP:
            (group,) = struct.unpack_from("=I", reply, offset + _ATTR.size)
        offset += (length + 3) & ~3
    return index, group
