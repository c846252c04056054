"""What the network tests build around netd: an "outside" host, and work done inside namespaces.

The outside host is a namespace of the test's own, joined to the host by a veth pair named with
the test's prefix, with a /30 of its own; it stands for the world beyond the host (a real
uplink is never used: test traffic stays on loopback and inside namespaces the test made).
Everything here is removed by the site's teardown (links by prefix, namespace files by
directory).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import random
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import TypeVar

from services.netd.dns import wire
from tests.netd import kernel

CLONE_NEWNET = 0x40000000
T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def run_in_netns(netns_file: Path, work: Callable[[], T]) -> T:
    """``work()`` in a fresh thread that entered the namespace bound to ``netns_file``."""
    box: dict[str, object] = {}

    def target() -> None:
        fd = os.open(netns_file, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {netns_file}")
        finally:
            os.close(fd)
        try:
            box["value"] = work()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def ask(server: str, name: str, qtype: int = wire.TYPE_A, *, tcp: bool = False) -> bytes | None:
    """One DNS query from the calling thread's namespace; None on a timeout or a refusal."""
    query = wire.query(name, qtype, qid=random.randrange(65536))
    try:
        if tcp:
            with socket.create_connection((server, 53), timeout=2) as s:
                s.sendall(struct.pack("!H", len(query)) + query)
                size = struct.unpack("!H", _read(s, 2))[0]
                return _read(s, size)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(query, (server, 53))
            return s.recv(4096)
    except OSError:
        return None


def _read(s: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = s.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def nslookup(netns_file: Path, name: str, server: str) -> str:
    """busybox nslookup from inside the namespace: an independent client for the names."""
    result = subprocess.run(
        ["nsenter", f"--net={netns_file}", "busybox", "nslookup", name, server],
        capture_output=True,
        text=True,
        check=False,
        timeout=15,
    )
    return result.stdout + result.stderr


@dataclasses.dataclass(frozen=True)
class Outside:
    """A namespace standing for the world beyond the host."""

    netns: Path
    host_ifname: str
    host_ip: IPv4Address
    """The host's address towards it (the host's "uplink" address in the tests)."""
    ip: IPv4Address


def make_outside(prefix: str, directory: Path) -> Outside:
    """The outside namespace and its link; the caller's site removes both."""
    directory.mkdir(parents=True, exist_ok=True)
    netns = directory / "outside"
    netns.touch()
    kernel.host("unshare", f"--net={netns}", "true")
    taken = _host_subnets()
    for _ in range(50):
        subnet = IPv4Network(f"10.212.{random.randrange(256)}.{4 * random.randrange(64)}/30")
        if not any(subnet.overlaps(t) for t in taken):
            break
    else:
        raise RuntimeError("no free /30 in 10.212.0.0/16 for the outside namespace")
    host_ip, ip = subnet.network_address + 1, subnet.network_address + 2
    host_ifname, peer = f"{prefix}x0", f"{prefix}x1"
    kernel.host("ip", "link", "add", host_ifname, "type", "veth", "peer", "name", peer)
    kernel.host("ip", "link", "set", peer, "netns", str(netns))
    kernel.host("ip", "addr", "add", f"{host_ip}/30", "dev", host_ifname)
    kernel.host("ip", "link", "set", host_ifname, "up")
    Path(f"/proc/sys/net/ipv4/conf/{host_ifname}/forwarding").write_text("1\n")
    for argv in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "addr", "add", f"{ip}/30", "dev", peer],
        ["ip", "link", "set", peer, "up"],
        ["ip", "route", "add", "default", "via", str(host_ip)],
    ):
        kernel.in_netns(netns, *argv)
    return Outside(netns, host_ifname, host_ip, ip)


def _host_subnets() -> list[IPv4Network]:
    out = kernel.host("ip", "-4", "-o", "addr", "show")
    found = []
    for line in out.splitlines():
        fields = line.split()
        found.append(IPv4Network(fields[3], strict=False))
    return found


class TcpEcho:
    """A TCP server inside a namespace that answers each connection with the peer's address."""

    def __init__(self, netns_file: Path, port: int) -> None:
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=run_in_netns, args=(netns_file, lambda: self._serve(port)), daemon=True
        )

    def __enter__(self) -> TcpEcho:
        self._thread.start()
        if not self.ready.wait(5):
            raise RuntimeError("the echo server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _serve(self, port: int) -> None:
        with socket.socket() as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("0.0.0.0", port))
            server.listen(16)
            server.settimeout(0.1)
            self.ready.set()
            while not self._stop.is_set():
                try:
                    conn, peer = server.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.sendall(f"hello {peer[0]}\n".encode())


def fetch(address: str, port: int) -> str | None:
    """The first line a TCP server sends, from the calling thread's namespace; None if none."""
    try:
        with socket.create_connection((address, port), timeout=2) as s:
            s.settimeout(2)
            return s.recv(200).decode().strip()
    except OSError:
        return None
