"""``docker push``: the layers and config a registry lacks, then the manifest under each tag.

A blob the repository already holds is skipped (HEAD). One that another repository of the same
registry holds, as far as this node knows from its repo digests, is mounted from there instead
of uploaded. The manifest is the one the image was pulled with when all its blobs are still
here, so a pushed image keeps its digest; images made on this node get a new OCI manifest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from services.engine.content import mediatypes as mt
from services.engine.content.digest import Digest
from services.engine.content.manifest import Descriptor, Manifest, encode_manifest, parse
from services.engine.content.store import read_chunks
from services.engine.distribution.auth import Credentials
from services.engine.distribution.client import Repository
from services.engine.images import progress
from services.engine.images import reference as refs
from services.engine.images.context import ImageContext
from services.engine.images.layering import lease_keys
from services.engine.images.models import ImageRecord, Progress
from services.engine.images.progress import Emit, Throttle
from services.kit import errors


def push(ctx: ImageContext, reference: str, creds: Credentials) -> AsyncIterator[Progress]:
    ref = refs.parse(reference)
    if ref.digest is not None:
        raise errors.InvalidArgument(
            f"cannot push {reference}: push a tag, not a digest", reason="REFERENCE_INVALID"
        )
    return progress.stream(lambda emit: _push(ctx, ref, creds, emit), name="image-push")


async def _push(ctx: ImageContext, ref: refs.Reference, creds: Credentials, emit: Emit) -> None:
    if ref.tag:
        image_id = await ctx.records.resolve_name(ref.tagged)
        if image_id is None:
            raise errors.NotFound(
                f"An image does not exist locally with the tag: {ref.familiar_repository}",
                reason="IMAGE_UNKNOWN",
            )
        targets = [(ref.tagged, image_id)]
    else:
        targets = await ctx.records.names_in_repository(ref.repository)
        if not targets:
            raise errors.NotFound(
                f"An image does not exist locally with the tag: {ref.familiar_repository}",
                reason="IMAGE_UNKNOWN",
            )
    repo = await ctx.registries.open(ref.registry, ref.path, creds, push=True)
    emit(Progress("", f"The push refers to repository [{ref.familiar_repository}]"))
    for name, image_id in targets:
        image = await ctx.records.get(image_id)
        if image is None:
            raise errors.NotFound(f"image {image_id} disappeared", reason="IMAGE_UNKNOWN")
        with ctx.leases.hold(lease_keys(image.id, list(image.layers))):
            await _push_image(ctx, repo, ref, image, name.rpartition(":")[2], emit)


async def _push_image(
    ctx: ImageContext,
    repo: Repository,
    ref: refs.Reference,
    image: ImageRecord,
    tag: str,
    emit: Emit,
) -> None:
    media_type, data = await _manifest_for(ctx, image)
    for layer in reversed(image.layers):
        emit(Progress(layer.blob.digest.short, "Preparing"))
    sources = _mount_sources(image, ref)
    gate = asyncio.Semaphore(ctx.download_concurrency)
    seen: set[Digest] = set()
    jobs = []
    for layer in reversed(image.layers):
        if layer.blob.digest not in seen:
            seen.add(layer.blob.digest)
            jobs.append(_push_blob(ctx, repo, layer.blob, sources, gate, emit, show=True))
    config = Descriptor(mt.OCI_CONFIG, image.id, len(image.config))
    jobs.append(_push_blob(ctx, repo, config, sources, gate, emit, show=False))
    await progress.run_all(jobs)
    digest = Digest.of(data)
    await repo.put_manifest(tag, media_type, data)
    await asyncio.to_thread(ctx.content.put_bytes, data, digest)
    await ctx.records.set_manifest(str(image.id), digest)
    await ctx.records.set_names(str(image.id), [f"{ref.repository}@{digest}"])
    emit(
        Progress(
            "",
            f"{tag}: digest: {digest} size: {len(data)}",
            image_id=str(image.id),
            digest=str(digest),
            tag=tag,
            size=len(data),
        )
    )


def _mount_sources(image: ImageRecord, ref: refs.Reference) -> list[str]:
    """Other repositories of the same registry known to hold this image's blobs."""
    out = []
    for name in image.digests:
        other = refs.parse(name)
        if other.registry == ref.registry and other.path != ref.path and other.path not in out:
            out.append(other.path)
    return out


async def _push_blob(
    ctx: ImageContext,
    repo: Repository,
    blob: Descriptor,
    sources: list[str],
    gate: asyncio.Semaphore,
    emit: Emit,
    *,
    show: bool,
) -> None:
    short = blob.digest.short
    say = emit if show else (lambda _: None)
    async with gate:
        if await repo.blob_size(str(blob.digest)) is not None:
            say(Progress(short, "Layer already exists"))
            return
        for source in sources:
            if await repo.mount_blob(str(blob.digest), source):
                say(Progress(short, f"Mounted from {source}"))
                return
        path = ctx.content.path(blob.digest)
        if not ctx.content.exists(blob.digest):
            raise errors.FailedPrecondition(
                f"blob {blob.digest} of the image is no longer stored on this node",
                reason="BLOB_UNKNOWN",
            )
        report = Throttle(say, short, "Pushing", blob.size)

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            async for chunk in read_chunks(path, 1 << 18):
                sent += len(chunk)
                report(sent)
                yield chunk

        await repo.upload_blob(str(blob.digest), blob.size, body())
        say(Progress(short, "Pushed"))


async def _manifest_for(ctx: ImageContext, image: ImageRecord) -> tuple[str, bytes]:
    """The manifest the image came with, if still complete here; else a new OCI manifest."""
    if image.manifest is not None and ctx.content.exists(image.manifest):
        data = await asyncio.to_thread(ctx.content.read_bytes, image.manifest)
        doc = parse(data)
        blobs = [layer.blob.digest for layer in image.layers]
        if (
            isinstance(doc, Manifest)
            and doc.config.digest == image.id
            and [d.digest for d in doc.layers] == blobs
        ):
            return doc.media_type, data
    docker = all(layer.blob.media_type == mt.DOCKER_LAYER_GZIP for layer in image.layers)
    config_type = mt.DOCKER_CONFIG if docker and image.layers else mt.OCI_CONFIG
    config = Descriptor(config_type, image.id, len(image.config))
    kind = mt.DOCKER_MANIFEST if docker and image.layers else mt.OCI_MANIFEST
    layers = [layer.blob for layer in image.layers]
    return kind, encode_manifest(config, layers, kind)
