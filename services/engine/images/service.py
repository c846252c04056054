"""``ImageService``: the one object the rest of the engine (gRPC servicer, container side) uses.

Each operation lives in its own module; this facade wires them to one ``ImageContext`` and adds
the lookups the container side needs to build a root filesystem: ``rootfs`` (layer directories,
lowest first, plus the config), ``rootfs_layers`` and ``image_config``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from services.engine.content.digest import Digest
from services.engine.content.manifest import Platform
from services.engine.distribution.auth import Credentials
from services.engine.images import bootstrap as bootstrap_mod
from services.engine.images import (
    build,
    busybox,
    imageconfig,
    load,
    pull,
    push,
    remove,
    save,
    views,
)
from services.engine.images import reference as refs
from services.engine.images.context import ImageContext
from services.engine.images.imageconfig import ImageConfig
from services.engine.images.lookup import lookup, no_such_image
from services.engine.images.models import (
    DeleteItem,
    HistoryItem,
    ImageDetails,
    ImageRecord,
    ImageSummary,
    LoadedImage,
    Progress,
)
from services.kit import errors


@dataclasses.dataclass(frozen=True)
class RootFS:
    """What the container side needs to make a container's root filesystem."""

    image_id: str
    layers: list[Path]
    """Unpacked layer directories, lowest first (overlayfs wants them reversed)."""
    config: ImageConfig


class ImageService:
    def __init__(self, ctx: ImageContext) -> None:
        self.ctx = ctx

    @property
    def scratch_dir(self) -> Path:
        """Where uploads may be spooled: on the same file system as the stores."""
        return self.ctx.tmp

    def prepare(self) -> None:
        """Create the stores and clear what a crash left half-done. Blocking; call at start."""
        self.ctx.content.prepare()
        self.ctx.layers.prepare()
        shutil.rmtree(self.ctx.tmp, ignore_errors=True)
        self.ctx.tmp.mkdir(parents=True, exist_ok=True)

    async def collect_garbage(self) -> tuple[int, int]:
        """Remove layer directories and blobs no image references (left by failed or
        interrupted operations); returns how many of each. Leased ones are left alone."""
        ctx = self.ctx
        async with ctx.leases.lock:
            chains, blobs = await ctx.records.referenced()
            on_disk = await asyncio.to_thread(_inventory, ctx)
            trash = []
            for chain in on_disk[0]:
                if str(chain) not in chains and not ctx.leases.held(chain):
                    path = ctx.layers.detach(chain)
                    if path is not None:
                        trash.append(path)
            stale = [b for b in on_disk[1] if str(b) not in blobs and not ctx.leases.held(b)]
            for blob in stale:
                ctx.content.delete(blob)
        for path in trash:
            await asyncio.to_thread(ctx.layers.destroy, path)
        return len(trash), len(stale)

    # -- reading ---------------------------------------------------------------------------

    async def get(self, value: str) -> ImageRecord:
        """The stored image a name, digest reference or id (prefix) names; NotFound if none."""
        found = await lookup(self.ctx.records, value)
        image = await self.ctx.records.get(found.image_id)
        if image is None:
            raise no_such_image(value)
        return image

    async def list_images(
        self, *, all: bool = False, filters: list[tuple[str, str]] | None = None
    ) -> list[ImageSummary]:
        wanted = views.parse_filters(filters or [])
        images = await self.ctx.records.all()
        parents = {image.parent for image in images if image.parent}
        before = await self._created(wanted.before)
        since = await self._created(wanted.since)
        out = []
        for image in images:
            item = views.summary(image)
            if not all and not item.repo_tags and str(image.id) in parents:
                continue  # an intermediate image, as docker images hides them
            if before is not None and item.created >= before:
                continue
            if since is not None and item.created <= since:
                continue
            if views.matches(wanted, item):
                out.append(item)
        return out

    async def prune(self, *, all: bool, labels: list[str]) -> tuple[list[DeleteItem], int]:
        """Remove images no container uses: untagged ones, or every unused one with ``all``."""
        filters = [("label", label) for label in labels]
        if not all:
            filters.append(("dangling", "true"))
        removed: list[DeleteItem] = []
        freed = 0
        for item in await self.list_images(all=True, filters=filters):
            if await self.ctx.users.containers_using(item.id):
                continue
            try:
                removed += await self.remove(item.id, force=False)
            except (errors.FailedPrecondition, errors.NotFound):
                continue  # used meanwhile, a parent of another image, or already gone
            freed += item.size
        return removed, freed

    async def _created(self, value: str) -> int | None:
        if not value:
            return None
        return imageconfig.parse((await self.get(value)).config).created_unix

    async def inspect(self, value: str) -> ImageDetails:
        return views.details(await self.get(value))

    async def history(self, value: str) -> list[HistoryItem]:
        return views.history(await self.get(value))

    # -- names -----------------------------------------------------------------------------

    async def tag(self, source: str, target: str) -> None:
        """Point ``target`` (a name with optional tag, ``latest`` by default) at ``source``."""
        image = await self.get(source)
        ref = refs.parse(target)
        if ref.digest is not None:
            raise errors.InvalidArgument(
                f"refusing to create a tag with a digest reference: {target}",
                reason="REFERENCE_INVALID",
            )
        await self.ctx.records.set_names(str(image.id), [ref.with_default_tag().tagged])

    async def remove(
        self, value: str, *, force: bool = False, prune: bool = True
    ) -> list[DeleteItem]:
        return await remove.remove(self.ctx, value, force=force, prune=prune)

    # -- moving images ---------------------------------------------------------------------

    def pull(
        self, reference: str, creds: Credentials | None = None, platform: Platform | None = None
    ) -> AsyncIterator[Progress]:
        return pull.pull(self.ctx, reference, creds or Credentials(), platform)

    def push(self, reference: str, creds: Credentials | None = None) -> AsyncIterator[Progress]:
        return push.push(self.ctx, reference, creds or Credentials())

    async def save(self, names: list[str]) -> AsyncIterator[bytes]:
        return await save.save(self.ctx, names)

    async def load(self, path: Path) -> list[LoadedImage]:
        return await load.load(self.ctx, path)

    async def import_image(
        self,
        source: Path,
        *,
        reference: str = "",
        changes: list[str] | None = None,
        message: str = "",
        platform: Platform | None = None,
    ) -> ImageRecord:
        return await build.import_image(
            self.ctx,
            source,
            reference=reference,
            changes=changes,
            message=message,
            platform=platform,
        )

    async def commit(
        self,
        layer_tar: Path,
        *,
        parent: str,
        container: dict[str, Any] | None = None,
        changes: list[str] | None = None,
        reference: str = "",
        comment: str = "",
        author: str = "",
        created_by: str = "",
    ) -> ImageRecord:
        """A new image: ``parent``'s layers plus ``layer_tar``, a container's diff as a tar
        (deletions as ``.wh.`` entries). ``container`` replaces the parent's container config
        (Cmd, Env, ...), ``changes`` (Dockerfile instructions) are applied on top."""
        return await build.commit(
            self.ctx,
            layer_tar,
            parent=await self.get(parent),
            container=container,
            changes=changes,
            reference=reference,
            comment=comment,
            author=author,
            created_by=created_by,
        )

    def bootstrap(
        self,
        reference: str = "",
        *,
        suite: str = "bookworm",
        mirror: str = "",
        variant: str = "minbase",
    ) -> AsyncIterator[Progress]:
        """Build a Debian image; ``mirror`` "" means the configured one."""
        return bootstrap_mod.bootstrap(
            self.ctx,
            reference,
            suite=suite,
            mirror=mirror or self.ctx.debian_mirror,
            variant=variant,
        )

    async def ensure_busybox(self, binary: Path = busybox.BINARY) -> str | None:
        return await busybox.ensure(self.ctx, binary)

    # -- for the container side ------------------------------------------------------------

    async def rootfs(self, value: str) -> RootFS:
        image = await self.get(value)
        layers = [self.ctx.layers.path(layer.chain_id) for layer in image.layers]
        return RootFS(str(image.id), layers, imageconfig.parse(image.config))

    async def rootfs_layers(self, value: str) -> list[Path]:
        return (await self.rootfs(value)).layers

    async def image_config(self, value: str) -> ImageConfig:
        return imageconfig.parse((await self.get(value)).config)


def _inventory(ctx: ImageContext) -> tuple[list[Digest], list[Digest]]:
    """The layer directories and blobs present on disk."""
    layers = [Digest("sha256", p.name) for p in ctx.layers.root.iterdir() if p.name[0] != "."]
    blobs = []
    for alg_dir in (ctx.content.root / "blobs").iterdir():
        blobs += [Digest(alg_dir.name, p.name) for p in alg_dir.iterdir()]
    return layers, blobs
