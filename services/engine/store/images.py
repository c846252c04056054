"""Image records in engine.db (``ImageRecords`` and the default ``ImageUsers``), SQL only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from services.engine.content.digest import Digest
from services.engine.content.manifest import Descriptor
from services.engine.images.models import ImageRecord, LayerRecord, Orphans
from services.kit.db import Database, Row, Tx

_LAYERS = """
    SELECT il.chain_id, l.diff_id, l.size, l.tar_size,
           il.blob_digest, il.blob_media_type, il.blob_size
    FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id
    WHERE il.image_id = ? ORDER BY il.position
"""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _kind(name: str) -> str:
    return "digest" if "@" in name else "tag"


def _repository(name: str) -> str:
    if "@" in name:
        return name.partition("@")[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name


def _layer(row: Row) -> LayerRecord:
    blob = Descriptor(row[5], Digest.parse(row[4]), int(row[6]))
    return LayerRecord(Digest.parse(row[0]), Digest.parse(row[1]), int(row[2]), int(row[3]), blob)


class ImageStore:
    """``ImageRecords`` on services.kit.db."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _record(self, tx: Tx, row: Row) -> ImageRecord:
        image_id = str(row["id"])
        layers = [_layer(r) for r in await tx.fetchall(_LAYERS, (image_id,))]
        names = await tx.fetchall(
            "SELECT name FROM image_names WHERE image_id = ? ORDER BY kind DESC, created_at, name",
            (image_id,),
        )
        return ImageRecord(
            id=Digest.parse(image_id),
            config=bytes(row["config"]),
            layers=tuple(layers),
            names=tuple(str(n[0]) for n in names),
            created_at=str(row["created_at"]),
            parent=str(row["parent"]),
            manifest=Digest.parse(row["manifest"]) if row["manifest"] else None,
            last_tag_time=str(row["last_tag_time"]),
        )

    async def get(self, image_id: str) -> ImageRecord | None:
        async with self._db.read() as tx:
            row = await tx.fetchone("SELECT * FROM images WHERE id = ?", (image_id,))
            return None if row is None else await self._record(tx, row)

    async def all(self) -> list[ImageRecord]:
        async with self._db.read() as tx:
            rows = await tx.fetchall("SELECT * FROM images ORDER BY created_at DESC, id")
            return [await self._record(tx, row) for row in rows]

    async def resolve_name(self, name: str) -> str | None:
        async with self._db.read() as tx:
            value = await tx.scalar("SELECT image_id FROM image_names WHERE name = ?", (name,))
        return None if value is None else str(value)

    async def ids_with_prefix(self, hex_prefix: str) -> list[str]:
        async with self._db.read() as tx:
            rows = await tx.fetchall(
                "SELECT id FROM images WHERE substr(id, 8, ?) = ? LIMIT 2",
                (len(hex_prefix), hex_prefix),
            )
        return [str(r[0]) for r in rows]

    async def names_in_repository(self, repository: str) -> list[tuple[str, str]]:
        async with self._db.read() as tx:
            rows = await tx.fetchall(
                "SELECT name, image_id FROM image_names WHERE repository = ? AND kind = 'tag' "
                "ORDER BY name",
                (repository,),
            )
        return [(str(r[0]), str(r[1])) for r in rows]

    async def children(self, image_id: str) -> list[str]:
        async with self._db.read() as tx:
            rows = await tx.fetchall("SELECT id FROM images WHERE parent = ?", (image_id,))
        return [str(r[0]) for r in rows]

    async def layer(self, chain_id: Digest) -> LayerRecord | None:
        async with self._db.read() as tx:
            row = await tx.fetchone(
                "SELECT il.chain_id, l.diff_id, l.size, l.tar_size, il.blob_digest, "
                "il.blob_media_type, il.blob_size FROM image_layers il "
                "JOIN layers l ON l.chain_id = il.chain_id WHERE il.chain_id = ? LIMIT 1",
                (str(chain_id),),
            )
        return None if row is None else _layer(row)

    async def add(self, image: ImageRecord) -> bool:
        stamp = now()
        async with self._db.write() as tx:
            new = await tx.execute(
                "INSERT OR IGNORE INTO images (id, created_at, config, parent, manifest) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    str(image.id),
                    image.created_at or stamp,
                    image.config,
                    image.parent,
                    str(image.manifest or ""),
                ),
            )
            if new:
                parent = ""
                for position, layer in enumerate(image.layers):
                    await tx.execute(
                        "INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size, tar_size)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (
                            str(layer.chain_id),
                            str(layer.diff_id),
                            parent,
                            layer.size,
                            layer.tar_size,
                        ),
                    )
                    await tx.execute(
                        "INSERT INTO image_layers VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            str(image.id),
                            position,
                            str(layer.chain_id),
                            str(layer.blob.digest),
                            layer.blob.media_type,
                            layer.blob.size,
                        ),
                    )
                    parent = str(layer.chain_id)
            elif image.manifest is not None:
                await tx.execute(
                    "UPDATE images SET manifest = ? WHERE id = ? AND manifest = ''",
                    (str(image.manifest), str(image.id)),
                )
            await self._set_names(tx, str(image.id), image.names, stamp)
        return bool(new)

    async def set_names(self, image_id: str, names: Sequence[str]) -> None:
        async with self._db.write() as tx:
            await self._set_names(tx, image_id, names, now())

    async def _set_names(self, tx: Tx, image_id: str, names: Sequence[str], stamp: str) -> None:
        for name in names:
            await tx.execute(
                "INSERT INTO image_names (name, repository, kind, image_id, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "image_id = excluded.image_id, created_at = excluded.created_at",
                (name, _repository(name), _kind(name), image_id, stamp),
            )
        if any(_kind(n) == "tag" for n in names):
            await tx.execute("UPDATE images SET last_tag_time = ? WHERE id = ?", (stamp, image_id))

    async def set_manifest(self, image_id: str, manifest: Digest) -> None:
        async with self._db.write() as tx:
            await tx.execute(
                "UPDATE images SET manifest = ? WHERE id = ?", (str(manifest), image_id)
            )

    async def remove_names(self, names: Sequence[str]) -> None:
        async with self._db.write() as tx:
            await tx.executemany("DELETE FROM image_names WHERE name = ?", [(n,) for n in names])

    async def referenced(self) -> tuple[set[str], set[str]]:
        async with self._db.read() as tx:
            chains = await tx.fetchall("SELECT chain_id FROM layers")
            blobs = await tx.fetchall(
                "SELECT id FROM images UNION SELECT manifest FROM images WHERE manifest != '' "
                "UNION SELECT blob_digest FROM image_layers"
            )
        return {str(r[0]) for r in chains}, {str(r[0]) for r in blobs}

    async def delete(self, image_id: str) -> Orphans:
        async with self._db.write() as tx:
            row = await tx.fetchone("SELECT manifest FROM images WHERE id = ?", (image_id,))
            if row is None:
                return Orphans([], [])
            layers = await tx.fetchall(
                "SELECT chain_id, blob_digest FROM image_layers WHERE image_id = ?", (image_id,)
            )
            await tx.execute("DELETE FROM images WHERE id = ?", (image_id,))
            gone_layers: list[Digest] = []
            for chain_id, _ in layers:
                if await tx.scalar("SELECT 1 FROM image_layers WHERE chain_id = ?", (chain_id,)):
                    continue
                await tx.execute("DELETE FROM layers WHERE chain_id = ?", (chain_id,))
                gone_layers.append(Digest.parse(chain_id))
            candidates = {image_id, *(str(b) for _, b in layers)}
            if row[0]:
                candidates.add(str(row[0]))
            gone_blobs = [
                Digest.parse(d) for d in sorted(candidates) if not await _blob_used(tx, d)
            ]
        return Orphans(gone_layers, gone_blobs)


async def _blob_used(tx: Tx, digest: str) -> bool:
    for sql in (
        "SELECT 1 FROM images WHERE id = ? OR manifest = ? LIMIT 1",
        "SELECT 1 FROM image_layers WHERE blob_digest = ? OR blob_digest = ? LIMIT 1",
    ):
        if await tx.scalar(sql, (digest, digest)):
            return True
    return False


class ContainersTable:
    """``ImageUsers`` from the ``containers`` table, and the ``teardowns`` still taking down a
    removed container's root from the image's layers."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def containers_using(self, image_id: str) -> list[str]:
        async with self._db.read() as tx:
            rows = await tx.fetchall(
                "SELECT id FROM containers WHERE image_id = ? ORDER BY created_at", (image_id,)
            )
            rows += await tx.fetchall(
                "SELECT container_id FROM teardowns WHERE image_id = ?", (image_id,)
            )
        return [str(r[0]) for r in rows]
