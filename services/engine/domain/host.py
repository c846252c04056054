"""Facts about the host the engine runs on, read from the kernel and /etc."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Host:
    hostname: str
    kernel_version: str
    operating_system: str
    architecture: str
    ncpu: int
    mem_total: int
    cgroup_version: str


def read_host(proc: Path = Path("/proc"), etc: Path = Path("/etc")) -> Host:
    uname = os.uname()
    return Host(
        hostname=socket.gethostname(),
        kernel_version=uname.release,
        operating_system=_pretty_name(etc / "os-release"),
        architecture=uname.machine,
        ncpu=os.cpu_count() or 1,
        mem_total=_mem_total(proc / "meminfo"),
        cgroup_version="2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1",
    )


def _pretty_name(path: Path) -> str:
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "PRETTY_NAME":
                return value.strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total(path: Path) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


async def runtime_version(runtime: str) -> str:
    """The first line of ``<runtime> --version``, or "" when the runtime is not installed."""
    path = shutil.which(runtime)
    if path is None:
        return ""
    proc = await asyncio.create_subprocess_exec(
        path, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await proc.communicate()
    first = out.decode(errors="replace").splitlines()[:1]
    return first[0].split("version", 1)[-1].strip() if first else ""
