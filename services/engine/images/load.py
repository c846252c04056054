"""``docker load``: a Docker archive (``manifest.json``) or an OCI image layout (``index.json``).

The archive is read from a file on this node (the gRPC layer spools a client stream into one);
a gzip/bzip2/xz-compressed archive is decompressed to a file first so members can be read in
any order. Every blob is copied into the content store and verified: OCI blobs against their
descriptor digests, Docker-archive layers through the diff ids their config lists, which the
unpacker checks. Nothing is recorded unless the whole image checks out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import shutil
import tarfile
from pathlib import Path
from typing import Any

from services.engine.content import mediatypes as mt
from services.engine.content.digest import Digest, chain_ids
from services.engine.content.manifest import Descriptor, Index, Manifest, parse
from services.engine.images import imageconfig, layering
from services.engine.images import reference as refs
from services.engine.images.context import ImageContext
from services.engine.images.models import ImageRecord, LayerRecord, LoadedImage, Progress
from services.engine.images.platform import select
from services.engine.images.progress import in_thread
from services.engine.unpack.decompress import open_stream, sniff
from services.kit import errors

MAX_JSON = 16 << 20


def invalid(why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid image archive: {why}", reason="ARCHIVE_INVALID")


@dataclasses.dataclass
class _Plan:
    """One image to load: where its config and layers are in the archive, and its names."""

    config: str
    layers: list[str]
    names: list[str]
    layer_digests: list[Descriptor | None]
    manifest: bytes = b""


async def load(ctx: ImageContext, path: Path) -> list[LoadedImage]:
    plain = await asyncio.to_thread(_plain_tar, ctx, path)
    try:
        archive = await asyncio.to_thread(_Archive, plain)
        try:
            plans = await asyncio.to_thread(_plans, archive, ctx)
            return [await _load_one(ctx, archive, plan) for plan in plans]
        finally:
            await asyncio.to_thread(archive.close)
    finally:
        if plain != path:
            plain.unlink(missing_ok=True)


def events(loaded: list[LoadedImage]) -> list[Progress]:
    """What ``docker load`` prints: one line per name, or the id of an unnamed image."""
    out = []
    for image in loaded:
        lines = [f"Loaded image: {n}" for n in image.names] or [f"Loaded image ID: {image.id}"]
        out += [Progress("", line, image_id=image.id) for line in lines]
    return out


def _plain_tar(ctx: ImageContext, path: Path) -> Path:
    with path.open("rb") as raw:
        if not sniff(raw.peek(8)[:8]):
            return path
        stream, _ = open_stream(raw)
        out = ctx.tmp / f"load-{secrets.token_hex(8)}.tar"
        ctx.tmp.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as f:
            shutil.copyfileobj(stream, f, 1 << 20)
    return out


class _Archive:
    def __init__(self, path: Path) -> None:
        try:
            self.tar = tarfile.open(path, "r:")  # noqa: SIM115 - closed by close()
            members = self.tar.getmembers()
        except (tarfile.TarError, OSError) as exc:
            raise invalid(f"not a tar archive ({exc})") from exc
        self.members = {_norm(m.name): m for m in members}

    def close(self) -> None:
        self.tar.close()

    def open(self, name: str) -> Any:
        member = self.members.get(_norm(name))
        if member is None:
            raise invalid(f"{name!r} is missing")
        try:
            f = self.tar.extractfile(member)
        except (tarfile.TarError, KeyError) as exc:
            raise invalid(f"{name!r} cannot be read ({exc})") from exc
        if f is None:
            raise invalid(f"{name!r} is not a file")
        return f

    def read(self, name: str, limit: int = MAX_JSON) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise invalid(f"{name!r} is larger than {limit} bytes")
        return bytes(data)

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except ValueError as exc:
            raise invalid(f"{name!r} is not JSON") from exc


def _plans(archive: _Archive, ctx: ImageContext) -> list[_Plan]:
    if "manifest.json" in archive.members:
        doc = archive.json("manifest.json")
        if not isinstance(doc, list):
            raise invalid("manifest.json is not a list")
        plans = []
        for item in doc:
            if not isinstance(item, dict) or not isinstance(item.get("Layers"), list):
                raise invalid("a manifest.json entry lacks Config or Layers")
            tags = [str(t) for t in item.get("RepoTags") or []]
            layers = [str(x) for x in item["Layers"]]
            plans.append(_Plan(str(item.get("Config")), layers, tags, [None] * len(layers)))
        return plans
    if "index.json" in archive.members:
        return _oci_plans(archive, ctx)
    raise invalid("it holds neither manifest.json (Docker) nor index.json (OCI layout)")


def _oci_plans(archive: _Archive, ctx: ImageContext) -> list[_Plan]:
    index = parse(archive.read("index.json"), mt.OCI_INDEX)
    if not isinstance(index, Index):
        raise invalid("index.json is not an index")
    plans: dict[Digest, _Plan] = {}
    for desc in index.manifests:
        chosen = desc
        names = _names(desc.annotations)
        if desc.media_type in mt.INDEXES:
            inner = parse(archive.read(_path(desc.digest)), desc.media_type)
            if not isinstance(inner, Index):
                raise invalid(f"{desc.digest} is not an index")
            chosen = select(inner, ctx.platform)
        data = archive.read(_path(chosen.digest))
        if Digest.of(data, chosen.digest.algorithm) != chosen.digest:
            raise invalid(f"manifest {chosen.digest} does not match its digest")
        manifest = parse(data, chosen.media_type)
        if not isinstance(manifest, Manifest):
            raise invalid(f"{chosen.digest} is not an image manifest")
        plan = plans.get(chosen.digest)
        if plan is None:
            layers = [_path(x.digest) for x in manifest.layers]
            plan = _Plan(_path(manifest.config.digest), layers, [], list(manifest.layers), data)
            plans[chosen.digest] = plan
        plan.names += [n for n in names if n not in plan.names]
    return list(plans.values())


def _names(annotations: dict[str, str]) -> list[str]:
    for key in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
        value = annotations.get(key, "")
        if "/" in value or ":" in value:  # a bare tag names no repository
            return [value]
    return []


def _norm(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


async def _load_one(ctx: ImageContext, archive: _Archive, plan: _Plan) -> LoadedImage:
    config_bytes = await asyncio.to_thread(archive.read, plan.config)
    config = imageconfig.parse(config_bytes)
    diff_ids = config.diff_ids
    if len(diff_ids) != len(plan.layers):
        raise invalid(f"config lists {len(diff_ids)} layers, the archive {len(plan.layers)}")
    names = [refs.parse(n).with_default_tag().tagged for n in plan.names]
    image_id = Digest.of(config_bytes)
    chains = chain_ids(diff_ids)
    layers: list[LayerRecord] = []
    with ctx.leases.hold([image_id, *chains]):
        for i, member in enumerate(plan.layers):
            known = await ctx.records.layer(chains[i])
            if known is not None and ctx.layers.exists(chains[i]):
                layers.append(known)
                continue
            blob = await in_thread(_copy_blob, ctx, archive, member, plan.layer_digests[i])
            with ctx.leases.hold([blob.digest]):
                layer, _ = await layering.unpack_blob(
                    ctx, blob, parent=chains[i - 1] if i else None, diff_id=diff_ids[i],
                    chain_id=chains[i],
                )  # fmt: skip
            layers.append(layer)
        manifest = None
        if plan.manifest:
            manifest = await asyncio.to_thread(ctx.content.put_bytes, plan.manifest)
        image = ImageRecord(image_id, config_bytes, tuple(layers), tuple(names), manifest=manifest)
        await layering.record(ctx, image)
    return LoadedImage(str(image_id), [refs.familiar(n) for n in names])


def _copy_blob(
    ctx: ImageContext, archive: _Archive, member: str, expected: Descriptor | None
) -> Descriptor:
    """Copy a layer member into the content store (verified if its digest is known)."""
    with (
        archive.open(member) as src,
        ctx.content.ingest(
            expected.digest if expected else None, expected.size if expected else None
        ) as ingest,
    ):
        head = src.read(1 << 20)
        kind = sniff(head)
        while head:
            ingest.write(head)
            head = src.read(1 << 20)
        digest = ingest.commit()
        size = ingest.hasher.size
    if expected is not None:
        return expected
    if kind not in ("", "gzip", "zstd"):
        raise invalid(f"layer {member!r} is compressed with {kind}, which images may not use")
    return Descriptor(mt.layer_type(kind), digest, size)
