"""estiba.registry.v1.Access over a real gRPC channel: answers, errors with their codes and
reasons, and what the HTTP API does once the rules change."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable

import grpc
import pytest

from estiba.registry.v1 import access_pb2 as pb
from estiba.registry.v1 import access_pb2_grpc
from tests.registry.conftest import Running, StartRegistry
from tests.registry.helpers import Client
from tests.registry.secured import basic
from tests.registry.test_grpc_admin import reason

PASSWORD = "grpc-password"


async def test_access_rpcs_and_their_errors(registry: Running) -> None:
    stub = access_pb2_grpc.AccessStub(registry.channel)
    made = await stub.CreateUser(pb.CreateUserRequest(name="alice", password=PASSWORD), timeout=10)
    assert (made.user.name, made.user.admin) == ("alice", False)
    await stub.CreateTeam(pb.CreateTeamRequest(name="team-a"), timeout=10)
    await stub.AddMember(pb.AddMemberRequest(team="team-a", user="alice"), timeout=10)
    robot = await stub.CreateRobot(
        pb.CreateRobotRequest(team="team-a", name="ci", ttl_seconds=3600), timeout=10
    )
    assert robot.robot.name == "team-a+ci"
    assert robot.robot.expires_at.endswith("Z")
    assert robot.secret.startswith("estiba_robot_")
    grant = pb.Grant(subject_kind="team", subject="team-a", pattern="team-a/**",
                     actions=["push", "pull", "push"])  # fmt: skip
    stored = await stub.SetGrant(pb.SetGrantRequest(grant=grant), timeout=10)
    assert list(stored.grant.actions) == ["pull", "push"]
    await stub.SetQuota(pb.SetQuotaRequest(team="team-a", quota_bytes=1 << 20), timeout=10)
    teams = (await stub.ListTeams(pb.ListTeamsRequest(), timeout=10)).teams
    assert [(t.name, t.quota_bytes, [m.user for m in t.members]) for t in teams] == [
        ("team-a", 1 << 20, ["alice"])
    ]
    users = (await stub.ListUsers(pb.ListUsersRequest(), timeout=10)).users
    assert [(u.name, list(u.teams)) for u in users] == [("alice", ["team-a"])]
    audit = (await stub.ListAudit(pb.ListAuditRequest(actor="admin"), timeout=10)).entries
    assert [e.action for e in audit] == [
        "user.create", "team.create", "team.member.add", "robot.create", "grant.set",
        "team.quota",
    ]  # fmt: skip
    assert all(e.at.endswith("Z") for e in audit)
    later = await stub.ListAudit(pb.ListAuditRequest(since="2999-01-01T00:00:00Z"), timeout=10)
    assert list(later.entries) == []

    cases: list[tuple[Awaitable[object], grpc.StatusCode, str]] = [
        (stub.CreateUser(pb.CreateUserRequest(name="alice", password=PASSWORD), timeout=10),
         grpc.StatusCode.ALREADY_EXISTS, "USER_EXISTS"),
        (stub.CreateUser(pb.CreateUserRequest(name="Bad Name", password=PASSWORD), timeout=10),
         grpc.StatusCode.INVALID_ARGUMENT, "NAME_INVALID"),
        (stub.CreateUser(pb.CreateUserRequest(name="bob", password="short"), timeout=10),
         grpc.StatusCode.INVALID_ARGUMENT, "PASSWORD_INVALID"),
        (stub.DeleteTeam(pb.DeleteTeamRequest(name="nope"), timeout=10),
         grpc.StatusCode.NOT_FOUND, "TEAM_UNKNOWN"),
        (stub.RemoveMember(pb.RemoveMemberRequest(team="team-a", user="bob"), timeout=10),
         grpc.StatusCode.NOT_FOUND, "MEMBER_UNKNOWN"),
        (stub.SetGrant(pb.SetGrantRequest(grant=pb.Grant(
            subject_kind="team", subject="team-a", pattern="a//b", actions=["pull"])), timeout=10),
         grpc.StatusCode.INVALID_ARGUMENT, "PATTERN_INVALID"),
        (stub.SetGrant(pb.SetGrantRequest(grant=pb.Grant(
            subject_kind="group", subject="x", pattern="x/**", actions=["pull"])), timeout=10),
         grpc.StatusCode.INVALID_ARGUMENT, "SUBJECT_INVALID"),
        (stub.SetQuota(pb.SetQuotaRequest(team="team-a", quota_bytes=-1), timeout=10),
         grpc.StatusCode.INVALID_ARGUMENT, "QUOTA_INVALID"),
        (stub.SetRetention(pb.SetRetentionRequest(rule=pb.RetentionRule(pattern="x/**")),
                           timeout=10),
         grpc.StatusCode.INVALID_ARGUMENT, "RETENTION_INVALID"),
        (stub.ListAudit(pb.ListAuditRequest(since="yesterday"), timeout=10),
         grpc.StatusCode.INVALID_ARGUMENT, "TIME_INVALID"),
        (stub.RotateSigningKey(pb.RotateSigningKeyRequest(), timeout=10),
         grpc.StatusCode.FAILED_PRECONDITION, "AUTH_OFF"),
    ]  # fmt: skip
    for pending, code, why in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pending
        assert caught.value.code() == code, why
        assert reason(caught.value) == why


async def test_rotation_keeps_tokens_in_flight_and_rules_apply_at_once(
    start_registry: StartRegistry,
) -> None:
    async with start_registry(auth=True) as running:
        stub = access_pb2_grpc.AccessStub(running.channel)
        client = running.client
        await stub.CreateUser(pb.CreateUserRequest(name="alice", password=PASSWORD), timeout=10)
        grant = pb.Grant(subject_kind="user", subject="alice", pattern="a/**", actions=["pull"])
        await stub.SetGrant(pb.SetGrantRequest(grant=grant), timeout=10)
        query = {"service": "estiba-registry", "scope": "repository:a/x:pull"}
        reply = await client.request("GET", "/token", params=query,
                                     headers=basic("alice", PASSWORD))  # fmt: skip
        token = reply.json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        kid = (await stub.RotateSigningKey(pb.RotateSigningKeyRequest(), timeout=10)).kid
        assert await _header_kid(client, basic("alice", PASSWORD)) == kid
        tags = await client.request("GET", "/v2/a/x/tags/list", headers=bearer)
        assert tags.status == 404  # allowed (the repository does not exist), not 401
        await stub.RevokeGrant(
            pb.RevokeGrantRequest(subject_kind="user", subject="alice", pattern="a/**"),
            timeout=10,
        )
        assert (await client.request("GET", "/v2/a/x/tags/list", headers=bearer)).status == 403
        await stub.DeleteUser(pb.DeleteUserRequest(name="alice"), timeout=10)
        assert (await client.request("GET", "/v2/a/x/tags/list", headers=bearer)).status == 401


async def _header_kid(client: Client, headers: dict[str, str]) -> str:
    reply = await client.request(
        "GET", "/token", params={"service": "estiba-registry"}, headers=headers
    )
    head = reply.json()["token"].split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])
