"""The registry's composition root: config → database → stores → servicers → servers."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.kit import grpcserver
from services.kit.db import Database
from services.kit.log import get_logger
from services.kit.settings import check_host_port
from services.registry.api.system import SystemServicer
from services.registry.config import RegistryConfig
from services.registry.http.app import make_app
from services.registry.store.migrations import MIGRATIONS
from services.registry.store.sqlite import MetadataStore

log = get_logger()


async def main(config: RegistryConfig, stop: asyncio.Event) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.state_dir / "registry.db", MIGRATIONS)
    try:
        store = MetadataStore(db)
        system = SystemServicer(config, store)
        runner = web.AppRunner(make_app(), access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            host, port = check_host_port(config.http_addr, "http_addr")
            await web.TCPSite(runner, host, port, reuse_address=True).start()
            log.info("http_listening", address=config.http_addr)
            async with grpcserver.serving(
                config.grpc_target, [system.register], services=["estiba.registry.v1.System"]
            ):
                await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await db.close()
