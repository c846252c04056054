"""The container domain's ``Images`` port, served by the node's ImageService."""

from __future__ import annotations

from pathlib import Path

from services.engine.containers.models import ImageForContainer
from services.engine.images.service import ImageService


class LocalImages:
    def __init__(self, service: ImageService, empty_layer: Path) -> None:
        self._service = service
        self._empty = empty_layer

    async def for_container(self, ref: str) -> ImageForContainer:
        rootfs = await self._service.rootfs(ref)
        layers = tuple(rootfs.layers)
        if not layers:  # an image without layers ("FROM scratch" + nothing): one empty lower
            self._empty.mkdir(parents=True, exist_ok=True)
            layers = (self._empty,)
        return ImageForContainer(id=rootfs.image_id, config=rootfs.config.container, layers=layers)
