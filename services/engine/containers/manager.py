"""ContainerManager: the lifecycle of containers, from create to rm.

Every change of a container goes through here, serialized per container by a lock. A running
container has a monitor task that waits for its process to end, records the exit, cleans up,
and then applies ``--rm`` or the restart policy. The records are written before anything is
announced, so a crash leaves the database describing what really exists.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from services.engine.containers import attach, resolve, shared_net, signals
from services.engine.containers.filters import matches
from services.engine.containers.health.monitor import HealthMonitor
from services.engine.containers.models import (
    CREATED,
    EXITED,
    PAUSED,
    RESTARTING,
    RUNNING,
    Container,
    ContainerSpec,
    Port,
    Sandbox,
    Usage,
    Wiring,
)
from services.engine.containers.ports import Images, Records, Runtime, Sandboxes, Volumes
from services.engine.containers.teardown import Teardowns
from services.engine.events import actors
from services.engine.events.bus import EventBus
from services.kit import errors
from services.kit.log import get_logger
from services.kit.tasks import spawn

log = get_logger()


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ContainerManager:
    def __init__(
        self,
        records: Records,
        images: Images,
        sandboxes: Sandboxes,
        runtime: Runtime,
        volumes: Volumes,
        health: HealthMonitor | None = None,
        events: EventBus | None = None,
        teardowns: Teardowns | None = None,
    ) -> None:
        self.volumes = volumes
        self.health = health
        self.events = events or EventBus()
        self.records = records
        self.images = images
        self.sandboxes = sandboxes
        self.runtime = runtime
        self.teardowns = teardowns or Teardowns(records, runtime, sandboxes)
        self.attach = attach.AttachHub()
        self._locks: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(
            asyncio.Lock
        )
        self._exited: dict[str, asyncio.Event] = {}
        self._next_exit: dict[str, list[asyncio.Future[int]]] = {}
        self._removed: dict[str, list[asyncio.Future[int]]] = {}

    # -- create and inspect -------------------------------------------------------------

    async def create(self, name: str, spec: ContainerSpec) -> Container:
        name = resolve.check_name(name) if name else resolve.random_name()
        mode = spec.network_mode or "bridge"
        peer = None
        if shared_net.peer_ref(mode):
            shared_net.check_spec(spec)
            with contextlib.suppress(errors.NotFound):  # as dockerd: looked for again at start
                peer = await self.records.find(shared_net.peer_ref(mode))
                spec = dataclasses.replace(spec, network_mode=f"{shared_net.PREFIX}{peer.id}")
        image = await self.images.for_container(spec.image)
        for mount in spec.mounts:
            if mount.type == "volume":
                await self.volumes.create(mount.source)  # Docker makes a named volume on use
        cid = resolve.new_id()
        c = Container(
            id=cid,
            name=name,
            image_id=image.id,
            spec=spec,
            resolved=resolve.resolve(_with_peer_hostname(spec, peer), image.config, cid),
            created=now(),
        )
        try:
            if shared_net.peer_ref(mode):
                self.runtime.prepare(c)
                c.sandbox = shared_net.shared_sandbox(peer) if peer is not None else None
            else:
                c.sandbox = await self._sandbox_while_preparing(c, mode, image.config)
            self.runtime.write_etc_files(c)
            await self.records.insert(c)
        except BaseException:
            await self._discard(c)
            raise
        actors.container(self.events, c, "create")
        log.info("container_created", container_id=cid, name=name, image=spec.image)
        return c

    async def _sandbox_while_preparing(
        self, c: Container, mode: str, image_config: dict[str, object]
    ) -> Sandbox:
        """netd makes the container's sandbox while a worker thread makes its directories (a
        millisecond or more of disk work on a busy file system)."""
        made, prepared = await asyncio.gather(
            self.sandboxes.create(
                c.id, mode, c.resolved.hostname, c.name, _wiring(c.spec, image_config)
            ),
            asyncio.to_thread(self.runtime.prepare, c),
            return_exceptions=True,
        )
        if isinstance(prepared, BaseException):
            raise prepared
        if isinstance(made, BaseException):
            raise made
        return made

    async def _discard(self, c: Container) -> None:
        with contextlib.suppress(errors.EstibaError):
            await self.sandboxes.remove(c.id)
        await self.runtime.remove(c.id)

    async def get(self, ref: str) -> Container:
        return await self.records.find(ref)

    async def list_containers(self, *, all: bool, filters: dict[str, list[str]]) -> list[Container]:
        containers = await self.records.all()
        if not all:
            containers = [c for c in containers if c.state in (RUNNING, PAUSED, RESTARTING)]
        return [c for c in containers if matches(c, filters)]

    # -- run ------------------------------------------------------------------------------

    async def start(self, ref: str) -> Container:
        c = await self.records.find(ref)
        async with self._locks[c.id]:
            c = await self.records.find(c.id)
            if c.state in (RUNNING, PAUSED, RESTARTING):
                raise errors.FailedPrecondition(
                    f"container {c.id} is already running", reason="ALREADY_RUNNING"
                )
            await self._start(c)
        return c

    async def _start(self, c: Container) -> None:
        image = await self.images.for_container(c.image_id)
        if shared_net.peer_ref(c.spec.network_mode):
            peer = await self.records.find(shared_net.peer_ref(c.spec.network_mode))
            shared_net.require_running(peer, c.id)
            c.sandbox = shared_net.shared_sandbox(peer)  # the other's files as they are now
            c.resolved = dataclasses.replace(c.resolved, hostname=peer.resolved.hostname)
            self.runtime.write_etc_files(c)
        elif c.sandbox is None or (c.sandbox.netns and _gone(c.sandbox.netns)):
            c.sandbox = await self.sandboxes.create(
                c.id,
                c.spec.network_mode or "bridge",
                c.resolved.hostname,
                c.name,
                _wiring(c.spec, image.config),
            )
            self.runtime.write_etc_files(c)

        async def connect(paths: object) -> None:
            await self.attach.connect_pending(c.id, self.runtime.attach_paths(c).attach_socket)

        try:
            c.pid, c.conmon_pid = await self.runtime.start(c, image, connect)
        except errors.EstibaError as exc:
            c.state, c.error, c.exit_code = EXITED if c.started_at else CREATED, exc.message, 128
            await self.records.update(c)
            raise
        c.state, c.started_at, c.finished_at, c.error = RUNNING, now(), "", ""
        c.exit_code, c.oom_killed, c.manually_stopped = 0, False, False
        self._exited[c.id] = asyncio.Event()
        await self.records.update(c)
        _ = spawn(self._monitor(c), name=f"monitor-{c.short_id}")
        actors.connections(self.events, c, "connect")
        actors.mounts(self.events, c, "mount")
        actors.container(self.events, c, "start")
        if self.health is not None:
            await self.health.watch(c)
        log.info("container_started", container_id=c.id, pid=c.pid)

    def adopt(self, c: Container) -> None:
        """Watch a container that was already running when the engine started."""
        self._exited[c.id] = asyncio.Event()
        _ = spawn(self._monitor(c), name=f"monitor-{c.short_id}")

    async def _monitor(self, c: Container) -> None:
        code, oom = await self.runtime.wait_exit(c)
        async with self._locks[c.id]:
            try:
                c = await self.records.find(c.id)
            except errors.NotFound:
                return
            if not c.spec.auto_remove:  # else removed below, runc's state and root with it
                await self.runtime.cleanup(c)
            c.state, c.exit_code, c.oom_killed, c.finished_at = EXITED, code, oom, now()
            c.pid = c.conmon_pid = 0
            if not c.spec.auto_remove:  # else its record goes below, under the same lock
                await self.records.update(c)
            if self.health is not None:
                await self.health.stopped(c.id)
            actors.container(self.events, c, "die", exitCode=str(code))
            actors.connections(self.events, c, "disconnect")
            actors.mounts(self.events, c, "unmount")
            log.info("container_exited", container_id=c.id, exit_code=code, oom_killed=oom)
            self._exited.pop(c.id, asyncio.Event()).set()
            for future in self._next_exit.pop(c.id, []):
                if not future.done():
                    future.set_result(code)
            if c.spec.auto_remove:
                await self._remove_locked(c)
                return
            if not _should_restart(c):
                return
            delay = min(0.1 * 2 ** min(c.restart_count, 10), 10.0)
            c.restart_count += 1
            c.state = RESTARTING
            await self.records.update(c)
        _ = spawn(self._restart_later(c.id, delay), name=f"restart-{c.short_id}")

    async def _restart_later(self, cid: str, delay: float) -> None:
        """Start it again after ``delay``, unless the user stopped or removed it meanwhile."""
        await asyncio.sleep(delay)
        async with self._locks[cid]:
            try:
                c = await self.records.find(cid)
            except errors.NotFound:
                return
            if c.state != RESTARTING or c.manually_stopped:
                return
            try:
                await self._start(c)
            except errors.EstibaError as exc:
                log.warning("container_restart_failed", container_id=cid, error=exc.message)

    async def stop(self, ref: str, *, timeout: int = -1, signal: str = "") -> Container:
        c = await self.records.find(ref)
        if c.state not in (RUNNING, PAUSED, RESTARTING):
            raise errors.FailedPrecondition(
                f"container {c.id} is not running", reason="NOT_RUNNING"
            )
        await self._stop(c, timeout, signal)
        c = await self.records.find(c.id)
        actors.container(self.events, c, "stop")
        return c

    async def _mark_stopped_by_user(self, cid: str) -> Container:
        """Record that the user stopped it (so no restart policy applies) on a fresh read."""
        async with self._locks[cid]:
            c = await self.records.find(cid)
            c.manually_stopped = True
            if c.state == RESTARTING:  # waiting to be restarted: nothing runs, so just stop
                c.state = EXITED
            await self.records.update(c)
            return c

    async def _stop(self, c: Container, timeout: int, signal: str) -> None:
        c = await self._mark_stopped_by_user(c.id)
        if c.state == EXITED:
            return
        exited = self._exited.get(c.id)
        if c.state == PAUSED:
            await self.runtime.resume(c)
        wait = c.resolved.stop_timeout if timeout < 0 else timeout
        name = signals.normalize(signal or c.resolved.stop_signal)
        with contextlib.suppress(errors.FailedPrecondition):
            await self.runtime.kill(c, name)
            actors.container(self.events, c, "kill", signal=actors.signal_number(name))
        if exited is None:
            return
        try:
            await asyncio.wait_for(exited.wait(), wait)
        except TimeoutError:
            with contextlib.suppress(errors.FailedPrecondition):
                await self.runtime.kill(c, "SIGKILL")
                actors.container(self.events, c, "kill", signal="9")
            await exited.wait()

    async def restart(self, ref: str, *, timeout: int = -1, signal: str = "") -> Container:
        c = await self.records.find(ref)
        if c.state in (RUNNING, PAUSED, RESTARTING):
            await self._stop(c, timeout, signal)
        c = await self.start(c.id)
        actors.container(self.events, c, "restart")
        return c

    async def kill(self, ref: str, signal: str) -> None:
        c = await self.records.find(ref)
        name = signals.normalize(signal)
        if c.state not in (RUNNING, PAUSED):
            raise errors.FailedPrecondition(
                f"Container {c.id} is not running", reason="NOT_RUNNING"
            )
        if name in ("SIGKILL", "SIGTERM", "SIGINT"):
            c = await self._mark_stopped_by_user(c.id)
        await self.runtime.kill(c, name)
        actors.container(self.events, c, "kill", signal=actors.signal_number(name))

    async def pause(self, ref: str) -> None:
        c = await self.records.find(ref)
        async with self._locks[c.id]:
            c = await self.records.find(c.id)  # as it is now: its networks may have changed
            if c.state != RUNNING:
                raise errors.FailedPrecondition(
                    f"Container {c.id} is not running", reason="NOT_RUNNING"
                )
            await self.runtime.pause(c)
            if self.health is not None:
                self.health.pause(c.id, True)
            c.state = PAUSED
            await self.records.update(c)
        actors.container(self.events, c, "pause")

    async def unpause(self, ref: str) -> None:
        c = await self.records.find(ref)
        async with self._locks[c.id]:
            c = await self.records.find(c.id)  # as it is now: its networks may have changed
            if c.state != PAUSED:
                raise errors.FailedPrecondition(
                    f"Container {c.id} is not paused", reason="NOT_PAUSED"
                )
            await self.runtime.resume(c)
            if self.health is not None:
                self.health.pause(c.id, False)
            c.state = RUNNING
            await self.records.update(c)
        actors.container(self.events, c, "unpause")

    async def rename(self, ref: str, new_name: str) -> None:
        """Rename the record, then netd, whose DNS answers follow at once on every network.

        The record goes first because it is where a name taken by another container is
        refused; if netd then fails, the old name comes back so the two never disagree.
        """
        name = resolve.check_name(new_name)
        c = await self.records.find(ref)
        async with self._locks[c.id]:
            c = await self.records.find(c.id)
            old, c.name = c.name, name
            await self.records.update(c)
            try:
                await self.sandboxes.rename(c.id, name)
            except errors.NotFound:
                pass  # no sandbox of its own (yet): the name goes to netd when one is made
            except BaseException:
                c.name = old
                await self.records.update(c)
                raise
        actors.container(self.events, c, "rename", oldName=f"/{old}")
        log.info("container_renamed", container_id=c.id, old=old, name=name)

    async def refresh_networks(self, ref: str) -> None:
        """Record the container's networks as netd has them now, and rewrite its /etc/hosts and
        /etc/resolv.conf from them: after ``network connect`` the record lists the new network
        and the name server of the user-defined network answers the names on it, as Docker's
        embedded DNS does once a container joins one; after ``disconnect``, the reverse."""
        c = await self.records.find(ref)
        async with self._locks[c.id]:
            c = await self.records.find(c.id)
            sandbox = c.sandbox
            if (
                sandbox is None
                or sandbox.mode == "host"
                or shared_net.peer_ref(c.spec.network_mode)
            ):
                return  # the host's files, or another container's
            try:
                now = await self.sandboxes.current(c.id)
            except errors.NotFound:
                return
            c.sandbox = dataclasses.replace(
                sandbox, hosts=now.hosts, resolv_conf=now.resolv_conf, endpoints=now.endpoints
            )
            self.runtime.write_etc_files(c)
            await self.records.update(c)

    async def running(self, ref: str) -> Container:
        """The container, which must be running (Docker's 409 otherwise)."""
        c = await self.records.find(ref)
        if c.state not in (RUNNING, PAUSED):
            raise errors.FailedPrecondition(
                f"Container {c.id} is not running", reason="NOT_RUNNING"
            )
        return c

    async def top(self, ref: str) -> list[list[str]]:
        return await self.runtime.top(await self.running(ref))

    async def usage(self, ref: str, host_memory: int) -> Usage:
        return self.runtime.usage(await self.running(ref), host_memory)

    def resize(self, c: Container, height: int, width: int) -> None:
        if c.state in (RUNNING, PAUSED) and height > 0 and width > 0:
            self.runtime.resize(c, height, width)

    async def prune(self, filters: dict[str, list[str]]) -> list[str]:
        """Remove every container that does not run and matches ``filters`` (label, until)."""
        until = filters.pop("until", [])
        deleted = []
        for c in await self.list_containers(all=True, filters=filters):
            if c.state in (RUNNING, PAUSED, RESTARTING):
                continue
            if until and c.created >= _until_time(until[0]):
                continue
            with contextlib.suppress(errors.NotFound, errors.FailedPrecondition):
                await self.remove(c.id, force=False)
                deleted.append(c.id)
        return deleted

    # -- remove and wait ---------------------------------------------------------------

    async def remove(self, ref: str, *, force: bool) -> None:
        c = await self.records.find(ref)
        if c.state in (RUNNING, PAUSED, RESTARTING):
            if not force:
                raise errors.FailedPrecondition(
                    f"cannot remove container {c.name}: container is running: stop the "
                    "container before removing or force remove",
                    reason="CONTAINER_RUNNING",
                )
            await self._stop(c, 0, "SIGKILL")
        async with self._locks[c.id]:
            with contextlib.suppress(errors.NotFound):
                c = await self.records.find(c.id)
                await self._remove_locked(c)
        await self.teardowns.finish(c.id)  # as Docker's rm: answered once all of it is gone

    async def _remove_locked(self, c: Container) -> None:
        """The record goes (the container is removed for every API), then its root and its
        sandbox are taken down in the background: see ``containers.teardown``."""
        self.attach.drop(c.id)
        if self.health is not None:
            await self.health.forget(c.id)
        await self.records.retire(c.id, c.image_id)
        self.teardowns.start(c.id)
        actors.container(self.events, c, "destroy")
        self._locks.pop(c.id, None)
        log.info("container_removed", container_id=c.id)
        for future in self._removed.pop(c.id, []):
            if not future.done():
                future.set_result(c.exit_code)

    async def wait(self, ref: str, condition: str) -> AsyncIterator[int | None]:
        """Yields None once the wait is in place, then the exit code when it is met."""
        c = await self.records.find(ref)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if condition in ("", "not-running"):
            if c.state not in (RUNNING, PAUSED, RESTARTING):
                future.set_result(c.exit_code)
            else:
                self._next_exit.setdefault(c.id, []).append(future)
        elif condition == "next-exit":
            self._next_exit.setdefault(c.id, []).append(future)
        elif condition == "removed":
            self._removed.setdefault(c.id, []).append(future)
        else:
            raise errors.InvalidArgument(f"invalid condition: {condition!r}")
        yield None
        yield await future

    # -- engine start -------------------------------------------------------------------

    async def refresh_recorded_networks(self) -> int:
        """Bring every container's record of its networks to what netd has: a record written
        before the engine kept every endpoint knew only the first network, and a connect whose
        refresh did not reach the engine left the record behind. Returns how many changed."""
        current = await self.sandboxes.all_endpoints()
        changed = 0
        for c in await self.records.all():
            sandbox = c.sandbox
            if sandbox is None or c.id not in current or sandbox.endpoints == current[c.id]:
                continue
            async with self._locks[c.id]:
                with contextlib.suppress(errors.NotFound):
                    c = await self.records.find(c.id)
                    if c.sandbox is None:
                        continue
                    c.sandbox = dataclasses.replace(c.sandbox, endpoints=current[c.id])
                    await self.records.update(c)
                    changed += 1
        if changed:
            log.info("container_networks_refreshed", containers=changed)
        return changed

    async def recover(self) -> None:
        """After an engine (re)start: adopt live containers, record the ones that ended."""
        for c in await self.records.all():
            if c.state not in (RUNNING, PAUSED, RESTARTING):
                continue
            if self.runtime.is_alive(c):
                self.adopt(c)
                if self.health is not None and c.state in (RUNNING, PAUSED):
                    await self.health.watch(c, resume=True)
                    self.health.pause(c.id, c.state == PAUSED)
                continue
            _ = spawn(self._monitor(c), name=f"recover-{c.short_id}")


def _until_time(value: str) -> str:
    """Docker's "until": a Unix time or an RFC 3339 time, as a comparable RFC 3339 string."""
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return value


def _wiring(spec: ContainerSpec, image_config: dict[str, object]) -> Wiring:
    """The ports to publish: those asked for, and with -P every exposed port on a free one."""
    ports = list(spec.ports)
    if spec.publish_all_ports:
        exposed = set(spec.exposed_ports) | set(image_config.get("ExposedPorts") or {})  # type: ignore[call-overload]
        taken = {(p.container_port, p.protocol) for p in ports}
        for item in sorted(exposed):
            number, _, protocol = str(item).partition("/")
            key = (int(number), protocol or "tcp")
            if number.isdigit() and key not in taken:
                ports.append(Port(key[1], key[0]))
    return Wiring(tuple(ports), spec.ip_address, spec.network_aliases)


def _with_peer_hostname(spec: ContainerSpec, peer: Container | None) -> ContainerSpec:
    """In another container's network, the container has that one's host name (as dockerd)."""
    if peer is None:
        return spec
    return dataclasses.replace(spec, hostname=peer.resolved.hostname)


def _should_restart(c: Container) -> bool:
    policy = c.spec.restart_policy
    if c.manually_stopped or policy.name in ("", "no"):
        return False
    if policy.name == "on-failure":
        return c.exit_code != 0 and (
            policy.maximum_retry_count <= 0 or c.restart_count < policy.maximum_retry_count
        )
    return policy.name in ("always", "unless-stopped")


def _gone(path: str) -> bool:
    """A namespace file that no longer exists (one stat; not worth a thread)."""
    return not os.path.exists(path)
