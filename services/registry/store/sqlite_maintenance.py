"""SQL for upload sessions and garbage collection (part of ``SqliteTx``)."""

from __future__ import annotations

from collections.abc import Sequence

from services.kit.db import Row, Tx
from services.registry.domain.gcgraph import GcBlob, GcGraph, GcLink, GcManifest
from services.registry.domain.models import UploadSession

_UPLOAD_COLUMNS = "id, repository, size, created_at, updated_at, expires_at"


def _upload(row: Row) -> UploadSession:
    return UploadSession(
        id=row["id"],
        repository=row["repository"],
        size=int(row["size"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        expires_at=float(row["expires_at"]),
    )


class UploadSql:
    _tx: Tx

    async def add_upload(self, session: UploadSession) -> None:
        await self._tx.execute(
            f"INSERT INTO uploads ({_UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                session.id,
                session.repository,
                session.size,
                session.created_at,
                session.updated_at,
                session.expires_at,
            ),
        )

    async def upload(self, upload_id: str) -> UploadSession | None:
        row = await self._tx.fetchone(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE id = ?", (upload_id,)
        )
        return None if row is None else _upload(row)

    async def update_upload(self, session: UploadSession) -> None:
        await self._tx.execute(
            "UPDATE uploads SET size = ?, updated_at = ?, expires_at = ? WHERE id = ?",
            (session.size, session.updated_at, session.expires_at, session.id),
        )

    async def delete_upload(self, upload_id: str) -> bool:
        return await self._tx.execute("DELETE FROM uploads WHERE id = ?", (upload_id,)) > 0

    async def count_uploads(self, now: float) -> int:
        return int(
            await self._tx.scalar("SELECT count(*) FROM uploads WHERE expires_at > ?", (now,))
        )

    async def list_uploads(self, repository: str | None) -> list[UploadSession]:
        if repository is None:
            rows = await self._tx.fetchall(
                f"SELECT {_UPLOAD_COLUMNS} FROM uploads ORDER BY created_at, id"
            )
        else:
            rows = await self._tx.fetchall(
                f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE repository = ? "
                "ORDER BY created_at, id",
                (repository,),
            )
        return [_upload(row) for row in rows]


class GcSql:
    _tx: Tx

    async def gc_graph(self) -> GcGraph:
        tx = self._tx
        repos = await tx.fetchall("SELECT id, name FROM repositories")
        manifests = await tx.fetchall(
            "SELECT repo_id, digest, subject, pushed_at, length(content) FROM manifests"
        )
        tagged = await tx.fetchall("SELECT DISTINCT repo_id, digest FROM tags")
        refs = await tx.fetchall("SELECT repo_id, digest, ref_digest, kind FROM manifest_refs")
        links = await tx.fetchall("SELECT repo_id, digest, linked_at FROM repo_blobs")
        blobs = await tx.fetchall("SELECT digest, size, last_used FROM blobs")
        return GcGraph(
            repositories={int(r[0]): str(r[1]) for r in repos},
            manifests=[
                GcManifest(int(r[0]), str(r[1]), r[2], float(r[3]), int(r[4])) for r in manifests
            ],
            tagged={(int(r[0]), str(r[1])) for r in tagged},
            children=[(int(r[0]), str(r[1]), str(r[2])) for r in refs if r[3] == "manifest"],
            blob_refs=[(int(r[0]), str(r[1]), str(r[2])) for r in refs if r[3] == "blob"],
            links=[GcLink(int(r[0]), str(r[1]), float(r[2])) for r in links],
            blobs=[GcBlob(str(r[0]), int(r[1]), float(r[2])) for r in blobs],
        )

    async def delete_manifests(self, keys: Sequence[tuple[int, str]]) -> None:
        await self._tx.executemany(
            "DELETE FROM manifests WHERE repo_id = ? AND digest = ?", list(keys)
        )

    async def delete_links(self, keys: Sequence[tuple[int, str]]) -> None:
        await self._tx.executemany(
            "DELETE FROM repo_blobs WHERE repo_id = ? AND digest = ?", list(keys)
        )

    async def delete_blobs(self, digests: Sequence[str]) -> None:
        await self._tx.executemany("DELETE FROM blobs WHERE digest = ?", [(d,) for d in digests])

    async def delete_empty_repositories(self) -> list[str]:
        rows = await self._tx.fetchall(
            "SELECT id, name FROM repositories r "
            "WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) "
            "AND NOT EXISTS (SELECT 1 FROM repo_blobs b WHERE b.repo_id = r.id) "
            "AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.repository = r.name) "
            "ORDER BY name"
        )
        await self._tx.executemany(
            "DELETE FROM repositories WHERE id = ?", [(int(r[0]),) for r in rows]
        )
        return [str(r[1]) for r in rows]
