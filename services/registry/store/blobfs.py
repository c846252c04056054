"""The content store on disk: blobs addressed by digest, and the data of uploads in progress.

Layout, under the registry's state directory::

    blobs/<algorithm>/<first 2 hex digits>/<hex>     one file per blob, shared by all repositories
    uploads/<upload id>/data                          the bytes of an upload session so far

A blob file appears only through ``commit_upload``: the upload's data is fsynced, renamed into
place (atomic within one file system) and the directory fsynced, so after a crash at any moment
a blob's path holds either the whole verified blob or nothing. Paths are built only from
validated digests and from upload ids made by the registry, never from raw client input.

Every method that touches the disk runs its blocking work in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from services.kit import errors
from services.registry.domain.digest import ALGORITHMS, Digest, Hasher

CHUNK = 1 << 20


class UploadData:
    """An upload's data file, open for appending at its acknowledged end. Blocking methods."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def write(self, data: bytes, hasher: Hasher | None) -> None:
        self._file.write(data)
        if hasher is not None:
            hasher.update(data)

    def truncate(self, size: int) -> None:
        self._file.flush()
        self._file.truncate(size)
        self._file.seek(size)

    def close(self) -> None:
        self._file.close()


class BlobFS:
    """The ``ContentStore`` port on a local file system."""

    def __init__(self, root: Path) -> None:
        self.blobs_dir = root / "blobs"
        self.uploads_dir = root / "uploads"

    def prepare(self) -> None:
        """Create the top directories (blocking; called once at start-up)."""
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)

    def blob_path(self, digest: Digest) -> Path:
        return self.blobs_dir / digest.algorithm / digest.hex[:2] / digest.hex

    def _data_path(self, upload_id: str) -> Path:
        return self.uploads_dir / upload_id / "data"

    async def create_upload(self, upload_id: str) -> None:
        def create() -> None:
            directory = self.uploads_dir / upload_id
            directory.mkdir()
            (directory / "data").touch()

        await asyncio.to_thread(create)

    async def open_upload(self, upload_id: str, size: int) -> UploadData:
        """Open the data at ``size``; BLOB_UPLOAD_INVALID if fewer bytes than that survived."""

        def open_at() -> UploadData:
            try:
                file = open(self._data_path(upload_id), "r+b")  # noqa: SIM115 - UploadData closes
            except FileNotFoundError:
                raise _data_lost(upload_id, 0, size) from None
            try:
                if (held := os.fstat(file.fileno()).st_size) < size:
                    raise _data_lost(upload_id, held, size)
                file.truncate(size)
                file.seek(size)
            except BaseException:
                file.close()
                raise
            return UploadData(file)

        return await asyncio.to_thread(open_at)

    async def hash_upload(self, upload_id: str, algorithm: str) -> Hasher:
        def hash_file() -> Hasher:
            hasher = Hasher(algorithm)
            with open(self._data_path(upload_id), "rb") as file:
                while chunk := file.read(CHUNK):
                    hasher.update(chunk)
            return hasher

        return await asyncio.to_thread(hash_file)

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        await asyncio.to_thread(self._commit, self._data_path(upload_id), self.blob_path(digest))

    @staticmethod
    def _commit(source: Path, target: Path) -> None:
        with open(source, "rb") as file:
            os.fsync(file.fileno())
        _make_dirs(target.parent)
        os.replace(source, target)
        _fsync_dir(target.parent)

    async def remove_upload(self, upload_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.uploads_dir / upload_id, True)

    async def remove_blobs(self, digests: Sequence[Digest]) -> None:
        def remove() -> None:
            parents = set()
            for digest in digests:
                path = self.blob_path(digest)
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                parents.add(path.parent)
            for parent in parents:
                _fsync_dir(parent)

        await asyncio.to_thread(remove)

    async def upload_ids(self) -> list[str]:
        def scan() -> list[str]:
            try:
                return sorted(entry.name for entry in os.scandir(self.uploads_dir))
            except FileNotFoundError:
                return []

        return await asyncio.to_thread(scan)

    async def upload_age(self, upload_id: str, now: float) -> float:
        def age() -> float:
            try:
                return now - (self.uploads_dir / upload_id).stat().st_mtime
            except FileNotFoundError:
                return 0.0

        return await asyncio.to_thread(age)

    async def blob_files(self) -> list[tuple[Digest, int, float]]:
        return await asyncio.to_thread(self._scan_blobs)

    def _scan_blobs(self) -> list[tuple[Digest, int, float]]:
        found: list[tuple[Digest, int, float]] = []
        for algorithm in ALGORITHMS:
            top = self.blobs_dir / algorithm
            if not top.is_dir():
                continue
            for prefix in os.scandir(top):
                if not prefix.is_dir():
                    continue
                for entry in os.scandir(prefix.path):
                    try:
                        digest = Digest.parse(f"{algorithm}:{entry.name}")
                        stat = entry.stat()
                    except (errors.InvalidArgument, OSError):
                        continue  # not a blob file of ours (or gone meanwhile)
                    found.append((digest, stat.st_size, stat.st_mtime))
        return found


def _data_lost(upload_id: str, held: int, size: int) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(
        f"upload {upload_id} lost its data ({held} of {size} bytes remain); upload the blob again",
        reason="BLOB_UPLOAD_INVALID",
    )


def _make_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, fsyncing each parent that gained an entry."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
