"""netd's composition root: config → database → stores → servicers → server."""

from __future__ import annotations

import asyncio

from services.kit import grpcserver
from services.kit.db import Database
from services.netd.api.system import SystemServicer
from services.netd.config import NetdConfig
from services.netd.store.migrations import MIGRATIONS
from services.netd.store.sqlite import NetworkStore


async def main(config: NetdConfig, stop: asyncio.Event) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.state_dir / "netd.db", MIGRATIONS)
    try:
        system = SystemServicer(config, NetworkStore(db))
        async with grpcserver.serving(
            config.grpc_target, [system.register], services=["estiba.netd.v1.System"]
        ):
            await stop.wait()
    finally:
        await db.close()
