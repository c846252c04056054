"""An engine.db of a test's own: migrated, on disk, holding one image that records can use."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from services.engine.store.migrations import MIGRATIONS
from services.kit.db import Database

IMAGE = "sha256:" + "a" * 64


@contextlib.asynccontextmanager
async def engine_db(directory: Path) -> AsyncIterator[Database]:
    database = await Database.open(directory / "engine.db", MIGRATIONS, inline=True)
    async with database.write() as tx:
        await tx.execute("INSERT INTO images (id, created_at) VALUES (?, ?)", (IMAGE, "now"))
    try:
        yield database
    finally:
        await database.close()
