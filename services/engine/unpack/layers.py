"""The node's unpacked layers: ``<state>/layers/<chain id hex>/``, each written once, atomically.

A layer is unpacked into ``.tmp-<random>/`` beside its final place while the uncompressed stream
is hashed; the diff id is compared with the one the image config promises, and only then is the
directory renamed to its chain id. A crash leaves a ``.tmp-`` directory that ``prepare`` removes
at the next start, never a half layer under a real name, so an existing layer directory is
always complete and verified.

The chain id, not the diff id, names the directory (OCI image-spec): the same diff on top of a
different parent is a different layer of the root filesystem. The hex alone is used because an
overlayfs ``lowerdir`` list is separated by ``:``. The store directory is mode 0700: layers hold
setuid files and whiteout device nodes that no other host user should reach.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import lzma
import os
import secrets
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from services.engine.content.digest import Digest, DigestMismatch, HashingReader, chain_ids
from services.engine.unpack.decompress import CountingReader, open_stream
from services.engine.unpack.extract import ExtractStats, LayerError, extract

Progress = Callable[[int], None]
Tee = Callable[[bytes], None]


@dataclasses.dataclass(frozen=True)
class UnpackedLayer:
    """What unpacking a layer found out about it."""

    chain_id: Digest
    diff_id: Digest
    size: int
    """Bytes of file content (Docker's layer size)."""
    tar_size: int
    """Bytes of the uncompressed tar, the length of the diff id's stream."""
    compression: str
    """"gzip", "zstd", "bzip2", "xz" or "" as found in the blob."""


class LayerStore:
    """Unpacked layers by chain id under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        """Create the store (0700) and remove what an interrupted unpack or delete left."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for entry in self.root.iterdir():
            if entry.name.startswith((".tmp-", ".trash-")):
                shutil.rmtree(entry, ignore_errors=True)

    def path(self, chain_id: Digest) -> Path:
        return self.root / chain_id.hex

    def exists(self, chain_id: Digest) -> bool:
        return self.path(chain_id).is_dir()

    def unpack(
        self,
        raw: BinaryIO,
        *,
        parent: Digest | None,
        diff_id: Digest | None,
        progress: Progress | None = None,
        tee: Tee | None = None,
    ) -> UnpackedLayer:
        """Unpack the layer blob read from ``raw`` (compressed or not). Blocking: run in a thread.

        ``diff_id`` is the digest the uncompressed stream must have (None to accept whatever it
        is, for imports). ``progress`` is called with the count of blob bytes read; ``tee`` sees
        every uncompressed byte (an import compresses it into the content store on the way).
        """
        counted = CountingReader(raw, progress)
        stream, compression = open_stream(cast(BinaryIO, _Peekable(counted)))
        hashing = HashingReader(cast(BinaryIO, _Tee(stream, tee)) if tee else stream)
        tmp = self.root / f".tmp-{secrets.token_hex(8)}"
        os.mkdir(tmp, 0o755)
        try:
            stats: ExtractStats = extract(cast(BinaryIO, hashing), tmp)
            try:
                hashing.drain()
            except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
                raise LayerError(
                    f"the layer's data after the end of its tar archive is corrupt: {exc}",
                    reason="LAYER_INVALID",
                ) from exc
            found = hashing.hasher.digest()
            if diff_id is not None and found != diff_id:
                raise DigestMismatch(
                    f"layer content hashes to {found}, but the image config says {diff_id}"
                )
            chain = chain_ids([parent, found])[1] if parent else found
            final = self.path(chain)
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():  # anything else than "another unpack got there first"
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        if progress is not None:
            progress(counted.count)
        return UnpackedLayer(chain, found, stats.size, hashing.hasher.size, compression)

    def unpack_file(
        self,
        blob: Path,
        *,
        parent: Digest | None,
        diff_id: Digest | None,
        progress: Progress | None = None,
    ) -> UnpackedLayer:
        with blob.open("rb", buffering=1 << 20) as raw:
            return self.unpack(raw, parent=parent, diff_id=diff_id, progress=progress)

    def detach(self, chain_id: Digest) -> Path | None:
        """Rename a layer out of the way (atomic); returns the new path to delete, if any."""
        trash = self.root / f".trash-{secrets.token_hex(8)}"
        try:
            os.rename(self.path(chain_id), trash)
        except FileNotFoundError:
            return None
        return trash

    @staticmethod
    def destroy(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(path)


class _Peekable(io.RawIOBase):
    """Buffers a plain reader so the compression can be sniffed from its first bytes."""

    def __init__(self, inner: CountingReader) -> None:
        super().__init__()
        self._inner = inner
        self._head = b""

    def readable(self) -> bool:
        return True

    def peek(self, size: int = 8) -> bytes:
        while len(self._head) < size:
            more = self._inner.read(size - len(self._head))
            if not more:
                break
            self._head += more
        return self._head

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._inner.read(size)
        cut = len(self._head) if size < 0 else min(size, len(self._head))
        head, self._head = self._head[:cut], self._head[cut:]
        return head

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Tee:
    def __init__(self, inner: BinaryIO, sink: Tee) -> None:
        self._inner = inner
        self._sink = sink

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        if data:
            self._sink(data)
        return data
