"""Test images made from random bytes: OCI image layouts that skopeo and oras can push.

``write_image`` writes a directory in the OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/...``): gzip'd tar layers each holding one file of random bytes, a config naming
their diff ids, and a manifest. Layers are streamed to disk, so a 256 MiB layer never sits in
memory. The same seed gives the same image, byte for byte.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import random
import tarfile
from pathlib import Path
from typing import BinaryIO

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
_PIECE = 1 << 20


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def random_bytes(size: int, seed: int) -> bytes:
    """``size`` deterministic random bytes (generated a MiB at a time)."""
    rng = random.Random(seed)
    return b"".join(rng.randbytes(min(_PIECE, size - at)) for at in range(0, size, _PIECE))


class _RandomReader(io.RawIOBase):
    """A file-like source of ``size`` deterministic random bytes."""

    def __init__(self, size: int, seed: int) -> None:
        self._left = size
        self._rng = random.Random(seed)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        self._left -= n
        return self._rng.randbytes(n) if n else b""


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes what passes through to ``target``."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.hash.update(data)
        self.size += len(data)
        self._target.write(data)
        return len(data)


def write_layer(path: Path, size: int, seed: int) -> tuple[str, str, int]:
    """Write a gzip'd tar holding one random file; returns ``(digest, diff_id, size)``."""
    level = 1 if size < (8 << 20) else 0  # big layers: stored, so making them stays quick
    with open(path, "wb") as raw:
        outer = _Hashing(raw)
        with gzip.GzipFile(fileobj=outer, mode="wb", compresslevel=level, mtime=0) as gz:
            inner = _Hashing(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                info = tarfile.TarInfo(f"file-{seed}.bin")
                info.size, info.mtime, info.mode = size, 0, 0o644
                tar.addfile(info, _RandomReader(size, seed))
    digest = "sha256:" + outer.hash.hexdigest()
    return digest, "sha256:" + inner.hash.hexdigest(), outer.size


def descriptor(media_type: str, data: bytes, **extra: object) -> dict[str, object]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


@dataclasses.dataclass(frozen=True)
class Image:
    """An image written as an OCI layout."""

    layout: Path
    tag: str
    manifest: bytes
    config: bytes
    layer_digests: tuple[str, ...]

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    def blob_path(self, digest: str) -> Path:
        return self.layout / "blobs" / "sha256" / digest.removeprefix("sha256:")

    def blob_digests(self) -> list[str]:
        return [sha256(self.config), *self.layer_digests]


def write_image(directory: Path, *, sizes: list[int], seed: int, tag: str = "latest") -> Image:
    """Write an OCI image layout into ``directory`` (created) and describe it."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    layers, diff_ids = [], []
    for i, size in enumerate(sizes):
        tmp = blobs / f"tmp-{i}"
        digest, diff_id, length = write_layer(tmp, size, seed * 1000 + i)
        tmp.rename(blobs / digest.removeprefix("sha256:"))
        layers.append({"mediaType": OCI_LAYER, "digest": digest, "size": length})
        diff_ids.append(diff_id)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": [f"SEED={seed}"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": layers,
        },
        indent=2,
    ).encode()
    for data in (manifest, config):
        (blobs / sha256(data).removeprefix("sha256:")).write_bytes(data)
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    ref = {"org.opencontainers.image.ref.name": tag}
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, manifest, annotations=ref)],
    }
    (directory / "index.json").write_text(json.dumps(index))
    digests = tuple(str(layer["digest"]) for layer in layers)
    return Image(directory, tag, manifest, config, digests)


def layout_manifest(directory: Path) -> bytes:
    """The manifest bytes of the single image in an OCI layout."""
    index = json.loads((directory / "index.json").read_text())
    digest = str(index["manifests"][0]["digest"])
    return (directory / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def file_digest(path: Path) -> str:
    """sha256 of a file, read a MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_PIECE):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
