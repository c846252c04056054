"""Attach sessions: a client's stdin into the container, its output back, detach keys.

conmon serves each container's stdio on a SEQPACKET socket; every packet from conmon is one
byte of stream id (2 stdout, 3 stderr) and the data; bytes we send are the process's input, and
a half-close of our side closes its stdin. conmon keeps no backlog, so a client that attaches to
a created container is held here until ``start`` connects it, just before ``runc start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from services.kit import errors

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
STDOUT, STDERR = 1, 2
_CONMON_STREAMS = {2: STDOUT, 3: STDERR}


@dataclasses.dataclass(frozen=True)
class Chunk:
    stream: int
    data: bytes


@dataclasses.dataclass(frozen=True)
class Detached:
    """The client pressed the detach keys."""


@dataclasses.dataclass(frozen=True)
class Input:
    data: bytes = b""
    close: bool = False
    resize: tuple[int, int] | None = None


def parse_detach_keys(spec: str) -> bytes:
    """Docker's format: "ctrl-p,ctrl-q", "a,ctrl-@"; "" means the default ctrl-p ctrl-q."""
    if not spec:
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for part in spec.split(","):
        part = part.strip()
        if len(part) == 1:
            out.append(ord(part))
        elif part.startswith("ctrl-") and len(part) == 6:
            char = part[5]
            code = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}.get(char)
            if code is None and "a" <= char <= "z":
                code = ord(char) - ord("a") + 1
            if code is None:
                raise errors.InvalidArgument(f"Invalid detach keys ({spec}) provided")
            out.append(code)
        else:
            raise errors.InvalidArgument(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


class Session:
    """One attached client."""

    def __init__(self, *, stdin: bool, stdout: bool, stderr: bool, detach_keys: bytes) -> None:
        self.want_stdin = stdin
        self.want = {STDOUT: stdout, STDERR: stderr}
        self.detach_keys = detach_keys
        self.connected = asyncio.Event()
        self.sock: socket.socket | None = None
        self._pending: list[Input] = []
        self._matched = 0

    async def connect(self, path: Path) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, str(path))
        except OSError as exc:
            sock.close()
            raise errors.FailedPrecondition(f"cannot attach: {exc.strerror}") from exc
        self.sock = sock
        for item in self._pending:  # input that arrived before the container started
            await self._send(item)
        self._pending.clear()
        self.connected.set()

    async def feed(self, item: Input) -> bool:
        """Pass client input on; returns False once the detach keys were typed."""
        if item.data and self.detach_keys:
            data, detached = self._scan(item.data)
            if detached:
                if data:
                    await self.feed(Input(data=data))
                return False
            item = Input(data=data)
        if self.sock is None:
            self._pending.append(item)
            return True
        await self._send(item)
        return True

    def _scan(self, data: bytes) -> tuple[bytes, bool]:
        """Strip a detach-key sequence; keys split across reads are recognised too."""
        out = bytearray()
        for byte in data:
            if byte == self.detach_keys[self._matched]:
                self._matched += 1
                if self._matched == len(self.detach_keys):
                    return bytes(out), True
                continue
            if self._matched:
                out += self.detach_keys[: self._matched]
                self._matched = 0
            out.append(byte)
        return bytes(out), False

    async def _send(self, item: Input) -> None:
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            if item.data and self.want_stdin:
                await loop.sock_sendall(self.sock, item.data)
            if item.close and self.want_stdin:
                self.sock.shutdown(socket.SHUT_WR)

    async def output(self) -> AsyncIterator[Chunk]:
        """Output packets until the container closes the socket."""
        await self.connected.wait()
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                packet = await loop.sock_recv(self.sock, 8193)
            except OSError:
                return
            if not packet:
                return
            stream = _CONMON_STREAMS.get(packet[0])
            if stream is not None and self.want[stream] and len(packet) > 1:
                yield Chunk(stream, packet[1:])

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.connected.set()


class AttachHub:
    """The sessions waiting for a created container to start."""

    def __init__(self) -> None:
        self._pending: dict[str, list[Session]] = {}

    def hold(self, container_id: str, session: Session) -> None:
        self._pending.setdefault(container_id, []).append(session)

    def release(self, container_id: str, session: Session) -> None:
        sessions = self._pending.get(container_id, [])
        if session in sessions:
            sessions.remove(session)

    async def connect_pending(self, container_id: str, path: Path) -> None:
        for session in self._pending.pop(container_id, []):
            with contextlib.suppress(errors.EstibaError):
                await session.connect(path)

    def drop(self, container_id: str) -> None:
        """The container went away before starting: end its waiting sessions."""
        for session in self._pending.pop(container_id, []):
            session.close()
