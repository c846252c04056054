"""The registry, engine and netd running in this test's event loop, on real sockets and files."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from services.engine.config import EngineConfig
from services.engine.main import main as engine_main
from services.kit import config as kconfig
from services.kit.grpcclient import check_health, open_channel
from services.kit.tasks import spawn
from services.netd.config import NetdConfig
from services.netd.main import main as netd_main
from services.registry.config import RegistryConfig
from services.registry.main import main as registry_main
from tests.isolation import isolated_env, kernel_prefix, remove_kernel_objects


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class Instance:
    """Where an in-process instance keeps its state and sockets, and how to stop parts of it."""

    root: Path
    run_dir: Path
    registry_http: str
    env: dict[str, str]
    stops: dict[str, asyncio.Event] = dataclasses.field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = dataclasses.field(default_factory=dict)

    def target(self, name: str) -> str:
        return f"unix://{self.run_dir / f'{name}.sock'}"

    async def start(self, name: str) -> None:
        cls, main = SERVICES[name]
        cfg = kconfig.load(cls, name, env=self.env)
        stop = asyncio.Event()
        self.stops[name] = stop
        self.tasks[name] = spawn(main(cfg, stop), name=f"test-{name}")
        channel = open_channel(self.target(name))
        try:
            for _ in range(200):
                if self.tasks[name].done():
                    self.tasks[name].result()
                if await check_health(channel, service=name, timeout=1):
                    return
                await asyncio.sleep(0.02)
            raise TimeoutError(f"{name} did not become healthy")
        finally:
            await channel.close()

    async def stop(self, name: str) -> None:
        self.stops.pop(name).set()
        await self.tasks.pop(name)


Main = Callable[[Any, asyncio.Event], Coroutine[Any, Any, None]]
SERVICES: dict[str, tuple[type[Any], Main]] = {
    "registry": (RegistryConfig, registry_main),
    "engine": (EngineConfig, engine_main),
    "netd": (NetdConfig, netd_main),
}


@pytest.fixture
async def instance() -> AsyncIterator[Instance]:
    """Temporary dirs (short, for socket paths) and a free registry port; nothing started."""
    base = Path(tempfile.mkdtemp(prefix="est-", dir="/tmp"))
    port = free_port()
    env = {"ESTIBA_REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}", "ESTIBA_NODE_NAME": "test-node"}
    env.update(isolated_env(base / "root", base / "run", kernel_prefix()))
    inst = Instance(base / "root", base / "run", f"127.0.0.1:{port}", env)
    try:
        yield inst
    finally:
        for name in list(inst.tasks):
            with contextlib.suppress(Exception):
                await inst.stop(name)
        remove_kernel_objects(env)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def services(instance: Instance) -> Instance:
    """registry, engine and netd all started."""
    for name in SERVICES:
        await instance.start(name)
    return instance
