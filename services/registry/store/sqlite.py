"""The registry's metadata on services.kit.db: the ``Metadata`` port of the domain.

``SqliteTx`` gathers the SQL of every table; its parts live in ``sqlite_manifests`` and
``sqlite_maintenance``. Only this package writes SQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from services.kit.db import Database, Tx
from services.registry.domain.digest import Digest
from services.registry.domain.models import (
    BlobInfo,
    LinkedBlob,
    RepositoryUsage,
    StoreUsage,
)
from services.registry.store.sqlite_access import AccessSql
from services.registry.store.sqlite_maintenance import GcSql, UploadSql
from services.registry.store.sqlite_manifests import ManifestSql


class RepositorySql:
    _tx: Tx

    async def repository_id(self, name: str) -> int | None:
        value = await self._tx.scalar("SELECT id FROM repositories WHERE name = ?", (name,))
        return None if value is None else int(value)

    async def ensure_repository(self, name: str, now: float) -> int:
        await self._tx.execute(
            "INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?, ?)", (name, now)
        )
        return int(await self._tx.scalar("SELECT id FROM repositories WHERE name = ?", (name,)))

    async def list_repositories(self, after: str, limit: int) -> list[str]:
        rows = await self._tx.fetchall(
            "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?", (after, limit)
        )
        return [str(row[0]) for row in rows]

    async def delete_repository(self, repo_id: int) -> tuple[int, int, int]:
        tx = self._tx
        manifests = int(
            await tx.scalar("SELECT count(*) FROM manifests WHERE repo_id = ?", (repo_id,))
        )
        tags = int(await tx.scalar("SELECT count(*) FROM tags WHERE repo_id = ?", (repo_id,)))
        links = int(
            await tx.scalar("SELECT count(*) FROM repo_blobs WHERE repo_id = ?", (repo_id,))
        )
        await tx.execute("DELETE FROM repositories WHERE id = ?", (repo_id,))
        return manifests, tags, links

    async def repository_usage(self, name: str | None) -> list[RepositoryUsage]:
        rows = await self._tx.fetchall(
            "SELECT r.name, r.created_at, "
            "(SELECT count(*) FROM manifests m WHERE m.repo_id = r.id) AS manifests, "
            "(SELECT coalesce(sum(length(content)), 0) FROM manifests m WHERE m.repo_id = r.id)"
            " AS manifest_bytes, "
            "(SELECT count(*) FROM tags t WHERE t.repo_id = r.id) AS tags, "
            "(SELECT count(*) FROM repo_blobs l WHERE l.repo_id = r.id) AS blobs, "
            "(SELECT coalesce(sum(b.size), 0) FROM repo_blobs l JOIN blobs b USING (digest) "
            " WHERE l.repo_id = r.id) AS blob_bytes "
            "FROM repositories r WHERE ?1 IS NULL OR r.name = ?1 ORDER BY r.name",
            (name,),
        )
        return [
            RepositoryUsage(
                name=row["name"],
                manifests=int(row["manifests"]),
                tags=int(row["tags"]),
                blobs=int(row["blobs"]),
                blob_bytes=int(row["blob_bytes"]),
                manifest_bytes=int(row["manifest_bytes"]),
                created_at=float(row["created_at"]),
            )
            for row in rows
        ]

    async def store_usage(self) -> StoreUsage:
        tx = self._tx
        repos = int(await tx.scalar("SELECT count(*) FROM repositories"))
        blobs = await tx.fetchone("SELECT count(*), coalesce(sum(size), 0) FROM blobs")
        uploads = await tx.fetchone("SELECT count(*), coalesce(sum(size), 0) FROM uploads")
        assert blobs is not None
        assert uploads is not None
        return StoreUsage(
            repositories=repos,
            blobs=int(blobs[0]),
            blob_bytes=int(blobs[1]),
            uploads=int(uploads[0]),
            upload_bytes=int(uploads[1]),
        )


class BlobSql:
    _tx: Tx

    async def blob(self, digest: Digest) -> BlobInfo | None:
        size = await self._tx.scalar("SELECT size FROM blobs WHERE digest = ?", (str(digest),))
        return None if size is None else BlobInfo(digest, int(size))

    async def add_blob(self, info: BlobInfo, now: float) -> None:
        await self._tx.execute(
            "INSERT INTO blobs (digest, size, created_at, last_used) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (digest) DO UPDATE SET last_used = excluded.last_used",
            (str(info.digest), info.size, now, now),
        )

    async def linked_blob(self, repo_id: int, digest: Digest) -> LinkedBlob | None:
        row = await self._tx.fetchone(
            "SELECT b.size, l.linked_at FROM repo_blobs l JOIN blobs b USING (digest) "
            "WHERE l.repo_id = ? AND l.digest = ?",
            (repo_id, str(digest)),
        )
        if row is None:
            return None
        return LinkedBlob(BlobInfo(digest, int(row[0])), float(row[1]))

    async def link_blob(self, repo_id: int, digest: Digest, now: float) -> None:
        await self._tx.execute(
            "INSERT INTO repo_blobs (repo_id, digest, linked_at) VALUES (?, ?, ?) "
            "ON CONFLICT (repo_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
            (repo_id, str(digest), now),
        )
        await self._tx.execute(
            "UPDATE blobs SET last_used = max(last_used, ?) WHERE digest = ?", (now, str(digest))
        )

    async def unlink_blob(self, repo_id: int, digest: Digest) -> bool:
        changed = await self._tx.execute(
            "DELETE FROM repo_blobs WHERE repo_id = ? AND digest = ?", (repo_id, str(digest))
        )
        return changed > 0


class SqliteTx(RepositorySql, BlobSql, ManifestSql, UploadSql, GcSql, AccessSql):
    """Every statement of the registry, bound to one kit transaction."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx


class SqliteMetadata:
    """The ``Metadata`` unit of work on registry.db."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteTx]:
        async with self._db.read() as tx:
            yield SqliteTx(tx)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteTx]:
        async with self._db.write() as tx:
            yield SqliteTx(tx)
