"""Is every service of the instance answering its gRPC health check?"""

from __future__ import annotations

import asyncio

from services.kit.grpcclient import check_health, open_channel


class HealthWatch:
    def __init__(self, grpc_targets: dict[str, str]) -> None:
        self._channels = {name: open_channel(t) for name, t in grpc_targets.items()}

    async def close(self) -> None:
        await asyncio.gather(*(ch.close() for ch in self._channels.values()))

    async def status(self, timeout: float = 1.0) -> dict[str, bool]:
        names = list(self._channels)
        checks = [check_health(self._channels[n], service=n, timeout=timeout) for n in names]
        return dict(zip(names, await asyncio.gather(*checks), strict=True))

    async def wait_healthy(self, deadline: float) -> dict[str, bool]:
        """Poll until everything is healthy or ``deadline`` (loop time) passes."""
        loop = asyncio.get_running_loop()
        while True:
            status = await self.status()
            if all(status.values()) or loop.time() >= deadline:
                return status
            await asyncio.sleep(0.05)
