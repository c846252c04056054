"""Forwarding the names netd does not know to the host's resolvers, from the host's side.

The servers are the configured ones (``dns_upstream``), else the nameservers of the host's own
/etc/resolv.conf, loopback ones included: netd runs in the host's namespace, so a local caching
resolver such as systemd-resolved's 127.0.0.53 works here, where a container could not reach
it. The file is read again every few seconds (DHCP and VPNs change it), in a worker thread.

A query is passed on as the bytes the container sent and the answer comes back the same way:
nothing is parsed but the id, which must match. Each query goes out from a socket of its own
(a fresh source port, as a stub resolver would use), to one server after the other until one
answers in time. A server that is one of netd's own DNS addresses (a host whose resolv.conf
points at a bridge) is skipped: forwarding to it would send the query round in a loop.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from services.kit.settings import check_host_port
from services.netd.domain import dnsfiles

ETC_RESOLV_CONF = Path("/etc/resolv.conf")
REFRESH = 5.0
Server = tuple[str, int]


def parse_server(text: str) -> Server:
    """``HOST`` or ``HOST:PORT`` (``[v6]:PORT``); ValueError names the value."""
    if text.count(":") == 1 or text.startswith("["):
        return check_host_port(text, "dns_upstream")
    return text, 53


class Upstream:
    """The host's resolvers, asked over UDP or TCP."""

    def __init__(
        self,
        configured: Sequence[str] = (),
        *,
        resolv_conf: Path = ETC_RESOLV_CONF,
        timeout: float = 1.5,
        attempts: int = 3,
    ) -> None:
        self._configured = [parse_server(s) for s in configured]
        self._resolv_conf = resolv_conf
        self._timeout = timeout
        self._attempts = attempts
        self._servers: list[Server] = []
        self._read_at = -REFRESH

    async def servers(self) -> list[Server]:
        if self._configured:
            return self._configured
        if time.monotonic() - self._read_at >= REFRESH:
            self._read_at = time.monotonic()
            text = await asyncio.to_thread(_read, self._resolv_conf)
            self._servers = [(s.split("%", 1)[0], 53) for s in dnsfiles.nameservers(text)]
        return self._servers

    async def udp(self, query: bytes, skip: Collection[str] = ()) -> bytes | None:
        """The first server's answer to ``query`` over UDP; None if none answered in time.
        Servers whose address is in ``skip`` are not asked."""
        for server in await self._usable(skip):
            try:
                return await asyncio.wait_for(_ask_udp(server, query), self._timeout)
            except (TimeoutError, OSError):
                continue
        return None

    async def tcp(self, query: bytes, skip: Collection[str] = ()) -> bytes | None:
        """The same over TCP (for answers too large for UDP)."""
        for server in await self._usable(skip):
            try:
                return await asyncio.wait_for(_ask_tcp(server, query), self._timeout * 2)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                continue
        return None

    async def _usable(self, skip: Collection[str]) -> list[Server]:
        return [s for s in await self.servers() if s[0] not in skip][: self._attempts]


class _OneAnswer(asyncio.DatagramProtocol):
    def __init__(self, qid: bytes) -> None:
        self.qid = qid
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if data[:2] == self.qid and not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def _ask_udp(server: Server, query: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _OneAnswer(query[:2]), remote_addr=server
    )
    try:
        transport.sendto(query)
        return await protocol.answer
    finally:
        transport.close()


async def _ask_tcp(server: Server, query: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*server)
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        (size,) = struct.unpack("!H", await reader.readexactly(2))
        return await reader.readexactly(size)
    finally:
        writer.close()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
