"""Volume records in engine.db, and which containers mount which volume."""

from __future__ import annotations

import json

from services.kit.db import Database, IntegrityError


class VolumeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(
        self,
        name: str,
        driver: str,
        created_at: str,
        labels: dict[str, str],
        options: dict[str, str],
    ) -> bool:
        try:
            async with self._db.write() as tx:
                await tx.execute(
                    "INSERT INTO volumes (name, driver, created_at, labels, options) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (name, driver, created_at, json.dumps(labels), json.dumps(options)),
                )
        except IntegrityError:
            return False
        return True

    async def get(self, name: str) -> tuple[str, str, dict[str, str], dict[str, str]] | None:
        async with self._db.read() as tx:
            row = await tx.fetchone(
                "SELECT driver, created_at, labels, options FROM volumes WHERE name = ?", (name,)
            )
        if row is None:
            return None
        return row[0], row[1], json.loads(row[2]), json.loads(row[3])

    async def all(self) -> list[tuple[str, str, str, dict[str, str], dict[str, str]]]:
        async with self._db.read() as tx:
            rows = await tx.fetchall(
                "SELECT name, driver, created_at, labels, options FROM volumes ORDER BY name"
            )
        return [(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4])) for r in rows]

    async def delete(self, name: str) -> None:
        async with self._db.write() as tx:
            await tx.execute("DELETE FROM volumes WHERE name = ?", (name,))

    async def volume_users(self) -> dict[str, list[str]]:
        async with self._db.read() as tx:
            rows = await tx.fetchall("SELECT id, spec FROM containers")
        users: dict[str, list[str]] = {}
        for cid, spec in rows:
            for mount in json.loads(spec).get("mounts", []):
                if mount.get("type") == "volume":
                    users.setdefault(mount["source"], []).append(cid)
        return users
