"""HTTP to the gateway on the standard library: ``http.client`` over a UNIX socket or TCP.

The CLI never imports aiohttp or grpc for ordinary commands: they cost more start-up time than
a whole container run.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from collections.abc import Iterator
from typing import Any

from client.errors import ConnectionFailed, from_status

DEFAULT_HOST = "unix:///run/estiba/estiba.sock"
API_PREFIX = "/v1.44"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def resolve_host(host: str | None) -> str:
    """-H/--host, else ESTIBA_HOST, else the default socket."""
    return host or os.environ.get("ESTIBA_HOST") or DEFAULT_HOST


class Transport:
    """One keep-alive connection to the gateway at ``host`` (unix:///path or tcp://host:port)."""

    def __init__(self, host: str, *, timeout: float | None = 60.0) -> None:
        self.host = host
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.host.startswith("unix://"):
                self._conn = UnixHTTPConnection(self.host.removeprefix("unix://"), self._timeout)
            elif self.host.startswith(("tcp://", "http://")):
                netloc = self.host.split("://", 1)[1]
                self._conn = http.client.HTTPConnection(netloc, timeout=self._timeout)
            else:
                raise ConnectionFailed(f"unsupported host {self.host!r}: use unix:// or tcp://")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

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
        url = (API_PREFIX if versioned else "") + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"User-Agent": "estiba-cli"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, url, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            self.close()
            raise ConnectionFailed(
                f"cannot connect to estiba at {self.host}: is it running? (estiba up -d)"
            ) from exc
        except OSError as exc:
            self.close()
            raise ConnectionFailed(f"cannot talk to estiba at {self.host}: {exc}") from exc
        if response.status >= 400:
            raise from_status(response.status, _message(data, response.status))
        return response.status, data

    def _open(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None,
        body: Any,
        headers: dict[str, str] | None,
        versioned: bool,
    ) -> http.client.HTTPResponse:
        url = (API_PREFIX if versioned else "") + path
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        sent = {"User-Agent": "estiba-cli", **(headers or {})}
        payload: Any = None
        if isinstance(body, (dict, list)):
            payload = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        elif body is not None:  # a file: sent in chunks, never read whole
            payload = iter(lambda: body.read(1 << 20), b"")
            sent["Transfer-Encoding"] = "chunked"
            sent["Content-Type"] = "application/x-tar"
        conn = self._connection()
        try:
            conn.request(
                method,
                url,
                body=payload,
                headers=sent,
                encode_chunked=payload is not None and not isinstance(payload, bytes),
            )
            response = conn.getresponse()
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            self.close()
            raise ConnectionFailed(
                f"cannot connect to estiba at {self.host}: is it running? (estiba up -d)"
            ) from exc
        if response.status >= 400:
            data = response.read()
            raise from_status(response.status, _message(data, response.status))
        return response

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
        """A streamed response of JSON objects, one per line (pull, push, load progress)."""
        response = self._open(
            method, path, query=query, body=body, headers=headers, versioned=versioned
        )
        while line := response.readline():
            if line.strip():
                yield json.loads(line)

    def upload_json(
        self, method: str, path: str, source: Any, *, query: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stream ``source`` (a binary file) as the body; yield the JSON lines of the answer."""
        return self.stream_json(method, path, query=query, body=source)

    def upload_put(self, path: str, source: Any, *, query: dict[str, str]) -> None:
        """PUT a binary file as the body (docker cp into a container)."""
        self._open("PUT", path, query=query, body=source, headers=None, versioned=True).read()

    def head(self, path: str, *, query: dict[str, str]) -> dict[str, str]:
        response = self._open("HEAD", path, query=query, body=None, headers=None, versioned=True)
        response.read()
        return dict(response.getheaders())

    def stream_bytes(self, method: str, path: str) -> Iterator[bytes]:
        response = self._open(method, path, query=None, body=None, headers=None, versioned=True)
        while chunk := response.read(1 << 20):
            yield chunk

    def get_json(self, path: str, **kwargs: Any) -> Any:
        _, data = self.request("GET", path, **kwargs)
        return json.loads(data) if data else None


def _message(data: bytes, status: int) -> str:
    try:
        message = json.loads(data).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else (data.decode(errors="replace").strip() or f"HTTP {status}")
