"""The engine's composition root: config → database → stores → servicers → server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.engine.api.build import BuilderServicer
from services.engine.api.containers import ContainersServicer
from services.engine.api.events import EventsServicer
from services.engine.api.filesystems import FilesystemsServicer
from services.engine.api.images import ImagesServicer
from services.engine.api.system import SystemServicer
from services.engine.api.volumes import VolumesServicer
from services.engine.build.builder import Builder
from services.engine.config import EngineConfig
from services.engine.containers.execs import ExecManager
from services.engine.containers.health.monitor import HealthMonitor
from services.engine.containers.manager import ContainerManager
from services.engine.containers.teardown import ImageUsersAfterTeardowns, Teardowns
from services.engine.content.store import ContentStore
from services.engine.distribution.client import Registries
from services.engine.domain.host import read_host, runtime_version
from services.engine.events import actors
from services.engine.events.bus import EventBus
from services.engine.images.context import ImageContext
from services.engine.images.platform import host_platform
from services.engine.images.service import ImageService
from services.engine.peers.images import LocalImages
from services.engine.peers.netd import NetdSandboxes
from services.engine.runtime.files import ContainerFiles
from services.engine.runtime.runner import ContainerRunner
from services.engine.store.build_cache import BuildCacheStore
from services.engine.store.containers import ContainerStore
from services.engine.store.health import HealthStore
from services.engine.store.images import ContainersTable, ImageStore
from services.engine.store.migrations import MIGRATIONS
from services.engine.store.sqlite import EngineStore
from services.engine.store.volumes import VolumeStore
from services.engine.unpack.layers import LayerStore
from services.engine.volumes.manager import VolumeManager
from services.kit import errors, grpcserver, tasks
from services.kit.db import Database
from services.kit.grpcclient import open_channel
from services.kit.log import get_logger
from services.kit.version import VERSION

log = get_logger()

NETD_WAIT_SECONDS = 120  # how long the engine's start waits for netd to answer, at the most


def image_service(
    config: EngineConfig, db: Database, registries: Registries, teardowns: Teardowns | None = None
) -> ImageService:
    """The image half of the engine; ``teardowns`` are those of the container half, if any."""
    users = ContainersTable(db)
    ctx = ImageContext(
        records=ImageStore(db),
        users=users if teardowns is None else ImageUsersAfterTeardowns(users, teardowns),
        content=ContentStore(config.content_dir),
        layers=LayerStore(config.layers_dir),
        registries=registries,
        tmp=config.tmp_dir,
        platform=host_platform(),
        debian_mirror=config.debian_mirror,
    )
    return ImageService(ctx)


async def prepare_images(config: EngineConfig, images: ImageService) -> None:
    """Clean up after a crash, then make sure the node has its busybox base image."""
    await asyncio.to_thread(images.prepare)
    layers, blobs = await images.collect_garbage()
    if layers or blobs:
        log.info("image_garbage_removed", layers=layers, blobs=blobs)
    if not config.busybox:
        return
    try:
        image_id = await images.ensure_busybox(Path(config.busybox))
    except errors.EstibaError as exc:
        log.warning("busybox_image_failed", error=str(exc))
        return
    if image_id is None:
        log.warning("busybox_image_skipped", reason=f"{config.busybox} is missing")


def container_runner(config: EngineConfig, volumes: VolumeManager) -> ContainerRunner:
    runner = ContainerRunner(
        config.state_dir,
        config.engine_run_dir,
        config.cgroup_parent,
        config.runtime,
        volume_path=volumes.path,
    )
    runner.empty_trash()  # what removals moved there before the engine last stopped
    return runner


def container_manager(
    config: EngineConfig,
    db: Database,
    images: ImageService,
    volumes: VolumeManager,
    records: ContainerStore,
    sandboxes: NetdSandboxes,
    runner: ContainerRunner,
    events: EventBus,
    teardowns: Teardowns,
) -> ContainerManager:
    return ContainerManager(
        records,
        LocalImages(images, config.state_dir / "empty-layer"),
        sandboxes,
        runner,
        volumes,
        health=HealthMonitor(
            runner,
            HealthStore(db),
            on_status=lambda c, status: actors.container(events, c, f"health_status: {status}"),
        ),
        events=events,
        teardowns=teardowns,
    )


async def catch_up_with_netd(containers: ContainerManager) -> None:
    """Once netd answers (it may start after the engine), bring the containers' records of
    their networks to what netd has (see ContainerManager.refresh_recorded_networks), and
    finish the teardowns of containers removed before the engine last stopped."""
    for _ in range(NETD_WAIT_SECONDS):
        try:
            await containers.refresh_recorded_networks()
        except (errors.Unavailable, errors.DeadlineExceeded):
            await asyncio.sleep(1)
            continue
        finished = await containers.teardowns.resume()
        if finished:
            log.info("container_teardowns_finished", count=finished)
        return
    log.warning("container_networks_not_refreshed", why="netd did not answer")


async def main(config: EngineConfig, stop: asyncio.Event) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.state_dir / "engine.db", MIGRATIONS, inline=True)
    registries = Registries(config.insecure_registries, user_agent=f"estiba-engine/{VERSION}")
    netd = open_channel(config.netd_target)
    try:
        store = EngineStore(db)
        volume_store = VolumeStore(db)
        volumes = VolumeManager(volume_store, volume_store, config.state_dir / "volumes")
        runner = container_runner(config, volumes)
        records, sandboxes = ContainerStore(db), NetdSandboxes(netd)
        teardowns = Teardowns(records, runner, sandboxes)
        images = image_service(config, db, registries, teardowns)
        await prepare_images(config, images)
        events = EventBus()
        containers = container_manager(
            config, db, images, volumes, records, sandboxes, runner, events, teardowns
        )
        await containers.recover()
        system = SystemServicer(config, store, read_host(), await runtime_version(config.runtime))
        images_api = ImagesServicer(images, events)
        host = read_host()
        execs = ExecManager(containers)
        containers_api = ContainersServicer(containers, execs, host.mem_total)
        volumes_api = VolumesServicer(volumes, events)
        events_api = EventsServicer(events)
        files_api = FilesystemsServicer(ContainerFiles(containers, images, config.tmp_dir))
        build_api = BuilderServicer(Builder(images, containers, BuildCacheStore(db)))
        async with grpcserver.serving(
            config.grpc_target,
            [
                system.register,
                images_api.register,
                containers_api.register,
                volumes_api.register,
                files_api.register,
                events_api.register,
                build_api.register,
            ],
            services=[
                "estiba.engine.v1.System",
                "estiba.engine.v1.Images",
                "estiba.engine.v1.Containers",
                "estiba.engine.v1.Volumes",
                "estiba.engine.v1.Filesystems",
                "estiba.engine.v1.Events",
                "estiba.engine.v1.Builder",
            ],
        ):
            catch_up = tasks.spawn(catch_up_with_netd(containers), name="engine-catch-up")
            await stop.wait()
            await tasks.stop(catch_up)
            events.close()  # subscribers' streams end, so the server stops without waiting
        if containers.health is not None:
            await containers.health.close()
        # Containers keep running: their conmon monitors are not our children. The next
        # engine adopts them (ContainerManager.recover).
    finally:
        await netd.close()
        await registries.close()
        await db.close()
