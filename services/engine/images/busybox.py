"""The ``busybox:latest`` base image, built on the node from Debian's busybox-static.

There is no Docker Hub here, yet ``docker run busybox`` is the first thing people type. The
image is one layer: ``/bin/busybox`` plus one symlink per applet (``busybox --list``), the
usual directories (``/tmp`` sticky 1777, ``/root`` 0700), ``/etc/passwd`` and ``/etc/group``.
Every timestamp is the binary's mtime, so the same binary always gives the same image id.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.engine.images import imageconfig
from services.engine.images.build import DEFAULT_PATH, from_tar
from services.engine.images.context import ImageContext
from services.engine.images.models import ImageRecord
from services.kit import errors

REFERENCE = "busybox:latest"
STORED_NAME = "docker.io/library/busybox:latest"
BINARY = Path("/bin/busybox")

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:8:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
"""
DIRS = {
    "bin": 0o755,
    "dev": 0o755,
    "etc": 0o755,
    "home": 0o755,
    "proc": 0o555,
    "root": 0o700,
    "sys": 0o555,
    "tmp": 0o1777,
    "usr": 0o755,
    "usr/bin": 0o755,
    "usr/sbin": 0o755,
    "var": 0o755,
    "var/spool": 0o755,
    "var/spool/mail": 0o755,
    "var/www": 0o755,
}


async def ensure(ctx: ImageContext, binary: Path = BINARY) -> str | None:
    """The id of ``busybox:latest``, built first if the node lacks it; None without busybox."""
    image_id = await ctx.records.resolve_name(STORED_NAME)
    if image_id is not None:
        return image_id
    if not await asyncio.to_thread(binary.is_file):
        return None
    return str((await build(ctx, binary)).id)


async def build(
    ctx: ImageContext, binary: Path = BINARY, reference: str = REFERENCE
) -> ImageRecord:
    applets, version = await asyncio.gather(_run(binary, "--list"), _run(binary, "--help"))
    names = sorted({a for a in applets.split() if a and "/" not in a and a != "busybox"})
    mtime = int((await asyncio.to_thread(binary.stat)).st_mtime)
    tar = await asyncio.to_thread(_rootfs_tar, binary, names, mtime)
    created = imageconfig.timestamp(datetime.fromtimestamp(mtime, UTC))
    source = (version.splitlines() or ["BusyBox"])[0].strip()
    history: list[dict[str, Any]] = [
        {"created": created, "created_by": f"estiba: {binary} ({source}) and {len(names)} applets"},
        {"created": created, "created_by": 'CMD ["sh"]', "empty_layer": True},
    ]
    return await from_tar(
        ctx,
        io.BytesIO(tar),
        names=[reference],
        container={"Env": [DEFAULT_PATH], "Cmd": ["sh"]},
        history=history,
        created=created,
    )


async def _run(binary: Path, arg: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(binary),
        arg,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if arg == "--list" and proc.returncode != 0:
        raise errors.FailedPrecondition(
            f"{binary} --list failed with status {proc.returncode}", reason="BUSYBOX_BROKEN"
        )
    return out.decode(errors="replace")


def _rootfs_tar(binary: Path, applets: list[str], mtime: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, link
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)

        for name, mode in DIRS.items():
            add(name, tarfile.DIRTYPE, mode)
        add("bin/busybox", tarfile.REGTYPE, 0o755, binary.read_bytes())
        for applet in applets:
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        add("usr/bin/env", tarfile.SYMTYPE, 0o777, link="/bin/busybox")
        add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD.encode())
        add("etc/group", tarfile.REGTYPE, 0o644, GROUP.encode())
    return buf.getvalue()
