"""The authorization decision: what a principal may do on one repository.

``Permissions`` is an immutable snapshot of users, memberships, robots, grants and anonymous
pull patterns, rebuilt whenever an administrator changes one of them (this process is the only
writer of registry.db, so the snapshot is never stale). A decision looks at the grants of the
principal itself and, for a user, of its teams; among those covering the repository the most
specific pattern wins and the actions of its grants (several subjects may share a pattern) are
united. Anonymous pull patterns add ``pull`` for everybody. Administrators may do everything.
Decisions are memoized per (principal, repository) for the life of the snapshot, which keeps a
request's authorization to a dictionary look-up.
"""

from __future__ import annotations

from services.registry.domain.access_models import (
    ACTIONS,
    ANONYMOUS,
    PULL,
    AccessRows,
    Principal,
)
from services.registry.domain.patterns import Pattern, most_specific, parse_pattern

ALL = frozenset(ACTIONS)
NOTHING: frozenset[str] = frozenset()
_CACHE_LIMIT = 100_000


class Permissions:
    def __init__(self, rows: AccessRows) -> None:
        self.rows = rows
        self._by_subject: dict[tuple[str, str], list[tuple[Pattern, frozenset[str]]]] = {}
        for grant in rows.grants:
            key = (grant.subject_kind, grant.subject)
            entry = (parse_pattern(grant.pattern), frozenset(grant.actions))
            self._by_subject.setdefault(key, []).append(entry)
        self._anonymous = [parse_pattern(p) for p in rows.anonymous]
        self._memo: dict[tuple[Principal, str], frozenset[str]] = {}

    def principal(self, kind: str, name: str, now: float) -> Principal | None:
        """The live principal for a user or robot name; None if gone, revoked or expired."""
        if kind == "user":
            user = self.rows.users.get(name)
            if user is None:
                return None
            return Principal("user", name, user[0], self.rows.memberships.get(name, frozenset()))
        if kind == "robot":
            robot = self.rows.robots.get(name)
            if robot is None or not robot.usable(now):
                return None
            return Principal("robot", name, False, frozenset({robot.team}))
        if kind == "anonymous":
            return ANONYMOUS
        return None

    def tokens_after(self, principal: Principal) -> float:
        """Tokens issued to ``principal`` before this time are no longer honoured."""
        if principal.kind == "user":
            user = self.rows.users.get(principal.name)
            return user[1] if user else float("inf")
        if principal.kind == "robot":
            robot = self.rows.robots.get(principal.name)
            return robot.created_at if robot else float("inf")
        return 0.0

    def actions(self, principal: Principal, repository: str) -> frozenset[str]:
        """What ``principal`` may do on ``repository``."""
        key = (principal, repository)
        found = self._memo.get(key)
        if found is None:
            found = self._decide(principal, repository)
            if len(self._memo) >= _CACHE_LIMIT:
                self._memo.clear()
            self._memo[key] = found
        return found

    def allows(self, principal: Principal, repository: str, action: str) -> bool:
        return action in self.actions(principal, repository)

    def _decide(self, principal: Principal, repository: str) -> frozenset[str]:
        if principal.admin:
            return ALL
        held: set[str] = set()
        if any(p.matches(repository) for p in self._anonymous):
            held.add(PULL)
        candidates: list[tuple[Pattern, frozenset[str]]] = []
        if principal.kind == "user":
            candidates += self._by_subject.get(("user", principal.name), [])
            for team in principal.teams:
                candidates += self._by_subject.get(("team", team), [])
        elif principal.kind == "robot":
            candidates += self._by_subject.get(("robot", principal.name), [])
        for actions in most_specific(repository, candidates):
            held |= actions
        return frozenset(held) if held else NOTHING
