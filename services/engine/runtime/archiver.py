"""Copy files in and out of a container, from inside its root: ``python -m ...archiver``.

The helper process chroots into the container's root before it touches a single path, so
symlinks in the container resolve inside the container and nothing can lead it to a host file.
For a running container the root is ``/proc/<pid>/root``, which shows the container's mounts
(volumes included). Everything it needs is imported before the chroot, and tarfile is kept
from looking up user names: NSS would load libraries from the container.

    stat ROOT PATH            → one JSON line: name, size, mode, mtime, linkTarget, isdir
    get ROOT PATH             → the stat line, then a tar of PATH on stdout
    put ROOT PATH [--no-overwrite-dir-non-dir] ← a tar on stdin, extracted into the dir PATH
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tarfile
from typing import Any, BinaryIO

tarfile.pwd = None  # type: ignore[attr-defined]
tarfile.grp = None  # type: ignore[attr-defined]


def describe(path: str) -> dict[str, Any]:
    st = os.lstat(path)
    target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
    name = os.path.basename(path.rstrip("/")) or "/"
    return {
        "name": name,
        "size": st.st_size,
        "mode": st.st_mode,
        "mtime": int(st.st_mtime),
        "linkTarget": target,
        "isdir": stat.S_ISDIR(os.stat(path).st_mode) if os.path.exists(path) else False,
    }


def get(path: str, out: BinaryIO) -> None:
    follow = path.endswith("/") or path.endswith("/.")
    base = os.path.basename(path.rstrip("/").removesuffix("/.")) or "."
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if follow:
            tar.add(path, arcname=base)
        else:
            tar.add(path, arcname=base, recursive=True)


# tarfile's "tar" filter where Python has it (3.11.4 and later; Debian 12's 3.11.2 has not).
# Either way the archive is unpacked by a process chrooted into the container's root, so no
# member reaches past it.
FILTER: dict[str, Any] = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}


def put(path: str, source: BinaryIO, no_overwrite_dir_non_dir: bool) -> None:
    if not os.path.isdir(path):
        raise NotADirectoryError(path)
    with tarfile.open(fileobj=source, mode="r|*") as tar:
        for member in tar:
            if member.isdev():
                raise ValueError(f"refusing device node {member.name}")
            target = os.path.join(path, member.name)
            clash = os.path.lexists(target) and os.path.isdir(target) != member.isdir()
            if no_overwrite_dir_non_dir and clash:
                raise IsADirectoryError(f"cannot overwrite {member.name}")
            tar.extract(member, path, numeric_owner=True, **FILTER)


def main(argv: list[str]) -> int:
    op, root, path = argv[0], argv[1], argv[2]
    os.chroot(root)
    os.chdir("/")
    path = "/" + path.lstrip("/")
    try:
        if op == "stat":
            sys.stdout.write(json.dumps(describe(path)) + "\n")
        elif op == "get":
            sys.stdout.buffer.write(json.dumps(describe(path)).encode() + b"\n")
            sys.stdout.buffer.flush()
            get(path, sys.stdout.buffer)
        elif op == "put":
            put(path, sys.stdin.buffer, "--no-overwrite-dir-non-dir" in argv)
        else:
            raise ValueError(f"unknown operation {op}")
    except FileNotFoundError as exc:
        sys.stderr.write(f"NOT_FOUND {exc.filename or path}\n")
        return 2
    except (OSError, ValueError, tarfile.TarError) as exc:
        sys.stderr.write(f"INVALID {exc}\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
