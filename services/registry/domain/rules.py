"""Limits and switches the registry's rules obey, and the helpers every service shares."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from services.kit import errors
from services.registry.domain.names import validate_name
from services.registry.domain.ports import MetadataTx

Clock = Callable[[], float]


@dataclasses.dataclass(frozen=True)
class Rules:
    """The settings the domain needs, taken from the registry's configuration."""

    read_only: bool = False
    """Refuse every change (pushes, deletes, garbage collection): for backups and migrations."""
    upload_ttl: float = 86400.0
    """Seconds an upload session lives without a request before it expires."""
    max_uploads: int = 1000
    """Upload sessions open at once; one more is refused with TOOMANYREQUESTS."""
    max_manifest_bytes: int = 4 << 20
    """The largest manifest accepted."""
    max_page_size: int = 1000
    """The most entries one page of the catalog or a tag list holds."""
    gc_grace_period: float = 3600.0
    """Seconds during which a new blob, link or manifest is kept even though unreferenced."""
    clock: Clock = time.time

    def check_writable(self) -> None:
        if self.read_only:
            raise errors.PermissionDenied(
                "the registry is read-only; pushes and deletions are refused", reason="DENIED"
            )


def repository_unknown(name: str) -> errors.NotFound:
    return errors.NotFound(f"repository {name!r} is not known", reason="NAME_UNKNOWN")


async def repository_id(tx: MetadataTx, name: str) -> int:
    """The id of an existing repository ``name`` (validated), else NAME_UNKNOWN."""
    repo_id = await tx.repository_id(validate_name(name))
    if repo_id is None:
        raise repository_unknown(name)
    return repo_id
