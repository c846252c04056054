"""Who may use the registry: users, teams, robots, grants and the audit log, as values.

Times are seconds since the epoch; 0 means never (a robot that never expires, a key never
retired).
"""

from __future__ import annotations

import dataclasses

PULL, PUSH, OVERWRITE, DELETE = "pull", "push", "overwrite", "delete"
ACTIONS = (PULL, PUSH, OVERWRITE, DELETE)
"""What a grant may allow on a repository: read it; push new manifests and blobs (create);
move an existing tag to another manifest; delete manifests, tags and blobs."""

SUBJECT_KINDS = ("user", "team", "robot")
ROBOT_SEPARATOR = "+"


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    admin: bool
    created_at: float
    teams: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Member:
    user: str
    role: str
    """"member" or "admin" (may manage the team's members, robots and grants)."""


@dataclasses.dataclass(frozen=True)
class Team:
    name: str
    quota_bytes: int
    created_at: float
    members: tuple[Member, ...] = ()
    used_bytes: int = 0


@dataclasses.dataclass(frozen=True)
class Robot:
    """A team's account for machines (CI); it logs in as ``<team>+<name>`` with its secret."""

    name: str
    team: str
    created_at: float
    expires_at: float
    revoked_at: float

    def usable(self, now: float) -> bool:
        return not self.revoked_at and (not self.expires_at or now < self.expires_at)


@dataclasses.dataclass(frozen=True)
class Grant:
    subject_kind: str
    subject: str
    pattern: str
    actions: tuple[str, ...]
    created_at: float = 0.0


@dataclasses.dataclass(frozen=True)
class RetentionRule:
    """Tags of matching repositories that GC keeps: the newest ``keep_last`` and those pushed
    within ``keep_days``; 0 disables a criterion; a tag either criterion keeps stays."""

    pattern: str
    keep_last: int
    keep_days: float


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    at: float
    actor: str
    action: str
    target: str
    outcome: str
    address: str = ""
    detail: str = ""
    id: int = 0


@dataclasses.dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: bytes
    created_at: float
    retired_at: float


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who a request comes from. ``kind`` is "anonymous", "user" or "robot"."""

    kind: str
    name: str
    admin: bool = False
    teams: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        """How the audit log names the principal."""
        return self.name if self.kind != "anonymous" else "anonymous"


ANONYMOUS = Principal("anonymous", "")


@dataclasses.dataclass(frozen=True)
class AccessRows:
    """Everything authorization decides on, read in one transaction."""

    users: dict[str, tuple[bool, float]]
    """name → (admin, tokens_after)"""
    memberships: dict[str, frozenset[str]]
    """user name → team names"""
    robots: dict[str, Robot]
    grants: list[Grant]
    anonymous: list[str]
    """patterns of repositories anyone may pull"""
