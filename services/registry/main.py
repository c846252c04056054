"""The registry's composition root: config → database → stores → domain → servers.

``open_registry`` starts everything and yields the running registry (tests use it in-process);
``main`` is what ``python -m services.registry`` runs until SIGTERM. Shutdown is the reverse of
start-up: scheduled garbage collection, gRPC, HTTP, then the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from collections.abc import AsyncIterator

from aiohttp import web

from services.kit import grpcserver
from services.kit.db import Database
from services.kit.log import get_logger
from services.kit.settings import check_host_port
from services.kit.tasks import spawn
from services.registry.api.access import AccessServicer
from services.registry.api.maintenance import MaintenanceServicer
from services.registry.api.repositories import RepositoriesServicer
from services.registry.api.system import SystemServicer
from services.registry.config import RegistryConfig
from services.registry.domain.accounts import AccessService, AccessState
from services.registry.domain.authn import Authenticator, AuthSettings
from services.registry.domain.blobs import BlobService
from services.registry.domain.gc import GarbageCollector
from services.registry.domain.manifests import ManifestService
from services.registry.domain.repositories import RepositoryService
from services.registry.domain.rules import Rules
from services.registry.domain.throttle import LoginThrottle
from services.registry.domain.uploads import UploadService
from services.registry.http.app import make_app
from services.registry.http.auth import Gate
from services.registry.http.context import Services
from services.registry.store.blobfs import BlobFS
from services.registry.store.migrations import MIGRATIONS
from services.registry.store.sqlite import SqliteMetadata
from services.registry.tlscert import server_context

log = get_logger()

GRPC_SERVICES = [
    "estiba.registry.v1.System",
    "estiba.registry.v1.Repositories",
    "estiba.registry.v1.Maintenance",
    "estiba.registry.v1.Access",
]


@dataclasses.dataclass(frozen=True)
class Registry:
    """A running registry: where it listens and its services."""

    http_address: str
    grpc_target: str
    scheme: str
    """"https" with TLS on, else "http"."""
    services: Services
    gc: GarbageCollector
    gate: Gate


def rules_of(config: RegistryConfig) -> Rules:
    return Rules(
        read_only=config.read_only,
        upload_ttl=config.upload_ttl,
        max_uploads=config.max_uploads,
        max_manifest_bytes=config.max_manifest_bytes,
        max_page_size=config.max_page_size,
        gc_grace_period=config.gc_grace_period,
    )


def auth_settings(config: RegistryConfig) -> AuthSettings:
    return AuthSettings(
        service=config.auth_service,
        issuer=config.auth_service,
        token_ttl=config.token_ttl,
        refresh_ttl=config.refresh_token_ttl,
        key_rotation=config.signing_key_rotation,
    )


async def build(
    meta: SqliteMetadata, content: BlobFS, rules: Rules, config: RegistryConfig
) -> tuple[Services, GarbageCollector, Gate]:
    """Wire the domain services to their stores, and the access gate of the HTTP API."""
    content_lock = asyncio.Lock()
    blobs = BlobService(meta, content, rules, content_lock)
    uploads = UploadService(meta, content, blobs, rules)
    manifests = ManifestService(meta, rules)
    repositories = RepositoryService(meta, uploads, rules)
    gc = GarbageCollector(meta, content, uploads, rules, content_lock)
    state = await AccessState.load(meta)
    access = AccessService(meta, state, rules.clock)
    authenticator = None
    if config.auth:
        throttle = LoginThrottle(
            per_account=config.login_failures_per_account,
            per_address=config.login_failures_per_address,
            window=config.login_failure_window,
        )
        authenticator = Authenticator(
            meta, state, access, auth_settings(config), throttle, rules.clock
        )
        await authenticator.start()
    gate = Gate(access, state, authenticator, config.auth_realm)
    return Services(blobs, uploads, manifests, repositories, access), gc, gate


@contextlib.asynccontextmanager
async def open_registry(config: RegistryConfig) -> AsyncIterator[Registry]:
    """Start the registry from ``config``; stop it when the block ends."""
    content = BlobFS(config.state_dir)
    await asyncio.to_thread(content.prepare)
    db = await Database.open(config.state_dir / "registry.db", MIGRATIONS)
    try:
        services, gc, gate = await build(SqliteMetadata(db), content, rules_of(config), config)
        tls, trust_pem = None, ""
        if config.tls:
            host, _ = check_host_port(config.http_addr, "http_addr")
            tls, trust_pem = await server_context(
                config.tls_cert, config.tls_key, config.state_dir, host
            )
        async with (
            _http(config, services, gate, tls) as http_address,
            _grpc(config, services, gc, gate, trust_pem),
            _scheduled_gc(config, gc),
        ):
            scheme = "https" if config.tls else "http"
            yield Registry(http_address, config.grpc_target, scheme, services, gc, gate)
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def _http(
    config: RegistryConfig, services: Services, gate: Gate, tls: ssl.SSLContext | None
) -> AsyncIterator[str]:
    host, port = check_host_port(config.http_addr, "http_addr")
    runner = web.AppRunner(make_app(services, gate), access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_address=True, ssl_context=tls).start()
        bound = runner.addresses[0]
        address = f"{host}:{bound[1]}" if ":" not in host else f"[{host}]:{bound[1]}"
        log.info("http_listening", address=address, tls=config.tls)
        yield address
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def _grpc(
    config: RegistryConfig,
    services: Services,
    gc: GarbageCollector,
    gate: Gate,
    trust_pem: str,
) -> AsyncIterator[None]:
    system = SystemServicer(config, services.repositories, trust_pem)
    repositories = RepositoriesServicer(services.repositories, services.manifests)
    maintenance = MaintenanceServicer(
        gc, services.uploads, interval=config.gc_interval, grace=config.gc_grace_period
    )
    access = AccessServicer(services.access, gate.authenticator)
    registrars: list[grpcserver.Registrar] = [
        system.register,
        repositories.register,
        maintenance.register,
        access.register,
    ]
    async with grpcserver.serving(config.grpc_target, registrars, services=GRPC_SERVICES):
        yield


@contextlib.asynccontextmanager
async def _scheduled_gc(config: RegistryConfig, gc: GarbageCollector) -> AsyncIterator[None]:
    if config.gc_interval <= 0:
        yield
        return
    stop = asyncio.Event()
    task = spawn(gc.run_forever(config.gc_interval, stop), name="registry-gc")
    try:
        yield
    finally:
        stop.set()
        await task


async def main(config: RegistryConfig, stop: asyncio.Event) -> None:
    async with open_registry(config):
        await stop.wait()
