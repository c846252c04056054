"""The gateway's composition root: config → app → listener on a UNIX socket or TCP."""

from __future__ import annotations

import asyncio
import contextlib
import os

from aiohttp import web

from services.gateway.app import make_app
from services.gateway.config import GatewayConfig
from services.kit import grpcserver
from services.kit.grpcserver import prepare_unix_socket
from services.kit.log import get_logger
from services.kit.settings import check_host_port

log = get_logger()


async def main(config: GatewayConfig, stop: asyncio.Event) -> None:
    runner = web.AppRunner(make_app(config), access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    path = config.socket_path
    try:
        if path is not None:
            prepare_unix_socket(path)
            await web.UnixSite(runner, str(path)).start()
            os.chmod(path, 0o660)
        else:
            host, port = check_host_port(config.listen_url.removeprefix("tcp://"), "listen")
            await web.TCPSite(runner, host, port, reuse_address=True).start()
        log.info("gateway_listening", listen=config.listen_url)
        async with grpcserver.serving(config.grpc_target, [], services=[]):
            await stop.wait()
    finally:
        await runner.cleanup()
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
