"""Images made on this node from a root filesystem tar: ``docker import``, and the bases the
engine builds itself (busybox, Debian bootstraps) go through ``from_tar``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from services.engine.content.digest import Digest
from services.engine.content.manifest import Platform
from services.engine.images import changes as change_rules
from services.engine.images import imageconfig, layering
from services.engine.images import reference as refs
from services.engine.images.context import ImageContext
from services.engine.images.models import ImageRecord, LayerRecord
from services.engine.images.progress import in_thread

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


async def from_tar(
    ctx: ImageContext,
    source: Path | BinaryIO,
    *,
    names: list[str],
    container: dict[str, Any],
    history: list[dict[str, Any]],
    created: str = "",
    comment: str = "",
    platform: Platform | None = None,
) -> ImageRecord:
    """One-layer image from a tar file or stream (gzip, bzip2, xz or plain)."""
    tagged = [refs.parse(n).with_default_tag().tagged for n in names]
    layer = await in_thread(_make, ctx, source)
    with ctx.leases.hold([layer.chain_id, layer.blob.digest]):
        config = imageconfig.new_config(
            platform=platform or ctx.platform,
            diff_ids=[layer.diff_id],
            container=container,
            history=history,
            created=created or imageconfig.timestamp(),
            comment=comment,
        )
        image = ImageRecord(Digest.of(config), config, (layer,), tuple(tagged))
        return await layering.record(ctx, image)


def _make(
    ctx: ImageContext,
    source: Path | BinaryIO,
    parent: Digest | None = None,
    level: int = layering.GZIP_LEVEL,
) -> LayerRecord:
    if isinstance(source, Path):
        with source.open("rb", buffering=1 << 20) as raw:
            return layering.make_layer(ctx, raw, parent, level=level)
    return layering.make_layer(ctx, source, parent, level=level)


async def import_image(
    ctx: ImageContext,
    source: Path,
    *,
    reference: str = "",
    changes: list[str] | None = None,
    message: str = "",
    platform: Platform | None = None,
) -> ImageRecord:
    """``docker import``: the tarball becomes the only layer; ``changes`` set the config."""
    if reference:
        refs.parse(reference)  # refuse a bad name before the work
    container = change_rules.apply({}, changes or [])
    created = imageconfig.timestamp()
    entry = {"created": created, "comment": message or "Imported from tarball"}
    return await from_tar(
        ctx,
        source,
        names=[reference] if reference else [],
        container=container,
        history=[entry],
        created=created,
        comment=message,
        platform=platform,
    )


async def commit(
    ctx: ImageContext,
    layer_tar: Path | None,
    *,
    parent: ImageRecord | None,
    container: dict[str, Any] | None = None,
    changes: list[str] | None = None,
    reference: str = "",
    comment: str = "",
    author: str = "",
    created_by: str = "",
    gzip_level: int = layering.GZIP_LEVEL,
) -> ImageRecord:
    """A new image: ``parent``'s layers plus ``layer_tar`` (a container's diff, whiteouts as
    ``.wh.`` entries). ``container`` replaces the parent's container config, ``changes`` are
    applied on top. A build step also commits this way: without a layer for a step that only
    changes the config (history says ``empty_layer``), without a parent after FROM scratch."""
    if reference:
        refs.parse(reference)
    base = imageconfig.parse(parent.config) if parent is not None else None
    below = parent.layers if parent is not None else ()
    top = below[-1].chain_id if below else None
    held = [parent.id] if parent is not None else []
    with ctx.leases.hold([*held, *(x.chain_id for x in below)]):
        layer = (
            None if layer_tar is None else await in_thread(_make, ctx, layer_tar, top, gzip_level)
        )
        created = imageconfig.timestamp()
        settings = change_rules.apply(
            (base.container if base else {}) if container is None else container, changes or []
        )
        entry: dict[str, Any] = {"created": created, "created_by": created_by}
        if comment:
            entry["comment"] = comment
        if author:
            entry["author"] = author
        if layer is None:
            entry["empty_layer"] = True
        config = imageconfig.new_config(
            platform=base.platform if base else ctx.platform,
            diff_ids=[layer.diff_id] if layer else [],
            container=settings,
            history=[entry],
            created=created,
            author=author,
            comment=comment,
            base=base,
        )
        names = (refs.parse(reference).with_default_tag().tagged,) if reference else ()
        layers = (*below, layer) if layer else below
        image = ImageRecord(
            Digest.of(config), config, layers, names, parent=str(parent.id) if parent else ""
        )
        return await layering.record(ctx, image)
