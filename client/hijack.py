"""The client side of Docker's hijacked attach: one socket, raw bytes both ways.

Output is multiplexed (8-byte frame headers) when the container has no terminal, raw when it
has one. Our side half-closes the socket when stdin ends, which is how the server learns of it.
"""

from __future__ import annotations

import _socket
import os
import select
import struct
import sys

from client import jsontext, urls, wire
from client.errors import APIError, from_status
from client.transport import API_PREFIX

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    import threading
    from collections.abc import Iterable
    from typing import BinaryIO

DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


def open_socket(host: str, timeout: float | None = None) -> _socket.socket:
    return wire.connect(host, timeout)


def request(
    sock: _socket.socket,
    method: str,
    path: str,
    query: dict[str, str],
    *,
    upgrade: bool,
    body: bytes | None = None,
) -> wire.Response:
    """Send a request and read the answer's head; ``upgrade`` asks to hijack the connection."""
    send(sock, method, path, query, upgrade=upgrade, body=body)
    return wire.Response(sock, method)


def send(
    sock: _socket.socket,
    method: str,
    path: str,
    query: dict[str, str],
    *,
    upgrade: bool,
    body: bytes | None = None,
) -> None:
    """Send a request only: its answer is read later with ``wire.Response(sock, method)``, so
    requests on several connections can be in flight at once."""
    url = API_PREFIX + path + ("?" + urls.urlencode(query) if query else "")
    headers = {"Connection": "Upgrade", "Upgrade": "tcp"} if upgrade else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    wire.send(sock, method, url, headers=headers, body=body if body is not None else b"")


def error_of(response: wire.Response) -> APIError:
    data = response.read()
    try:
        message = str(jsontext.loads(data).get("message", ""))
    except (ValueError, AttributeError):
        message = data.decode(errors="replace").strip()
    return from_status(response.status, message or f"HTTP {response.status}")


class Attachment:
    """A live attach: pumps stdin to the socket and the socket to stdout/stderr."""

    def __init__(self, sock: _socket.socket, leftover: bytes, *, tty: bool) -> None:
        self.sock = sock
        self.tty = tty
        self.detached = False
        self._buffer = leftover

    def pump_stdin(self, source: BinaryIO, detach_keys: bytes | None) -> threading.Thread:
        import threading  # only an attached stdin needs a thread

        thread = threading.Thread(target=self._stdin, args=(source, detach_keys), daemon=True)
        thread.start()
        return thread

    def close_stdin(self) -> None:
        try:  # noqa: SIM105  # contextlib costs the CLI 2 ms of imports
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass  # the server closed first

    def _stdin(self, source: BinaryIO, detach_keys: bytes | None) -> None:
        fd = source.fileno()
        matched = 0
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if not ready:
                    continue
                data = os.read(fd, 4096)
                if not data:
                    break
                if detach_keys:
                    out = bytearray()
                    for byte in data:
                        if byte == detach_keys[matched]:
                            matched += 1
                            if matched == len(detach_keys):
                                self.detached = True
                                try:  # noqa: SIM105
                                    self.sock.shutdown(_socket.SHUT_RDWR)
                                except OSError:
                                    pass  # closed already: detached all the same
                                return
                            continue
                        out += detach_keys[:matched]
                        matched = 0
                        out.append(byte)
                    data = bytes(out)
                if data:
                    self.sock.sendall(data)
        except OSError:
            return
        self.close_stdin()

    def pump_output(self) -> None:
        """Copy output until the server closes the stream."""
        copy_output(iter(self._read, b""), tty=self.tty)

    def _read(self) -> bytes:
        if self._buffer:
            data, self._buffer = self._buffer, b""
            return data
        return self._recv()

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except OSError:
            return b""


def copy_output(chunks: Iterable[bytes], *, tty: bool) -> None:
    """A container's output to stdout/stderr: raw with a terminal, else demultiplexed."""
    out, err = sys.stdout.buffer, sys.stderr.buffer
    if tty:
        for data in chunks:
            out.write(data)
            out.flush()
        return
    buf = b""
    for data in chunks:
        buf += data
        while len(buf) >= 8:
            stream, size = struct.unpack(">BxxxL", buf[:8])
            if len(buf) < 8 + size:
                break
            target = err if stream == 2 else out
            target.write(buf[8 : 8 + size])
            target.flush()
            buf = buf[8 + size :]
