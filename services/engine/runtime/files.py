"""Files of a container: docker cp in and out, export, diff and commit.

Paths inside a container are only ever resolved by a helper process chrooted into the
container's root (services.engine.runtime.archiver), never by the engine itself. A running
container is reached through ``/proc/<pid>/root``, which shows its volumes; a stopped one has
its overlay mounted for the duration of the operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from services.engine.containers.manager import ContainerManager
from services.engine.containers.models import PAUSED, RUNNING, Container
from services.engine.runtime import diff, mounts
from services.kit import errors

ARCHIVER = [sys.executable, "-m", "services.engine.runtime.archiver"]
CHUNK = 1 << 20


class ContainerFiles:
    def __init__(self, containers: ContainerManager, images: Any, scratch: Path) -> None:
        self._containers = containers
        self._images = images  # ImageService: rootfs() and commit()
        self._scratch = scratch

    @contextlib.asynccontextmanager
    async def _root(self, c: Container, *, with_mounts: bool = True) -> AsyncIterator[Path]:
        """The container's root: its live view when running, else its overlay mounted."""
        if c.state in (RUNNING, PAUSED) and with_mounts and c.pid:
            yield Path(f"/proc/{c.pid}/root")
            return
        base = self._containers.runtime.log_path(c.id).parent
        merged = base / "merged"
        if mounts.is_mountpoint(merged):
            yield merged
            return
        rootfs = await self._images.rootfs(c.image_id)
        layers = list(reversed(rootfs.layers)) or [base / "upper"]
        mounts.mount_overlay(layers, base / "upper", base / "work", merged)
        try:
            yield merged
        finally:
            mounts.unmount(merged)

    async def stat(self, ref: str, path: str) -> dict[str, Any]:
        c = await self._containers.get(ref)
        async with self._root(c) as root:
            out, err, code = await _run([*ARCHIVER, "stat", str(root), path])
        _raise_for(code, err, path)
        return dict(json.loads(out))

    async def get_archive(self, ref: str, path: str) -> AsyncIterator[dict[str, Any] | bytes]:
        """The path's stat first, then the tar in chunks."""
        c = await self._containers.get(ref)
        async with self._root(c) as root:
            async for item in _stream([*ARCHIVER, "get", str(root), path], path):
                yield item

    async def export(self, ref: str) -> AsyncIterator[dict[str, Any] | bytes]:
        c = await self._containers.get(ref)
        async with self._root(c, with_mounts=False) as root:
            async for item in _stream([*ARCHIVER, "get", str(root), "/."], "/"):
                yield item

    async def put_archive(
        self, ref: str, path: str, data: AsyncIterator[bytes], *, no_overwrite: bool
    ) -> None:
        c = await self._containers.get(ref)
        args = [*ARCHIVER, "put", "", path] + (
            ["--no-overwrite-dir-non-dir"] if no_overwrite else []
        )
        async with self._root(c) as root:
            args[len(ARCHIVER) + 1] = str(root)
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            assert proc.stdin is not None
            assert proc.stderr is not None
            try:
                async for chunk in data:
                    proc.stdin.write(chunk)
                    await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                proc.stdin.close()
            err = await proc.stderr.read()
            code = await proc.wait()
        _raise_for(code, err.decode(errors="replace"), path)

    async def changes(self, ref: str) -> list[tuple[str, int]]:
        c = await self._containers.get(ref)
        lowers = (await self._images.rootfs(c.image_id)).layers
        upper = self._containers.runtime.log_path(c.id).parent / "upper"
        return await asyncio.to_thread(diff.changes, upper, lowers)

    async def commit(
        self,
        ref: str,
        *,
        reference: str,
        comment: str,
        author: str,
        changes: list[str],
        pause: bool,
    ) -> str:
        c = await self._containers.get(ref)
        lowers = (await self._images.rootfs(c.image_id)).layers
        upper = self._containers.runtime.log_path(c.id).parent / "upper"
        paused = pause and c.state == RUNNING
        if paused:
            await self._containers.pause(c.id)
        self._scratch.mkdir(parents=True, exist_ok=True)
        try:
            with tempfile.TemporaryDirectory(dir=self._scratch) as tmp:
                layer = Path(tmp) / "layer.tar"
                await asyncio.to_thread(diff.write_layer, upper, lowers, layer)
                image = await self._images.commit(
                    layer,
                    parent=c.image_id,
                    changes=changes,
                    reference=reference,
                    comment=comment,
                    author=author,
                    container=_config_of(c),
                    created_by=" ".join(c.resolved.args),
                )
        finally:
            if paused:
                await self._containers.unpause(c.id)
        return str(image.id)


def _config_of(c: Container) -> dict[str, Any]:
    """The image config a commit records: what the container ran with."""
    return {
        "Cmd": list(c.spec.cmd) or list(c.resolved.args),
        "Entrypoint": list(c.spec.entrypoint) if c.spec.has_entrypoint else None,
        "Env": list(c.resolved.env),
        "WorkingDir": c.resolved.working_dir,
        "User": c.resolved.user,
        "Labels": dict(c.resolved.labels),
        "ExposedPorts": {p: {} for p in c.spec.exposed_ports} or None,
        "StopSignal": c.spec.stop_signal or None,
    }


async def _run(args: list[str]) -> tuple[str, str, int]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return out.decode(), err.decode(errors="replace"), proc.returncode or 0


async def _stream(args: list[str], path: str) -> AsyncIterator[dict[str, Any] | bytes]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=CHUNK * 2
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        first = await proc.stdout.readline()
        if not first:
            err = await proc.stderr.read()
            _raise_for(await proc.wait(), err.decode(errors="replace"), path)
            raise errors.Internal(f"copying {path} failed")
        yield dict(json.loads(first))
        while chunk := await proc.stdout.read(CHUNK):
            yield chunk
        err = await proc.stderr.read()
        _raise_for(await proc.wait(), err.decode(errors="replace"), path)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _raise_for(code: int, err: str, path: str) -> None:
    if code == 0:
        return
    if err.startswith("NOT_FOUND"):
        raise errors.NotFound(f"Could not find the file {path} in container", reason="PATH_UNKNOWN")
    if err.startswith("INVALID"):
        raise errors.InvalidArgument(err.removeprefix("INVALID ").strip(), reason="PATH_INVALID")
    raise errors.Internal(f"copying {path} failed: {err.strip()[-200:]}")
