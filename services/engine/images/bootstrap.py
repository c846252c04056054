"""Debian images made on the node from Debian's mirror: ``bootstrap("debian:bookworm", ...)``.

mmdebstrap writes the root filesystem straight into a tar (``--format=tar``) without device
nodes (``--skip=output/dev``: layers may not carry them, and the runtime mounts a tmpfs on
/dev, creating the mount point); debootstrap,
if that is what the node has, fills a directory that is then packed the same way. When neither
is installed, mmdebstrap is installed with apt-get first. The tar then becomes a one-layer image
with ``CMD ["bash"]``. Each line the tools print is passed on as progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

from services.engine.images import imageconfig, progress
from services.engine.images import reference as refs
from services.engine.images.build import DEFAULT_PATH, from_tar
from services.engine.images.context import ImageContext
from services.engine.images.models import Progress
from services.engine.images.progress import Emit
from services.kit import errors

DEFAULT_MIRROR = "http://deb.debian.org/debian"
VARIANTS = ("minbase", "buildd", "required", "important", "standard")
_SUITE = re.compile(r"[a-z][a-z0-9-]{1,30}")


def bootstrap(
    ctx: ImageContext,
    reference: str = "",
    *,
    suite: str = "bookworm",
    mirror: str = DEFAULT_MIRROR,
    variant: str = "minbase",
) -> AsyncIterator[Progress]:
    if not _SUITE.fullmatch(suite):
        raise errors.InvalidArgument(f"invalid suite {suite!r}", reason="SUITE_INVALID")
    if variant not in VARIANTS:
        raise errors.InvalidArgument(
            f"variant must be one of {', '.join(VARIANTS)}", reason="VARIANT_INVALID"
        )
    if not mirror.startswith(("http://", "https://", "file:/")):
        raise errors.InvalidArgument(f"invalid mirror {mirror!r}", reason="MIRROR_INVALID")
    name = refs.parse(reference or f"debian:{suite}").with_default_tag().familiar
    return progress.stream(
        lambda emit: _bootstrap(ctx, name, suite, mirror, variant, emit), name="image-bootstrap"
    )


async def _bootstrap(
    ctx: ImageContext, name: str, suite: str, mirror: str, variant: str, emit: Emit
) -> None:
    work = ctx.tmp / f"bootstrap-{secrets.token_hex(6)}"
    await asyncio.to_thread(work.mkdir, parents=True)
    try:
        tool = await _tool(emit)
        rootfs = work / "rootfs.tar"
        if tool.endswith("mmdebstrap"):
            args = [f"--variant={variant}", "--format=tar", "--skip=output/dev", "--mode=root"]
            cmd = [tool, *args, suite, str(rootfs), mirror]
            await _run(cmd, emit)
        else:
            cmd = [tool, f"--variant={variant}", suite, str(work / "root"), mirror]
            await _run(cmd, emit)
            emit(Progress("", "Packing the root filesystem"))
            await asyncio.to_thread(pack_directory, work / "root", rootfs)
        emit(Progress("", "Unpacking and storing the layer"))
        created = imageconfig.timestamp()
        shown = " ".join(Path(cmd[0]).name if i == 0 else a for i, a in enumerate(cmd))
        image = await from_tar(
            ctx,
            rootfs,
            names=[name],
            container={"Env": [DEFAULT_PATH], "Cmd": ["bash"]},
            history=[
                {"created": created, "created_by": shown.replace(str(work), "<tmp>")},
                {"created": created, "created_by": 'CMD ["bash"]', "empty_layer": True},
            ],
            created=created,
        )
        emit(Progress("", f"Status: Built {name}", image_id=str(image.id)))
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


async def _tool(emit: Emit) -> str:
    for name in ("mmdebstrap", "debootstrap"):
        if path := shutil.which(name):
            return path
    emit(Progress("", "Installing mmdebstrap with apt-get"))
    await _run(["apt-get", "install", "-y", "--no-install-recommends", "mmdebstrap"], emit)
    path = shutil.which("mmdebstrap")
    if path is None:
        raise errors.FailedPrecondition(
            "mmdebstrap is not available after apt-get install", reason="BOOTSTRAP_TOOL_MISSING"
        )
    return path


async def _run(cmd: list[str], emit: Emit) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
    except OSError as exc:
        raise errors.FailedPrecondition(
            f"cannot run {cmd[0]}: {exc.strerror}", reason="BOOTSTRAP_TOOL_MISSING"
        ) from exc
    tail: list[str] = []
    try:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                tail = [*tail[-9:], line]
                emit(Progress("", line))
        code = await proc.wait()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if code != 0:
        raise errors.Unavailable(
            f"{Path(cmd[0]).name} failed with status {code}: " + " / ".join(tail[-3:]),
            reason="BOOTSTRAP_FAILED",
        )


def pack_directory(root: Path, out: Path) -> None:
    """Tar a root filesystem for a layer: numeric owners, no device nodes, empty /dev /proc /sys."""

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        top = info.name.split("/", 1)
        if info.ischr() or info.isblk():
            return None
        if len(top) == 2 and top[0] in ("dev", "proc", "sys"):
            return None
        info.uname = info.gname = ""
        return info

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for entry in sorted(os.listdir(root)):
            tf.add(root / entry, arcname=entry, recursive=True, filter=keep)
