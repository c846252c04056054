"""Files opened off the event loop without leaking them when the opener is cancelled."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import BinaryIO, cast


async def open_binary(path: Path, mode: str) -> BinaryIO:
    """``path`` opened in a worker thread in binary ``mode``.

    A cancelled ``await asyncio.to_thread(open, ...)`` still opens the file in its thread and
    then drops it unclosed; here the file is closed as soon as the thread hands it over.
    """
    loop = asyncio.get_running_loop()
    opening: asyncio.Future[BinaryIO] = loop.run_in_executor(None, _open, path, mode)
    try:
        file: BinaryIO = await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_opened)
        raise
    return file


def _open(path: Path, mode: str) -> BinaryIO:
    if "b" not in mode:
        raise ValueError(f"{mode!r} is not a binary mode")
    return cast(BinaryIO, open(path, mode))


def _close_opened(opening: asyncio.Future[BinaryIO]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()
