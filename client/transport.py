"""The CLI's connection to the gateway: the Docker Engine API over a UNIX socket or TCP.

The CLI never imports aiohttp or grpc for ordinary commands, nor http.client: together they
would cost more start-up time than a whole container run (see client.wire).
"""

from __future__ import annotations

import os
import sys

from client import jsontext, urls, wire
from client.errors import ConnectionFailed, from_status

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Iterator
    from typing import Any, BinaryIO

DEFAULT_HOST = "unix:///run/estiba/estiba.sock"
API_PREFIX = "/v1.44"
WARNING_TEXT = r'"((?:[^"\\]|\\.)*)"'  # the quoted texts of an HTTP Warning header


def resolve_host(host: str | None) -> str:
    """-H/--host, else ESTIBA_HOST, else the default socket."""
    return host or os.environ.get("ESTIBA_HOST") or DEFAULT_HOST


class Transport:
    """Requests to the gateway at ``host`` (unix:///path or tcp://host:port)."""

    def __init__(self, host: str, *, timeout: float | None = None) -> None:
        self.host = host
        self._timeout = timeout
        self._sock: socket | None = None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _open(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        versioned: bool = True,
    ) -> wire.Response:
        target = (API_PREFIX if versioned else "") + path
        if query:
            target += ("&" if "?" in target else "?") + urls.urlencode(query)
        sent = dict(headers or {})
        payload: bytes | None = None
        stream: BinaryIO | None = None
        if isinstance(body, (dict, list)):
            payload = jsontext.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        elif body is not None:
            stream = body
            sent.setdefault("Content-Type", "application/x-tar")
        self.close()  # one request per connection: the gateway streams some answers until close
        sock = wire.connect(self.host, self._timeout)
        self._sock = sock
        try:
            wire.send(sock, method, target, headers=sent, body=payload, stream=stream)
            response = wire.Response(sock, method)
        except OSError as exc:
            self.close()
            raise ConnectionFailed(f"cannot talk to estiba at {self.host}: {exc}") from exc
        if response.status >= 400:
            data = response.read()
            self.close()
            raise from_status(response.status, _message(data, response.status))
        if "warning" in response.headers:  # a list the gateway made without a node that is down
            import re

            for text in re.findall(WARNING_TEXT, response.headers["warning"]):
                sys.stderr.write("WARNING: " + re.sub(r"\\(.)", r"\1", text) + "\n")
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        versioned: bool = True,
    ) -> tuple[int, bytes]:
        """Send one request; returns (status, body) for 2xx/3xx, raises APIError otherwise."""
        response = self._open(method, path, query=query, body=body, versioned=versioned)
        data = response.read()
        self.close()
        return response.status, data

    def get_json(self, path: str, **kwargs: Any) -> Any:
        _, data = self.request("GET", path, **kwargs)
        return jsontext.loads(data) if data else None

    def stream_json(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        versioned: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """A streamed answer of JSON objects, one per line (pull, push, load progress)."""
        response = self._open(
            method, path, query=query, body=body, headers=headers, versioned=versioned
        )
        for line in response.lines():
            if line.strip():
                yield jsontext.loads(line)
        self.close()

    def upload_json(
        self, method: str, path: str, source: BinaryIO, *, query: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stream ``source`` as the body; yield the JSON lines of the answer."""
        return self.stream_json(method, path, query=query, body=source)

    def upload_put(self, path: str, source: BinaryIO, *, query: dict[str, str]) -> None:
        """PUT a binary file as the body (docker cp into a container)."""
        self._open("PUT", path, query=query, body=source).read()
        self.close()

    def head(self, path: str, *, query: dict[str, str]) -> dict[str, str]:
        response = self._open("HEAD", path, query=query)
        self.close()
        return {k.title(): v for k, v in response.headers.items()}

    def stream_bytes(self, method: str, path: str) -> Iterator[bytes]:
        response = self._open(method, path)
        yield from response.chunks()
        self.close()


def _message(data: bytes, status: int) -> str:
    try:
        message = jsontext.loads(data).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else (data.decode(errors="replace").strip() or f"HTTP {status}")
