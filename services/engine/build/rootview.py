"""An image's root filesystem seen as one directory while a step reads it.

COPY needs to look into the image being built (does the destination exist, is it a directory,
does a parent go through a symlink, who is ``--chown=app``) and into other images and stages
(``COPY --from``). A single layer is its own root; several are mounted together with overlayfs
for as long as the step needs them, with a throwaway upper directory that nothing writes to.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from services.engine.runtime import mounts


@contextlib.asynccontextmanager
async def mounted(layers: list[Path], scratch: Path) -> AsyncIterator[Path]:
    """``layers`` (lowest first) as one read-only view."""
    if len(layers) == 1:
        yield layers[0]
        return
    await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
    tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="view-", dir=scratch))
    try:
        if layers:
            merged = tmp / "merged"
            mounts.mount_overlay(list(reversed(layers)), tmp / "upper", tmp / "work", merged)
            try:
                yield merged
            finally:
                mounts.unmount(merged)
        else:
            yield tmp
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
