"""SQL for manifests, tags, references and referrers (part of ``SqliteTx``)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from services.kit.db import Row, Tx
from services.registry.domain.digest import Digest
from services.registry.domain.models import Descriptor, Manifest, ManifestSummary


def _digest(value: str | None) -> Digest | None:
    return None if value is None else Digest.parse(value)


class ManifestSql:
    _tx: Tx

    async def manifest(self, repo_id: int, digest: Digest) -> Manifest | None:
        row = await self._tx.fetchone(
            "SELECT r.name, m.* FROM manifests m JOIN repositories r ON r.id = m.repo_id "
            "WHERE m.repo_id = ? AND m.digest = ?",
            (repo_id, str(digest)),
        )
        return None if row is None else _manifest(row)

    async def save_manifest(
        self, repo_id: int, manifest: Manifest, refs: Iterable[tuple[Digest, str]]
    ) -> None:
        await self._tx.execute(
            "INSERT INTO manifests (repo_id, digest, media_type, content, subject, artifact_type,"
            " annotations, pushed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (repo_id, digest) DO UPDATE SET pushed_at = excluded.pushed_at",
            (
                repo_id,
                str(manifest.digest),
                manifest.media_type,
                manifest.content,
                None if manifest.subject is None else str(manifest.subject),
                manifest.artifact_type,
                json.dumps(dict(manifest.annotations), sort_keys=True),
                manifest.pushed_at,
            ),
        )
        await self._tx.executemany(
            "INSERT OR IGNORE INTO manifest_refs (repo_id, digest, ref_digest, kind) "
            "VALUES (?, ?, ?, ?)",
            [(repo_id, str(manifest.digest), str(ref), kind) for ref, kind in refs],
        )

    async def delete_manifest(self, repo_id: int, digest: Digest) -> bool:
        changed = await self._tx.execute(
            "DELETE FROM manifests WHERE repo_id = ? AND digest = ?", (repo_id, str(digest))
        )
        return changed > 0

    async def tag(self, repo_id: int, tag: str) -> Digest | None:
        value = await self._tx.scalar(
            "SELECT digest FROM tags WHERE repo_id = ? AND name = ?", (repo_id, tag)
        )
        return _digest(value)

    async def set_tag(self, repo_id: int, tag: str, digest: Digest, now: float) -> None:
        await self._tx.execute(
            "INSERT INTO tags (repo_id, name, digest, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, "
            "updated_at = excluded.updated_at",
            (repo_id, tag, str(digest), now),
        )

    async def delete_tag(self, repo_id: int, tag: str) -> bool:
        changed = await self._tx.execute(
            "DELETE FROM tags WHERE repo_id = ? AND name = ?", (repo_id, tag)
        )
        return changed > 0

    async def list_tags(self, repo_id: int, after: str, limit: int) -> list[str]:
        rows = await self._tx.fetchall(
            "SELECT name FROM tags WHERE repo_id = ? AND name > ? ORDER BY name LIMIT ?",
            (repo_id, after, limit),
        )
        return [str(row[0]) for row in rows]

    async def list_manifests(self, repo_id: int) -> list[ManifestSummary]:
        rows = await self._tx.fetchall(
            "SELECT m.digest, m.media_type, length(m.content) AS size, m.artifact_type, "
            "m.subject, m.pushed_at, "
            "(SELECT group_concat(name, char(10)) FROM "
            "  (SELECT name FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest "
            "   ORDER BY name)) AS tag_names "
            "FROM manifests m WHERE m.repo_id = ? ORDER BY m.pushed_at, m.digest",
            (repo_id,),
        )
        return [
            ManifestSummary(
                digest=Digest.parse(row["digest"]),
                media_type=row["media_type"],
                size=int(row["size"]),
                artifact_type=row["artifact_type"],
                subject=_digest(row["subject"]),
                tags=tuple(row["tag_names"].split("\n")) if row["tag_names"] else (),
                pushed_at=float(row["pushed_at"]),
            )
            for row in rows
        ]

    async def referrers(self, repo_id: int, subject: Digest) -> list[Descriptor]:
        rows = await self._tx.fetchall(
            "SELECT digest, media_type, length(content) AS size, artifact_type, annotations "
            "FROM manifests WHERE repo_id = ? AND subject = ? ORDER BY pushed_at, digest",
            (repo_id, str(subject)),
        )
        return [
            Descriptor(
                media_type=row["media_type"],
                digest=Digest.parse(row["digest"]),
                size=int(row["size"]),
                artifact_type=row["artifact_type"],
                annotations=json.loads(row["annotations"]),
            )
            for row in rows
        ]


def _manifest(row: Row) -> Manifest:
    return Manifest(
        repository=row["name"],
        digest=Digest.parse(row["digest"]),
        media_type=row["media_type"],
        content=bytes(row["content"]),
        subject=_digest(row["subject"]),
        artifact_type=row["artifact_type"],
        annotations=json.loads(row["annotations"]),
        pushed_at=float(row["pushed_at"]),
    )
