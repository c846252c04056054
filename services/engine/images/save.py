"""``docker save``: images as one tar that is both a Docker archive and an OCI image layout.

The layout is the one Docker 25+ writes: ``blobs/sha256/<hex>`` holds each config, manifest and
uncompressed layer tar; ``index.json`` and ``oci-layout`` make it an OCI layout, and
``manifest.json`` (Config, RepoTags, Layers) plus ``repositories`` make it a Docker archive that
every ``docker load`` reads. Layers are written uncompressed, named by their diff id, and
decompressed from the content store on the fly, so the archive streams and is never assembled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import BinaryIO

from services.engine.content import mediatypes as mt
from services.engine.content.digest import Digest
from services.engine.content.manifest import Descriptor, encode_manifest
from services.engine.content.store import read_chunks
from services.engine.images import reference as refs
from services.engine.images import tarstream
from services.engine.images.context import ImageContext
from services.engine.images.layering import lease_keys
from services.engine.images.lookup import lookup
from services.engine.images.models import ImageRecord, LayerRecord
from services.engine.unpack.decompress import open_stream
from services.kit import errors
from services.kit.files import open_binary

CHUNK = 1 << 20


@dataclasses.dataclass
class _Entry:
    image: ImageRecord
    names: list[str]
    """Fully qualified tags to record for the image."""


async def save(ctx: ImageContext, names: list[str]) -> AsyncIterator[bytes]:
    """Resolve every name first (so a bad one fails before any byte), then stream the tar."""
    if not names:
        raise errors.InvalidArgument("name at least one image to save", reason="NAME_REQUIRED")
    entries: dict[str, _Entry] = {}
    for value in names:
        for image_id, tag in await _targets(ctx, value):
            image = await ctx.records.get(image_id)
            if image is None:
                raise errors.NotFound(f"No such image: {value}", reason="IMAGE_UNKNOWN")
            entry = entries.setdefault(image_id, _Entry(image, []))
            if tag and tag not in entry.names:
                entry.names.append(tag)
    return _stream(ctx, list(entries.values()))


async def _targets(ctx: ImageContext, value: str) -> list[tuple[str, str]]:
    """(image id, tag to save it under) pairs; a bare repository name means all its tags."""
    try:
        ref = refs.parse(value)
    except errors.InvalidArgument:
        ref = None
    if ref is not None and not ref.tag and not ref.digest:
        tagged = await ctx.records.names_in_repository(ref.repository)
        if tagged:
            return [(image_id, name) for name, image_id in tagged]
    found = await lookup(ctx.records, value)
    return [(found.image_id, found.name if "@" not in found.name else "")]


async def _stream(ctx: ImageContext, entries: list[_Entry]) -> AsyncIterator[bytes]:
    keys = [k for e in entries for k in lease_keys(e.image.id, list(e.image.layers))]
    with ctx.leases.hold(keys):
        written: set[Digest] = set()
        manifests: list[dict[str, object]] = []
        index: list[Descriptor] = []
        repositories: dict[str, dict[str, str]] = {}
        for d in ("blobs", "blobs/sha256"):
            yield tarstream.directory(d)
        for entry in entries:
            image = entry.image
            for layer in image.layers:
                if layer.diff_id not in written:
                    written.add(layer.diff_id)
                    async for chunk in _layer(ctx, layer):
                        yield chunk
            if image.id not in written:
                written.add(image.id)
                yield tarstream.file(_blob_path(image.id), image.config)
            manifest = encode_manifest(
                Descriptor(mt.OCI_CONFIG, image.id, len(image.config)),
                [Descriptor(mt.OCI_LAYER, x.diff_id, x.tar_size) for x in image.layers],
                mt.OCI_MANIFEST,
            )
            manifest_digest = Digest.of(manifest)
            if manifest_digest not in written:
                written.add(manifest_digest)
                yield tarstream.file(_blob_path(manifest_digest), manifest)
            familiar = [refs.familiar(n) for n in entry.names]
            manifests.append(
                {
                    "Config": _blob_path(image.id),
                    "RepoTags": familiar or None,
                    "Layers": [_blob_path(x.diff_id) for x in image.layers],
                }
            )
            for name in entry.names or [""]:
                notes = {}
                if name:
                    notes["io.containerd.image.name"] = name
                    notes["org.opencontainers.image.ref.name"] = name.rpartition(":")[2]
                index.append(
                    Descriptor(mt.OCI_MANIFEST, manifest_digest, len(manifest), None, notes)
                )
            for name in familiar:
                repo, _, tag = name.rpartition(":")
                if image.layers:
                    repositories.setdefault(repo, {})[tag] = image.layers[-1].diff_id.hex
        yield tarstream.file("index.json", _index(index))
        yield tarstream.file("manifest.json", json.dumps(manifests).encode())
        yield tarstream.file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        if repositories:
            yield tarstream.file("repositories", json.dumps(repositories).encode())
        yield tarstream.END


def _blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def _index(manifests: list[Descriptor]) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [m.to_json() for m in manifests],
    }
    return json.dumps(doc).encode()


async def _layer(ctx: ImageContext, layer: LayerRecord) -> AsyncIterator[bytes]:
    """A layer's uncompressed tar as one archive member, checked against its recorded size."""
    yield tarstream.header(_blob_path(layer.diff_id), layer.tar_size)
    path = ctx.content.path(layer.blob.digest)
    sent = 0
    if layer.blob.digest == layer.diff_id:
        async for chunk in read_chunks(path, CHUNK):
            sent += len(chunk)
            yield chunk
    else:
        raw = await open_binary(path, "rb")
        try:
            stream, _ = await asyncio.to_thread(open_stream, raw)
            while chunk := await asyncio.to_thread(_read, stream):
                sent += len(chunk)
                yield chunk
        finally:
            raw.close()
    if sent != layer.tar_size:
        raise errors.Internal(
            f"layer {layer.diff_id} gave {sent} bytes, {layer.tar_size} were recorded"
        )
    yield tarstream.padding(sent)


def _read(stream: BinaryIO) -> bytes:
    return stream.read(CHUNK)
