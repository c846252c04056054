"""SQL of who may do what: users, teams, robots, grants, anonymous pull, retention rules,
signing keys, the audit log, and the per-team figures quotas need."""

from __future__ import annotations

from collections.abc import Sequence

from services.kit.db import Row, Tx
from services.registry.domain.access_models import (
    AccessRows,
    AuditEntry,
    Grant,
    Member,
    RetentionRule,
    Robot,
    SigningKey,
    Team,
    User,
)
from services.registry.domain.models import TagRow

_IN_TEAM = "substr(r.name, 1, length(?1) + 1) = ?1 || '/'"


def _robot(r: Row) -> Robot:
    return Robot(
        name=r["name"],
        team=r["team"],
        created_at=float(r["created_at"]),
        expires_at=float(r["expires_at"]),
        revoked_at=float(r["revoked_at"]),
    )


_ROBOTS = (
    "SELECT r.name, t.name AS team, r.created_at, r.expires_at, r.revoked_at "
    "FROM robots r JOIN teams t ON t.id = r.team_id"
)


class AccessSql:
    _tx: Tx

    # -- users --------------------------------------------------------------------------------

    async def add_user(self, name: str, password_hash: str, admin: bool, now: float) -> None:
        await self._tx.execute(
            "INSERT INTO users (name, password_hash, admin, created_at) VALUES (?, ?, ?, ?)",
            (name, password_hash, int(admin), now),
        )

    async def user_password_hash(self, name: str) -> str | None:
        value = await self._tx.scalar("SELECT password_hash FROM users WHERE name = ?", (name,))
        return None if value is None else str(value)

    async def set_password(self, name: str, password_hash: str, tokens_after: float) -> bool:
        changed = await self._tx.execute(
            "UPDATE users SET password_hash = ?, tokens_after = ? WHERE name = ?",
            (password_hash, tokens_after, name),
        )
        return changed > 0

    async def set_admin(self, name: str, admin: bool) -> bool:
        changed = await self._tx.execute(
            "UPDATE users SET admin = ? WHERE name = ?", (int(admin), name)
        )
        return changed > 0

    async def delete_user(self, name: str) -> bool:
        await self._tx.execute(
            "DELETE FROM grants WHERE subject_kind = 'user' AND subject = ?", (name,)
        )
        return await self._tx.execute("DELETE FROM users WHERE name = ?", (name,)) > 0

    async def list_users(self) -> list[User]:
        rows = await self._tx.fetchall(
            "SELECT u.name, u.admin, u.created_at, group_concat(t.name, ',') AS teams "
            "FROM users u LEFT JOIN team_members m ON m.user_id = u.id "
            "LEFT JOIN teams t ON t.id = m.team_id GROUP BY u.id ORDER BY u.name"
        )
        return [
            User(
                name=r["name"],
                admin=bool(r["admin"]),
                created_at=float(r["created_at"]),
                teams=tuple(sorted(r["teams"].split(","))) if r["teams"] else (),
            )
            for r in rows
        ]

    # -- teams --------------------------------------------------------------------------------

    async def add_team(self, name: str, now: float) -> None:
        await self._tx.execute("INSERT INTO teams (name, created_at) VALUES (?, ?)", (name, now))

    async def team_exists(self, name: str) -> bool:
        return await self._tx.scalar("SELECT 1 FROM teams WHERE name = ?", (name,)) is not None

    async def delete_team(self, name: str) -> bool:
        tx = self._tx
        await tx.execute(
            "DELETE FROM grants WHERE (subject_kind = 'team' AND subject = ?1) OR "
            "(subject_kind = 'robot' AND substr(subject, 1, length(?1) + 1) = ?1 || '+')",
            (name,),
        )
        return await tx.execute("DELETE FROM teams WHERE name = ?", (name,)) > 0

    async def set_member(self, team: str, user: str, role: str, now: float) -> bool:
        changed = await self._tx.execute(
            "INSERT INTO team_members (team_id, user_id, role, added_at) "
            "SELECT t.id, u.id, ?, ? FROM teams t, users u WHERE t.name = ? AND u.name = ? "
            "ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role",
            (role, now, team, user),
        )
        return changed > 0

    async def remove_member(self, team: str, user: str) -> bool:
        changed = await self._tx.execute(
            "DELETE FROM team_members WHERE team_id = (SELECT id FROM teams WHERE name = ?) "
            "AND user_id = (SELECT id FROM users WHERE name = ?)",
            (team, user),
        )
        return changed > 0

    async def set_quota(self, team: str, quota_bytes: int) -> bool:
        changed = await self._tx.execute(
            "UPDATE teams SET quota_bytes = ? WHERE name = ?", (quota_bytes, team)
        )
        return changed > 0

    async def list_teams(self) -> list[Team]:
        teams = await self._tx.fetchall(
            "SELECT id, name, quota_bytes, created_at FROM teams ORDER BY name"
        )
        members = await self._tx.fetchall(
            "SELECT m.team_id, u.name, m.role FROM team_members m "
            "JOIN users u ON u.id = m.user_id ORDER BY u.name"
        )
        by_team: dict[int, list[Member]] = {}
        for row in members:
            by_team.setdefault(int(row[0]), []).append(Member(row[1], row[2]))
        return [
            Team(
                name=t["name"],
                quota_bytes=int(t["quota_bytes"]),
                created_at=float(t["created_at"]),
                members=tuple(by_team.get(int(t["id"]), [])),
                used_bytes=await self.team_usage(t["name"]),
            )
            for t in teams
        ]

    # -- robots -------------------------------------------------------------------------------

    async def add_robot(
        self, team: str, name: str, secret_hash: str, now: float, expires_at: float
    ) -> None:
        await self._tx.execute(
            "INSERT INTO robots (team_id, name, secret_hash, created_at, expires_at) "
            "SELECT id, ?, ?, ?, ? FROM teams WHERE name = ?",
            (name, secret_hash, now, expires_at, team),
        )

    async def robot_secret_hash(self, name: str) -> str | None:
        value = await self._tx.scalar("SELECT secret_hash FROM robots WHERE name = ?", (name,))
        return None if value is None else str(value)

    async def revoke_robot(self, name: str, now: float) -> bool:
        changed = await self._tx.execute(
            "UPDATE robots SET revoked_at = ? WHERE name = ? AND revoked_at = 0", (now, name)
        )
        return changed > 0

    async def delete_robot(self, name: str) -> bool:
        await self._tx.execute(
            "DELETE FROM grants WHERE subject_kind = 'robot' AND subject = ?", (name,)
        )
        return await self._tx.execute("DELETE FROM robots WHERE name = ?", (name,)) > 0

    async def list_robots(self, team: str | None) -> list[Robot]:
        rows = await self._tx.fetchall(
            f"{_ROBOTS} WHERE ?1 IS NULL OR t.name = ?1 ORDER BY r.name", (team,)
        )
        return [_robot(r) for r in rows]

    # -- grants, anonymous pull, retention ----------------------------------------------------

    async def put_grant(self, grant: Grant, now: float) -> None:
        await self._tx.execute(
            "INSERT INTO grants (subject_kind, subject, pattern, actions, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject_kind, subject, pattern) "
            "DO UPDATE SET actions = excluded.actions",
            (grant.subject_kind, grant.subject, grant.pattern, ",".join(grant.actions), now),
        )

    async def delete_grant(self, kind: str, subject: str, pattern: str) -> bool:
        changed = await self._tx.execute(
            "DELETE FROM grants WHERE subject_kind = ? AND subject = ? AND pattern = ?",
            (kind, subject, pattern),
        )
        return changed > 0

    async def list_grants(self) -> list[Grant]:
        rows = await self._tx.fetchall(
            "SELECT subject_kind, subject, pattern, actions, created_at FROM grants "
            "ORDER BY pattern, subject_kind, subject"
        )
        return [
            Grant(r[0], r[1], r[2], tuple(a for a in r[3].split(",") if a), float(r[4]))
            for r in rows
        ]

    async def set_anonymous_pull(self, pattern: str, on: bool, now: float) -> bool:
        if on:
            sql = "INSERT OR IGNORE INTO anonymous_pull (pattern, created_at) VALUES (?, ?)"
            return await self._tx.execute(sql, (pattern, now)) > 0
        return (
            await self._tx.execute("DELETE FROM anonymous_pull WHERE pattern = ?", (pattern,)) > 0
        )

    async def list_anonymous_pull(self) -> list[str]:
        rows = await self._tx.fetchall("SELECT pattern FROM anonymous_pull ORDER BY pattern")
        return [str(r[0]) for r in rows]

    async def put_retention(self, rule: RetentionRule, now: float) -> None:
        await self._tx.execute(
            "INSERT INTO retention (pattern, keep_last, keep_days, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (pattern) DO UPDATE SET "
            "keep_last = excluded.keep_last, keep_days = excluded.keep_days",
            (rule.pattern, rule.keep_last, rule.keep_days, now),
        )

    async def delete_retention(self, pattern: str) -> bool:
        return await self._tx.execute("DELETE FROM retention WHERE pattern = ?", (pattern,)) > 0

    async def list_retention(self) -> list[RetentionRule]:
        rows = await self._tx.fetchall(
            "SELECT pattern, keep_last, keep_days FROM retention ORDER BY pattern"
        )
        return [RetentionRule(r[0], int(r[1]), float(r[2])) for r in rows]

    # -- what authorization decides on --------------------------------------------------------

    async def access_rows(self) -> AccessRows:
        tx = self._tx
        users = await tx.fetchall("SELECT name, admin, tokens_after FROM users")
        members = await tx.fetchall(
            "SELECT u.name, t.name FROM team_members m JOIN users u ON u.id = m.user_id "
            "JOIN teams t ON t.id = m.team_id"
        )
        memberships: dict[str, set[str]] = {}
        for user, team in members:
            memberships.setdefault(user, set()).add(team)
        robots = [_robot(r) for r in await tx.fetchall(_ROBOTS)]
        return AccessRows(
            users={r[0]: (bool(r[1]), float(r[2])) for r in users},
            memberships={u: frozenset(t) for u, t in memberships.items()},
            robots={r.name: r for r in robots},
            grants=await self.list_grants(),
            anonymous=await self.list_anonymous_pull(),
        )

    # -- signing keys -------------------------------------------------------------------------

    async def signing_keys(self) -> list[SigningKey]:
        rows = await self._tx.fetchall(
            "SELECT kid, secret, created_at, retired_at FROM signing_keys ORDER BY created_at"
        )
        return [SigningKey(r[0], bytes(r[1]), float(r[2]), float(r[3])) for r in rows]

    async def add_signing_key(self, key: SigningKey) -> None:
        await self._tx.execute(
            "UPDATE signing_keys SET retired_at = ? WHERE retired_at = 0", (key.created_at,)
        )
        await self._tx.execute(
            "INSERT INTO signing_keys (kid, secret, created_at) VALUES (?, ?, ?)",
            (key.kid, key.secret, key.created_at),
        )

    async def drop_signing_keys(self, retired_before: float) -> int:
        return await self._tx.execute(
            "DELETE FROM signing_keys WHERE retired_at > 0 AND retired_at < ?", (retired_before,)
        )

    # -- audit --------------------------------------------------------------------------------

    async def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        await self._tx.executemany(
            "INSERT INTO audit (at, actor, action, target, outcome, address, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(e.at, e.actor, e.action, e.target, e.outcome, e.address, e.detail) for e in entries],
        )

    async def list_audit(self, since: float, actor: str, limit: int) -> list[AuditEntry]:
        rows = await self._tx.fetchall(
            "SELECT id, at, actor, action, target, outcome, address, detail FROM audit "
            "WHERE at >= ?1 AND (?2 = '' OR actor = ?2) ORDER BY id DESC LIMIT ?3",
            (since, actor, limit),
        )
        return [
            AuditEntry(
                id=int(r[0]),
                at=float(r[1]),
                actor=r[2],
                action=r[3],
                target=r[4],
                outcome=r[5],
                address=r[6],
                detail=r[7],
            )
            for r in reversed(rows)
        ]

    # -- quotas and retention -----------------------------------------------------------------

    async def team_quota(self, team: str) -> int:
        value = await self._tx.scalar("SELECT quota_bytes FROM teams WHERE name = ?", (team,))
        return 0 if value is None else int(value)

    async def team_usage(self, team: str) -> int:
        """Bytes of the team's repositories: each blob once, plus the manifests."""
        blobs = await self._tx.scalar(
            "SELECT coalesce(sum(size), 0) FROM blobs WHERE digest IN ("
            f"SELECT l.digest FROM repo_blobs l JOIN repositories r ON r.id = l.repo_id "
            f"WHERE {_IN_TEAM})",
            (team,),
        )
        manifests = await self._tx.scalar(
            "SELECT coalesce(sum(length(m.content)), 0) FROM manifests m "
            f"JOIN repositories r ON r.id = m.repo_id WHERE {_IN_TEAM}",
            (team,),
        )
        return int(blobs) + int(manifests)

    async def team_has_blob(self, team: str, digest: str) -> bool:
        found = await self._tx.scalar(
            "SELECT 1 FROM repo_blobs l JOIN repositories r ON r.id = l.repo_id "
            f"WHERE l.digest = ?2 AND {_IN_TEAM} LIMIT 1",
            (team, digest),
        )
        return found is not None

    async def all_tags(self) -> list[TagRow]:
        rows = await self._tx.fetchall(
            "SELECT t.repo_id, r.name, t.name, t.digest, t.updated_at FROM tags t "
            "JOIN repositories r ON r.id = t.repo_id"
        )
        return [TagRow(int(r[0]), r[1], r[2], r[3], float(r[4])) for r in rows]

    async def delete_tags(self, keys: Sequence[tuple[int, str]]) -> None:
        await self._tx.executemany("DELETE FROM tags WHERE repo_id = ? AND name = ?", list(keys))
