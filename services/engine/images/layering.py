"""Steps every way of getting an image shares: unpack a layer, make a layer, record the image.

Pull and load arrive with blobs and unpack them (``unpack_blob``); import, the busybox base and
bootstraps arrive with a plain tar and make the layer while unpacking it (``make_layer``: one
pass that hashes the diff id, gzips into the content store and unpacks). ``record`` stores the
config blob and the image row once every layer is in place, so an image is never visible with a
layer missing.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable
from typing import BinaryIO

from services.engine.content import mediatypes as mt
from services.engine.content.digest import Digest
from services.engine.content.manifest import Descriptor
from services.engine.content.store import Ingest
from services.engine.images.context import ImageContext
from services.engine.images.models import ImageRecord, LayerRecord
from services.engine.images.progress import in_thread
from services.kit import errors

GZIP_LEVEL = 6


async def unpack_blob(
    ctx: ImageContext,
    blob: Descriptor,
    *,
    parent: Digest | None,
    diff_id: Digest,
    chain_id: Digest,
    progress: Callable[[int], None] | None = None,
) -> tuple[LayerRecord, bool]:
    """The layer for a stored blob; unpacked unless it already is. True if it was unpacked."""
    if ctx.layers.exists(chain_id):
        known = await ctx.records.layer(chain_id)
        if known is not None:
            return LayerRecord(chain_id, diff_id, known.size, known.tar_size, blob), False
    done = await in_thread(
        ctx.layers.unpack_file,
        ctx.content.path(blob.digest),
        parent=parent,
        diff_id=diff_id,
        progress=progress,
    )
    return LayerRecord(done.chain_id, done.diff_id, done.size, done.tar_size, blob), True


def make_layer(
    ctx: ImageContext, raw: BinaryIO, parent: Digest | None, *, level: int = GZIP_LEVEL
) -> LayerRecord:
    """Unpack a tar (compressed or not) and store it gzipped at ``level`` (a build asks for
    less work than 6 on what barely compresses). Blocking: run in a thread."""
    with ctx.content.ingest() as ingest:
        gz = gzip.GzipFile(
            filename="", fileobj=_Sink(ingest), mode="wb", compresslevel=level, mtime=0
        )
        done = ctx.layers.unpack(raw, parent=parent, diff_id=None, tee=_writer(gz))
        gz.close()
        digest = ingest.commit()
        blob = Descriptor(mt.OCI_LAYER_GZIP, digest, ingest.hasher.size)
    return LayerRecord(done.chain_id, done.diff_id, done.size, done.tar_size, blob)


def _writer(gz: gzip.GzipFile) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        gz.write(data)

    return write


class _Sink:
    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest

    def write(self, data: bytes) -> int:
        self._ingest.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


async def record(ctx: ImageContext, image: ImageRecord) -> ImageRecord:
    """Store the config blob and the image with its names; returns what is stored now.

    Under the image lock, which removal also holds, every layer directory and blob is checked
    to exist, so an image is never recorded over a layer that a concurrent removal took away.
    """
    if not ctx.content.exists(image.id):
        await asyncio.to_thread(ctx.content.put_bytes, image.config, image.id)
    async with ctx.leases.lock:
        missing = [str(x.chain_id) for x in image.layers if not ctx.layers.exists(x.chain_id)]
        missing += [
            str(x.blob.digest) for x in image.layers if not ctx.content.exists(x.blob.digest)
        ]
        if missing or not ctx.content.exists(image.id):
            raise errors.Aborted(
                f"image {image.id} lost {', '.join(missing) or 'its config'} to a concurrent "
                "removal; try again",
                reason="IMAGE_RACE",
            )
        await ctx.records.add(image)
    stored = await ctx.records.get(str(image.id))
    if stored is None:
        raise errors.Internal(f"image {image.id} was recorded but cannot be read back")
    return stored


def lease_keys(image_id: Digest, layers: list[LayerRecord] | list[Digest]) -> list[str]:
    keys = [str(image_id)]
    for layer in layers:
        if isinstance(layer, LayerRecord):
            keys += [str(layer.chain_id), str(layer.blob.digest)]
        else:
            keys.append(str(layer))
    return keys
