"""A one-pass reader of a build context tar: each member's header, data offset and sha256.

``tarfile`` spends more time per member than hashing a small file takes; a context of a
thousand files is read here in a few milliseconds, straight from a memory map. Understood:
ustar and old-GNU headers, PAX extended headers (path, linkpath, size, uid, gid, mtime) and
GNU long names; a header whose checksum is wrong ends the read with an error, so a file that is
not a tar is refused rather than half-read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tarfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Buffer

BLOCK = 512
_SPACES = b" " * 8


class TarFormatError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Member:
    info: tarfile.TarInfo
    offset: int
    """Where the data starts in the archive."""
    digest: str
    """sha256 of a regular file's data ("" otherwise)."""


def _number(field: bytes) -> int:
    if field and field[0] & 0x80:  # base-256, for values octal cannot hold
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * (len(field) - 1))) if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        length = int(data[pos:space])
        if length <= 0:
            raise TarFormatError("bad PAX record")
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        out[key.decode()] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


def members(data: Buffer) -> Iterator[Member]:
    """The members of the tar in ``data``, in order."""
    view = memoryview(data)
    pos, end = 0, len(view)
    pax: dict[str, str] = {}
    long_name = long_link = ""
    while pos + BLOCK <= end:
        header = bytes(view[pos : pos + BLOCK])
        if header == b"\0" * BLOCK:
            return
        checksum = _number(header[148:156])
        if checksum != sum(header[:148]) + sum(_SPACES) + sum(header[156:]):
            raise TarFormatError(f"bad header checksum at offset {pos}")
        kind = header[156:157] or tarfile.REGTYPE
        size = _number(header[124:136])
        data_at = pos + BLOCK
        pos = data_at + (size + BLOCK - 1) // BLOCK * BLOCK
        if pos > end:
            raise TarFormatError("unexpected end of data")
        if kind in (tarfile.XHDTYPE, tarfile.XGLTYPE):
            if kind == tarfile.XHDTYPE:
                pax = _pax(bytes(view[data_at : data_at + size]))
            continue
        if kind == tarfile.GNUTYPE_LONGNAME:
            long_name = _text(bytes(view[data_at : data_at + size]))
            continue
        if kind == tarfile.GNUTYPE_LONGLINK:
            long_link = _text(bytes(view[data_at : data_at + size]))
            continue
        name = _text(header[0:100])
        if header[345] and header[257:262] == b"ustar":
            name = _text(header[345:500]) + "/" + name
        info = tarfile.TarInfo(pax.get("path") or long_name or name)
        info.type = tarfile.REGTYPE if kind == tarfile.AREGTYPE else kind
        info.mode = _number(header[100:108]) & 0o7777
        if pax:
            info.uid = int(pax.get("uid") or _number(header[108:116]))
            info.gid = int(pax.get("gid") or _number(header[116:124]))
            info.mtime = int(float(pax.get("mtime") or _number(header[136:148])))
        else:
            info.uid, info.gid = _number(header[108:116]), _number(header[116:124])
            info.mtime = _number(header[136:148])
        if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
            info.linkname = pax.get("linkpath") or long_link or _text(header[157:257])
        if "size" in pax:
            size = int(pax["size"])
            pos = data_at + (size + BLOCK - 1) // BLOCK * BLOCK
        info.size = size if info.type in (tarfile.REGTYPE, tarfile.CONTTYPE) else 0
        if info.name.endswith("/") and info.type == tarfile.REGTYPE:
            info.type = tarfile.DIRTYPE
        digest = ""
        if info.type in (tarfile.REGTYPE, tarfile.CONTTYPE):
            info.type = tarfile.REGTYPE
            digest = hashlib.sha256(view[data_at : data_at + info.size]).hexdigest()
        pax, long_name, long_link = {}, "", ""
        yield Member(info, data_at, digest)
