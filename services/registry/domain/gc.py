"""Online garbage collection: remove what nothing refers to while pushes and pulls go on.

One run: expired upload sessions go first; then the tags that retention rules do not keep
(``retention``), in the same transaction as the sweep, so the manifests they leave untagged go
in the same run; then, holding the content lock (so no blob is being
committed) and inside one database write transaction (so no manifest push is between its check
and its commit), the reference graph is read, marked (``gcgraph.mark``) and swept; blob files
are removed after the transaction commits, still under the content lock. Blob files that no row
describes (left by a crash between a rename and its commit) and upload directories that no
session owns are removed too. A dry run reports the same without changing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from services.kit.log import get_logger
from services.registry.domain.digest import Digest
from services.registry.domain.gcgraph import Garbage, GcGraph, GcManifest, mark
from services.registry.domain.models import TagRow, UploadSession
from services.registry.domain.ports import ContentStore, Metadata, MetadataTx
from services.registry.domain.retention import expired_tags
from services.registry.domain.rules import Rules
from services.registry.domain.uploads import UploadService

log = get_logger()

# An upload directory without a session is only removed once older than this (seconds): a
# session being created has its directory a moment before its row.
ORPHAN_UPLOAD_AGE = 60.0


@dataclasses.dataclass(frozen=True)
class RemovedManifest:
    repository: str
    digest: str
    size: int


@dataclasses.dataclass(frozen=True)
class RemovedBlob:
    digest: str
    size: int


@dataclasses.dataclass(frozen=True)
class GcReport:
    """What one run removed (or, for a dry run, would remove)."""

    dry_run: bool
    started_at: float
    finished_at: float
    manifests: tuple[RemovedManifest, ...]
    blobs: tuple[RemovedBlob, ...]
    links: int
    repositories: tuple[str, ...]
    uploads: tuple[UploadSession, ...]
    orphan_blobs: tuple[RemovedBlob, ...]
    orphan_uploads: tuple[str, ...]
    tags: tuple[TagRow, ...] = ()
    """Tags removed by retention rules."""

    @property
    def bytes_freed(self) -> int:
        """Bytes of blob files, manifests and upload data removed."""
        return (
            sum(b.size for b in self.blobs)
            + sum(m.size for m in self.manifests)
            + sum(b.size for b in self.orphan_blobs)
            + sum(u.size for u in self.uploads)
        )


class GarbageCollector:
    def __init__(
        self,
        meta: Metadata,
        content: ContentStore,
        uploads: UploadService,
        rules: Rules,
        content_lock: asyncio.Lock,
    ) -> None:
        self._meta = meta
        self._content = content
        self._uploads = uploads
        self._rules = rules
        self._content_lock = content_lock
        self._running = asyncio.Lock()
        self.last: GcReport | None = None
        self.next_run_at: float = 0.0

    @property
    def running(self) -> bool:
        return self._running.locked()

    async def run(self, *, dry_run: bool) -> GcReport:
        """Collect once; runs one at a time (a second caller waits for the first)."""
        if not dry_run:
            self._rules.check_writable()
        async with self._running:
            started = self._rules.clock()
            cutoff = started - self._rules.gc_grace_period
            uploads = await self._expire_uploads(started, dry_run)
            async with self._content_lock:
                garbage, graph, emptied, tags = await self._sweep(started, cutoff, dry_run)
                if not dry_run:
                    await self._content.remove_blobs(
                        [Digest.parse(b.digest) for b in garbage.blobs]
                    )
            orphans = await self._orphan_blobs(graph, dry_run)
            orphan_uploads = await self._orphan_uploads(started, dry_run)
            report = _report(
                dry_run, started, self._rules.clock(), graph, garbage, emptied, uploads
            )
            report = dataclasses.replace(
                report, orphan_blobs=orphans, orphan_uploads=orphan_uploads, tags=tags
            )
        if not dry_run:
            self.last = report
        log.info(
            "gc_finished",
            dry_run=dry_run,
            tags=len(report.tags),
            manifests=len(report.manifests),
            blobs=len(report.blobs),
            uploads=len(report.uploads),
            bytes_freed=report.bytes_freed,
        )
        return report

    async def run_forever(self, interval: float, stop: asyncio.Event) -> None:
        """Collect every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            self.next_run_at = self._rules.clock() + interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            if self._rules.read_only:
                continue
            try:
                await self.run(dry_run=False)
            except Exception:
                log.exception("gc_failed")

    async def _expire_uploads(self, now: float, dry_run: bool) -> tuple[UploadSession, ...]:
        expired = await self._uploads.expired(now)
        if dry_run:
            return tuple(expired)
        return tuple([s for s in expired if await self._uploads.discard(s.id)])

    async def _sweep(
        self, now: float, cutoff: float, dry_run: bool
    ) -> tuple[Garbage, GcGraph, list[str], tuple[TagRow, ...]]:
        opened = self._meta.read() if dry_run else self._meta.write()
        async with opened as tx:
            tags = tuple(expired_tags(await tx.all_tags(), await tx.list_retention(), now))
            if tags and not dry_run:
                await tx.delete_tags([(t.repo_id, t.name) for t in tags])
            graph = await tx.gc_graph()
            if tags and dry_run:
                graph.tagged = _tagged_without(await tx.all_tags(), tags)
            garbage = await asyncio.to_thread(mark, graph, cutoff)  # CPU-bound for big graphs
            emptied = _emptied(graph, garbage)
            if not dry_run:
                await _delete(tx, garbage)
                emptied = await tx.delete_empty_repositories()
        return garbage, graph, emptied, tags

    async def _orphan_blobs(self, graph: GcGraph, dry_run: bool) -> tuple[RemovedBlob, ...]:
        """Blob files that no row describes.

        The walk over the files runs without the content lock (it may be long); each candidate
        is then checked again under the lock, where no commit can be between its rename and its
        row.
        """
        known = {b.digest for b in graph.blobs}  # the swept ones' files are gone already
        files = await self._content.blob_files()
        candidates = [(d, size) for d, size, _ in files if str(d) not in known]
        if not candidates:
            return ()
        async with self._content_lock:
            async with self._meta.read() as tx:
                orphans = [(d, size) for d, size in candidates if await tx.blob(d) is None]
            if orphans and not dry_run:
                await self._content.remove_blobs([d for d, _ in orphans])
        return tuple(RemovedBlob(str(d), size) for d, size in orphans)

    async def _orphan_uploads(self, now: float, dry_run: bool) -> tuple[str, ...]:
        """Upload directories that no session owns (left by a crash)."""
        on_disk = await self._content.upload_ids()
        async with self._meta.read() as tx:
            owned = {s.id for s in await tx.list_uploads(None)}
        active = self._uploads.active()
        found = []
        for upload_id in on_disk:
            if upload_id in owned or upload_id in active:
                continue
            if await self._content.upload_age(upload_id, now) < ORPHAN_UPLOAD_AGE:
                continue
            found.append(upload_id)
            if not dry_run:
                await self._content.remove_upload(upload_id)
        return tuple(found)


async def _delete(tx: MetadataTx, garbage: Garbage) -> None:
    await tx.delete_manifests([(m.repo_id, m.digest) for m in garbage.manifests])
    await tx.delete_links([(link.repo_id, link.digest) for link in garbage.links])
    await tx.delete_blobs([b.digest for b in garbage.blobs])


def _tagged_without(tags: list[TagRow], removed: tuple[TagRow, ...]) -> set[tuple[int, str]]:
    """The (repository, manifest) pairs still tagged once ``removed`` are gone (dry runs)."""
    gone = {(t.repo_id, t.name) for t in removed}
    return {(t.repo_id, t.digest) for t in tags if (t.repo_id, t.name) not in gone}


def _emptied(graph: GcGraph, garbage: Garbage) -> list[str]:
    """Repositories left with no manifest and no blob (what a real run would remove)."""
    dead_m = {(m.repo_id, m.digest) for m in garbage.manifests}
    dead_l = {(link.repo_id, link.digest) for link in garbage.links}
    keep = {m.repo_id for m in graph.manifests if (m.repo_id, m.digest) not in dead_m}
    keep |= {link.repo_id for link in graph.links if (link.repo_id, link.digest) not in dead_l}
    return sorted(name for rid, name in graph.repositories.items() if rid not in keep)


def _report(
    dry_run: bool,
    started: float,
    finished: float,
    graph: GcGraph,
    garbage: Garbage,
    emptied: list[str],
    uploads: tuple[UploadSession, ...],
) -> GcReport:
    def removed(m: GcManifest) -> RemovedManifest:
        return RemovedManifest(graph.repositories.get(m.repo_id, ""), m.digest, m.size)

    return GcReport(
        dry_run=dry_run,
        started_at=started,
        finished_at=finished,
        manifests=tuple(removed(m) for m in garbage.manifests),
        blobs=tuple(RemovedBlob(b.digest, b.size) for b in garbage.blobs),
        links=len(garbage.links),
        repositories=tuple(emptied),
        uploads=uploads,
        orphan_blobs=(),
        orphan_uploads=(),
    )
