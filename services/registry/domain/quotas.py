"""Storage quotas per team, checked inside the transaction that would add the bytes.

A team's repositories are those named ``<team>/...``; its usage counts each blob linked in any
of them once, plus the manifests' bytes. A push that would take the usage past the team's quota
is refused with DENIED and a message that gives the figures; the blob or manifest refused is not
stored. A blob the team already holds costs nothing more.
"""

from __future__ import annotations

from services.kit import errors
from services.registry.domain.ports import MetadataTx


class QuotaExceeded(errors.PermissionDenied):
    def __init__(self, team: str, used: int, adding: int, quota: int) -> None:
        super().__init__(
            f"quota exceeded: team {team!r} uses {used} of its {quota} bytes; storing "
            f"{adding} more bytes would exceed it",
            reason="QUOTA_EXCEEDED",
        )


def team_of(repository: str) -> str:
    """The team whose quota a repository counts against ("" for a top-level name)."""
    team, sep, _ = repository.partition("/")
    return team if sep else ""


async def check_quota(tx: MetadataTx, repository: str, digest: str | None, size: int) -> None:
    """Raise QuotaExceeded if adding ``size`` bytes (blob ``digest``, or a manifest if None)
    to ``repository`` would take its team past its quota."""
    team = team_of(repository)
    if not team:
        return
    quota = await tx.team_quota(team)
    if quota <= 0:
        return
    if digest is not None and await tx.team_has_blob(team, digest):
        return
    used = await tx.team_usage(team)
    if used + size > quota:
        raise QuotaExceeded(team, used, size, quota)
