"""The stores on their own: registry.db's migrations and the content store's files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from services.kit.db import Database
from services.registry.domain.digest import Digest
from services.registry.domain.models import BlobInfo, UploadSession
from services.registry.store.blobfs import BlobFS
from services.registry.store.migrations import MIGRATIONS
from services.registry.store.sqlite import SqliteMetadata

TABLES = {"repositories", "blobs", "repo_blobs", "manifests", "manifest_refs", "tags", "uploads"}
TABLES |= {
    "users", "teams", "team_members", "robots", "grants", "anonymous_pull", "retention",
    "signing_keys", "audit",
}  # fmt: skip


async def test_migrations_build_the_documented_schema(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "registry.db", MIGRATIONS)
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        async with db.read() as tx:
            rows = await tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert {row[0] for row in rows} == TABLES
    finally:
        await db.close()
    again = await Database.open(tmp_path / "registry.db", MIGRATIONS)  # opening twice is a no-op
    try:
        assert await again.schema_version() == len(MIGRATIONS)
    finally:
        await again.close()


def test_every_table_is_in_the_schema_diagram() -> None:
    from services.registry.store import migrations

    doc = migrations.__doc__ or ""
    for table in TABLES:
        assert table in doc


async def test_foreign_keys_protect_blobs_still_linked(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "registry.db", MIGRATIONS)
    meta = SqliteMetadata(db)
    digest = Digest.of(b"x")
    try:
        async with meta.write() as tx:
            repo = await tx.ensure_repository("a/b", 1.0)
            await tx.add_blob(BlobInfo(digest, 1), 1.0)
            await tx.link_blob(repo, digest, 1.0)
        with pytest.raises(Exception, match="FOREIGN KEY"):
            async with meta.write() as tx:
                await tx.delete_blobs([str(digest)])
        async with meta.read() as tx:
            assert await tx.blob(digest) == BlobInfo(digest, 1)
    finally:
        await db.close()


async def test_blob_files_live_at_their_digest(tmp_path: Path) -> None:
    fs = BlobFS(tmp_path)
    fs.prepare()
    data = os.urandom(3 * 1024 * 1024 + 5)
    await fs.create_upload("a" * 32)
    file = await fs.open_upload("a" * 32, 0)
    file.write(data, None)
    file.write(b"unacknowledged", None)
    file.close()
    # Reopening at the acknowledged size drops what was never acknowledged.
    (await fs.open_upload("a" * 32, len(data))).close()
    hasher = await fs.hash_upload("a" * 32, "sha512")
    digest = Digest("sha512", hashlib.sha512(data).hexdigest())
    assert (hasher.size, hasher.digest()) == (len(data), digest)
    await fs.commit_upload("a" * 32, digest)
    path = tmp_path / "blobs" / "sha512" / digest.hex[:2] / digest.hex
    assert fs.blob_path(digest) == path
    assert path.read_bytes() == data
    assert not (tmp_path / "uploads" / ("a" * 32) / "data").exists()
    assert await fs.blob_files() == [(digest, len(data), path.stat().st_mtime)]
    await fs.remove_upload("a" * 32)
    assert await fs.upload_ids() == []
    await fs.remove_blobs([digest, Digest.of(b"never there")])
    assert not path.exists()


async def test_upload_rows_round_trip(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "registry.db", MIGRATIONS)
    meta = SqliteMetadata(db)
    session = UploadSession("b" * 32, "r/x", 10, 1.0, 2.0, 3.0)
    try:
        async with meta.write() as tx:
            await tx.add_upload(session)
        async with meta.read() as tx:
            assert await tx.upload("b" * 32) == session
            assert await tx.count_uploads(2.5) == 1
            assert await tx.count_uploads(3.0) == 0
            assert await tx.list_uploads("r/y") == []
    finally:
        await db.close()
