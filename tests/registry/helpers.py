"""A small OCI Distribution client for the tests, over aiohttp, plus free-port and gRPC helpers.

It speaks plain HTTP to a registry on 127.0.0.1 and returns real responses; the tests assert on
statuses, headers and the error envelope themselves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import os
import socket
from pathlib import Path
from typing import Any

import aiohttp

from tests.registry.imagegen import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST

EMPTY_JSON = b"{}"
EMPTY_MEDIA = "application/vnd.oci.empty.v1+json"


async def exists(path: Path) -> bool:
    """``path.exists()`` off the event loop, which the in-process registry shares."""
    return await asyncio.to_thread(path.exists)


async def read_bytes(path: Path) -> bytes:
    return await asyncio.to_thread(path.read_bytes)


async def write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` (and make its directory) off the event loop."""

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    await asyncio.to_thread(write)


async def listdir(path: Path) -> list[str]:
    return sorted(await asyncio.to_thread(os.listdir, path))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


@dataclasses.dataclass
class Reply:
    """A response read whole: status, headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        """The code of the first error in the envelope (and checks the envelope's shape)."""
        assert self.headers.get("Content-Type") == "application/json", self.headers
        doc = self.json()
        first = doc["errors"][0]
        assert set(first) == {"code", "message", "detail"}, doc
        assert isinstance(first["message"], str)
        assert first["message"]
        return str(first["code"])


class Client:
    """Requests to one registry; ``base`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        url = path if path.startswith("http") else self.base + path
        data = kwargs.get("data")
        if isinstance(data, bytes) and len(data) > 1 << 20:
            kwargs["data"] = io.BytesIO(data)  # aiohttp warns about large raw bodies
        async with self.session.request(
            method, url, allow_redirects=False, auto_decompress=False, **kwargs
        ) as resp:
            body = await resp.read()
            headers = {k: v for k, v in resp.headers.items()}
            return Reply(resp.status, headers, body)

    # ---- blobs

    async def push_blob(self, repo: str, data: bytes, digest: str | None = None) -> Reply:
        """POST a session, then PUT the whole blob with its digest."""
        start = await self.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert start.status == 202, start
        digest = digest or digest_of(data)
        return await self.request(
            "PUT",
            self.location(start),
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    async def start_upload(self, repo: str) -> str:
        reply = await self.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert reply.status == 202, reply
        return self.location(reply)

    def location(self, reply: Reply) -> str:
        location = reply.headers["Location"]
        return location if location.startswith("http") else self.base + location

    async def patch(self, url: str, data: bytes, start: int | None = None) -> Reply:
        headers = {"Content-Type": "application/octet-stream"}
        if start is not None:
            headers["Content-Range"] = f"{start}-{start + len(data) - 1}"
        return await self.request("PATCH", url, data=data, headers=headers)

    async def blob(self, repo: str, digest: str, **kwargs: Any) -> Reply:
        return await self.request("GET", f"/v2/{repo}/blobs/{digest}", **kwargs)

    # ---- manifests

    async def put_manifest(
        self, repo: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST
    ) -> Reply:
        return await self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            data=body,
            headers={"Content-Type": media_type},
        )

    async def manifest(self, repo: str, reference: str, accept: str = "*/*") -> Reply:
        return await self.request(
            "GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept}
        )

    async def manifest_with(self, repo: str, reference: str, headers: dict[str, str]) -> Reply:
        """GET a manifest with extra headers (credentials)."""
        return await self.request("GET", f"/v2/{repo}/manifests/{reference}", headers=headers)

    async def push_image(
        self, repo: str, tag: str | None, layers: list[bytes]
    ) -> tuple[bytes, str]:
        """Push blobs and an OCI manifest naming them; ``(manifest bytes, digest)``."""
        manifest = image_manifest(layers)
        for blob in [EMPTY_JSON, *layers]:
            reply = await self.push_blob(repo, blob)
            assert reply.status == 201, reply
        digest = digest_of(manifest)
        reply = await self.put_manifest(repo, tag or digest, manifest)
        assert reply.status == 201, reply
        return manifest, digest


def descriptor(media_type: str, data: bytes, **extra: object) -> dict[str, object]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def image_manifest(
    layers: list[bytes],
    *,
    config: bytes = EMPTY_JSON,
    config_type: str = OCI_CONFIG,
    **extra: object,
) -> bytes:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config_type, config),
        "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
        **extra,
    }
    return json.dumps(doc).encode()


async def raw_request(
    port: int, head: bytes, body: bytes = b"", *, close_write: bool = False
) -> bytes:
    """Send bytes as they are (no client normalizing the path) and read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        if close_write:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()
