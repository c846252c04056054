"""estiba's registry with auth on, as a team uses it: an operator creates users, teams, robots
and grants with ``estiba registry ...``; people log in with ``estiba login`` or ``docker login``
(the engine checks the credentials with the registry's token service) and push and pull through
the engine, which follows the registry's Bearer challenge; the registry refuses what the grants
do not allow, and the audit log shows it all."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import EstibaInstance, _new_instance, _teardown

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the engine needs root")
PASSWORD = "team-a-pass"


@dataclasses.dataclass
class AuthInstance(EstibaInstance):
    """An instance whose registry requires credentials."""

    @property
    def isolation(self) -> dict[str, str]:
        return {**super().isolation, "ESTIBA_REGISTRY_AUTH": "true"}


@pytest.fixture(scope="module")
def secured() -> Iterator[AuthInstance]:
    plain, base = _new_instance()
    inst = AuthInstance(plain.root, plain.run_dir, plain.registry_addr)
    inst.up()
    try:
        for user in ("alice", "bob"):
            inst.estiba("registry", "user", "add", user, "-p", PASSWORD)
        inst.estiba("registry", "team", "add", "team-a")
        inst.estiba("registry", "team", "add-member", "team-a", "alice", "--role", "admin")
        inst.estiba("registry", "grant", "set", "team:team-a", "team-a/**", "pull,push,delete")
        inst.estiba("registry", "grant", "set", "user:bob", "team-a/**", "pull")
        inst.estiba("registry", "anonymous", "on", "public/**")
        yield inst
    finally:
        _teardown(inst, base)


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ESTIBA_CONFIG_DIR", str(tmp_path / "cfg"))
    return tmp_path / "cfg"


def test_login_push_pull_and_refusals_through_the_engine(
    secured: AuthInstance, config_dir: Path
) -> None:
    inst = secured
    reg = inst.registry_addr
    ref = f"{reg}/team-a/bb:1"
    inst.estiba("tag", "busybox", ref)
    anonymous = inst.estiba("push", ref, check=False)
    assert anonymous.returncode != 0
    assert "401" in anonymous.stderr or "unauthorized" in anonymous.stderr.lower()

    wrong = inst.estiba("login", "-u", "alice", "-p", "not-the-password", reg, check=False)
    assert wrong.returncode != 0
    assert "refused" in wrong.stderr
    assert "Login Succeeded" in inst.estiba("login", "-u", "alice", "-p", PASSWORD, reg).stdout
    assert "digest: sha256:" in inst.estiba("push", ref).stdout
    inst.estiba("rmi", ref)
    inst.estiba("pull", ref)
    assert inst.estiba("registry", "tags", "team-a/bb").stdout.split() == ["1"]

    inst.estiba("logout", reg)
    assert "Login Succeeded" in inst.estiba("login", "-u", "bob", "-p", PASSWORD, reg).stdout
    inst.estiba("rmi", ref)
    inst.estiba("pull", ref)  # bob may pull team-a ...
    inst.estiba("tag", "busybox", f"{reg}/team-a/bb:bob")
    denied = inst.estiba("push", f"{reg}/team-a/bb:bob", check=False)  # ... but not push there
    assert denied.returncode != 0
    assert "denied" in denied.stderr.lower() or "may not" in denied.stderr
    inst.estiba("rmi", f"{reg}/team-a/bb:bob")

    entries = json.loads(inst.estiba("registry", "audit", "--format", "json").stdout)["entries"]
    seen = {(e["actor"], e["action"], e["target"], e["outcome"]) for e in entries}
    assert ("alice", "push", "team-a/bb:1", "ok") in seen
    assert ("bob", "push", "team-a/bb:bob", "denied") in seen
    assert ("alice", "login", "", "failed") in seen
    assert ("admin", "grant.set", "user:bob team-a/**", "ok") in seen


def test_docker_cli_login_push_pull(secured: AuthInstance) -> None:
    inst = secured
    reg = inst.registry_addr
    ref = f"{reg}/team-a/docker:1"
    login = inst.docker("login", "-u", "alice", "-p", PASSWORD, reg, check=False)
    assert login.returncode == 0, login.stderr
    inst.docker("tag", "busybox", ref)
    pushed = inst.docker("push", ref)
    assert "digest: sha256:" in pushed.stdout
    inst.docker("rmi", ref)
    assert ref in inst.docker("pull", ref).stdout
    inst.docker("rmi", ref)
    inst.docker("logout", reg)
    refused = inst.docker("pull", ref, check=False)
    assert refused.returncode != 0
    bad = inst.docker("login", "-u", "alice", "-p", "wrong-password", reg, check=False)
    assert bad.returncode != 0


def test_robot_push_then_revoked(secured: AuthInstance, config_dir: Path) -> None:
    inst = secured
    reg = inst.registry_addr
    made = json.loads(
        inst.estiba("registry", "robot", "add", "team-a", "ci", "--expires", "1h",
                    "--format", "json").stdout
    )  # fmt: skip
    name, secret = made["robot"]["name"], made["secret"]
    assert name == "team-a+ci"
    inst.estiba("registry", "grant", "set", f"robot:{name}", "team-a/ci-*", "pull,push")
    assert "Login Succeeded" in inst.estiba("login", "-u", name, "-p", secret, reg).stdout
    ref = f"{reg}/team-a/ci-app:1"
    inst.estiba("tag", "busybox", ref)
    inst.estiba("push", ref)
    other = f"{reg}/team-a/other:1"
    inst.estiba("tag", "busybox", other)
    assert inst.estiba("push", other, check=False).returncode != 0
    inst.estiba("registry", "robot", "revoke", name)
    inst.estiba("rmi", ref)
    gone = inst.estiba("pull", ref, check=False)
    assert gone.returncode != 0
    assert inst.estiba("login", "-u", name, "-p", secret, reg, check=False).returncode != 0
    listed = inst.estiba("registry", "robot", "ls").stdout
    assert "team-a+ci" in listed
    assert "revoked" in listed
    inst.estiba("rmi", other)


def test_admin_cli_errors_are_clear(secured: AuthInstance) -> None:
    inst = secured
    dup = inst.estiba("registry", "user", "add", "alice", "-p", PASSWORD, check=False)
    assert dup.returncode != 0
    assert "exists" in dup.stderr
    bad = inst.estiba("registry", "grant", "set", "team:team-a", "Team/**", "pull", check=False)
    assert bad.returncode != 0
    assert "pattern" in bad.stderr
    unknown = inst.estiba("registry", "grant", "set", "team:nope", "x/**", "pull", check=False)
    assert unknown.returncode != 0
    assert "does not exist" in unknown.stderr
    short = inst.estiba("registry", "user", "add", "dave", "-p", "short", check=False)
    assert short.returncode != 0
    grants = inst.estiba("registry", "grant", "ls").stdout
    assert "team:team-a" in grants
    assert "pull,push,delete" in grants
    teams = inst.estiba("registry", "team", "ls").stdout
    assert "alice(admin)" in teams
    no_tls = inst.estiba("registry", "ca", check=False)
    assert no_tls.returncode != 0
    assert "plain HTTP" in no_tls.stderr


def test_quota_refuses_a_push_through_the_engine(secured: AuthInstance, config_dir: Path) -> None:
    inst = secured
    reg = inst.registry_addr
    inst.estiba("registry", "team", "add", "small")
    inst.estiba("registry", "team", "add-member", "small", "alice")
    inst.estiba("registry", "grant", "set", "team:small", "small/**", "pull,push")
    assert "1KiB" in inst.estiba("registry", "quota", "set", "small", "1KiB").stdout
    inst.estiba("login", "-u", "alice", "-p", PASSWORD, reg)
    ref = f"{reg}/small/bb:1"
    inst.estiba("tag", "busybox", ref)
    refused = inst.estiba("push", ref, check=False)
    assert refused.returncode != 0
    assert "quota exceeded" in refused.stderr
    assert inst.estiba("registry", "tags", "small/bb", check=False).stdout.split() == []
    assert "small" in inst.estiba("registry", "quota", "ls").stdout
    inst.estiba("registry", "quota", "set", "small", "0")
    assert "digest: sha256:" in inst.estiba("push", ref).stdout
    inst.estiba("rmi", ref)
