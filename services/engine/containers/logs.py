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
    """The log's lines, then (with ``follow``) new ones until the container stops."""
    raw = await asyncio.to_thread(_read_bytes, path)
    lines = parse(raw[: raw.rfind(b"\n") + 1])
    chosen = (
        []
        if tail == 0
        else select(lines, stdout=stdout, stderr=stderr, since=since, until=until, tail=tail)
    )
    for line in chosen:
        yield line
    if not follow:
        return
    offset = raw.rfind(b"\n") + 1
    while True:
        running = still_running()
        data = await asyncio.to_thread(_read_bytes, path, offset)
        end = data.rfind(b"\n") + 1
        if end:
            offset += end
            for line in select(
                parse(data[:end]), stdout=stdout, stderr=stderr, since=since, until=until, tail=-1
            ):
                yield line
        if not running:
            return
        await asyncio.sleep(0.1)


def _read_bytes(path: Path, offset: int = 0) -> bytes:
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if offset > size:  # truncated (rotated): start over
                offset = 0
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""
