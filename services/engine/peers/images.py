"""The container domain's ``Images`` port, served by the node's ImageService."""

from __future__ import annotations

from pathlib import Path

from services.engine.containers.models import ImageForContainer
from services.engine.images.reference import image_id
from services.engine.images.service import ImageService

CACHED_IMAGES = 64


class LocalImages:
    """What a container needs of its image, remembered by image id.

    An image id is the digest of the image's config, which names its layers: what one id
    resolves to never changes. A container starts by its image id, and asking the image store
    again costs 18 SQLite round trips (lookup, then the image's record, layers and names); the
    answer is kept instead (the newest ``CACHED_IMAGES`` ids), and used while the layer
    directories are still there. A name (``busybox``) is looked up each time: tags move.
    """

    def __init__(self, service: ImageService, empty_layer: Path) -> None:
        self._service = service
        self._empty = empty_layer
        self._by_id: dict[str, ImageForContainer] = {}

    async def for_container(self, ref: str) -> ImageForContainer:
        full_id = image_id(ref)
        known = self._by_id.get(full_id) if full_id else None
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
