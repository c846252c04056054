"""The pure parts of access control: patterns, decisions, scopes, tokens, passwords, throttling
and retention."""

from __future__ import annotations

import time

import pytest

from services.kit import errors
from services.registry.domain.access_models import (
    ANONYMOUS,
    AccessRows,
    Grant,
    Principal,
    RetentionRule,
    Robot,
)
from services.registry.domain.models import TagRow
from services.registry.domain.passwords import (
    hash_password,
    hash_secret,
    new_robot_secret,
    verify_password,
    verify_secret,
)
from services.registry.domain.patterns import most_specific, parse_pattern
from services.registry.domain.permissions import Permissions
from services.registry.domain.retention import DAY, expired_tags
from services.registry.domain.scopes import parse_scope, parse_scopes
from services.registry.domain.throttle import LoginThrottle, LoginThrottled
from services.registry.domain.tokens import KeyRing, new_key


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("team-a/**", "team-a/app", True),
        ("team-a/**", "team-a/app/web", True),
        ("team-a/**", "team-a", False),
        ("team-a/**", "team-ab/app", False),
        ("team-a/*", "team-a/app", True),
        ("team-a/*", "team-a/app/web", False),
        ("team-a/app-*", "team-a/app-web", True),
        ("shared/base", "shared/base", True),
        ("shared/base", "shared/base2", False),
        ("**", "anything/at/all", True),
        ("a.b/c", "aXb/c", False),
    ],
)
def test_patterns_match_names(pattern: str, name: str, matches: bool) -> None:
    assert parse_pattern(pattern).matches(name) is matches


@pytest.mark.parametrize("bad", ["", "Team/x", "a//b", "/a", "a/", "a b", "a/***", "../x"])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        parse_pattern(bad)
    assert caught.value.reason == "PATTERN_INVALID"


def test_the_most_specific_pattern_wins() -> None:
    rules = [(parse_pattern(p), p) for p in ["**", "team-a/**", "team-a/app", "team-a/app*"]]
    assert most_specific("team-a/app", rules) == ["team-a/app"]
    assert most_specific("team-a/app2", rules) == ["team-a/app*"]
    assert most_specific("team-a/x/y", rules) == ["team-a/**"]
    assert most_specific("other", rules) == ["**"]


def rows(**kw: object) -> AccessRows:
    base: dict[str, object] = {
        "users": {"alice": (False, 0.0), "bob": (False, 0.0), "root": (True, 0.0)},
        "memberships": {"alice": frozenset({"team-a"}), "bob": frozenset({"team-b"})},
        "robots": {"team-a+ci": Robot("team-a+ci", "team-a", 1.0, 0.0, 0.0)},
        "grants": [
            Grant("team", "team-a", "team-a/**", ("pull", "push", "overwrite", "delete")),
            Grant("team", "team-a", "team-a/frozen", ("pull",)),
            Grant("team", "team-b", "team-a/**", ("pull",)),
            Grant("user", "bob", "team-a/tools", ("pull", "push")),
            Grant("robot", "team-a+ci", "team-a/app", ("pull", "push")),
        ],
        "anonymous": ["public/**"],
    }
    base.update(kw)
    return AccessRows(**base)  # type: ignore[arg-type]


def test_decisions_follow_teams_users_robots_and_specificity() -> None:
    perms = Permissions(rows())
    now = time.time()
    alice = perms.principal("user", "alice", now)
    bob = perms.principal("user", "bob", now)
    ci = perms.principal("robot", "team-a+ci", now)
    root = perms.principal("user", "root", now)
    assert alice is not None
    assert bob is not None
    assert ci is not None
    assert root is not None
    assert perms.actions(alice, "team-a/app") == {"pull", "push", "overwrite", "delete"}
    assert perms.actions(alice, "team-a/frozen") == {"pull"}  # the exact rule wins
    assert perms.actions(alice, "team-b/app") == set()
    assert perms.actions(bob, "team-a/app") == {"pull"}
    assert perms.actions(bob, "team-a/tools") == {"pull", "push"}
    assert perms.actions(ci, "team-a/app") == {"pull", "push"}
    assert perms.actions(ci, "team-a/other") == set()  # a robot holds only its own grants
    assert perms.actions(root, "anything") == {"pull", "push", "overwrite", "delete"}
    assert perms.actions(ANONYMOUS, "public/x") == {"pull"}
    assert perms.actions(ANONYMOUS, "team-a/app") == set()
    assert perms.actions(bob, "public/x") == {"pull"}
    assert perms.principal("user", "nobody", now) is None


def test_revoked_and_expired_robots_are_no_principals() -> None:
    now = time.time()
    robots = {
        "t+revoked": Robot("t+revoked", "t", 1.0, 0.0, now - 5),
        "t+expired": Robot("t+expired", "t", 1.0, now - 1, 0.0),
        "t+fine": Robot("t+fine", "t", 1.0, now + 60, 0.0),
    }
    perms = Permissions(rows(robots=robots))
    assert perms.principal("robot", "t+revoked", now) is None
    assert perms.principal("robot", "t+expired", now) is None
    assert perms.principal("robot", "t+fine", now) == Principal("robot", "t+fine", False,
                                                                 frozenset({"t"}))  # fmt: skip


@pytest.mark.parametrize(
    ("text", "kind", "name", "actions"),
    [
        ("repository:team-a/app:pull,push", "repository", "team-a/app", ("pull", "push")),
        ("repository:a:*", "repository", "a", ("*",)),
        ("repository(plugin):a:pull", "repository", "a", ("pull",)),
        ("registry:catalog:*", "registry", "catalog", ("*",)),
    ],
)
def test_scopes_parse(text: str, kind: str, name: str, actions: tuple[str, ...]) -> None:
    scope = parse_scope(text)
    assert (scope.type, scope.name, scope.actions) == (kind, name, actions)


@pytest.mark.parametrize(
    "bad",
    [
        "repository",
        "repository:a",
        "repository:a:",
        "repository::pull",
        "repository:A:pull",
        "repository:../x:pull",
        "repository:a:fly",
        "registry:catalog:pull",
        "registry:other:*",
        "bucket:a:pull",
    ],
)
def test_malformed_scopes_are_scope_invalid(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        parse_scope(bad)
    assert caught.value.reason == "SCOPE_INVALID"


def test_several_scopes_in_one_parameter() -> None:
    got = parse_scopes(["repository:a:pull repository:b:push", "registry:catalog:*"])
    assert [s.name for s in got] == ["a", "b", "catalog"]


def test_tokens_verify_across_a_rotation_and_not_after_tampering() -> None:
    old = new_key(100.0)
    ring = KeyRing([old])
    claims = {"iss": "i", "aud": "s", "sub": "alice", "kind": "user", "use": "access",
              "iat": 1000.0, "exp": 2000.0, "access": [
                  {"type": "repository", "name": "a", "actions": ["pull"]}]}  # fmt: skip
    token = ring.sign(claims)
    rotated = new_key(200.0)
    ring.replace([old.__class__(old.kid, old.secret, old.created_at, 200.0), rotated])
    assert ring.current == rotated
    got = ring.verify(token, audience="s", issuer="i", now=1500.0)
    assert got.access == {("repository", "a"): frozenset({"pull"})}
    assert ring.sign(claims).split(".")[0] != token.split(".")[0]  # another kid signs now
    with pytest.raises(errors.Unauthenticated):
        ring.verify(token, audience="s", issuer="i", now=2000.0)  # expired
    with pytest.raises(errors.Unauthenticated):
        ring.verify(token, audience="other", issuer="i", now=1500.0)
    head, body, sig = token.split(".")
    with pytest.raises(errors.Unauthenticated):
        ring.verify(f"{head}.{body}x.{sig}", audience="s", issuer="i", now=1500.0)
    ring.replace([rotated])  # the old key dropped: its tokens stop verifying
    with pytest.raises(errors.Unauthenticated):
        ring.verify(token, audience="s", issuer="i", now=1500.0)
    for junk in ["", "a.b", "a.b.c", "....."]:
        with pytest.raises(errors.Unauthenticated):
            ring.verify(junk, audience="s", issuer="i", now=1500.0)


def test_passwords_are_salted_scrypt_and_secrets_sha256() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("scrypt$16384$8$1$")
    assert hashed != hash_password("correct horse")
    assert verify_password("correct horse", hashed)
    assert not verify_password("wrong horse", hashed)
    assert not verify_password("x", "not-a-hash")
    secret = new_robot_secret()
    assert verify_secret(secret, hash_secret(secret))
    assert not verify_secret(secret + "x", hash_secret(secret))


def test_throttle_per_account_and_per_address() -> None:
    now = [0.0]
    throttle = LoginThrottle(per_account=3, per_address=5, window=60.0, clock=lambda: now[0])
    for _ in range(3):
        throttle.check("alice", "10.0.0.1")
        throttle.failed("alice", "10.0.0.1")
    with pytest.raises(LoginThrottled) as caught:
        throttle.check("alice", "10.0.0.2")
    assert caught.value.retry_after == 60
    throttle.check("bob", "10.0.0.1")  # the address has 3 of 5
    throttle.failed("bob", "10.0.0.1")
    throttle.failed("carol", "10.0.0.1")
    with pytest.raises(LoginThrottled):
        throttle.check("dave", "10.0.0.1")  # the address is spent, whatever the account
    now[0] = 61.0
    throttle.check("alice", "10.0.0.1")  # the window moved on
    throttle.failed("bob", "10.0.0.3")
    throttle.succeeded("bob")
    throttle.check("bob", "10.0.0.3")


def test_retention_keeps_last_n_or_recent_days_under_the_most_specific_rule() -> None:
    now = 100 * DAY
    tags = [TagRow(1, "team-a/app", f"v{i}", f"d{i}", now - (10 - i) * DAY) for i in range(10)]
    tags += [TagRow(2, "team-a/keep", "old", "x", 0.0), TagRow(3, "other/x", "old", "y", 0.0)]
    rules = [
        RetentionRule("team-a/**", keep_last=3, keep_days=0),
        RetentionRule("team-a/keep", keep_last=0, keep_days=365 * 1000),
    ]
    gone = expired_tags(tags, rules, now)
    assert [t.name for t in gone] == [f"v{i}" for i in range(7)]
    by_days = expired_tags(tags, [RetentionRule("team-a/app", 2, 5.5)], now)
    assert [t.name for t in by_days] == ["v0", "v1", "v2", "v3", "v4"]  # v5 is 5 days old
    assert expired_tags(tags, [], now) == []
