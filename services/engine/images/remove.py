"""``docker rmi``: untag, and delete an image (its unshared layers and blobs) when nothing names it.

Docker's rules: removing one of several tags only untags. Removing the last tag, or removing by
id, deletes the image, which is refused (FailedPrecondition) while a container uses it unless
forced, and refused always while a child image (a commit or build on top) depends on it. A
forced delete of an image a container uses only untags it: the container keeps its layers.
An id that several repositories tag needs force. An untagged parent left behind is pruned too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.engine.content.digest import Digest
from services.engine.images import reference as refs
from services.engine.images.context import ImageContext
from services.engine.images.lookup import lookup
from services.engine.images.models import DeleteItem, ImageRecord
from services.kit import errors


def _repository(name: str) -> str:
    return name.partition("@")[0] if "@" in name else name.rpartition(":")[0]


async def remove(
    ctx: ImageContext, value: str, *, force: bool = False, prune: bool = True
) -> list[DeleteItem]:
    found = await lookup(ctx.records, value)
    image = await ctx.records.get(found.image_id)
    if image is None:
        raise errors.NotFound(f"No such image: {value}", reason="IMAGE_UNKNOWN")
    short = image.id.short
    if found.name:
        others = [n for n in image.names if n != found.name]
        if "@" not in found.name:
            others = [n for n in others if "@" not in n]  # digests go with the last tag
        if others:
            await ctx.records.remove_names([found.name])
            return [DeleteItem(untagged=refs.familiar(found.name))]
    elif len({_repository(n) for n in image.tags}) > 1 and not force:
        raise errors.FailedPrecondition(
            f"conflict: unable to delete {short} (must be forced) - image is referenced in "
            "multiple repositories",
            reason="IMAGE_REFERENCED",
        )
    untagged = [DeleteItem(untagged=refs.familiar(n)) for n in image.names]
    users = await ctx.users.containers_using(str(image.id))
    if users and not force:
        what = f'repository reference "{value}"' if found.name else short
        raise errors.FailedPrecondition(
            f"conflict: unable to remove {what} (must force) - container {users[0][:12]} is "
            f"using its referenced image {short}",
            reason="IMAGE_IN_USE",
        )
    children = await ctx.records.children(str(image.id))
    if users or (children and found.name):
        await ctx.records.remove_names(list(image.names))
        return untagged
    if children:
        raise errors.FailedPrecondition(
            f"conflict: unable to delete {short} (cannot be forced) - image has dependent "
            "child images",
            reason="IMAGE_HAS_CHILDREN",
        )
    return untagged + await delete(ctx, image, prune=prune)


async def delete(ctx: ImageContext, image: ImageRecord, *, prune: bool) -> list[DeleteItem]:
    """Delete an image nobody uses, then prune its parent if that is now an unnamed leaf."""
    items = [DeleteItem(deleted=str(image.id))]
    trash: list[Path] = []
    async with ctx.leases.lock:
        orphans = await ctx.records.delete(str(image.id))
        for chain_id in orphans.layers:
            if not ctx.leases.held(chain_id):
                path = ctx.layers.detach(chain_id)
                if path is not None:
                    trash.append(path)
                    items.append(DeleteItem(deleted=str(chain_id)))
        for blob in orphans.blobs:
            if not ctx.leases.held(blob):
                ctx.content.delete(blob)
    for path in trash:
        await asyncio.to_thread(ctx.layers.destroy, path)
    if prune and image.parent:
        parent = await ctx.records.get(image.parent)
        if parent is not None and await _prunable(ctx, parent.id):
            items += await delete(ctx, parent, prune=True)
    return items


async def _prunable(ctx: ImageContext, image_id: Digest) -> bool:
    image = await ctx.records.get(str(image_id))
    return (
        image is not None
        and not image.names
        and not await ctx.records.children(str(image_id))
        and not await ctx.users.containers_using(str(image_id))
    )
