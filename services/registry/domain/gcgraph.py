"""Garbage collection's decision, as a pure function of the registry's reference graph.

A manifest is *live* when it is tagged, was pushed within the grace period, is a child of a live
index, or is a referrer (its ``subject``) of a live manifest, all within one repository. A
repository's link to a blob is live when a live manifest of that repository references the
blob, or the link was made within the grace period. A blob stays while any live link or live
manifest anywhere refers to it, or it was used within the grace period. Everything else is
garbage. The grace period protects pushes in flight: blobs uploaded and child manifests pushed
before the manifest that will refer to them.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

# (repository id, digest)
Key = tuple[int, str]


@dataclasses.dataclass(frozen=True)
class GcManifest:
    repo_id: int
    digest: str
    subject: str | None
    pushed_at: float
    size: int


@dataclasses.dataclass(frozen=True)
class GcLink:
    repo_id: int
    digest: str
    linked_at: float


@dataclasses.dataclass(frozen=True)
class GcBlob:
    digest: str
    size: int
    last_used: float


@dataclasses.dataclass
class GcGraph:
    """Every row garbage collection decides on, read in one transaction."""

    repositories: dict[int, str]
    manifests: list[GcManifest]
    tagged: set[Key]
    # (repository id, index digest, child manifest digest)
    children: list[tuple[int, str, str]]
    # (repository id, manifest digest, blob digest)
    blob_refs: list[tuple[int, str, str]]
    links: list[GcLink]
    blobs: list[GcBlob]


@dataclasses.dataclass(frozen=True)
class Garbage:
    """What a collection removes."""

    manifests: tuple[GcManifest, ...]
    links: tuple[GcLink, ...]
    blobs: tuple[GcBlob, ...]


def mark(graph: GcGraph, cutoff: float) -> Garbage:
    """Find the garbage in ``graph``; anything used at or after ``cutoff`` is kept."""
    live = _live_manifests(graph, cutoff)
    dead_manifests = tuple(m for m in graph.manifests if (m.repo_id, m.digest) not in live)
    used = {(repo, blob) for repo, parent, blob in graph.blob_refs if (repo, parent) in live}
    dead_links = tuple(
        link
        for link in graph.links
        if (link.repo_id, link.digest) not in used and link.linked_at < cutoff
    )
    dead_link_keys = {(link.repo_id, link.digest) for link in dead_links}
    still_linked = {
        link.digest for link in graph.links if (link.repo_id, link.digest) not in dead_link_keys
    }
    referenced = {blob for _, blob in used}
    dead_blobs = tuple(
        blob
        for blob in graph.blobs
        if blob.digest not in still_linked
        and blob.digest not in referenced
        and blob.last_used < cutoff
    )
    return Garbage(manifests=dead_manifests, links=dead_links, blobs=dead_blobs)


def _live_manifests(graph: GcGraph, cutoff: float) -> set[Key]:
    existing = {(m.repo_id, m.digest) for m in graph.manifests}
    edges: dict[Key, list[Key]] = defaultdict(list)
    for repo, parent, child in graph.children:
        edges[(repo, parent)].append((repo, child))
    for m in graph.manifests:
        if m.subject is not None:
            edges[(m.repo_id, m.subject)].append((m.repo_id, m.digest))
    roots = {key for key in graph.tagged if key in existing}
    roots |= {(m.repo_id, m.digest) for m in graph.manifests if m.pushed_at >= cutoff}
    live = set(roots)
    stack = list(roots)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt in existing and nxt not in live:
                live.add(nxt)
                stack.append(nxt)
    return live
