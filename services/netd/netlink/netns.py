"""Network namespaces bound to files, made and entered without fork().

A thread's ``unshare(CLONE_NEWNET)`` and ``setns()`` change that thread only, so whatever needs
to be inside a namespace runs in a fresh thread that ends with the work (``in_fresh_thread``):
it makes (or enters) the namespace, binds it to a file (``mount --bind
/proc/thread-self/ns/net FILE``, what ``ip netns add`` does), and opens its sockets there. No
process is forked, none of netd's long-lived threads (the event loop's, the default executor's)
ever changes namespace, and nothing is written to /run/netns, which belongs to iproute2 and
other software on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
THREAD_NETNS = "/proc/thread-self/ns/net"

_libc = ctypes.CDLL(None, use_errno=True)
_OCTAL = re.compile(rb"\\([0-7]{3})")
T = TypeVar("T")


def _check(rc: int, what: str, path: Path) -> None:
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what} {path}: {os.strerror(code)}")


def bind_new(path: Path) -> None:
    """Move the calling thread into a new namespace and bind that namespace to ``path``.

    Whatever is at ``path`` already is a leftover in netd's own directory (the caller holds no
    record of it) and is replaced.
    """
    flags = os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        os.close(os.open(path, flags, 0o444))
    except FileExistsError:
        unbind(path)
        os.close(os.open(path, flags, 0o444))
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare a network namespace for", path)
        _check(
            _libc.mount(THREAD_NETNS.encode(), bytes(path), b"none", MS_BIND, None), "bind", path
        )
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def enter(path: Path) -> int:
    """Move the calling thread into the namespace bound to ``path``; returns an fd of it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), "enter the network namespace of", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def in_fresh_thread(work: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``work`` in a new thread that ends with it; its namespace changes die with it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(ok: bool, value: object) -> None:
        if future.cancelled():
            return
        if ok:
            future.set_result(value)  # type: ignore[arg-type]
        else:
            future.set_exception(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:
            loop.call_soon_threadsafe(deliver, False, exc)
        else:
            loop.call_soon_threadsafe(deliver, True, result)

    threading.Thread(target=run, name="netd-netns", daemon=True).start()
    return future


def unbind(path: Path) -> None:
    """Unmount every namespace bound to ``path`` and remove the file; a missing one is fine."""
    for _ in range(16):  # a file can carry stacked bind mounts; detach them all
        if _libc.umount2(bytes(path), MNT_DETACH) != 0:
            code = ctypes.get_errno()
            if code in (errno.EINVAL, errno.ENOENT):
                break
            raise OSError(code, f"unmount {path}: {os.strerror(code)}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def list_files(directory: Path) -> list[tuple[Path, bool]]:
    """Every file in ``directory`` and whether a namespace is bound to it."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    mounted = nsfs_mounts()
    return [(directory / name, directory / name in mounted) for name in names]


def nsfs_mounts() -> set[Path]:
    """Mount points of namespace files (fstype nsfs) in this process's mount namespace."""
    found = set()
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split()
            try:
                fstype = fields[fields.index(b"-") + 1]
            except (ValueError, IndexError):
                continue
            if fstype == b"nsfs":
                found.add(Path(os.fsdecode(_unescape(fields[4]))))
    return found


def _unescape(field: bytes) -> bytes:
    r"""mountinfo writes space, tab, newline and backslash in paths as \040, \011, \012, \134."""
    return _OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), field)
