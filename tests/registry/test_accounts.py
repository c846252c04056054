"""Accounts, teams, robots and grants on a real registry.db, and logins and tokens on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.kit import errors
from services.kit.db import Database
from services.registry.domain.access_models import ANONYMOUS, Principal, RetentionRule
from services.registry.domain.accounts import AccessService, AccessState, Actor
from services.registry.domain.authn import Authenticator, AuthSettings
from services.registry.domain.scopes import parse_scopes
from services.registry.domain.throttle import LoginThrottle, LoginThrottled
from services.registry.store.migrations import MIGRATIONS
from services.registry.store.sqlite import SqliteMetadata

ROOT = Actor("root", "127.0.0.1")
PASSWORD = "correct-horse"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.meta = SqliteMetadata(db)
        self.clock = clock

    async def start(self, **settings: Any) -> None:
        self.state = await AccessState.load(self.meta)
        self.accounts = AccessService(self.meta, self.state, self.clock)
        self.throttle = LoginThrottle(per_account=3, per_address=10, window=60.0,
                                      clock=self.clock)  # fmt: skip
        self.auth = Authenticator(
            self.meta, self.state, self.accounts, AuthSettings(**settings), self.throttle,
            self.clock,
        )  # fmt: skip
        await self.auth.start()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = await Database.open(tmp_path / "registry.db", MIGRATIONS)
    w = World(db, Clock())
    await w.start()
    try:
        yield w
    finally:
        await db.close()


async def test_users_teams_robots_grants_and_their_audit(world: World) -> None:
    acc = world.accounts
    await acc.create_user(ROOT, "alice", PASSWORD, admin=False)
    with pytest.raises(errors.AlreadyExists):
        await acc.create_user(ROOT, "alice", PASSWORD, admin=False)
    with pytest.raises(errors.InvalidArgument):
        await acc.create_user(ROOT, "Alice!", PASSWORD, admin=False)
    with pytest.raises(errors.InvalidArgument):
        await acc.create_user(ROOT, "bob", "short", admin=False)
    await acc.create_team(ROOT, "team-a")
    await acc.add_member(ROOT, "team-a", "alice", "admin")
    with pytest.raises(errors.NotFound):
        await acc.add_member(ROOT, "team-a", "nobody", "member")
    with pytest.raises(errors.InvalidArgument):
        await acc.add_member(ROOT, "team-a", "alice", "owner")
    robot, secret = await acc.create_robot(ROOT, "team-a", "ci", ttl=3600)
    assert robot.name == "team-a+ci"
    assert robot.expires_at == world.clock.now + 3600
    await acc.grant(ROOT, "team", "team-a", "team-a/**", ["push", "pull"])
    await acc.grant(ROOT, "robot", "team-a+ci", "team-a/app", ["pull"])
    with pytest.raises(errors.InvalidArgument):
        await acc.grant(ROOT, "team", "team-a", "team-a/**", ["fly"])
    with pytest.raises(errors.InvalidArgument) as outside:
        await acc.grant(ROOT, "robot", "team-a+ci", "team-b/**", ["pull"])
    assert "team-a/" in outside.value.message
    with pytest.raises(errors.NotFound):
        await acc.grant(ROOT, "team", "team-z", "team-z/**", ["pull"])
    await acc.set_quota(ROOT, "team-a", 1 << 20)
    await acc.set_anonymous_pull(ROOT, "public/**", True)
    await acc.set_retention(ROOT, RetentionRule("team-a/**", 5, 0))

    users = await acc.users()
    assert [(u.name, u.teams) for u in users] == [("alice", ("team-a",))]
    (team,) = await acc.teams()
    assert team.quota_bytes == 1 << 20
    assert [(m.user, m.role) for m in team.members] == [("alice", "admin")]
    grants = await acc.grants()
    assert {(g.subject, g.pattern, g.actions) for g in grants} == {
        ("team-a", "team-a/**", ("pull", "push")),
        ("team-a+ci", "team-a/app", ("pull",)),
    }
    perms = world.state.permissions
    alice = perms.principal("user", "alice", world.clock.now)
    assert alice is not None
    assert perms.actions(alice, "team-a/x") == {"pull", "push"}

    actions = [e.action for e in await acc.audit(0, "root", 100)]
    assert actions == [
        "user.create", "team.create", "team.member.add", "robot.create", "grant.set",
        "grant.set", "team.quota", "anonymous.pull", "retention.set",
    ]  # fmt: skip

    await acc.delete_team(ROOT, "team-a")  # its robots and grants go with it
    assert await acc.robots(None) == []
    assert await acc.grants() == []
    assert (await acc.users())[0].teams == ()
    del secret


async def test_login_by_password_and_robot_secret(world: World) -> None:
    acc = world.accounts
    await acc.create_user(ROOT, "alice", PASSWORD, admin=False)
    await acc.create_team(ROOT, "team-a")
    _, secret = await acc.create_robot(ROOT, "team-a", "ci", ttl=60)
    alice = await world.auth.login("alice", PASSWORD, "10.0.0.1")
    assert (alice.kind, alice.name) == ("user", "alice")
    robot = await world.auth.login("team-a+ci", secret, "10.0.0.1")
    assert (robot.kind, robot.teams) == ("robot", frozenset({"team-a"}))
    with pytest.raises(errors.Unauthenticated):
        await world.auth.login("alice", "wrong-password", "10.0.0.1")
    with pytest.raises(errors.Unauthenticated):
        await world.auth.login("nobody", PASSWORD, "10.0.0.1")
    world.clock.now += 61
    with pytest.raises(errors.Unauthenticated):  # the robot has expired
        await world.auth.login("team-a+ci", secret, "10.0.0.1")
    outcomes = [(e.actor, e.outcome) for e in await acc.audit(0, "", 100) if e.action == "login"]
    assert outcomes == [
        ("alice", "ok"), ("team-a+ci", "ok"), ("alice", "failed"), ("nobody", "failed"),
        ("team-a+ci", "failed"),
    ]  # fmt: skip


async def test_repeated_failures_are_throttled_even_with_the_right_password(world: World) -> None:
    await world.accounts.create_user(ROOT, "alice", PASSWORD, admin=False)
    for _ in range(3):
        with pytest.raises(errors.Unauthenticated):
            await world.auth.login("alice", "guess-guess", "10.0.0.1")
    with pytest.raises(LoginThrottled):
        await world.auth.login("alice", PASSWORD, "10.0.0.2")
    world.clock.now += 61
    assert (await world.auth.login("alice", PASSWORD, "10.0.0.2")).name == "alice"


async def test_tokens_grant_exactly_what_is_held_and_follow_live_changes(world: World) -> None:
    acc, auth = world.accounts, world.auth
    await acc.create_user(ROOT, "alice", PASSWORD, admin=False)
    await acc.create_team(ROOT, "team-a")
    await acc.add_member(ROOT, "team-a", "alice", "member")
    await acc.grant(ROOT, "team", "team-a", "team-a/**", ["pull", "push"])
    alice = await auth.login("alice", PASSWORD, "10.0.0.1")
    scopes = parse_scopes(
        ["repository:team-a/app:pull,push,delete", "repository:other:pull", "registry:catalog:*"]
    )
    issued = await auth.issue(alice, scopes, offline=True)
    assert issued.access == [
        {"type": "repository", "name": "team-a/app", "actions": ["pull", "push"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    principal, claims = auth.from_token(issued.token)
    assert principal.name == "alice"
    assert claims.access[("repository", "team-a/app")] == {"pull", "push"}
    assert (await auth.from_refresh_token(issued.refresh_token)).name == "alice"
    with pytest.raises(errors.Unauthenticated):
        auth.from_token(issued.refresh_token)

    await acc.remove_member(ROOT, "team-a", "alice")  # the token stays valid, the grant is gone
    principal, _ = auth.from_token(issued.token)
    assert world.state.permissions.actions(principal, "team-a/app") == set()

    world.clock.now += 1
    await acc.set_password(ROOT, "alice", "another-password")
    with pytest.raises(errors.Unauthenticated):
        auth.from_token(issued.token)
    with pytest.raises(errors.Unauthenticated):
        await auth.from_refresh_token(issued.refresh_token)


async def test_revoked_robot_tokens_stop_and_rotation_keeps_tokens_in_flight(
    world: World,
) -> None:
    acc, auth = world.accounts, world.auth
    await acc.create_team(ROOT, "team-a")
    _, secret = await acc.create_robot(ROOT, "team-a", "ci", ttl=0)
    robot = await auth.login("team-a+ci", secret, "10.0.0.1")
    issued = await auth.issue(robot, [], offline=False)
    await auth.rotate_key()
    assert auth.from_token(issued.token)[0].name == "team-a+ci"  # signed by the retired key
    again = await auth.issue(robot, [], offline=False)
    assert again.token.split(".")[0] != issued.token.split(".")[0]
    await acc.revoke_robot(ROOT, "team-a+ci")
    for token in (issued.token, again.token):
        with pytest.raises(errors.Unauthenticated):
            auth.from_token(token)
    with pytest.raises(errors.Unauthenticated):
        await auth.login("team-a+ci", secret, "10.0.0.1")
    world.clock.now += 400  # past the token lifetime
    with pytest.raises(errors.Unauthenticated):
        auth.from_token(issued.token)


async def test_keys_rotate_when_due_and_old_ones_are_dropped(world: World) -> None:
    await world.start(key_rotation=100.0, token_ttl=10.0, refresh_ttl=50.0)
    auth = world.auth
    first = await auth.issue(await _anonymous(world), [], offline=False)
    world.clock.now += 101
    second = await auth.issue(await _anonymous(world), [], offline=False)
    assert first.token.split(".")[0] != second.token.split(".")[0]
    async with world.meta.read() as tx:
        assert len(await tx.signing_keys()) == 2
    world.clock.now += 101
    await auth.issue(await _anonymous(world), [], offline=False)
    async with world.meta.read() as tx:
        keys = await tx.signing_keys()
    assert len(keys) == 2  # the first, retired more than refresh_ttl ago, is gone


async def _anonymous(world: World) -> Principal:
    del world
    return ANONYMOUS
