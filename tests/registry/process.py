"""The registry as a separate process (``python -m services.registry``), for tests that kill it
or measure it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import BinaryIO

import aiohttp

from tests.registry.helpers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class RegistryProcess:
    """A registry subprocess on loopback ports, with its state under ``root``."""

    def __init__(self, root: Path, **settings: str) -> None:
        self.root = root
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.settings = settings
        self.proc: asyncio.subprocess.Process | None = None
        self.log = root / "registry.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def base(self) -> str:
        return f"http://{self.host}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        env = dict(os.environ)
        env.update(
            ESTIBA_ROOT=str(self.root / "root"),
            ESTIBA_RUN_DIR=str(self.root / "run"),
            ESTIBA_REGISTRY_HTTP_ADDR=self.host,
            ESTIBA_REGISTRY_GRPC_LISTEN=self.grpc_target,
            ESTIBA_REGISTRY_GC_INTERVAL="0",
            ESTIBA_LOG_FORMAT="json",
            PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "proto")]),
        )
        env.update({f"ESTIBA_REGISTRY_{k.upper()}": v for k, v in self.settings.items()})
        log = self._open_log()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.registry", env=env, cwd=REPO_ROOT,
                stdout=log, stderr=log,
            )  # fmt: skip
        finally:
            log.close()
        await self._wait_ready()

    def _open_log(self) -> BinaryIO:
        return open(self.log, "ab")  # closed by start()

    async def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"registry exited: {self.log.read_text()[-2000:]}")
                try:
                    async with session.get(self.base + "/v2/") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"registry did not start: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.proc = None

    async def stop(self) -> None:
        """SIGTERM and wait for a clean exit."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None

    def peak_rss_kib(self) -> int:
        """The process's peak resident set size so far (VmHWM), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc status")
