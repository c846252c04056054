"""The registry's values: what the services hand to the HTTP and gRPC layers and take from stores.

Times are seconds since the epoch (``time.time()``), as the stores keep them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from services.registry.domain.digest import Digest


@dataclasses.dataclass(frozen=True)
class BlobInfo:
    """A blob in the content store."""

    digest: Digest
    size: int


@dataclasses.dataclass(frozen=True)
class LinkedBlob:
    """A blob as a repository knows it: the blob and when the repository last used it."""

    info: BlobInfo
    linked_at: float


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A manifest as pushed: its exact bytes and what the registry extracted from them."""

    repository: str
    digest: Digest
    media_type: str
    content: bytes
    subject: Digest | None
    artifact_type: str
    annotations: Mapping[str, str]
    pushed_at: float

    @property
    def size(self) -> int:
        return len(self.content)


@dataclasses.dataclass(frozen=True)
class ManifestSummary:
    """A manifest in a listing: no content, but the tags that point at it."""

    digest: Digest
    media_type: str
    size: int
    artifact_type: str
    subject: Digest | None
    tags: tuple[str, ...]
    pushed_at: float


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor, as the referrers API lists manifests."""

    media_type: str
    digest: Digest
    size: int
    artifact_type: str = ""
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class UploadSession:
    """A blob upload in progress. ``size`` is the number of bytes acknowledged to the client."""

    id: str
    repository: str
    size: int
    created_at: float
    updated_at: float
    expires_at: float


@dataclasses.dataclass(frozen=True)
class PutResult:
    """What a manifest push stored."""

    digest: Digest
    subject: Digest | None


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a sorted listing; ``more`` is true when a next page exists."""

    items: tuple[str, ...]
    more: bool

    @property
    def last(self) -> str:
        return self.items[-1] if self.items else ""


@dataclasses.dataclass(frozen=True)
class RepositoryUsage:
    """What one repository holds. Blobs shared with other repositories count in each."""

    name: str
    manifests: int
    tags: int
    blobs: int
    blob_bytes: int
    manifest_bytes: int
    created_at: float

    @property
    def total_bytes(self) -> int:
        return self.blob_bytes + self.manifest_bytes


@dataclasses.dataclass(frozen=True)
class StoreUsage:
    """What the whole registry holds; each blob counted once."""

    repositories: int
    blobs: int
    blob_bytes: int
    uploads: int
    upload_bytes: int


@dataclasses.dataclass(frozen=True)
class DeletedRepository:
    """What deleting a repository removed."""

    manifests: int
    tags: int
    blobs: int
    uploads: int


@dataclasses.dataclass(frozen=True)
class TagRow:
    """A tag as retention rules look at it."""

    repo_id: int
    repository: str
    name: str
    digest: str
    updated_at: float
