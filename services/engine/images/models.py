"""What the image domain hands out and stores: plain frozen dataclasses, no I/O."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.engine.content.digest import Digest
from services.engine.content.manifest import Descriptor


@dataclasses.dataclass(frozen=True)
class LayerRecord:
    """One layer of an image: unpacked under its chain id, stored as ``blob``."""

    chain_id: Digest
    diff_id: Digest
    size: int
    """Bytes of file content."""
    tar_size: int
    """Bytes of the uncompressed tar (what ``docker save`` writes)."""
    blob: Descriptor
    """The (usually compressed) blob in the content store that the layer came from."""


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """An image stored on the node."""

    id: Digest
    """The digest of the config, which is the image id."""
    config: bytes
    """The config JSON, byte for byte."""
    layers: tuple[LayerRecord, ...]
    """Lowest first."""
    names: tuple[str, ...] = ()
    """Fully qualified tags (``repo:tag``) and digests (``repo@sha256:...``)."""
    created_at: str = ""
    """When the image was stored on this node (RFC 3339)."""
    parent: str = ""
    """The image a commit or build started from, "" when none."""
    manifest: Digest | None = None
    """The manifest the image was pulled with or last pushed as, kept in the content store."""
    last_tag_time: str = ""

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def tags(self) -> list[str]:
        return [n for n in self.names if "@" not in n]

    @property
    def digests(self) -> list[str]:
        return [n for n in self.names if "@" in n]


@dataclasses.dataclass(frozen=True)
class Progress:
    """One progress event of a pull, push or build, per layer (``id``) or overall (``id=""``).

    ``status`` uses Docker's words ("Pulling fs layer", "Downloading", "Verifying Checksum",
    "Download complete", "Extracting", "Pull complete", "Already exists", "Pushing", ...) so a
    gateway can render Docker's JSON progress stream from it directly.
    """

    id: str
    status: str
    current: int = 0
    total: int = 0
    image_id: str = ""
    """Set on the final event of an operation that produced or used an image."""
    digest: str = ""
    """The manifest digest, on the final event of a pull or push."""
    tag: str = ""
    """The tag pushed, on the final event of each pushed tag."""
    size: int = 0
    """The manifest size, on the final event of each pushed tag."""


@dataclasses.dataclass(frozen=True)
class ImageSummary:
    """An entry of ``docker images`` (Docker's ImageSummary)."""

    id: str
    parent_id: str
    repo_tags: list[str]
    repo_digests: list[str]
    created: int
    size: int
    labels: dict[str, str]
    containers: int = -1


@dataclasses.dataclass(frozen=True)
class ImageDetails:
    """``docker image inspect`` (Docker's ImageInspect, minus the graph-driver internals)."""

    id: str
    repo_tags: list[str]
    repo_digests: list[str]
    parent: str
    comment: str
    created: str
    docker_version: str
    author: str
    config: dict[str, Any]
    architecture: str
    variant: str
    os: str
    os_version: str
    size: int
    root_fs_type: str
    root_fs_layers: list[str]
    last_tag_time: str

    @property
    def container_config(self) -> dict[str, Any]:
        """Docker Compose v1 reads ContainerConfig; Docker itself now mirrors Config there."""
        return self.config


@dataclasses.dataclass(frozen=True)
class HistoryItem:
    """One line of ``docker history``, newest first."""

    id: str
    created: int
    created_by: str
    tags: list[str]
    size: int
    comment: str


@dataclasses.dataclass(frozen=True)
class DeleteItem:
    """One line of ``docker rmi``'s answer: either ``untagged`` or ``deleted`` is set."""

    untagged: str = ""
    deleted: str = ""


@dataclasses.dataclass(frozen=True)
class LoadedImage:
    """An image ``docker load`` stored: its id and the names it was tagged with."""

    id: str
    names: list[str]


@dataclasses.dataclass(frozen=True)
class Orphans:
    """What deleting an image left unreferenced: layer directories and blobs to remove."""

    layers: list[Digest]
    blobs: list[Digest]
