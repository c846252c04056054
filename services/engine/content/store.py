"""The node's blob store: ``<state>/content/blobs/<alg>/<hex>``, written only by verified ingest.

A blob is streamed into ``ingest/<random>`` while it is hashed, compared with the digest and size
it was announced with, fsynced, and renamed into place; a crash leaves at most a stray file in
``ingest/``, which ``sweep`` removes at start. A blob at its final path is therefore always
complete and correct, which lets every reader trust it without hashing it again.

``Ingest`` is the synchronous core used from worker threads (unpacking, archives);
``BlobWriter`` is the asyncio face used while bytes arrive from the network: it collects chunks
and hashes and writes them in a thread, about a MiB at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from services.engine.content.digest import CANONICAL, Digest, DigestMismatch, Hasher
from services.kit import errors
from services.kit.files import open_binary

FLUSH_AT = 1 << 20


class ContentStore:
    """Blobs by digest under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ingest = root / "ingest"

    def prepare(self) -> None:
        """Create the directories and drop half-written blobs left by a crash."""
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self._ingest, ignore_errors=True)
        self._ingest.mkdir(parents=True, exist_ok=True)

    def path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def exists(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    def ingest(self, expected: Digest | None = None, size: int | None = None) -> Ingest:
        """Start writing one blob; ``expected`` and ``size`` are checked at commit if given."""
        return Ingest(self, expected, size)

    def writer(self, expected: Digest | None = None, size: int | None = None) -> BlobWriter:
        return BlobWriter(self.ingest(expected, size))

    def put_bytes(self, data: bytes, expected: Digest | None = None) -> Digest:
        """Store a small blob (a manifest, a config) held in memory."""
        with self.ingest(expected, len(data)) as ing:
            ing.write(data)
            return ing.commit()

    def read_bytes(self, digest: Digest, limit: int = 16 << 20) -> bytes:
        """A small blob's bytes; NotFound if absent."""
        try:
            with self.path(digest).open("rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError as exc:
            raise errors.NotFound(f"blob {digest} is not stored", reason="BLOB_UNKNOWN") from exc
        if len(data) > limit:
            raise errors.InvalidArgument(f"blob {digest} is larger than {limit} bytes")
        return data

    def delete(self, digest: Digest) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()

    def _tempfile(self) -> tuple[Path, BinaryIO]:
        self._ingest.mkdir(parents=True, exist_ok=True)
        path = self._ingest / secrets.token_hex(12)
        return path, path.open("xb")


class Ingest:
    """One blob being written: ``write`` chunks, then ``commit`` (or leave the block to abort)."""

    def __init__(self, store: ContentStore, expected: Digest | None, size: int | None) -> None:
        self._store = store
        self._expected = expected
        self._size = size
        self.hasher = Hasher(expected.algorithm if expected else CANONICAL)
        self._path, self._file = store._tempfile()
        self._done = False

    def __enter__(self) -> Ingest:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()

    def write(self, data: bytes) -> None:
        self.hasher.update(data)
        if self._size is not None and self.hasher.size > self._size:
            raise DigestMismatch(
                f"blob {self._expected or ''} is longer than the {self._size} bytes announced"
            )
        self._file.write(data)

    def commit(self) -> Digest:
        """Verify, fsync and move the blob into place; returns its digest."""
        digest = self.hasher.digest()
        if self._size is not None and self.hasher.size != self._size:
            raise DigestMismatch(
                f"blob {self._expected or digest} has {self.hasher.size} bytes, "
                f"{self._size} were announced"
            )
        if self._expected is not None and digest != self._expected:
            raise DigestMismatch(f"blob content hashes to {digest}, expected {self._expected}")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self._store.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self._path, final)
        _fsync_dir(final.parent)
        self._done = True
        return digest

    def abort(self) -> None:
        if not self._done:
            self._file.close()
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
            self._done = True


class BlobWriter:
    """``Ingest`` for the event loop: chunks are hashed and written in a worker thread."""

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest
        self._pending: list[bytes] = []
        self._pending_size = 0

    @property
    def written(self) -> int:
        return self._ingest.hasher.size + self._pending_size

    async def __aenter__(self) -> BlobWriter:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self._ingest.abort)

    async def write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= FLUSH_AT:
            await self._flush()

    async def commit(self) -> Digest:
        await self._flush()
        return await asyncio.to_thread(self._ingest.commit)

    async def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            await asyncio.to_thread(self._ingest.write, data)


async def read_chunks(path: Path, chunk: int = 1 << 20) -> AsyncIterator[bytes]:
    """A file's bytes, read in a worker thread a chunk at a time."""
    f = await open_binary(path, "rb")
    try:
        while data := await asyncio.to_thread(f.read, chunk):
            yield data
    finally:
        f.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
