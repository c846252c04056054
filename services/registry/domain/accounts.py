"""Administration of who may do what: users, teams and their members, robots, grants,
anonymous pull, quotas and retention rules; and the audit log that records it all.

Every change is one write transaction, audited in the same transaction, after which the
authorization snapshot (``AccessState``) is rebuilt, so the next request is decided on the new
rules. Name rules: users, teams and robots are 1 to 64 of ``[a-z0-9._-]`` starting with a letter
or digit; a robot's full name is ``<team>+<robot>``, and its grants stay within ``<team>/``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re

from services.kit import errors
from services.registry.domain.access_models import (
    ACTIONS,
    ROBOT_SEPARATOR,
    SUBJECT_KINDS,
    AuditEntry,
    Grant,
    RetentionRule,
    Robot,
    Team,
    User,
)
from services.registry.domain.passwords import hash_password, hash_secret, new_robot_secret
from services.registry.domain.patterns import parse_pattern
from services.registry.domain.permissions import Permissions
from services.registry.domain.ports import Metadata, MetadataTx
from services.registry.domain.rules import Clock

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
ROLES = ("member", "admin")
MIN_PASSWORD = 8


def check_account_name(name: str, what: str) -> str:
    if not _NAME.fullmatch(name):
        raise errors.InvalidArgument(
            f"invalid {what} name {name[:80]!r}: 1 to 64 of a-z, 0-9, '.', '_', '-', starting "
            "with a letter or digit",
            reason="NAME_INVALID",
        )
    return name


def check_actions(actions: list[str]) -> tuple[str, ...]:
    wanted = {a.strip() for a in actions if a.strip()}
    unknown = sorted(wanted - set(ACTIONS))
    if unknown or not wanted:
        raise errors.InvalidArgument(
            f"actions must be among {', '.join(ACTIONS)}; got {', '.join(unknown) or 'none'}",
            reason="ACTION_INVALID",
        )
    return tuple(a for a in ACTIONS if a in wanted)


def not_found(what: str, name: str) -> errors.NotFound:
    return errors.NotFound(f"{what} {name!r} does not exist", reason=f"{what.upper()}_UNKNOWN")


@dataclasses.dataclass
class AccessState:
    """The current authorization snapshot, shared by every request."""

    permissions: Permissions

    @classmethod
    async def load(cls, meta: Metadata) -> AccessState:
        async with meta.read() as tx:
            return cls(Permissions(await tx.access_rows()))

    async def reload(self, tx: MetadataTx) -> None:
        self.permissions = Permissions(await tx.access_rows())


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who asks for a change, for the audit log."""

    name: str
    address: str = ""


class AccessService:
    def __init__(self, meta: Metadata, state: AccessState, clock: Clock) -> None:
        self._meta = meta
        self._state = state
        self._clock = clock

    # -- users --------------------------------------------------------------------------------

    async def create_user(self, actor: Actor, name: str, password: str, admin: bool) -> User:
        check_account_name(name, "user")
        _check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        now = self._clock()
        async with self._meta.write() as tx:
            if await tx.user_password_hash(name) is not None:
                raise errors.AlreadyExists(f"user {name!r} exists", reason="USER_EXISTS")
            await tx.add_user(name, hashed, admin, now)
            await self._audit(tx, actor, "user.create", name, "admin" if admin else "")
        return User(name, admin, now)

    async def set_password(self, actor: Actor, name: str, password: str) -> None:
        """Change a password; tokens issued before stop working."""
        _check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        async with self._meta.write() as tx:
            if not await tx.set_password(name, hashed, self._clock()):
                raise not_found("user", name)
            await self._audit(tx, actor, "user.password", name)

    async def set_admin(self, actor: Actor, name: str, admin: bool) -> None:
        async with self._meta.write() as tx:
            if not await tx.set_admin(name, admin):
                raise not_found("user", name)
            await self._audit(tx, actor, "user.admin", name, str(admin).lower())

    async def delete_user(self, actor: Actor, name: str) -> None:
        async with self._meta.write() as tx:
            if not await tx.delete_user(name):
                raise not_found("user", name)
            await self._audit(tx, actor, "user.delete", name)

    async def users(self) -> list[User]:
        async with self._meta.read() as tx:
            return await tx.list_users()

    # -- teams --------------------------------------------------------------------------------

    async def create_team(self, actor: Actor, name: str) -> Team:
        check_account_name(name, "team")
        now = self._clock()
        async with self._meta.write() as tx:
            if await tx.team_exists(name):
                raise errors.AlreadyExists(f"team {name!r} exists", reason="TEAM_EXISTS")
            await tx.add_team(name, now)
            await self._audit(tx, actor, "team.create", name)
        return Team(name, 0, now)

    async def delete_team(self, actor: Actor, name: str) -> None:
        """Remove a team with its memberships, robots and grants."""
        async with self._meta.write() as tx:
            if not await tx.delete_team(name):
                raise not_found("team", name)
            await self._audit(tx, actor, "team.delete", name)

    async def add_member(self, actor: Actor, team: str, user: str, role: str) -> None:
        if role not in ROLES:
            raise errors.InvalidArgument(
                f"role must be member or admin, not {role!r}", reason="ROLE_INVALID"
            )
        async with self._meta.write() as tx:
            await self._need_team(tx, team)
            if await tx.user_password_hash(user) is None:
                raise not_found("user", user)
            await tx.set_member(team, user, role, self._clock())
            await self._audit(tx, actor, "team.member.add", f"{team}/{user}", role)

    async def remove_member(self, actor: Actor, team: str, user: str) -> None:
        async with self._meta.write() as tx:
            await self._need_team(tx, team)
            if not await tx.remove_member(team, user):
                raise errors.NotFound(
                    f"user {user!r} is not a member of team {team!r}", reason="MEMBER_UNKNOWN"
                )
            await self._audit(tx, actor, "team.member.remove", f"{team}/{user}")

    async def set_quota(self, actor: Actor, team: str, quota_bytes: int) -> None:
        """Limit the bytes of the team's repositories (``<team>/...``); 0 removes the limit."""
        if quota_bytes < 0:
            raise errors.InvalidArgument("a quota cannot be negative", reason="QUOTA_INVALID")
        async with self._meta.write() as tx:
            if not await tx.set_quota(team, quota_bytes):
                raise not_found("team", team)
            await self._audit(tx, actor, "team.quota", team, str(quota_bytes))

    async def teams(self) -> list[Team]:
        async with self._meta.read() as tx:
            return await tx.list_teams()

    # -- robots -------------------------------------------------------------------------------

    async def create_robot(
        self, actor: Actor, team: str, name: str, ttl: float
    ) -> tuple[Robot, str]:
        """A robot of ``team`` and its secret, which is shown only now. ``ttl`` 0: no expiry."""
        check_account_name(name, "robot")
        if ttl < 0:
            raise errors.InvalidArgument("a robot's lifetime cannot be negative", reason="TTL")
        full = f"{team}{ROBOT_SEPARATOR}{name}"
        secret = new_robot_secret()
        now = self._clock()
        expires = now + ttl if ttl else 0.0
        async with self._meta.write() as tx:
            await self._need_team(tx, team)
            if await tx.robot_secret_hash(full) is not None:
                raise errors.AlreadyExists(f"robot {full!r} exists", reason="ROBOT_EXISTS")
            await tx.add_robot(team, full, hash_secret(secret), now, expires)
            await self._audit(tx, actor, "robot.create", full, f"expires_at={expires:.0f}")
        return Robot(full, team, now, expires, 0.0), secret

    async def revoke_robot(self, actor: Actor, name: str) -> None:
        """The robot's secret and every token it holds stop working at once."""
        async with self._meta.write() as tx:
            revoked = await tx.revoke_robot(name, self._clock())
            if not revoked and await tx.robot_secret_hash(name) is None:
                raise not_found("robot", name)
            await self._audit(tx, actor, "robot.revoke", name)

    async def delete_robot(self, actor: Actor, name: str) -> None:
        async with self._meta.write() as tx:
            if not await tx.delete_robot(name):
                raise not_found("robot", name)
            await self._audit(tx, actor, "robot.delete", name)

    async def robots(self, team: str | None) -> list[Robot]:
        async with self._meta.read() as tx:
            return await tx.list_robots(team)

    # -- grants and anonymous pull ------------------------------------------------------------

    async def grant(
        self, actor: Actor, kind: str, subject: str, pattern: str, actions: list[str]
    ) -> Grant:
        """Give ``subject`` exactly ``actions`` on ``pattern`` (replacing what it had there)."""
        grant = Grant(kind, subject, parse_pattern(pattern).text, check_actions(actions))
        if kind == "robot":
            team = subject.partition(ROBOT_SEPARATOR)[0]
            if not pattern.startswith(f"{team}/"):
                raise errors.InvalidArgument(
                    f"robot {subject!r} belongs to team {team!r}: its grants are on {team}/...",
                    reason="PATTERN_INVALID",
                )
        async with self._meta.write() as tx:
            await self._need_subject(tx, kind, subject)
            await tx.put_grant(grant, self._clock())
            detail = ",".join(grant.actions)
            await self._audit(tx, actor, "grant.set", f"{kind}:{subject} {pattern}", detail)
        return grant

    async def revoke_grant(self, actor: Actor, kind: str, subject: str, pattern: str) -> None:
        async with self._meta.write() as tx:
            if not await tx.delete_grant(kind, subject, pattern):
                raise errors.NotFound(
                    f"{kind} {subject!r} has no grant on {pattern!r}", reason="GRANT_UNKNOWN"
                )
            await self._audit(tx, actor, "grant.revoke", f"{kind}:{subject} {pattern}")

    async def grants(self) -> list[Grant]:
        async with self._meta.read() as tx:
            return await tx.list_grants()

    async def set_anonymous_pull(self, actor: Actor, pattern: str, on: bool) -> None:
        parse_pattern(pattern)
        async with self._meta.write() as tx:
            await tx.set_anonymous_pull(pattern, on, self._clock())
            await self._audit(tx, actor, "anonymous.pull", pattern, "on" if on else "off")

    async def anonymous_pull(self) -> list[str]:
        async with self._meta.read() as tx:
            return await tx.list_anonymous_pull()

    # -- retention ----------------------------------------------------------------------------

    async def set_retention(self, actor: Actor, rule: RetentionRule) -> None:
        parse_pattern(rule.pattern)
        if rule.keep_last < 0 or rule.keep_days < 0 or not (rule.keep_last or rule.keep_days):
            raise errors.InvalidArgument(
                "a retention rule keeps the last N tags, or the tags of the last D days, or "
                "both (N, D > 0)",
                reason="RETENTION_INVALID",
            )
        async with self._meta.write() as tx:
            await tx.put_retention(rule, self._clock())
            detail = f"keep_last={rule.keep_last} keep_days={rule.keep_days:g}"
            await self._audit(tx, actor, "retention.set", rule.pattern, detail)

    async def delete_retention(self, actor: Actor, pattern: str) -> None:
        async with self._meta.write() as tx:
            if not await tx.delete_retention(pattern):
                raise errors.NotFound(f"no retention rule on {pattern!r}", reason="RULE_UNKNOWN")
            await self._audit(tx, actor, "retention.delete", pattern)

    async def retention(self) -> list[RetentionRule]:
        async with self._meta.read() as tx:
            return await tx.list_retention()

    # -- audit --------------------------------------------------------------------------------

    async def record(self, entries: list[AuditEntry]) -> None:
        """Append what the data plane did (logins, pushes, deletions)."""
        if entries:
            async with self._meta.write() as tx:
                await tx.add_audit(entries)

    async def audit(self, since: float, actor: str, limit: int) -> list[AuditEntry]:
        async with self._meta.read() as tx:
            return await tx.list_audit(since, actor, max(1, min(limit, 10_000)))

    # -- helpers ------------------------------------------------------------------------------

    async def _audit(
        self, tx: MetadataTx, actor: Actor, action: str, target: str, detail: str = ""
    ) -> None:
        entry = AuditEntry(self._clock(), actor.name, action, target, "ok", actor.address, detail)
        await tx.add_audit([entry])
        await self._state.reload(tx)

    async def _need_team(self, tx: MetadataTx, team: str) -> None:
        if not await tx.team_exists(team):
            raise not_found("team", team)

    async def _need_subject(self, tx: MetadataTx, kind: str, subject: str) -> None:
        if kind not in SUBJECT_KINDS:
            raise errors.InvalidArgument(
                f"a grant's subject is a user, team or robot, not {kind!r}",
                reason="SUBJECT_INVALID",
            )
        if kind == "user" and await tx.user_password_hash(subject) is None:
            raise not_found("user", subject)
        if kind == "team":
            await self._need_team(tx, subject)
        if kind == "robot" and await tx.robot_secret_hash(subject) is None:
            raise not_found("robot", subject)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD or len(password.encode()) > 1024:
        raise errors.InvalidArgument(
            f"a password has {MIN_PASSWORD} to 1024 bytes", reason="PASSWORD_INVALID"
        )
