"""Layer tars and OCI image layouts built in tests, entry by entry, with tarfile."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclasses.dataclass
class Entry:
    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str = ""
    xattrs: dict[str, str] = dataclasses.field(default_factory=dict)
    devmajor: int = 0
    devminor: int = 0


def d(name: str, mode: int = 0o755, **kw: Any) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode=mode, **kw)


def f(name: str, data: bytes = b"", mode: int = 0o644, **kw: Any) -> Entry:
    return Entry(name, tarfile.REGTYPE, data, mode=mode, **kw)


def sym(name: str, target: str) -> Entry:
    return Entry(name, tarfile.SYMTYPE, mode=0o777, link=target)


def hard(name: str, target: str) -> Entry:
    return Entry(name, tarfile.LNKTYPE, link=target)


def tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type, info.mode, info.uid, info.gid = e.type, e.mode, e.uid, e.gid
            info.linkname, info.size, info.mtime = e.link, len(e.data), 1_700_000_000
            info.devmajor, info.devminor = e.devmajor, e.devminor
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            tf.addfile(info, io.BytesIO(e.data) if e.type == tarfile.REGTYPE else None)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def three_layers() -> list[bytes]:
    """A base, an addition and a deletion layer with every feature a rootfs needs."""
    base = tar(
        [
            d("bin"),
            f("bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
            sym("bin/sh", "tool"),
            d("usr"),
            d("usr/bin"),
            sym("usr/bin/env", "/bin/tool"),
            d("tmp", 0o1777),
            f("usr/bin/su", b"setuid", 0o4755, uid=1000, gid=1000),
            f("data.bin", b"x" * 5000, xattrs={"user.note": "hello"}),
            hard("data.hard", "data.bin"),
            d("etc"),
            f("etc/foo", b"foo\n"),
            d("data"),
            d("data/dir"),
            f("data/dir/old1", b"1"),
            f("data/dir/old2", b"2"),
            d("app"),
            f("app/hello.sh", b"hello"),
        ]
    )
    add = tar(
        [
            d("etc"),
            f("etc/bar", b"bar\n"),
            d("data/dir"),
            f("data/dir/l2file", b"l2"),
            f("app/hello2.sh", b"hello2"),
        ]
    )
    delete = tar(
        [
            f("etc/.wh.foo"),
            f("app/.wh.hello.sh"),
            d("data/dir"),
            f("data/dir/.wh..wh..opq"),
            f("data/dir/new", b"new"),
        ]
    )
    return [base, add, delete]


@dataclasses.dataclass(frozen=True)
class Built:
    """An image written into an OCI layout."""

    manifest_digest: str
    config_digest: str
    diff_ids: list[str]
    blob_digests: list[str]


class Layout:
    """An OCI image layout directory that skopeo can copy from."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.index: list[dict[str, Any]] = []

    def blob(self, data: bytes) -> str:
        digest = sha256(data)
        (self.root / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return digest

    def image(
        self,
        layers: list[bytes],
        *,
        arch: str = "amd64",
        cmd: list[str] | None = None,
        labels: dict[str, str] | None = None,
        level: int = 9,
    ) -> tuple[dict[str, Any], Built]:
        """Write config, layers (gzipped) and manifest; returns the manifest descriptor."""
        diff_ids = [sha256(layer) for layer in layers]
        gz = [gzip.compress(layer, compresslevel=level, mtime=0) for layer in layers]
        config = {
            "architecture": arch,
            "os": "linux",
            "created": "2024-01-02T03:04:05.123456789Z",
            "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=/bin"], "Labels": labels or {}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [
                {"created": "2024-01-02T03:04:05Z", "created_by": f"layer {i}"}
                for i in range(len(layers))
            ],
        }
        config_bytes = json.dumps(config).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": self.blob(config_bytes),
                "size": len(config_bytes),
            },
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": self.blob(g), "size": len(g)} for g in gz
            ],
        }
        data = json.dumps(manifest).encode()
        digest = self.blob(data)
        desc: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(data)}
        built = Built(digest, sha256(config_bytes), diff_ids, [sha256(g) for g in gz])
        return desc, built

    def tag(self, desc: dict[str, Any], tag: str) -> None:
        self.index.append({**desc, "annotations": {"org.opencontainers.image.ref.name": tag}})
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index}
        (self.root / "index.json").write_text(json.dumps(doc))

    def multi(self, platforms: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """An index blob over per-architecture manifests; returns its descriptor."""
        manifests = [
            {
                **desc,
                "platform": {
                    "architecture": arch,
                    "os": "linux",
                    **({"variant": "v8"} if arch == "arm64" else {}),
                },
            }
            for arch, desc in platforms.items()
        ]
        data = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        ).encode()
        return {"mediaType": OCI_INDEX, "digest": self.blob(data), "size": len(data)}
