"""The engine's metadata on services.kit.db."""

from __future__ import annotations

import dataclasses

from services.kit.db import Database


@dataclasses.dataclass(frozen=True)
class Counts:
    containers: int
    running: int
    paused: int
    stopped: int
    images: int


class EngineStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def counts(self) -> Counts:
        async with self._db.read() as tx:
            rows = await tx.fetchall("SELECT state, count(*) FROM containers GROUP BY state")
            images = int(await tx.scalar("SELECT count(*) FROM images"))
        by_state = {str(state): int(n) for state, n in rows}
        running = by_state.get("running", 0) + by_state.get("restarting", 0)
        paused = by_state.get("paused", 0)
        total = sum(by_state.values())
        return Counts(total, running, paused, total - running - paused, images)
