"""What the image domain needs from outside, as Protocols; ``main`` injects implementations.

``ImageRecords`` is implemented on engine.db by ``services.engine.store.images``. ``ImageUsers``
is the container side's answer to "which containers use this image?": the image domain asks it
before deleting an image, and refuses (FailedPrecondition, IMAGE_IN_USE) unless forced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.engine.content.digest import Digest
from services.engine.images.models import ImageRecord, LayerRecord, Orphans


class ImageUsers(Protocol):
    async def containers_using(self, image_id: str) -> list[str]:
        """Ids of the containers (in any state) whose root filesystem is built on the image."""
        ...


class ImageRecords(Protocol):
    async def get(self, image_id: str) -> ImageRecord | None: ...

    async def all(self) -> list[ImageRecord]: ...

    async def resolve_name(self, name: str) -> str | None:
        """The image id a fully qualified tag or digest reference points at."""
        ...

    async def ids_with_prefix(self, hex_prefix: str) -> list[str]: ...

    async def names_in_repository(self, repository: str) -> list[tuple[str, str]]:
        """(name, image id) of every tag of ``repository``."""
        ...

    async def children(self, image_id: str) -> list[str]: ...

    async def layer(self, chain_id: Digest) -> LayerRecord | None:
        """A layer already recorded by some image (to reuse its blob and sizes)."""
        ...

    async def add(self, image: ImageRecord) -> bool:
        """Store the image if new (its layers too) and point its names at it; True if new."""
        ...

    async def set_names(self, image_id: str, names: Sequence[str]) -> None:
        """Point each fully qualified name at ``image_id`` (moving it from any other image)."""
        ...

    async def set_manifest(self, image_id: str, manifest: Digest) -> None: ...

    async def remove_names(self, names: Sequence[str]) -> None: ...

    async def referenced(self) -> tuple[set[str], set[str]]:
        """(chain ids, blob digests) that some stored image references."""
        ...

    async def delete(self, image_id: str) -> Orphans:
        """Delete the image and its names; report layers and blobs no image references now."""
        ...
