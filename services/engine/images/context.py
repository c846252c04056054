"""What every image operation works with, built once by ``main`` and passed down."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path

from services.engine.content.manifest import Platform
from services.engine.content.store import ContentStore
from services.engine.distribution.client import Registries
from services.engine.images.ports import ImageRecords, ImageUsers
from services.engine.unpack.layers import LayerStore


class Leases:
    """Layers and blobs an operation in flight relies on, so that deletion leaves them alone.

    An operation takes its lease *before* it checks whether a layer or blob exists, and removal
    checks leases in the same synchronous step in which it renames a layer away or unlinks a
    blob; on one event loop the two can therefore never interleave. ``lock`` serialises the
    steps that change which images exist.
    """

    def __init__(self) -> None:
        self._held: collections.Counter[str] = collections.Counter()
        self.lock = asyncio.Lock()

    @contextlib.contextmanager
    def hold(self, keys: Iterable[object]) -> Iterator[None]:
        taken = [str(k) for k in keys]
        self._held.update(taken)
        try:
            yield
        finally:
            self._held.subtract(taken)
            self._held += collections.Counter()  # drop zero counts

    def held(self, key: object) -> bool:
        return self._held[str(key)] > 0


@dataclasses.dataclass
class ImageContext:
    records: ImageRecords
    users: ImageUsers
    content: ContentStore
    layers: LayerStore
    registries: Registries
    tmp: Path
    """Scratch space on the same file system (uploads being spooled, bootstrap output)."""
    platform: Platform
    """The platform pulls choose from a multi-platform index."""
    leases: Leases = dataclasses.field(default_factory=Leases)
    download_concurrency: int = 3
    unpack_concurrency: int = 2
    debian_mirror: str = "http://deb.debian.org/debian"
