"""VolumeManager: create, find, list, remove and prune named volumes.

A volume is a row in engine.db plus the directory ``<state>/volumes/<name>/_data``. The row is
written after the directory exists and removed before it goes, so the database never names a
volume that is not there. A volume a container mounts (in any state) cannot be removed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from services.kit import errors

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclasses.dataclass(frozen=True)
class Volume:
    name: str
    driver: str
    created_at: str
    labels: dict[str, str]
    options: dict[str, str]
    mountpoint: Path


class VolumeRecords(Protocol):
    async def insert(
        self,
        name: str,
        driver: str,
        created_at: str,
        labels: dict[str, str],
        options: dict[str, str],
    ) -> bool: ...
    async def get(self, name: str) -> tuple[str, str, dict[str, str], dict[str, str]] | None: ...
    async def all(self) -> list[tuple[str, str, str, dict[str, str], dict[str, str]]]: ...
    async def delete(self, name: str) -> None: ...


class Users(Protocol):
    async def volume_users(self) -> dict[str, list[str]]:
        """Volume name → ids of the containers whose spec mounts it."""
        ...


class VolumeManager:
    def __init__(self, records: VolumeRecords, users: Users, root: Path) -> None:
        self._records = records
        self._users = users
        self._root = root
        self._lock = asyncio.Lock()

    def path(self, name: str) -> Path:
        return self._root / name / "_data"

    async def create(
        self,
        name: str = "",
        *,
        driver: str = "",
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
    ) -> Volume:
        if driver not in ("", "local"):
            raise errors.InvalidArgument(
                f"volume driver {driver!r} is not supported; use local",
                reason="VOLUME_DRIVER_UNKNOWN",
            )
        name = name or secrets.token_hex(32)
        if not NAME_RE.match(name):
            raise errors.InvalidArgument(
                f'"{name}" includes invalid characters for a local volume name, only '
                '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed',
                reason="VOLUME_NAME_INVALID",
            )
        async with self._lock:
            existing = await self._records.get(name)
            if existing is None:
                await asyncio.to_thread(self.path(name).mkdir, 0o755, True, True)
                created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                await self._records.insert(name, "local", created, labels or {}, options or {})
        return await self.get(name)

    async def get(self, name: str) -> Volume:
        row = await self._records.get(name)
        if row is None:
            raise errors.NotFound(f"get {name}: no such volume", reason="VOLUME_UNKNOWN")
        driver, created, labels, options = row
        return Volume(name, driver, created, labels, options, self.path(name))

    async def list_volumes(self) -> list[Volume]:
        return [
            Volume(n, d, c, lb, op, self.path(n)) for n, d, c, lb, op in await self._records.all()
        ]

    async def users(self) -> dict[str, list[str]]:
        return await self._users.volume_users()

    async def remove(self, name: str, *, force: bool = False) -> None:
        async with self._lock:
            if await self._records.get(name) is None:
                if force:
                    return
                raise errors.NotFound(f"get {name}: no such volume", reason="VOLUME_UNKNOWN")
            users = (await self._users.volume_users()).get(name, [])
            if users:
                raise errors.FailedPrecondition(
                    f"remove {name}: volume is in use - [{', '.join(users)}]",
                    reason="VOLUME_IN_USE",
                )
            await self._records.delete(name)
            await asyncio.to_thread(shutil.rmtree, self._root / name, True)

    async def prune(self, labels: list[str]) -> tuple[list[str], int]:
        used = await self._users.volume_users()
        deleted, freed = [], 0
        for volume in await self.list_volumes():
            if used.get(volume.name) or not _labels_match(volume.labels, labels):
                continue
            size = await asyncio.to_thread(size_of, volume.mountpoint)
            try:
                await self.remove(volume.name)
            except errors.FailedPrecondition:
                continue  # taken by a container created meanwhile
            deleted.append(volume.name)
            freed += size
        return deleted, freed


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def size_of(path: Path) -> int:
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
    return total
