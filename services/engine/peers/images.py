"""The container domain's ``Images`` port, served by the node's ImageService."""

from __future__ import annotations

from pathlib import Path

from services.engine.containers.models import ImageForContainer
from services.engine.images.lookup import lookup
from services.engine.images.reference import image_id
from services.engine.images.service import ImageService

CACHED_IMAGES = 64


class LocalImages:
    """What a container needs of its image, remembered by image id.

    An image id is the digest of the image's config, which names its layers: what one id
    resolves to never changes. Asking the image store costs 12 SQLite round trips for a name
    and 18 for an id (lookup, then the image's record, layers and names), at every create and
    every start; the answer is kept instead (the newest ``CACHED_IMAGES`` ids), and used while
    the layer directories are still there. A name (``busybox``) is still resolved to an id each
    time, with the store's own lookup (one query): tags move.
    """

    def __init__(self, service: ImageService, empty_layer: Path) -> None:
        self._service = service
        self._empty = empty_layer
        self._by_id: dict[str, ImageForContainer] = {}

    async def for_container(self, ref: str) -> ImageForContainer:
        full_id = image_id(ref) or (await lookup(self._service.ctx.records, ref)).image_id
        known = self._by_id.get(full_id)
        if known is not None and all(layer.is_dir() for layer in known.layers):
            return known
        rootfs = await self._service.rootfs(ref)
        layers = tuple(rootfs.layers)
        if not layers:  # an image without layers ("FROM scratch" + nothing): one empty lower
            self._empty.mkdir(parents=True, exist_ok=True)
            layers = (self._empty,)
        image = ImageForContainer(id=rootfs.image_id, config=rootfs.config.container, layers=layers)
        self._by_id.pop(image.id, None)
        if len(self._by_id) >= CACHED_IMAGES:
            del self._by_id[next(iter(self._by_id))]  # the oldest entry
        self._by_id[image.id] = image
        return image
