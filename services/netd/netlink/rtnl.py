"""A minimal, blocking rtnetlink client for the few messages of a sandbox's fast path.

pyroute2 spends about 0.5 ms of Python per request building and parsing messages, and a sandbox
needs five; written by hand with ``struct`` the same messages cost a few microseconds each, so
the kernel's own work dominates again. This module knows exactly what the sandbox path sends:
create a veth pair (peer in another namespace), look a link up by name, bring a link up or
attach it to a bridge, turn hairpin mode on for a bridge port, add an IPv4 address, replace or
delete the default route. Everything else (dumps,
bridges, deletes) stays with pyroute2 in ``kernel``.

Blocking by design: it runs in the short-lived threads of ``netns``, where a socket may be bound
inside a container's namespace. Errors are ``OSError`` with the kernel's errno.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import struct
from ipaddress import IPv4Address, IPv4Interface

NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
IFF_UP = 0x1
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_GROUP = 27
IFLA_NET_NS_FD = 28
IFLA_PROTINFO = 12
IFLA_BRPORT_MODE = 4
NLA_F_NESTED = 0x8000
AF_BRIDGE = 7
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_BROADCAST = 4
RTA_GATEWAY = 5
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_NOWHERE = 255  # in a delete: any scope
RTN_UNICAST = 1

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst/src len, tos, table, proto, scope...
_ATTR = struct.Struct("=HH")  # rtattr: length, type


@dataclasses.dataclass(frozen=True)
class Link:
    """What the sandbox path needs to know about a link."""

    index: int
    up: bool
    master: int


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    length = _ATTR.size + len(payload)
    return _ATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


def ifinfo(index: int = 0, *, up: bool = False) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


def name_attr(name: str) -> bytes:
    return attr(IFLA_IFNAME, name.encode() + b"\0")


def u32(value: int) -> bytes:
    return struct.pack("=I", value)


class Rtnl:
    """One NETLINK_ROUTE socket, in the namespace of the thread that opened it."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[bytes]:
        """Send one request and wait for its acknowledgement; returns the replies' payloads."""
        self._seq += 1
        seq = self._seq
        header = _HEADER.pack(
            _HEADER.size + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0
        )
        self._sock.sendto(header + body, (0, 0))  # to the kernel
        replies: list[bytes] = []
        while True:
            data = self._sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, mtype, _, mseq, _ = _HEADER.unpack_from(data, offset)
                payload = data[offset + _HEADER.size : offset + length]
                offset += (length + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", payload)
                    if error:
                        raise OSError(-error, os.strerror(-error))
                    return replies
                if mtype == NLMSG_DONE:
                    return replies
                replies.append(payload)

    def link(self, name: str) -> Link | None:
        """The link called ``name`` in this socket's namespace, or None."""
        try:
            replies = self.request(RTM_GETLINK, 0, ifinfo() + name_attr(name))
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.ENOENT):
                return None
            raise
        _, _, index, flags, _ = _IFINFO.unpack_from(replies[0])
        master = 0
        offset = _IFINFO.size
        reply = replies[0]
        while offset + _ATTR.size <= len(reply):
            length, kind = _ATTR.unpack_from(reply, offset)
            if kind == IFLA_MASTER:
                (master,) = struct.unpack_from("=I", reply, offset + _ATTR.size)
            offset += (length + 3) & ~3
        return Link(index=index, up=bool(flags & IFF_UP), master=master)

    def set_up(self, index: int, *, master: int = 0) -> None:
        """Bring the link up (and attach it to the bridge ``master`` if given)."""
        body = ifinfo(index, up=True) + (attr(IFLA_MASTER, u32(master)) if master else b"")
        self.request(RTM_NEWLINK, 0, body)

    def add_veth(
        self,
        name: str,
        *,
        group: int,
        master: int,
        peer: str,
        peer_netns_fd: int,
        peer_mac: str,
        mtu: int = 0,
    ) -> None:
        """A veth pair: ``name`` here, in ``group``, on ``master``, up; ``peer`` in the other
        namespace with ``peer_mac``. One message, so the peer never exists in this namespace.

        The peer stays down: the kernel refuses to open a veth whose pair is not complete yet
        (ENOTCONN), which it is not while this message is processed.
        """
        size = attr(IFLA_MTU, u32(mtu)) if mtu else b""  # both ends, or frames are lost
        peer_msg = (
            ifinfo()
            + name_attr(peer)
            + attr(IFLA_NET_NS_FD, u32(peer_netns_fd))
            + attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", "")))
            + size
        )
        info = attr(IFLA_INFO_KIND, b"veth\0") + attr(
            IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_msg)
        )
        body = (
            ifinfo(up=True)
            + name_attr(name)
            + attr(IFLA_GROUP, u32(group))
            + attr(IFLA_MASTER, u32(master))
            + attr(IFLA_LINKINFO, info)
            + size
        )
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    def add_address(self, index: int, address: IPv4Interface) -> bool:
        """Give the link ``address`` (with its broadcast); False if it had it already."""
        ip = address.ip.packed
        body = (
            _IFADDR.pack(socket.AF_INET, address.network.prefixlen, 0, RT_SCOPE_UNIVERSE, index)
            + attr(IFA_LOCAL, ip)
            + attr(IFA_ADDRESS, ip)
            + attr(IFA_BROADCAST, address.network.broadcast_address.packed)
        )
        try:
            self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)
        except FileExistsError:
            return False
        return True

    def set_hairpin(self, index: int) -> None:
        """Hairpin mode on a bridge port: a frame may leave by the port it came in on.

        A container reaching its own published port through the host's address needs it: the
        DNAT'ed packet goes back out of the port it came from.
        """
        mode = attr(IFLA_BRPORT_MODE, b"\x01")
        body = _IFINFO.pack(AF_BRIDGE, 0, index, 0, 0) + attr(IFLA_PROTINFO | NLA_F_NESTED, mode)
        self.request(RTM_SETLINK, 0, body)  # PF_BRIDGE's setlink: RTM_NEWLINK would ignore it

    def replace_default_route(self, gateway: IPv4Address) -> None:
        body = _RTMSG.pack(
            socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
        ) + attr(RTA_GATEWAY, gateway.packed)
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body)

    def delete_default_route(self) -> bool:
        """Remove the IPv4 default route; False if there was none."""
        body = _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, 0, RT_SCOPE_NOWHERE, 0, 0)
        try:
            self.request(RTM_DELROUTE, 0, body)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                return False
            raise
        return True
