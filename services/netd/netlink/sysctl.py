"""Reading and writing sysctls through /proc/sys (blocking: call through asyncio.to_thread).

/proc/sys/net resolves to the network namespace of the task that opens it, so these act on the
namespace netd runs in: the host's.
"""

from __future__ import annotations

from pathlib import Path

PROC_SYS = Path("/proc/sys")


def read(*parts: str) -> str:
    return (PROC_SYS.joinpath(*parts)).read_text().strip()


def write(value: str, *parts: str) -> None:
    (PROC_SYS.joinpath(*parts)).write_text(f"{value}\n")


def ensure(value: str, *parts: str) -> str:
    """Set the sysctl to ``value`` unless it has it already; returns the value it had."""
    before = read(*parts)
    if before != value:
        write(value, *parts)
    return before
