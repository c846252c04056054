"""A process started inside a running container with ``runc exec``, owned by the engine.

With a terminal the engine allocates a pty whose slave end is runc's stdio (and controlling
terminal); runc gives the process a terminal of its own and relays between the two, following
window-size changes we make on our end. Without a terminal the process's stdio are pipes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import struct
import termios
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

STDOUT, STDERR = 1, 2
# util-linux's setsid: no Python runs between fork and exec (a preexec_fn would, in a process
# whose gRPC threads make that unsafe)
SETSID = shutil.which("setsid") or "/usr/bin/setsid"


class ExecProcess:
    """A running exec: feed it input, read its output, resize it, wait for its exit code."""

    def __init__(
        self, proc: asyncio.subprocess.Process, master: int | None, spec_file: Path
    ) -> None:
        self._proc = proc
        self._master = master
        self._spec_file = spec_file  # runc reads it while it runs; removed once it has ended
        self.pid = proc.pid

    @classmethod
    async def start(
        cls, runc: str, runc_root: Path, cid: str, spec: dict[str, Any], spec_file: Path
    ) -> ExecProcess:
        await asyncio.to_thread(spec_file.write_text, json.dumps(spec))
        args = [runc, "--root", str(runc_root), "exec", "--process", str(spec_file), cid]
        if not spec.get("terminal"):
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            return cls(proc, None, spec_file)
        master, slave = os.openpty()
        size = spec.get("consoleSize") or {"height": 24, "width": 80}
        fcntl.ioctl(
            slave, termios.TIOCSWINSZ, struct.pack("HHHH", size["height"], size["width"], 0, 0)
        )
        try:  # setsid --ctty: a session of its own whose controlling terminal is the slave
            proc = await asyncio.create_subprocess_exec(
                SETSID, "--ctty", *args, stdin=slave, stdout=slave, stderr=slave
            )
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return cls(proc, master, spec_file)

    async def write(self, data: bytes) -> None:
        if self._master is not None:
            await _write_fd(self._master, data)
        elif self._proc.stdin is not None and not self._proc.stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                self._proc.stdin.write(data)
                await self._proc.stdin.drain()

    def close_stdin(self) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.write(self._master, b"\x04")  # end of input at the terminal: Ctrl-D
        elif self._proc.stdin is not None:
            self._proc.stdin.close()

    def resize(self, height: int, width: int) -> None:
        if self._master is not None and height > 0 and width > 0:
            with contextlib.suppress(OSError):
                fcntl.ioctl(
                    self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0)
                )

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """(stream, data) until the process's output ends."""
        if self._master is not None:
            async for data in _read_fd(self._master):
                yield STDOUT, data
            return
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        readers = [
            asyncio.ensure_future(_drain(self._proc.stdout, STDOUT, queue)),
            asyncio.ensure_future(_drain(self._proc.stderr, STDERR, queue)),
        ]
        finished = 0
        while finished < len(readers):
            item = await queue.get()
            if item is None:
                finished += 1
                continue
            yield item

    async def wait(self) -> int:
        code = await self._proc.wait()
        self._spec_file.unlink(missing_ok=True)
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None
        return code if code >= 0 else 128 - code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()


async def _drain(
    stream: asyncio.StreamReader | None, ident: int, queue: asyncio.Queue[tuple[int, bytes] | None]
) -> None:
    try:
        while stream is not None and (data := await stream.read(65536)):
            await queue.put((ident, data))
    finally:
        await queue.put(None)


async def _read_fd(fd: int) -> AsyncIterator[bytes]:
    while True:
        await _readable(fd)
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            continue
        except OSError:  # EIO: every slave end is closed, the process is gone
            return
        if not data:
            return
        yield data


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def _write_fd(fd: int, data: bytes) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            await asyncio.sleep(0.005)
            continue
        except OSError:
            return
        data = data[written:]
