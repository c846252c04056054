"""Writing a tar archive as a stream of byte chunks, with sizes known up front.

``docker save`` streams gigabytes; nothing here holds more than one chunk. Headers are PAX so
sizes and names have no ustar limits.
"""

from __future__ import annotations

import tarfile

BLOCK = 512
END = b"\0" * (2 * BLOCK)


def header(name: str, size: int, *, mode: int = 0o644, mtime: int = 0) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.mtime = mtime
    return info.tobuf(tarfile.PAX_FORMAT)


def directory(name: str, *, mtime: int = 0) -> bytes:
    info = tarfile.TarInfo(name.rstrip("/") + "/")
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = mtime
    return info.tobuf(tarfile.PAX_FORMAT)


def padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def file(name: str, data: bytes) -> bytes:
    return header(name, len(data)) + data + padding(len(data))
