"""Blobs as repositories see them: stat, serve, delete, mount, and the commit of an upload.

A repository may serve a blob only once the blob was pushed to it or mounted into it (a link);
the file itself is shared. Creating and removing blob files is serialized by ``content_lock``,
which garbage collection holds while it sweeps, so a commit never races a removal of the same
digest: a blob row exists exactly when its file is complete.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from services.kit import errors
from services.registry.domain.digest import Digest
from services.registry.domain.models import BlobInfo, LinkedBlob, UploadSession
from services.registry.domain.names import validate_name
from services.registry.domain.ports import ContentStore, Metadata
from services.registry.domain.quotas import check_quota
from services.registry.domain.rules import Rules

OCTET_STREAM = "application/octet-stream"


@dataclasses.dataclass(frozen=True)
class BlobContent:
    """Where a blob's bytes are: a file of the content store, or (for a manifest asked for
    through the blob endpoint) bytes held in the database."""

    info: BlobInfo
    media_type: str
    path: Path | None = None
    data: bytes | None = None


def blob_unknown(name: str, digest: Digest | str) -> errors.NotFound:
    return errors.NotFound(f"blob {digest} is not in repository {name!r}", reason="BLOB_UNKNOWN")


class BlobService:
    def __init__(
        self, meta: Metadata, content: ContentStore, rules: Rules, content_lock: asyncio.Lock
    ) -> None:
        self._meta = meta
        self._content = content
        self._rules = rules
        self._lock = content_lock

    async def stat(self, name: str, digest: str) -> BlobContent:
        """Where blob ``digest`` of repository ``name`` is; BLOB_UNKNOWN if it has none."""
        validate_name(name)
        wanted = Digest.parse(digest)
        async with self._meta.read() as tx:
            repo_id = await tx.repository_id(name)
            linked = None if repo_id is None else await tx.linked_blob(repo_id, wanted)
            manifest = None
            if repo_id is not None and linked is None:
                manifest = await tx.manifest(repo_id, wanted)
        if repo_id is not None and linked is not None:
            await self._refresh(repo_id, linked)
            path = self._content.blob_path(wanted)
            return BlobContent(info=linked.info, media_type=OCTET_STREAM, path=path)
        if manifest is not None:
            info = BlobInfo(wanted, manifest.size)
            return BlobContent(info=info, media_type=manifest.media_type, data=manifest.content)
        raise blob_unknown(name, wanted)

    async def _refresh(self, repo_id: int, linked: LinkedBlob) -> None:
        """Mark a blob looked at as used again, at most twice per grace period.

        A client that finds a blob present skips uploading it and refers to it in its next
        manifest; refreshing the link keeps garbage collection from taking the blob in between.
        """
        grace = self._rules.gc_grace_period
        now = self._rules.clock()
        if self._rules.read_only or grace <= 0 or linked.linked_at >= now - grace / 2:
            return
        async with self._meta.write() as tx:
            if await tx.linked_blob(repo_id, linked.info.digest) is not None:
                await tx.link_blob(repo_id, linked.info.digest, now)

    async def delete(self, name: str, digest: str) -> None:
        """Remove the blob from the repository; its file goes at the next garbage collection."""
        validate_name(name)
        wanted = Digest.parse(digest)
        self._rules.check_writable()
        async with self._meta.write() as tx:
            repo_id = await tx.repository_id(name)
            if repo_id is None or not await tx.unlink_blob(repo_id, wanted):
                raise blob_unknown(name, wanted)

    async def mount(self, name: str, digest: Digest, source: str) -> BlobInfo | None:
        """Link a blob of repository ``source`` into ``name``; None if ``source`` lacks it."""
        validate_name(name)
        validate_name(source)
        self._rules.check_writable()
        now = self._rules.clock()
        async with self._meta.write() as tx:
            source_id = await tx.repository_id(source)
            linked = None if source_id is None else await tx.linked_blob(source_id, digest)
            if linked is None:
                return None
            await check_quota(tx, name, str(digest), linked.info.size)
            repo_id = await tx.ensure_repository(name, now)
            await tx.link_blob(repo_id, digest, now)
        return linked.info

    async def commit(self, session: UploadSession, digest: Digest) -> BlobInfo:
        """Make a verified upload the blob ``digest`` of its repository and end the session.

        The team's quota is checked before the file moves into place and again in the
        transaction that links it; a refused blob leaves at most a file that no row describes,
        which garbage collection removes.
        """
        info = BlobInfo(digest, session.size)
        async with self._lock:
            async with self._meta.read() as tx:
                known = await tx.blob(digest)
                await check_quota(tx, session.repository, str(digest), session.size)
            if known is None:
                await self._content.commit_upload(session.id, digest)
            now = self._rules.clock()
            async with self._meta.write() as tx:
                await check_quota(tx, session.repository, str(digest), session.size)
                repo_id = await tx.ensure_repository(session.repository, now)
                await tx.add_blob(info, now)
                await tx.link_blob(repo_id, digest, now)
                await tx.delete_upload(session.id)
        await self._content.remove_upload(session.id)
        return info
