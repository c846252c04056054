"""The engine's composition root: config → database → stores → servicers → server."""

from __future__ import annotations

import asyncio

from services.engine.api.system import SystemServicer
from services.engine.config import EngineConfig
from services.engine.domain.host import read_host, runtime_version
from services.engine.store.migrations import MIGRATIONS
from services.engine.store.sqlite import EngineStore
from services.kit import grpcserver
from services.kit.db import Database


async def main(config: EngineConfig, stop: asyncio.Event) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.state_dir / "engine.db", MIGRATIONS)
    try:
        store = EngineStore(db)
        system = SystemServicer(config, store, read_host(), await runtime_version(config.runtime))
        async with grpcserver.serving(
            config.grpc_target, [system.register], services=["estiba.engine.v1.System"]
        ):
            await stop.wait()
    finally:
        await db.close()
