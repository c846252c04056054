"""Resource usage read straight from a container's cgroup files (0.1 ms; runc events takes 8).

Works on the v1 (hybrid) hierarchy this project's hosts have and on the unified v2 one.
"""

from __future__ import annotations

import os
from pathlib import Path

from services.engine.containers.models import Usage

ROOT = Path("/sys/fs/cgroup")


def dirs(cgroup: str) -> list[Path]:
    """Every directory ``cgroup`` (the absolute path runc was given) can have: one per v1
    hierarchy, and the unified one (v2 alone mounts it at the root itself)."""
    rel = cgroup.lstrip("/")
    try:
        hierarchies = sorted(os.listdir(ROOT))
    except OSError:
        hierarchies = []
    return [ROOT / rel, *(ROOT / name / rel for name in hierarchies)]


def _int(path: Path, default: int = 0) -> int:
    try:
        text = path.read_text().strip()
    except OSError:
        return default
    return default if text == "max" else int(text.split()[0])


def _keyed(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                out[parts[0]] = int(parts[1])
    except OSError:
        pass
    return out


def usage(cgroup: str, host_memory: int) -> Usage:
    """``cgroup`` is the absolute path runc was given, e.g. /estiba/<id>."""
    rel = cgroup.lstrip("/")
    if (ROOT / "memory").is_dir():
        memory = ROOT / "memory" / rel
        stat = _keyed(memory / "memory.stat")
        used = _int(memory / "memory.usage_in_bytes") - stat.get("total_inactive_file", 0)
        limit = _int(memory / "memory.limit_in_bytes", host_memory)
        read = write = 0
        try:
            lines = (ROOT / "blkio" / rel / "blkio.throttle.io_service_bytes").read_text()
        except OSError:
            lines = ""
        for line in lines.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "Read":
                read += int(parts[2])
            elif len(parts) == 3 and parts[1] == "Write":
                write += int(parts[2])
        return Usage(
            memory_usage=max(used, 0),
            memory_limit=min(limit, host_memory) if host_memory else limit,
            cpu_total_ns=_int(ROOT / "cpuacct" / rel / "cpuacct.usage"),
            pids=_int(ROOT / "pids" / rel / "pids.current"),
            block_read=read,
            block_write=write,
        )
    unified = ROOT / rel
    stat = _keyed(unified / "memory.stat")
    cpu = _keyed(unified / "cpu.stat")
    io_read = io_write = 0
    try:
        for line in (unified / "io.stat").read_text().splitlines():
            for field in line.split()[1:]:
                key, _, value = field.partition("=")
                io_read += int(value) if key == "rbytes" else 0
                io_write += int(value) if key == "wbytes" else 0
    except OSError:
        pass
    return Usage(
        memory_usage=max(_int(unified / "memory.current") - stat.get("inactive_file", 0), 0),
        memory_limit=_int(unified / "memory.max", host_memory),
        cpu_total_ns=cpu.get("usage_usec", 0) * 1000,
        pids=_int(unified / "pids.current"),
        block_read=io_read,
        block_write=io_write,
    )


def system_cpu_ns() -> int:
    """The host's CPU time since boot in nanoseconds, as docker stats uses it."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:8]
    except (OSError, IndexError):
        return 0
    ticks = sum(int(f) for f in fields)
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def processes(pids: list[int]) -> list[list[str]]:
    """``ps -ef``-like rows (UID PID PPID C STIME TTY TIME CMD) for docker top."""
    rows = []
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        uid = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("Uid:")), "0")
        seconds = (int(fields[11]) + int(fields[12])) // tick
        command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        rows.append(
            [
                uid,
                str(pid),
                fields[1],
                "0",
                "-",
                "?",
                f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
                command or f"[{name}]",
            ]
        )
    return rows
