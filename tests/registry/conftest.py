"""Registries for the tests: started in-process on free loopback ports with state in tmp_path
(gRPC on a UNIX socket).

``registry`` is the common one (no scheduled GC, grace period 0). ``start_registry`` starts
one with other settings, e.g. a read-only registry or a tiny upload limit; several may run at
once, and one may be stopped and started again on the same root.

Each registry shares the test's event loop, so while it runs blockbuster watches that loop: a
blocking call there, in the registry or in the test, fails the test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ssl
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from blockbuster import blockbuster_ctx

from services.registry.config import RegistryConfig
from services.registry.main import Registry, open_registry
from tests.registry.helpers import Client

StartRegistry = Callable[..., contextlib.AbstractAsyncContextManager["Running"]]


@dataclasses.dataclass
class Running:
    """A registry started by a test, with an HTTP client and a gRPC channel to it."""

    registry: Registry
    config: RegistryConfig
    client: Client
    channel: grpc.aio.Channel

    @property
    def port(self) -> int:
        return int(self.registry.http_address.rsplit(":", 1)[1])

    @property
    def host(self) -> str:
        return self.registry.http_address


def make_config(root: Path, **overrides: Any) -> RegistryConfig:
    settings: dict[str, Any] = {
        "root": root / "root",
        "run_dir": root / "run",
        "http_addr": "127.0.0.1:0",
        "gc_interval": 0.0,
        "gc_grace_period": 0.0,
        "log_format": "console",
    }
    settings.update(overrides)
    config = RegistryConfig(**settings)
    config.validate()
    return config


@pytest.fixture
def start_registry(tmp_path: Path) -> StartRegistry:
    @contextlib.asynccontextmanager
    async def start(root: Path | None = None, **overrides: Any) -> AsyncIterator[Running]:
        # gRPC on a UNIX socket in a short directory of its own: a free TCP port picked in
        # advance may be taken by the time the registry binds it, and a socket under
        # tmp_path may be longer than sun_path allows
        with tempfile.TemporaryDirectory(prefix="reg-", dir="/tmp") as sockets:
            overrides.setdefault("grpc_listen", f"unix://{sockets}/grpc.sock")
            config = make_config(root or tmp_path, **overrides)
            async with (
                open_registry(config) as registry,
                aiohttp.ClientSession(connector=_connector(config)) as session,
                grpc.aio.insecure_channel(config.grpc_target) as channel,
            ):
                client = Client(session, f"{registry.scheme}://{registry.http_address}")
                with blockbuster_ctx():  # from start-up done to shut-down, nothing may block
                    yield Running(registry, config, client, channel)

    return start


def trusted_ca(config: RegistryConfig) -> Path:
    """What a client of a TLS registry trusts: the configured or the generated certificate."""
    return Path(config.tls_cert) if config.tls_cert else config.state_dir / "tls" / "ca.crt"


def _connector(config: RegistryConfig) -> aiohttp.TCPConnector:
    if not config.tls:
        return aiohttp.TCPConnector()
    return aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=trusted_ca(config)))


@pytest.fixture
async def registry(start_registry: StartRegistry) -> AsyncIterator[Running]:
    async with start_registry() as running:
        yield running


@pytest.fixture
def client(registry: Running) -> Client:
    return registry.client
