"""The embedded DNS: a UDP and a TCP server per user-defined network, on its gateway address.

Why there, and not Docker's 127.0.0.11 inside every container: a listener inside each
container's namespace means one or two sockets per container, made by a thread that enters
the namespace, remade for every sandbox after a restart; Docker adds a DNAT rule per namespace
on top so that containers may use port 53 themselves. The gateway address is already on the
host side (it is the bridge's own address), every container of the network reaches it on its
own link, and a socket per network is all it takes: no thread, no per-container state, nothing
to rebuild but one socket pair per network. The querier is known by its source address
(``Directory.scope``), which is what gives a container on several networks the names of all of
them. The cost: the host's INPUT policy applies (a host that drops what containers send to the
host must let UDP and TCP port 53 to the bridges through), and a DNS server on the host bound
to every address without SO_REUSEADDR keeps netd from binding (logged; names then do not work,
everything else does).

Everything runs on netd's event loop: the answer to a known name is computed synchronously in
the datagram callback, from the in-memory directory, with no await in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import struct
from ipaddress import IPv4Address
from typing import cast

from services.kit.log import get_logger
from services.kit.tasks import spawn
from services.netd.dns import wire
from services.netd.dns.upstream import Upstream
from services.netd.domain.directory import Directory
from services.netd.domain.models import Network

log = get_logger()

PORT = 53
IP_FREEBIND = 15  # bind before the address is up (a bridge being made or repaired)
TCP_IDLE = 10.0


class Responder:
    """Queries in, answers out: from the directory, or None when the query must be forwarded."""

    def __init__(self, directory: Directory, *, ttl: int = 0) -> None:
        self._directory = directory
        self._ttl = ttl

    def answer(
        self, network_id: str, source: IPv4Address, query: bytes, limit: int | None
    ) -> bytes | None:
        """The response, or None to forward ``query`` to the host's resolvers as it is.

        TTL 0: a name follows its container at once (a rename, a disconnect), so no client
        may keep an old answer; asking again costs a few microseconds here.
        """
        try:
            q = wire.parse(query)
        except wire.FormatError:
            return wire.failure(query, wire.FORMERR)
        if q.opcode != 0:
            return wire.failure(query, wire.NOTIMP)
        scope = self._directory.scope(network_id, source)
        if q.qclass in (wire.CLASS_IN, wire.CLASS_ANY):
            if q.qtype == wire.TYPE_PTR:
                address = wire.reverse_address(q.name)
                if address is not None:
                    name = self._directory.reverse(scope, address)
                    if name is not None:
                        return wire.reply(query, q, ptr=name, ttl=self._ttl, limit=limit)
                    if self._directory.owns(address):
                        return wire.reply(query, q, rcode=wire.NXDOMAIN, limit=limit)
            found = self._directory.lookup(scope, q.name)
            if found is not None:
                # A known name has A records only: NOERROR with no record for AAAA and the
                # rest (NXDOMAIN there would make resolvers drop the A answer too).
                wanted = q.qtype in (wire.TYPE_A, wire.TYPE_ANY)
                addresses = found if wanted else []
                return wire.reply(query, q, addresses=addresses, ttl=self._ttl, limit=limit)
        if not scope.forward:
            return wire.reply(query, q, rcode=wire.REFUSED, authoritative=False, limit=limit)
        return None


@dataclasses.dataclass
class _Serving:
    address: IPv4Address
    udp: asyncio.DatagramTransport
    tcp: asyncio.Server
    connections: set[asyncio.StreamWriter]


class DnsServers:
    """The domain's ``NameServers`` port: servers started and stopped with their networks."""

    def __init__(self, directory: Directory, upstream: Upstream, *, port: int = PORT) -> None:
        self.responder = Responder(directory)
        self._upstream = upstream
        self._port = port
        self._serving: dict[str, _Serving] = {}

    async def start(self, network: Network) -> None:
        current = self._serving.get(network.id)
        if current is not None and current.address == network.gateway:
            return
        await self.stop(network.id)
        loop = asyncio.get_running_loop()
        address = str(network.gateway)
        try:
            udp_sock = _bound(address, self._port, socket.SOCK_DGRAM)
            try:
                tcp_sock = _bound(address, self._port, socket.SOCK_STREAM)
            except OSError:
                udp_sock.close()
                raise
        except OSError as exc:
            log.warning(
                "dns_unavailable", network=network.name, address=address, error=exc.strerror
            )
            return
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self, network.id), sock=udp_sock
        )
        connections: set[asyncio.StreamWriter] = set()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.add(writer)
            try:
                await self._serve_stream(network.id, reader, writer)
            finally:
                connections.discard(writer)

        tcp_sock.listen(64)
        tcp = await asyncio.start_server(serve, sock=tcp_sock)
        self._serving[network.id] = _Serving(network.gateway, transport, tcp, connections)
        log.info("dns_started", network=network.name, address=address, port=self._port)

    async def stop(self, network_id: str) -> None:
        serving = self._serving.pop(network_id, None)
        if serving is None:
            return
        serving.udp.close()
        serving.tcp.close()
        for writer in list(serving.connections):
            writer.close()
        await serving.tcp.wait_closed()

    async def close(self) -> None:
        for network_id in list(self._serving):
            await self.stop(network_id)

    async def forward_udp(self, query: bytes) -> bytes:
        answer = await self._upstream.udp(query, self._addresses())
        return answer or wire.failure(query, wire.SERVFAIL)

    def _addresses(self) -> set[str]:
        """netd's own DNS addresses, never forwarded to."""
        return {str(s.address) for s in self._serving.values()}

    async def _serve_stream(
        self, network_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        source = IPv4Address(writer.get_extra_info("peername")[0])
        with contextlib.suppress(asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                query = await asyncio.wait_for(
                    reader.readexactly(struct.unpack("!H", head)[0]), TCP_IDLE
                )
                answer = self.responder.answer(network_id, source, query, None)
                if answer is None:
                    forwarded = await self._upstream.tcp(query, self._addresses())
                    answer = forwarded or wire.failure(query, wire.SERVFAIL)
                writer.write(struct.pack("!H", len(answer)) + answer)
                await writer.drain()
        writer.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, servers: DnsServers, network_id: str) -> None:
        self._servers = servers
        self._network_id = network_id
        self._transport: asyncio.DatagramTransport | None = None
        self._forwarding: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        source = IPv4Address(addr[0])
        answer = self._servers.responder.answer(self._network_id, source, data, wire.UDP_LIMIT)
        if answer is None:
            task = spawn(self._forward(data, addr), name="dns-forward")
            self._forwarding.add(task)
            task.add_done_callback(self._forwarding.discard)
        elif answer and self._transport is not None:
            self._transport.sendto(answer, addr)

    async def _forward(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = await self._servers.forward_udp(data)
        if answer and self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(answer, addr)


def _bound(address: str, port: int, kind: socket.SocketKind) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        sock.setblocking(False)
        sock.bind((address, port))
    except BaseException:
        sock.close()
        raise
    return sock
