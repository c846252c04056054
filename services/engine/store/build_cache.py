"""The build cache in engine.db: which image a build step with a given key produced."""

from __future__ import annotations

from datetime import UTC, datetime

from services.kit.db import Database


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class BuildCacheStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def lookup(self, key: str) -> str | None:
        """The image id cached under ``key``; the entry goes with its image, so a found id
        names an image that exists."""
        async with self._db.read() as tx:
            row = await tx.fetchone(
                "SELECT c.image_id FROM build_cache c JOIN images i ON i.id = c.image_id "
                "WHERE c.key = ?",
                (key,),
            )
        return None if row is None else str(row[0])

    async def store(self, key: str, image_id: str) -> None:
        now = _now()
        async with self._db.write() as tx:
            await tx.execute(
                "INSERT INTO build_cache (key, image_id, created_at, last_used) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "image_id = excluded.image_id, last_used = excluded.last_used",
                (key, image_id, now, now),
            )

    async def touch(self, keys: list[str]) -> None:
        if not keys:
            return
        now = _now()
        async with self._db.write() as tx:
            await tx.executemany(
                "UPDATE build_cache SET last_used = ? WHERE key = ?", [(now, k) for k in keys]
            )

    async def clear(self) -> list[str]:
        """Forget every entry; the image ids they named, newest first."""
        async with self._db.write() as tx:
            rows = await tx.fetchall(
                "SELECT image_id FROM build_cache ORDER BY created_at DESC, rowid DESC"
            )
            await tx.execute("DELETE FROM build_cache")
        return list(dict.fromkeys(str(r[0]) for r in rows))
