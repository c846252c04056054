"""Repositories as a whole: the catalog, tag lists, usage, listings and deletion."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from services.kit import errors
from services.registry.domain.models import (
    DeletedRepository,
    ManifestSummary,
    Page,
    RepositoryUsage,
    StoreUsage,
)
from services.registry.domain.names import validate_name
from services.registry.domain.ports import Metadata
from services.registry.domain.rules import Rules, repository_id, repository_unknown
from services.registry.domain.uploads import UploadService


def page_size(n: int | None, maximum: int) -> int:
    """How many entries a page holds: ``n`` if given (capped at ``maximum``), else the maximum."""
    if n is None:
        return maximum
    if n < 0:
        raise errors.InvalidArgument(
            f"n must be a non-negative integer, not {n}", reason="PAGINATION_NUMBER_INVALID"
        )
    return min(n, maximum)


class RepositoryService:
    def __init__(self, meta: Metadata, uploads: UploadService, rules: Rules) -> None:
        self._meta = meta
        self._uploads = uploads
        self._rules = rules

    async def catalog(
        self, n: int | None, last: str, visible: Callable[[str], bool] | None = None
    ) -> Page:
        """Repository names after ``last``, in lexical order; only ``visible`` ones if given."""
        limit = page_size(n, self._rules.max_page_size)
        if limit == 0:
            return Page((), False)
        found: list[str] = []
        async with self._meta.read() as tx:
            while len(found) <= limit:
                batch = await tx.list_repositories(last, limit + 1)
                found += batch if visible is None else [b for b in batch if visible(b)]
                if len(batch) <= limit:
                    break
                last = batch[-1]
        return Page(tuple(found[:limit]), len(found) > limit)

    async def tags(self, name: str, n: int | None, last: str) -> Page:
        """Tags of ``name`` after ``last``, in lexical order; NAME_UNKNOWN for no repository."""
        limit = page_size(n, self._rules.max_page_size)
        async with self._meta.read() as tx:
            repo_id = await repository_id(tx, name)
            tags = await tx.list_tags(repo_id, last, limit + 1) if limit else []
        return Page(tuple(tags[:limit]), len(tags) > limit)

    async def manifests(self, name: str) -> list[ManifestSummary]:
        """Every manifest of ``name`` with its tags, oldest push first."""
        async with self._meta.read() as tx:
            repo_id = await repository_id(tx, name)
            return await tx.list_manifests(repo_id)

    async def usage(self, name: str | None) -> list[RepositoryUsage]:
        """What each repository (or the one named) holds."""
        if name is not None:
            validate_name(name)
        async with self._meta.read() as tx:
            found = await tx.repository_usage(name)
        if name is not None and not found:
            raise repository_unknown(name)
        return found

    async def store_usage(self) -> StoreUsage:
        async with self._meta.read() as tx:
            return await tx.store_usage()

    async def delete(self, name: str) -> DeletedRepository:
        """Remove a repository: its manifests, tags, blob links and uploads in progress.

        Blob files that no other repository uses go at the next garbage collection.
        """
        self._rules.check_writable()
        async with self._meta.write() as tx:
            repo_id = await repository_id(tx, name)
            manifests, tags, blobs = await tx.delete_repository(repo_id)
        sessions = await self._uploads.sessions(name)
        for session in sessions:
            with contextlib.suppress(errors.NotFound):
                await self._uploads.abort(session.id)
        return DeletedRepository(manifests=manifests, tags=tags, blobs=blobs, uploads=len(sessions))
