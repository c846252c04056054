"""open_binary: a file opened in a thread is closed, not leaked, when the opener is cancelled."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from services.kit.files import open_binary


async def test_opens_a_file_for_reading_and_writing(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    f = await open_binary(path, "xb")
    with f:
        f.write(b"bytes")
    g = await open_binary(path, "rb")
    with g:
        assert g.read() == b"bytes"


async def test_refuses_a_text_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="binary"):
        await open_binary(tmp_path / "x", "w")


async def test_a_cancelled_open_closes_the_file_when_the_thread_hands_it_over(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # Opening a FIFO's read end blocks until a writer comes: the opener is cancelled meanwhile.
    opening = asyncio.ensure_future(open_binary(fifo, "rb"))
    await asyncio.sleep(0.05)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    writer = await asyncio.to_thread(os.open, fifo, os.O_WRONLY)
    try:
        # Once the read end the thread opened is closed, writes fail with EPIPE; a file left to the
        # garbage collector instead raises a ResourceWarning, an error under this suite's filters.
        for _ in range(500):
            try:
                os.write(writer, b"x")
            except BrokenPipeError:
                return
            await asyncio.sleep(0.01)
        pytest.fail("the read end opened for the cancelled caller was never closed")
    finally:
        os.close(writer)
