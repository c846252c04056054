"""Fixtures: an image service on a fresh node root, and Debian's registry on a loopback port."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.engine.config import EngineConfig
from services.engine.distribution.client import Registries
from services.engine.images.service import ImageService
from services.engine.main import image_service
from services.engine.store.migrations import MIGRATIONS
from services.kit.db import Database


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``slow`` tests run only when asked for (``-m slow`` or ESTIBA_SLOW=1)."""
    if os.environ.get("ESTIBA_SLOW") == "1" or "slow" in str(config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow test: run with -m slow or ESTIBA_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != 5000:
            return port


@dataclasses.dataclass
class Node:
    """An engine's image half on its own root: real SQLite, real stores, real HTTP client."""

    root: Path
    config: EngineConfig
    db: Database
    images: ImageService
    registries: Registries


async def open_node(root: Path) -> Node:
    config = EngineConfig(root=root)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.state_dir / "engine.db", MIGRATIONS)
    registries = Registries(config.insecure_registries)
    images = image_service(config, db, registries)
    await asyncio.to_thread(images.prepare)
    return Node(root, config, db, images, registries)


async def close_node(node: Node) -> None:
    await node.registries.close()
    await node.db.close()


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    root = Path(tempfile.mkdtemp(prefix="est-img-", dir="/tmp"))
    n = await open_node(root)
    try:
        yield n
    finally:
        await close_node(n)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def other_node() -> AsyncIterator[Node]:
    """A second node, to move images to."""
    root = Path(tempfile.mkdtemp(prefix="est-img2-", dir="/tmp"))
    n = await open_node(root)
    try:
        yield n
    finally:
        await close_node(n)
        shutil.rmtree(root, ignore_errors=True)


@dataclasses.dataclass(frozen=True)
class Registry:
    address: str
    storage: Path

    def blob_file(self, digest: str) -> Path:
        hexd = digest.removeprefix("sha256:")
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """Debian's docker-registry (distribution 2.8) on a free loopback port, stopped by PID."""
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    base = Path(tempfile.mkdtemp(prefix="est-registry-", dir="/tmp"))
    port = free_port()
    config = base / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {base / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    log = (base / "registry.log").open("wb")
    proc = subprocess.Popen([exe, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("docker-registry did not start") from None
                time.sleep(0.05)
        yield Registry(f"127.0.0.1:{port}", base / "data")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


async def run(*cmd: str) -> str:
    """Run a command; its stdout, or an AssertionError with its output."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"{cmd} failed: {err.decode()}"
    return out.decode()


async def skopeo(*args: str) -> str:
    return await run("skopeo", "--insecure-policy", *args)


def uid0() -> bool:
    return os.geteuid() == 0
