"""Open a layer (or a root filesystem tarball) as an uncompressed stream, whatever it is packed in.

The compression is detected from the first bytes, not trusted from a media type: registries and
archives mislabel layers, and ``docker import`` takes any tarball. gzip, bzip2 and xz come from
the standard library; zstd works when the ``zstandard`` module is installed and is refused with
a clear error otherwise.
"""

from __future__ import annotations

import bz2
import gzip
import importlib
import io
import lzma
from typing import Any, BinaryIO, cast

from services.kit import errors

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}


class CountingReader:
    """Counts the bytes read from ``raw`` and reports them to ``progress`` now and then."""

    def __init__(self, raw: BinaryIO, progress: Any = None, every: int = 1 << 19) -> None:
        self._raw = raw
        self._progress = progress
        self._every = every
        self._reported = 0
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        if self._progress is not None and (not data or self.count - self._reported >= self._every):
            self._reported = self.count
            self._progress(self.count)
        return data


def sniff(head: bytes) -> str:
    """ "gzip", "bzip2", "xz", "zstd", or "" for anything else (a plain tar)."""
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return ""


def open_stream(raw: BinaryIO) -> tuple[BinaryIO, str]:
    """``raw`` decompressed, and the compression found. ``raw`` must support ``peek``."""
    head = cast(io.BufferedReader, raw).peek(8)[:8]
    kind = sniff(head)
    if kind == "gzip":
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb")), kind
    if kind == "bzip2":
        return cast(BinaryIO, bz2.BZ2File(raw, mode="rb")), kind
    if kind == "xz":
        return cast(BinaryIO, lzma.LZMAFile(raw, mode="rb")), kind
    if kind == "zstd":
        return _zstd(raw), kind
    return raw, kind


def _zstd(raw: BinaryIO) -> BinaryIO:
    try:
        zstandard: Any = importlib.import_module("zstandard")
    except ImportError as exc:
        raise errors.Unimplemented(
            "this layer is zstd-compressed and the zstandard module is not installed on the "
            "engine's node",
            reason="LAYER_COMPRESSION_UNSUPPORTED",
        ) from exc
    return cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True))
