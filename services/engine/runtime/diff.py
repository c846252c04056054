"""A container's read-write layer (overlayfs upper dir) as changes and as a layer tar.

overlayfs records a deletion as a 0/0 character device and a replaced directory as an opaque
one (xattr trusted.overlay.opaque=y); image layers say the same with ``.wh.<name>`` and
``.wh..wh..opq`` entries. The files runc creates as mount points for the engine's /etc files
are not the user's changes and are left out.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

tarfile.pwd = None  # type: ignore[attr-defined]
tarfile.grp = None  # type: ignore[attr-defined]

ENGINE_FILES = {"etc/hosts", "etc/hostname", "etc/resolv.conf"}
MODIFIED, ADDED, DELETED = 0, 1, 2
OPAQUE = "trusted.overlay.opaque"


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _walk(upper: Path) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, absolute path, lstat) of everything in the upper dir, parents first."""
    for directory, dirs, files in os.walk(upper):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            full = os.path.join(directory, name)
            yield os.path.relpath(full, upper), full, os.lstat(full)


def _skip(rel: str, st: os.stat_result, lowers: Sequence[Path]) -> bool:
    """runc's empty mount-point files for the engine's /etc files."""
    return rel in ENGINE_FILES and st.st_size == 0 and not any((lo / rel).exists() for lo in lowers)


def changes(upper: Path, lowers: Sequence[Path]) -> list[tuple[str, int]]:
    """Docker's ``diff``: ("/path", kind) for each change, sorted by path."""
    out: list[tuple[str, int]] = []
    for rel, _full, st in _walk(upper):
        if _skip(rel, st, lowers):
            continue
        if _is_whiteout(st):
            out.append(("/" + rel, DELETED))
        elif any(os.path.lexists(lo / rel) for lo in lowers):
            out.append(("/" + rel, MODIFIED))
        else:
            out.append(("/" + rel, ADDED))
    return sorted(out)


def write_layer(upper: Path, lowers: Sequence[Path], target: Path) -> None:
    """The upper dir as an image layer tar at ``target``."""
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel, full, st in _walk(upper):
            if _skip(rel, st, lowers):
                continue
            parent, name = os.path.split(rel)
            if _is_whiteout(st):
                info = tarfile.TarInfo(os.path.join(parent, ".wh." + name))
                info.mtime = int(st.st_mtime)
                tar.addfile(info)
                continue
            tar.add(full, arcname=rel, recursive=False)
            if stat.S_ISDIR(st.st_mode) and _opaque(full):
                info = tarfile.TarInfo(os.path.join(rel, ".wh..wh..opq"))
                info.mtime = int(st.st_mtime)
                tar.addfile(info)
