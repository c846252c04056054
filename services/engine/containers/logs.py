"""Reading a container's log: conmon's k8s-file format, tail, since/until, follow.

Each line is ``<RFC 3339 time> <stdout|stderr> <P|F> <text>``; P marks a partial line (no
newline yet), F a full one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

STREAMS = {b"stdout": 1, b"stderr": 2}


@dataclasses.dataclass(frozen=True)
class LogLine:
    time: str  # RFC 3339 with nanoseconds, as conmon wrote it
    stream: int
    data: bytes  # with its newline when the line is complete

    @property
    def unix(self) -> float:
        return parse_time(self.time)


def parse_time(text: str) -> float:
    """conmon's times carry nanoseconds; Python parses microseconds."""
    head, _, rest = text.partition(".")
    frac, zone = rest[:9], rest[9:] if len(rest) > 9 else "+00:00"
    digits = "".join(ch for ch in frac if ch.isdigit())
    base = datetime.fromisoformat(head + (zone if zone else "+00:00"))
    return base.timestamp() + (int(digits) / 10 ** len(digits) if digits else 0.0)


def parse(raw: bytes) -> list[LogLine]:
    """Whole records of ``raw``; partial lines are joined to the full line that ends them."""
    lines: list[LogLine] = []
    pending: dict[int, tuple[str, bytes]] = {}
    for record in raw.split(b"\n"):
        parts = record.split(b" ", 3)
        if len(parts) < 3 or parts[1] not in STREAMS:
            continue
        when, stream, tag = parts[0].decode(), STREAMS[parts[1]], parts[2]
        text = parts[3] if len(parts) > 3 else b""
        first, data = pending.pop(stream, (when, b""))
        data += text
        if tag == b"P":
            pending[stream] = (first, data)
            continue
        lines.append(LogLine(first, stream, data + b"\n"))
    return lines


def select(
    lines: list[LogLine], *, stdout: bool, stderr: bool, since: float, until: float, tail: int
) -> list[LogLine]:
    chosen = [
        line
        for line in lines
        if ((line.stream == 1 and stdout) or (line.stream == 2 and stderr))
        and (since <= 0 or line.unix >= since)
        and (until <= 0 or line.unix < until)
    ]
    return chosen[-tail:] if tail >= 0 else chosen


async def read(
    path: Path,
    *,
    stdout: bool,
    stderr: bool,
    since: float = 0,
    until: float = 0,
    tail: int = -1,
    follow: bool = False,
    still_running: Callable[[], bool] = lambda: False,
) -> AsyncIterator[LogLine]:
    """The log's lines, then (with ``follow``) new ones until the container stops.

    A follower keeps the log open: what the container printed stays readable after the file is
    deleted (``docker run`` reads the logs of a container it removes once it has exited) or
    replaced (conmon rotates by writing a new file over the old one, whose rest is read first).
    """
    log = _Follower(path)
    try:
        raw = await asyncio.to_thread(log.read)
        lines = parse(raw)
        chosen = (
            []
            if tail == 0
            else select(lines, stdout=stdout, stderr=stderr, since=since, until=until, tail=tail)
        )
        for line in chosen:
            yield line
        if not follow:
            return
        while True:
            running = still_running()
            data = await asyncio.to_thread(log.read)
            for line in select(
                parse(data), stdout=stdout, stderr=stderr, since=since, until=until, tail=-1
            ):
                yield line
            if not running:
                return
            await asyncio.sleep(FOLLOW_INTERVAL)
    finally:
        log.close()


FOLLOW_INTERVAL = 0.1  # seconds between two looks at a followed log


class _Follower:
    """Whole records of one log file, read on from where the last read ended (blocking)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: BinaryIO | None = None
        self._offset = 0

    def read(self) -> bytes:
        """The complete records written since the last call (a partial one waits)."""
        if self._file is None:
            self._open()
        if self._file is None:
            return b""
        data = self._read_on()
        if self._replaced():  # conmon rotated: the old file's rest, then the new one's start
            self.close()
            self._open()
            if self._file is not None:
                data += self._read_on()
        return data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> None:
        try:
            self._file = open(self._path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            return
        self._offset = 0

    def _read_on(self) -> bytes:
        assert self._file is not None
        if os.fstat(self._file.fileno()).st_size < self._offset:  # truncated: start over
            self._offset = 0
        self._file.seek(self._offset)
        data = self._file.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        return data[:end]

    def _replaced(self) -> bool:
        assert self._file is not None
        try:
            on_disk = os.stat(self._path)
        except FileNotFoundError:  # removed: what is open stays readable
            return False
        held = os.fstat(self._file.fileno())
        return (on_disk.st_dev, on_disk.st_ino) != (held.st_dev, held.st_ino)
