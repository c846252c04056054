"""Is every service of the instance answering? gRPC health for three, ``/_ping`` for the gateway."""

from __future__ import annotations

import asyncio

import aiohttp
import grpc

from services.kit.grpcclient import check_health, open_channel


class HealthWatch:
    def __init__(self, grpc_targets: dict[str, str], gateway_url: str) -> None:
        self._channels = {name: open_channel(t) for name, t in grpc_targets.items()}
        self._gateway_url = gateway_url

    async def close(self) -> None:
        await asyncio.gather(*(ch.close() for ch in self._channels.values()))

    async def status(self, timeout: float = 1.0) -> dict[str, bool]:
        names = list(self._channels)
        checks = [_grpc_ok(self._channels[n], n, timeout) for n in names]
        results = await asyncio.gather(*checks, gateway_ok(self._gateway_url, timeout))
        return dict(zip([*names, "gateway"], results, strict=True))

    async def wait_healthy(self, deadline: float) -> dict[str, bool]:
        """Poll until everything is healthy or ``deadline`` (loop time) passes."""
        loop = asyncio.get_running_loop()
        while True:
            status = await self.status()
            if all(status.values()) or loop.time() >= deadline:
                return status
            await asyncio.sleep(0.05)


async def _grpc_ok(channel: grpc.aio.Channel, name: str, timeout: float) -> bool:
    return await check_health(channel, service=name, timeout=timeout)


async def gateway_ok(url: str, timeout: float) -> bool:
    """True if the gateway at ``unix:///path`` or ``tcp://host:port`` answers /_ping."""
    if url.startswith("unix://"):
        connector: aiohttp.BaseConnector = aiohttp.UnixConnector(path=url.removeprefix("unix://"))
        base = "http://localhost"
    else:
        connector = aiohttp.TCPConnector()
        base = "http://" + url.removeprefix("tcp://")
    try:
        async with (
            aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as session,
            session.get(f"{base}/_ping") as response,
        ):
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False
