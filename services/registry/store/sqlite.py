"""The registry's metadata on services.kit.db."""

from __future__ import annotations

import dataclasses

from services.kit.db import Database


@dataclasses.dataclass(frozen=True)
class Usage:
    repositories: int
    blobs: int
    blob_bytes: int


class MetadataStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def usage(self) -> Usage:
        async with self._db.read() as tx:
            repos = await tx.scalar("SELECT count(*) FROM repositories")
            row = await tx.fetchone("SELECT count(*), coalesce(sum(size), 0) FROM blobs")
        assert row is not None
        return Usage(repositories=int(repos), blobs=int(row[0]), blob_bytes=int(row[1]))
