"""One probe: the healthcheck's command run inside the container, within its timeout.

The probe is an exec like ``docker exec`` makes (the same runtime call), without a terminal or
input. Its stdout and stderr are kept together, cut at Docker's 4 KiB, because the verdict is
shown to users in inspect and that is all Docker keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from datetime import UTC, datetime
from pathlib import Path

from services.engine.containers.health.config import command
from services.engine.containers.models import Container, ExecRequest, Healthcheck, HealthResult
from services.engine.containers.ports import Process, Runtime
from services.kit import errors

MAX_OUTPUT = 4096
COULD_NOT_RUN = -1  # Docker's exit code for a probe that did not run or did not finish
STOP_WAIT = 5.0  # seconds a timed-out probe is given to end
SWEEP_INTERVAL = 0.02  # seconds between two sweeps of its processes


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def run(runtime: Runtime, c: Container, check: Healthcheck, timeout_ns: int) -> HealthResult:
    start = now()
    request = ExecRequest(
        id=secrets.token_hex(32), container_id=c.id, cmd=command(check), attach_stdin=False
    )
    try:
        process = await runtime.exec(c, request)
    except errors.EstibaError as exc:
        return HealthResult(start, now(), COULD_NOT_RUN, exc.message)
    process.close_stdin()
    output = bytearray()
    try:
        code = await asyncio.wait_for(_collect(process, output), timeout_ns / 1e9)
    except TimeoutError:
        await _stop(process)
        message = f"Health check exceeded timeout ({go_duration(timeout_ns)})"
        return HealthResult(start, now(), COULD_NOT_RUN, message)
    return HealthResult(start, now(), code, output.decode(errors="replace"))


async def _collect(process: Process, output: bytearray) -> int:
    async for _, data in process.output():
        room = MAX_OUTPUT - len(output)
        if room > 0:
            output.extend(data[:room])
    return await process.wait()


async def _stop(process: Process) -> None:
    """End a timed-out probe: kill what ``runc exec`` started in the container until runc,
    which waits for it, has exited. Once is not enough: on a busy machine the probe may time
    out while runc is still making its process, which then starts after a single sweep and
    would run on, one more with every timed-out probe. runc itself is killed only if it
    outlives ``STOP_WAIT``."""
    for _ in range(int(STOP_WAIT / SWEEP_INTERVAL)):
        await asyncio.to_thread(_kill_descendants, process.pid)
        try:
            await asyncio.wait_for(process.wait(), SWEEP_INTERVAL)
            return
        except TimeoutError:
            continue
    process.kill()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), STOP_WAIT)


def _kill_descendants(pid: int) -> None:
    """Kill what the probe started inside the container: the processes below ``runc exec``.
    Killing runc alone would leave them running there, one more with every timed-out probe."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in _tasks(parent):
            try:
                text = Path(f"/proc/{parent}/task/{task}/children").read_text()
            except OSError:
                continue
            children = [int(c) for c in text.split()]
            found += children
            queue += children
    for child in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def _tasks(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def go_duration(ns: int) -> str:
    """A duration as Go prints it ("30s", "1.5s", "500ms", "1m30s"), as Docker's messages do."""
    if ns < 1_000_000_000:
        return f"{ns / 1e6:g}ms" if ns >= 1_000_000 else f"{ns / 1e3:g}µs"
    seconds = ns / 1e9
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{rest:g}s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text
