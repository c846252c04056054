"""Docker's hijacked connection: after ``101 UPGRADED`` the socket is a raw byte pipe.

aiohttp would treat the client's half-close (Docker clients shut down their write side when
stdin ends) as a hang-up and close the connection, losing the output still to come. So after
the 101 is written the transport is taken away from aiohttp: our protocol queues incoming
bytes, reports EOF as "stdin ended", and keeps the connection open for writing.
"""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


def frame(stream: int, data: bytes) -> bytes:
    """``data`` as one frame of Docker's multiplexed stream: stream number, length, bytes."""
    return struct.pack(">BxxxL", stream, len(data)) + data


class _Tail:
    """Stands in for aiohttp's parser: bytes that came with the request head are stdin."""

    def __init__(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._queue = queue

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self._queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self._queue.put_nowait(None)


class _Raw(asyncio.Protocol):
    def __init__(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._queue = queue
        self.writable = asyncio.Event()
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self._queue.put_nowait(data)

    def eof_received(self) -> bool:
        self._queue.put_nowait(None)
        return True  # keep the transport open: a half-close is the end of stdin only

    def connection_lost(self, exc: Exception | None) -> None:
        self._queue.put_nowait(None)
        self.writable.set()


class Hijacked:
    """The client's socket after the upgrade."""

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: _Raw,
        inbox: asyncio.Queue[bytes | None],
        *,
        multiplexed: bool,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self.inbox = inbox
        self.multiplexed = multiplexed

    async def write(self, stream: int, data: bytes) -> None:
        if self._transport.is_closing():
            return
        if self.multiplexed:
            self._transport.write(frame(stream, data))
        else:
            self._transport.write(data)
        await self._protocol.writable.wait()  # the transport's flow control

    async def close(self) -> None:
        for _ in range(200):  # let buffered output reach the client before closing
            if self._transport.get_write_buffer_size() == 0 or self._transport.is_closing():
                break
            await asyncio.sleep(0.005)
        self._transport.close()


async def upgrade(
    request: web.Request, *, multiplexed: bool
) -> tuple[web.StreamResponse, Hijacked]:
    """Answer 101 (or 200 for a client that did not ask to upgrade) and take the socket."""
    content_type = MULTIPLEXED if multiplexed else RAW
    asked = "upgrade" in request.headers.get("Connection", "").lower()
    if asked:
        response = web.StreamResponse(
            status=101,
            reason="UPGRADED",
            headers={"Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"},
        )
    else:
        response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    await response.prepare(request)
    inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
    protocol = request.protocol
    transport = request.transport
    assert transport is not None
    assert protocol is not None
    protocol.set_parser(_Tail(inbox))  # type: ignore[arg-type]
    raw = _Raw(inbox)
    transport.set_protocol(raw)
    return response, Hijacked(transport, raw, inbox, multiplexed=multiplexed)
