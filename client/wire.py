"""A small HTTP/1.1 client over a socket: just what the CLI needs, and fast to import.

``http.client`` costs the CLI 25 ms of imports (email, ssl) before it has done anything; a
container run takes about ten times that. This module speaks HTTP/1.1 to the gateway over a UNIX
socket or TCP: requests with a JSON body, a file sent chunked, or nothing; responses read by
Content-Length, chunked, or until the server closes.
"""

from __future__ import annotations

import _socket

from client.errors import ConnectionFailed

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Iterator
    from typing import BinaryIO

CHUNK = 1 << 16


def connect(host: str, timeout: float | None) -> socket:
    """A connected socket to ``unix:///path`` or ``tcp://host:port``.

    A UNIX socket is the C module's own: the ``socket`` module's wrapper adds nothing the CLI
    uses and costs 5 ms to import (its enums).
    """
    try:
        if host.startswith("unix://"):
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(host.removeprefix("unix://"))
            except BaseException:
                sock.close()
                raise
            return sock
        if host.startswith(("tcp://", "http://")):
            import socket as sockets  # name resolution and address families

            name, _, port = host.split("://", 1)[1].rstrip("/").rpartition(":")
            return sockets.create_connection((name.strip("[]"), int(port)), timeout)
    except (ConnectionRefusedError, FileNotFoundError) as exc:
        raise ConnectionFailed(
            f"cannot connect to estiba at {host}: is it running? (estiba up -d)"
        ) from exc
    except OSError as exc:
        raise ConnectionFailed(f"cannot connect to estiba at {host}: {exc.strerror}") from exc
    raise ConnectionFailed(f"unsupported host {host!r}: use unix:// or tcp://")


class Response:
    """A response being read: status, headers, then the body in one of its three framings."""

    def __init__(self, sock: socket, method: str) -> None:
        self._sock = sock
        self._buf = b""
        head = self._until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionFailed(f"not an HTTP answer: {lines[0][:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            self.headers[key.strip().lower()] = value.strip()
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        bodyless = method == "HEAD" or self.status in (101, 204, 304) or 100 <= self.status < 200
        self._mode = (
            "none"
            if bodyless
            else "chunked"
            if chunked
            else ("length" if length is not None else "close")
        )
        self._left = int(length) if length is not None and not bodyless else 0

    def _recv(self) -> bytes:
        try:
            return self._sock.recv(CHUNK)
        except OSError:
            return b""

    def _until(self, marker: bytes) -> bytes:
        while marker not in self._buf:
            data = self._recv()
            if not data:
                raise ConnectionFailed("the connection closed before the answer was complete")
            self._buf += data
        line, _, self._buf = self._buf.partition(marker)
        return line

    def leftover(self) -> bytes:
        """Bytes already read past the head (for a hijacked stream)."""
        data, self._buf = self._buf, b""
        return data

    def chunks(self) -> Iterator[bytes]:
        """The body, piece by piece, as it arrives."""
        if self._mode == "none":
            return
        if self._mode == "length":
            while self._left > 0:
                data = self._buf or self._recv()
                self._buf = b""
                if not data:
                    return
                data, self._buf = data[: self._left], data[self._left :]
                self._left -= len(data)
                yield data
            return
        if self._mode == "close":
            if self._buf:
                yield self.leftover()
            while data := self._recv():
                yield data
            return
        while True:
            size = int(self._until(b"\r\n").split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self._until(b"\r\n")
                return
            while len(self._buf) < size + 2:
                data = self._recv()
                if not data:
                    raise ConnectionFailed("the connection closed in the middle of an answer")
                self._buf += data
            chunk, self._buf = self._buf[:size], self._buf[size + 2 :]
            yield chunk

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def lines(self) -> Iterator[bytes]:
        """The body split into lines (JSON progress streams)."""
        pending = b""
        for data in self.chunks():
            pending += data
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                yield line
        if pending:
            yield pending


def send(
    sock: socket,
    method: str,
    target: str,
    *,
    headers: dict[str, str],
    body: bytes | None = None,
    stream: BinaryIO | None = None,
) -> None:
    """Write one request: a body of bytes, a file sent chunked, or none."""
    lines = [f"{method} {target} HTTP/1.1", "Host: estiba", "User-Agent: estiba-cli"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if stream is not None:
        lines.append("Transfer-Encoding: chunked")
    elif body is not None or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body or b'')}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
    if stream is not None:
        while data := stream.read(1 << 20):
            sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
