"""Domain values ↔ protobuf messages of estiba.registry.v1: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

from estiba.registry.v1 import registry_pb2 as pb
from services.registry.domain.gc import GcReport
from services.registry.domain.models import ManifestSummary, RepositoryUsage, UploadSession


def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC, as every estiba API writes times; "" for 0 (never)."""
    if seconds <= 0:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def manifest(m: ManifestSummary) -> pb.ManifestInfo:
    return pb.ManifestInfo(
        digest=str(m.digest),
        media_type=m.media_type,
        size=m.size,
        artifact_type=m.artifact_type,
        subject="" if m.subject is None else str(m.subject),
        tags=list(m.tags),
        pushed_at=timestamp(m.pushed_at),
    )


def usage(u: RepositoryUsage) -> pb.RepositoryUsage:
    return pb.RepositoryUsage(
        name=u.name,
        manifests=u.manifests,
        tags=u.tags,
        blobs=u.blobs,
        blob_bytes=u.blob_bytes,
        manifest_bytes=u.manifest_bytes,
        total_bytes=u.total_bytes,
        created_at=timestamp(u.created_at),
    )


def upload(s: UploadSession) -> pb.UploadSession:
    return pb.UploadSession(
        id=s.id,
        repository=s.repository,
        size=s.size,
        created_at=timestamp(s.created_at),
        updated_at=timestamp(s.updated_at),
        expires_at=timestamp(s.expires_at),
    )


def gc_report(r: GcReport) -> pb.GCReport:
    return pb.GCReport(
        dry_run=r.dry_run,
        started_at=timestamp(r.started_at),
        finished_at=timestamp(r.finished_at),
        manifests=[
            pb.RemovedManifest(repository=m.repository, digest=m.digest, size=m.size)
            for m in r.manifests
        ],
        blobs=[pb.RemovedBlob(digest=b.digest, size=b.size) for b in r.blobs],
        links_removed=r.links,
        repositories_removed=list(r.repositories),
        uploads_expired=[upload(s) for s in r.uploads],
        orphan_blobs=[pb.RemovedBlob(digest=b.digest, size=b.size) for b in r.orphan_blobs],
        orphan_uploads=list(r.orphan_uploads),
        bytes_freed=r.bytes_freed,
        tags_removed=[
            pb.RemovedTag(
                repository=t.repository,
                tag=t.name,
                digest=t.digest,
                pushed_at=timestamp(t.updated_at),
            )
            for t in r.tags
        ],
    )
