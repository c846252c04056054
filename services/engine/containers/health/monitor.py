"""HealthMonitor: the probe loop of every running container that has a healthcheck.

Docker's rules: a container starts "starting"; a probe that exits 0 makes it "healthy" and
clears the failing streak; any other result adds to the streak, except while the container is
still "starting" within its start period, and ``retries`` failures in a row make it
"unhealthy". During the start period a starting container is probed every start interval,
otherwise every interval, counted from the end of the previous probe. The last five results
are kept. When the container stops, probing stops and it counts as unhealthy.

The verdict is written to the container's record after every probe, so inspect and ps read it
from the database, and an engine that restarts resumes from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.engine.containers.health import config, probe
from services.engine.containers.models import Container, Health, Healthcheck, HealthResult
from services.engine.containers.ports import Runtime
from services.kit.log import get_logger
from services.kit.tasks import spawn

log = get_logger()

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
KEEP_RESULTS = 5
CANCEL_WAIT = 5.0  # seconds a stopping loop may take to end

StatusListener = Callable[[Container, str], None]


class HealthRecords(Protocol):
    """Where verdicts are kept (services.engine.store.health)."""

    async def save(self, container_id: str, health: Health | None) -> None: ...
    async def load(self, container_id: str) -> Health | None: ...


class HealthMonitor:
    def __init__(
        self, runtime: Runtime, records: HealthRecords, on_status: StatusListener | None = None
    ) -> None:
        self._runtime = runtime
        self._records = records
        self._on_status = on_status
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._tokens: dict[str, object] = {}  # the current loop of each container
        self._health: dict[str, Health] = {}
        self._paused: set[str] = set()

    async def watch(self, c: Container, *, resume: bool = False) -> None:
        """Start probing ``c``, which has just started (or, with ``resume``, was already
        running when the engine started: its recorded verdict stands)."""
        await self._cancel(c.id)
        check = c.resolved.healthcheck
        if check is None:
            if c.health is not None:
                c.health = None
                await self._records.save(c.id, None)
            return
        health = c.health if resume and c.health is not None else Health()
        if not resume and c.health is not None:
            health.log = list(c.health.log)  # Docker keeps the log across restarts
        c.health = self._health[c.id] = health
        await self._records.save(c.id, health)
        token = self._tokens[c.id] = object()
        self._loops[c.id] = spawn(self._loop(c, check, health, token), name=f"health-{c.short_id}")

    async def stopped(self, container_id: str) -> None:
        """The container no longer runs: stop probing; its verdict becomes "unhealthy", as
        Docker reports a container whose checks have stopped. One that ended while no engine
        ran has its verdict only in its record."""
        await self._cancel(container_id)
        self._paused.discard(container_id)
        health = self._health.pop(container_id, None) or await self._records.load(container_id)
        if health is not None and health.status != UNHEALTHY:
            health.status = UNHEALTHY
            await self._records.save(container_id, health)

    async def forget(self, container_id: str) -> None:
        """``c`` is being removed: stop probing, write nothing."""
        await self._cancel(container_id)
        self._paused.discard(container_id)
        self._health.pop(container_id, None)

    def pause(self, container_id: str, paused: bool) -> None:
        """A frozen container is not probed (its processes could not answer)."""
        if paused:
            self._paused.add(container_id)
        else:
            self._paused.discard(container_id)

    async def close(self) -> None:
        for cid in list(self._loops):
            await self._cancel(cid)

    async def _cancel(self, container_id: str) -> bool:
        """End the container's loop. Its token goes first: a loop whose cancellation was lost
        (asyncio.wait_for may swallow one when its inner call finishes at the same moment)
        still stops at its next step and writes nothing more; the wait for it is bounded."""
        self._tokens.pop(container_id, None)
        task = self._loops.pop(container_id, None)
        if task is None:
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_WAIT)
        return True

    async def _loop(self, c: Container, check: Healthcheck, health: Health, token: object) -> None:
        started = _parse(c.started_at)
        timeout = check.timeout or config.DEFAULT_TIMEOUT
        while self._tokens.get(c.id) is token:
            await asyncio.sleep(_interval(check, health, started) / 1e9)
            if c.id in self._paused or self._tokens.get(c.id) is not token:
                continue
            result = await probe.run(self._runtime, c, check, timeout)
            if self._tokens.get(c.id) is not token:
                return
            before = health.status
            record(health, check, result, started)
            await self._records.save(c.id, health)
            if health.status != before:
                log.info("container_health", container_id=c.id, status=health.status)
                if self._on_status is not None:
                    self._on_status(c, health.status)


def record(health: Health, check: Healthcheck, result: HealthResult, started: datetime) -> None:
    """Apply one probe's result to ``health`` (Docker's handleProbeResult)."""
    health.log = [*health.log, result][-KEEP_RESULTS:]
    if result.exit_code == 0:
        health.failing_streak = 0
        health.status = HEALTHY
        return
    if health.status == STARTING and _parse(result.start) - started < _delta(check.start_period):
        return  # a failure while starting, within the start period, does not count
    health.failing_streak += 1
    if health.failing_streak >= (check.retries or config.DEFAULT_RETRIES):
        health.status = UNHEALTHY


def _interval(check: Healthcheck, health: Health, started: datetime) -> int:
    interval = check.interval or config.DEFAULT_INTERVAL
    if datetime.now(UTC) - started >= _delta(check.start_period):
        return interval
    if health.status == STARTING:
        return check.start_interval or config.DEFAULT_START_INTERVAL
    return interval


def _delta(ns: int) -> timedelta:
    return timedelta(microseconds=ns / 1000)


def _parse(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
