"""netd's state on services.kit.db."""

from __future__ import annotations

from services.kit.db import Database


class NetworkStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def counts(self) -> tuple[int, int]:
        """(networks, endpoints)."""
        async with self._db.read() as tx:
            networks = int(await tx.scalar("SELECT count(*) FROM networks"))
            endpoints = int(await tx.scalar("SELECT count(*) FROM endpoints"))
        return networks, endpoints
