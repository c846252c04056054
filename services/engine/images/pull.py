"""``docker pull``: manifest → platform → config → layers (downloaded, verified, unpacked).

Up to three layers download at once and two unpack at once; each layer is unpacked into its own
directory as soon as its blob is verified, since a layer directory does not depend on the ones
below it. The image is recorded only when every layer is in place. Progress uses Docker's words
so the gateway can render Docker's JSON stream from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from services.engine.content.digest import Digest, DigestMismatch, chain_ids
from services.engine.content.manifest import Descriptor, Index, Manifest, Platform, parse
from services.engine.distribution.auth import Credentials
from services.engine.distribution.client import Repository
from services.engine.images import imageconfig, layering, progress
from services.engine.images import reference as refs
from services.engine.images.context import ImageContext
from services.engine.images.models import ImageRecord, LayerRecord, Progress
from services.engine.images.platform import select
from services.engine.images.progress import Emit, Throttle
from services.kit import errors

MAX_CONFIG = 16 << 20


def pull(
    ctx: ImageContext, reference: str, creds: Credentials, platform: Platform | None = None
) -> AsyncIterator[Progress]:
    ref = refs.parse(reference).with_default_tag()
    want = platform or ctx.platform
    return progress.stream(lambda emit: _pull(ctx, ref, creds, want, emit), name="image-pull")


async def _pull(
    ctx: ImageContext, ref: refs.Reference, creds: Credentials, platform: Platform, emit: Emit
) -> None:
    repo = await ctx.registries.open(ref.registry, ref.path, creds)
    emit(Progress(ref.tag or str(ref.digest), f"Pulling from {ref.path}"))
    top, manifest, manifest_bytes = await _resolve(repo, ref, platform)
    config_bytes = await _small_blob(repo, manifest.config)
    config = imageconfig.parse(config_bytes)
    diff_ids = config.diff_ids
    if len(diff_ids) != len(manifest.layers):
        raise errors.InvalidArgument(
            f"image config lists {len(diff_ids)} layers, the manifest {len(manifest.layers)}",
            reason="MANIFEST_INVALID",
        )
    image_id = Digest.of(config_bytes)
    chains = chain_ids(diff_ids)
    names = ([ref.tagged] if ref.tag else []) + [f"{ref.repository}@{top}"]
    blobs = [d.digest for d in manifest.layers]
    with ctx.leases.hold([image_id, *chains, *blobs]):
        manifest_digest = await asyncio.to_thread(ctx.content.put_bytes, manifest_bytes)
        existing = await ctx.records.get(str(image_id))
        if existing is not None and all(ctx.layers.exists(c) for c in chains):
            await ctx.records.set_names(str(image_id), names)
            _done(emit, ref, top, image_id, "Image is up to date for")
            return
        for layer in manifest.layers:
            emit(Progress(layer.digest.short, "Pulling fs layer"))
        gates = (
            asyncio.Semaphore(ctx.download_concurrency),
            asyncio.Semaphore(ctx.unpack_concurrency),
        )
        jobs = [
            _layer(
                ctx, repo, blob, chains[i - 1] if i else None, diff_ids[i], chains[i], emit, gates
            )
            for i, blob in enumerate(manifest.layers)
        ]
        layers: list[LayerRecord] = await progress.run_all(jobs)
        image = ImageRecord(
            id=image_id,
            config=config_bytes,
            layers=tuple(layers),
            names=tuple(names),
            manifest=manifest_digest,
        )
        await layering.record(ctx, image)
    _done(emit, ref, top, image_id, "Downloaded newer image for")


def _done(emit: Emit, ref: refs.Reference, top: Digest, image_id: Digest, what: str) -> None:
    emit(Progress("", f"Digest: {top}"))
    emit(Progress("", f"Status: {what} {ref.familiar}", image_id=str(image_id), digest=str(top)))


async def _resolve(
    repo: Repository, ref: refs.Reference, platform: Platform
) -> tuple[Digest, Manifest, bytes]:
    """(digest of what the reference names, the platform's manifest, its bytes)."""
    media_type, data, header = await repo.get_manifest(str(ref.digest) if ref.digest else ref.tag)
    top = _verify(data, ref.digest or (Digest.parse(header) if header else None), str(ref))
    doc = parse(data, media_type)
    if isinstance(doc, Index):
        chosen = select(doc, platform)
        media_type, data, _ = await repo.get_manifest(str(chosen.digest))
        _verify(data, chosen.digest, str(ref))
        doc = parse(data, media_type)
        if isinstance(doc, Index):
            raise errors.InvalidArgument(
                f"{ref.familiar}: an index inside an index is not supported",
                reason="MANIFEST_UNSUPPORTED",
            )
    return top, doc, data


def _verify(data: bytes, want: Digest | None, what: str) -> Digest:
    got = Digest.of(data, want.algorithm if want else "sha256")
    if want is not None and got != want:
        raise DigestMismatch(f"manifest of {what} hashes to {got}, expected {want}")
    return got


async def _small_blob(repo: Repository, desc: Descriptor) -> bytes:
    """A config: small enough to hold, verified against its descriptor before it is parsed."""
    if desc.size > MAX_CONFIG:
        raise errors.InvalidArgument(
            f"image config {desc.digest} is {desc.size} bytes; at most {MAX_CONFIG} allowed",
            reason="CONFIG_INVALID",
        )
    data = bytearray()

    async def sink(chunk: bytes) -> None:
        data.extend(chunk)
        if len(data) > desc.size:
            raise DigestMismatch(f"blob {desc.digest} is longer than {desc.size} bytes")

    await repo.fetch_blob(str(desc.digest), sink)
    if Digest.of(bytes(data), desc.digest.algorithm) != desc.digest:
        raise DigestMismatch(f"image config does not hash to {desc.digest}")
    return bytes(data)


async def _layer(
    ctx: ImageContext,
    repo: Repository,
    blob: Descriptor,
    parent: Digest | None,
    diff_id: Digest,
    chain_id: Digest,
    emit: Emit,
    gates: tuple[asyncio.Semaphore, asyncio.Semaphore],
) -> LayerRecord:
    short = blob.digest.short
    if ctx.layers.exists(chain_id):
        known = await ctx.records.layer(chain_id)
        if known is not None and ctx.content.exists(known.blob.digest):
            emit(Progress(short, "Already exists"))
            return known  # with the blob already stored, which may differ from this one
    async with gates[0]:
        if not ctx.content.exists(blob.digest):
            await _download(ctx, repo, blob, emit)
        emit(Progress(short, "Download complete"))
    async with gates[1]:
        extracting = Throttle(progress.threadsafe(emit), short, "Extracting", blob.size)
        extracting(0)
        layer, _ = await layering.unpack_blob(
            ctx, blob, parent=parent, diff_id=diff_id, chain_id=chain_id, progress=extracting
        )
    emit(Progress(short, "Pull complete"))
    return layer


async def _download(ctx: ImageContext, repo: Repository, blob: Descriptor, emit: Emit) -> None:
    short = blob.digest.short
    report = Throttle(emit, short, "Downloading", blob.size)
    async with ctx.content.writer(blob.digest, blob.size) as writer:

        async def sink(data: bytes) -> None:
            await writer.write(data)
            report(writer.written)

        await repo.fetch_blob(str(blob.digest), sink)
        emit(Progress(short, "Verifying Checksum"))
        await writer.commit()
