"""The ``containers.health`` column: a container's health as its probes found it (JSON).

Kept apart from the container's other fields so that a probe's verdict and a lifecycle change
never write over each other: each writer owns its columns.
"""

from __future__ import annotations

import dataclasses
import json

from services.engine.containers.models import Health
from services.engine.store.containers import health_from_dict
from services.kit.db import Database


class HealthStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, container_id: str, health: Health | None) -> None:
        """Record ``health`` (None clears it); a container removed meanwhile is fine."""
        value = json.dumps(dataclasses.asdict(health)) if health is not None else "{}"
        async with self._db.write() as tx:
            await tx.execute("UPDATE containers SET health = ? WHERE id = ?", (value, container_id))

    async def load(self, container_id: str) -> Health | None:
        async with self._db.read() as tx:
            row = await tx.fetchone("SELECT health FROM containers WHERE id = ?", (container_id,))
        return health_from_dict(json.loads(row["health"] or "{}")) if row is not None else None
