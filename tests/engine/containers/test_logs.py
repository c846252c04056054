"""Reading conmon's k8s-file logs: selection, and following a log that is deleted or rotated."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from services.engine.containers import logs

T = "2026-11-28T10:00:00.000000001Z"


def record(text: str, stream: str = "stdout", tag: str = "F") -> bytes:
    return f"{T} {stream} {tag} {text}\n".encode()


async def collect(path: Path, running: dict[str, bool], **kwargs: object) -> list[bytes]:
    got = []
    async for line in logs.read(
        path,
        stdout=True,
        stderr=True,
        follow=True,
        still_running=lambda: running["yes"],
        **kwargs,  # type: ignore[arg-type]
    ):
        got.append(line.data)
    return got


async def test_selection_joins_partial_lines_and_keeps_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "ctr.log"
    path.write_bytes(
        record("one") + record("tw", tag="P") + record("o") + record("err", "stderr") + b"x y"
    )
    got = [
        (line.stream, line.data)
        async for line in logs.read(path, stdout=True, stderr=False, tail=1)
    ]
    assert got == [(1, b"two\n")]
    every = [line.data async for line in logs.read(path, stdout=True, stderr=True)]
    assert every == [b"one\n", b"two\n", b"err\n"]  # the unfinished record waits


async def test_a_follower_reads_what_was_written_before_the_log_was_deleted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ctr.log"
    path.write_bytes(b"")
    running = {"yes": True}
    follower = asyncio.ensure_future(collect(path, running))
    await asyncio.sleep(0.05)  # the follower has read the empty log and waits
    with path.open("ab") as handle:
        handle.write(record("at once"))
    path.unlink()  # the container is removed before the follower looks again
    running["yes"] = False
    assert await asyncio.wait_for(follower, 5) == [b"at once\n"]


async def test_a_follower_reads_the_rest_of_a_rotated_log_then_the_new_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ctr.log"
    path.write_bytes(record("first"))
    running = {"yes": True}
    follower = asyncio.ensure_future(collect(path, running))
    await asyncio.sleep(0.05)
    with path.open("ab") as handle:
        handle.write(record("last of the old file"))
    fresh = tmp_path / "ctr.log.tmp"
    fresh.write_bytes(record("first of the new file"))
    os.replace(fresh, path)
    await asyncio.sleep(0.25)
    with path.open("ab") as handle:
        handle.write(record("after"))
    running["yes"] = False
    assert await asyncio.wait_for(follower, 5) == [
        b"first\n",
        b"last of the old file\n",
        b"first of the new file\n",
        b"after\n",
    ]


async def test_following_a_log_not_made_yet_reads_it_once_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "ctr.log"
    running = {"yes": True}
    follower = asyncio.ensure_future(collect(path, running, tail=0))
    await asyncio.sleep(0.05)
    path.write_bytes(record("hello"))
    await asyncio.sleep(0.25)
    running["yes"] = False
    assert await asyncio.wait_for(follower, 5) == [b"hello\n"]
