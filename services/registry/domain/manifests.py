"""Manifests and tags: push (only when everything referred to is present), pull, delete, and
the referrers of a manifest (OCI 1.1).

A push is checked and stored inside one write transaction, and garbage collection decides inside
one too; so a blob a manifest refers to cannot be collected between the check and the commit.
"""

from __future__ import annotations

from collections.abc import Collection

from services.kit import errors
from services.registry.domain import manifest_format
from services.registry.domain.digest import CANONICAL, Digest
from services.registry.domain.manifest_format import ParsedManifest
from services.registry.domain.models import Descriptor, Manifest, PutResult
from services.registry.domain.names import parse_reference, validate_name, validate_tag
from services.registry.domain.ports import Metadata, MetadataTx
from services.registry.domain.quotas import check_quota
from services.registry.domain.rules import Rules, repository_id


def manifest_unknown(name: str, reference: object) -> errors.NotFound:
    return errors.NotFound(
        f"manifest {reference} is not in repository {name!r}", reason="MANIFEST_UNKNOWN"
    )


def reference_missing(name: str, digest: Digest, where: str) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(
        f"the manifest refers to {where} {digest}, which is not in repository {name!r}; "
        "push it first",
        reason="MANIFEST_BLOB_UNKNOWN",
    )


class ManifestService:
    def __init__(self, meta: Metadata, rules: Rules) -> None:
        self._meta = meta
        self._rules = rules

    @property
    def max_bytes(self) -> int:
        """The largest manifest accepted."""
        return self._rules.max_manifest_bytes

    async def get(self, name: str, reference: str) -> Manifest:
        """The manifest a tag points at, or the one with the digest given."""
        validate_name(name)
        ref = parse_reference(reference)
        async with self._meta.read() as tx:
            repo_id = await repository_id(tx, name)
            digest = ref if isinstance(ref, Digest) else await tx.tag(repo_id, ref)
            manifest = None if digest is None else await tx.manifest(repo_id, digest)
        if manifest is None:
            raise manifest_unknown(name, reference)
        return manifest

    async def put(
        self,
        name: str,
        reference: str,
        body: bytes,
        content_type: str,
        *,
        may_overwrite: bool = True,
    ) -> PutResult:
        """Store a manifest as pushed, under a tag or under its digest.

        Without ``may_overwrite`` a tag that points at another manifest is not moved (DENIED).
        A manifest new to the repository counts against its team's quota.
        """
        validate_name(name)
        ref = parse_reference(reference)
        self._rules.check_writable()
        limit = self._rules.max_manifest_bytes
        if len(body) > limit:
            raise errors.InvalidArgument(
                f"manifest of {len(body)} bytes exceeds the limit of {limit}",
                reason="MANIFEST_TOO_LARGE",
            )
        parsed = manifest_format.parse(body, content_type)
        digest = Digest.of(body, ref.algorithm if isinstance(ref, Digest) else CANONICAL)
        if isinstance(ref, Digest) and digest != ref:
            raise errors.InvalidArgument(
                f"the manifest's digest is {digest}, not {ref}", reason="DIGEST_INVALID"
            )
        now = self._rules.clock()
        manifest = Manifest(
            repository=name,
            digest=digest,
            media_type=parsed.media_type,
            content=body,
            subject=parsed.subject,
            artifact_type=parsed.artifact_type,
            annotations=parsed.annotations,
            pushed_at=now,
        )
        refs = [(b.digest, "blob") for b in parsed.blobs]
        refs += [(m.digest, "manifest") for m in parsed.manifests]
        async with self._meta.write() as tx:
            repo_id = await tx.ensure_repository(name, now)
            await _check_references(tx, repo_id, name, parsed)
            if not may_overwrite and not isinstance(ref, Digest):
                current = await tx.tag(repo_id, ref)
                if current is not None and current != digest:
                    raise errors.PermissionDenied(
                        f"tag {ref!r} of {name!r} points at {current}; moving it needs the "
                        "overwrite permission",
                        reason="DENIED",
                    )
            if await tx.manifest(repo_id, digest) is None:
                await check_quota(tx, name, None, len(body))
            await tx.save_manifest(repo_id, manifest, refs)
            if not isinstance(ref, Digest):
                await tx.set_tag(repo_id, ref, digest, now)
        return PutResult(digest=digest, subject=parsed.subject)

    async def delete(self, name: str, reference: str) -> None:
        """By digest: the manifest and every tag on it. By tag: that tag only."""
        ref = parse_reference(reference)
        if isinstance(ref, Digest):
            await self.delete_manifest(name, str(ref))
        else:
            await self.delete_tag(name, ref)

    async def delete_manifest(self, name: str, digest: str) -> None:
        """Remove the manifest ``digest`` and every tag that points at it."""
        validate_name(name)
        wanted = Digest.parse(digest)
        self._rules.check_writable()
        async with self._meta.write() as tx:
            repo_id = await repository_id(tx, name)
            found = await tx.delete_manifest(repo_id, wanted)
        if not found:
            raise manifest_unknown(name, wanted)

    async def delete_tag(self, name: str, tag: str) -> None:
        """Remove one tag; the manifest it pointed at stays."""
        validate_name(name)
        validate_tag(tag)
        self._rules.check_writable()
        async with self._meta.write() as tx:
            repo_id = await repository_id(tx, name)
            found = await tx.delete_tag(repo_id, tag)
        if not found:
            raise manifest_unknown(name, tag)

    async def referrers(
        self, name: str, digest: str, artifact_types: Collection[str]
    ) -> list[Descriptor]:
        """Manifests of ``name`` whose subject is ``digest``, maybe only of some artifact types."""
        validate_name(name)
        subject = Digest.parse(digest)
        async with self._meta.read() as tx:
            repo_id = await repository_id(tx, name)
            found = await tx.referrers(repo_id, subject)
        if artifact_types:
            found = [d for d in found if d.artifact_type in artifact_types]
        return found


async def _check_references(
    tx: MetadataTx, repo_id: int, name: str, parsed: ParsedManifest
) -> None:
    """Every blob and child manifest must be in the repository, with the size declared."""
    for ref in parsed.blobs:
        linked = await tx.linked_blob(repo_id, ref.digest)
        if linked is None:
            if ref.required:
                raise reference_missing(name, ref.digest, "blob")
            continue
        _check_size(ref.digest, ref.size, linked.info.size)
    for ref in parsed.manifests:
        child = await tx.manifest(repo_id, ref.digest)
        if child is not None:
            _check_size(ref.digest, ref.size, child.size)
        elif await tx.linked_blob(repo_id, ref.digest) is None:
            raise reference_missing(name, ref.digest, "manifest")


def _check_size(digest: Digest, declared: int, actual: int) -> None:
    if declared != actual:
        raise errors.InvalidArgument(
            f"the manifest gives {digest} a size of {declared} bytes; it has {actual}",
            reason="MANIFEST_INVALID",
        )
