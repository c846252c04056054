"""estiba.registry.v1.Access: accounts, teams, robots, grants, quotas, retention and audit.

Thin: each RPC converts its message, calls ``AccessService`` (or the authenticator for key
rotation) and converts the answer. Changes are audited under the actor ``admin`` (the gRPC API
is for the machine's operators) with the peer's address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc

from estiba.registry.v1 import access_pb2 as pb
from estiba.registry.v1 import access_pb2_grpc
from services.kit import errors
from services.registry.api.convert import timestamp
from services.registry.domain.access_models import Grant, RetentionRule, Robot, Team, User
from services.registry.domain.accounts import AccessService, Actor
from services.registry.domain.authn import Authenticator

Context = grpc.aio.ServicerContext[Any, Any]


def _actor(context: Context) -> Actor:
    return Actor("admin", context.peer() or "")


def _user(u: User) -> pb.User:
    return pb.User(name=u.name, admin=u.admin, created_at=timestamp(u.created_at), teams=u.teams)


def _team(t: Team) -> pb.Team:
    return pb.Team(
        name=t.name,
        quota_bytes=t.quota_bytes,
        used_bytes=t.used_bytes,
        members=[pb.Member(user=m.user, role=m.role) for m in t.members],
        created_at=timestamp(t.created_at),
    )


def _robot(r: Robot) -> pb.Robot:
    return pb.Robot(
        name=r.name,
        team=r.team,
        created_at=timestamp(r.created_at),
        expires_at=timestamp(r.expires_at),
        revoked_at=timestamp(r.revoked_at),
    )


def _grant(g: Grant) -> pb.Grant:
    return pb.Grant(
        subject_kind=g.subject_kind, subject=g.subject, pattern=g.pattern, actions=g.actions
    )


def _since(text: str) -> float:
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise errors.InvalidArgument(
            f"since must be an RFC 3339 time, not {text[:40]!r}", reason="TIME_INVALID"
        ) from exc


class AccessServicer(access_pb2_grpc.AccessServicer):
    def __init__(self, access: AccessService, authenticator: Authenticator | None) -> None:
        self._access = access
        self._auth = authenticator

    async def CreateUser(
        self, request: pb.CreateUserRequest, context: Context
    ) -> pb.CreateUserResponse:
        user = await self._access.create_user(
            _actor(context), request.name, request.password, request.admin
        )
        return pb.CreateUserResponse(user=_user(user))

    async def SetPassword(
        self, request: pb.SetPasswordRequest, context: Context
    ) -> pb.SetPasswordResponse:
        await self._access.set_password(_actor(context), request.name, request.password)
        return pb.SetPasswordResponse()

    async def SetAdmin(self, request: pb.SetAdminRequest, context: Context) -> pb.SetAdminResponse:
        await self._access.set_admin(_actor(context), request.name, request.admin)
        return pb.SetAdminResponse()

    async def DeleteUser(
        self, request: pb.DeleteUserRequest, context: Context
    ) -> pb.DeleteUserResponse:
        await self._access.delete_user(_actor(context), request.name)
        return pb.DeleteUserResponse()

    async def ListUsers(
        self, request: pb.ListUsersRequest, context: Context
    ) -> pb.ListUsersResponse:
        return pb.ListUsersResponse(users=[_user(u) for u in await self._access.users()])

    async def CreateTeam(
        self, request: pb.CreateTeamRequest, context: Context
    ) -> pb.CreateTeamResponse:
        team = await self._access.create_team(_actor(context), request.name)
        return pb.CreateTeamResponse(team=_team(team))

    async def DeleteTeam(
        self, request: pb.DeleteTeamRequest, context: Context
    ) -> pb.DeleteTeamResponse:
        await self._access.delete_team(_actor(context), request.name)
        return pb.DeleteTeamResponse()

    async def ListTeams(
        self, request: pb.ListTeamsRequest, context: Context
    ) -> pb.ListTeamsResponse:
        return pb.ListTeamsResponse(teams=[_team(t) for t in await self._access.teams()])

    async def AddMember(
        self, request: pb.AddMemberRequest, context: Context
    ) -> pb.AddMemberResponse:
        await self._access.add_member(
            _actor(context), request.team, request.user, request.role or "member"
        )
        return pb.AddMemberResponse()

    async def RemoveMember(
        self, request: pb.RemoveMemberRequest, context: Context
    ) -> pb.RemoveMemberResponse:
        await self._access.remove_member(_actor(context), request.team, request.user)
        return pb.RemoveMemberResponse()

    async def SetQuota(self, request: pb.SetQuotaRequest, context: Context) -> pb.SetQuotaResponse:
        await self._access.set_quota(_actor(context), request.team, request.quota_bytes)
        return pb.SetQuotaResponse()

    async def CreateRobot(
        self, request: pb.CreateRobotRequest, context: Context
    ) -> pb.CreateRobotResponse:
        robot, secret = await self._access.create_robot(
            _actor(context), request.team, request.name, request.ttl_seconds
        )
        return pb.CreateRobotResponse(robot=_robot(robot), secret=secret)

    async def RevokeRobot(
        self, request: pb.RevokeRobotRequest, context: Context
    ) -> pb.RevokeRobotResponse:
        await self._access.revoke_robot(_actor(context), request.name)
        return pb.RevokeRobotResponse()

    async def DeleteRobot(
        self, request: pb.DeleteRobotRequest, context: Context
    ) -> pb.DeleteRobotResponse:
        await self._access.delete_robot(_actor(context), request.name)
        return pb.DeleteRobotResponse()

    async def ListRobots(
        self, request: pb.ListRobotsRequest, context: Context
    ) -> pb.ListRobotsResponse:
        robots = await self._access.robots(request.team or None)
        return pb.ListRobotsResponse(robots=[_robot(r) for r in robots])

    async def SetGrant(self, request: pb.SetGrantRequest, context: Context) -> pb.SetGrantResponse:
        g = request.grant
        grant = await self._access.grant(
            _actor(context), g.subject_kind, g.subject, g.pattern, list(g.actions)
        )
        return pb.SetGrantResponse(grant=_grant(grant))

    async def RevokeGrant(
        self, request: pb.RevokeGrantRequest, context: Context
    ) -> pb.RevokeGrantResponse:
        await self._access.revoke_grant(
            _actor(context), request.subject_kind, request.subject, request.pattern
        )
        return pb.RevokeGrantResponse()

    async def ListGrants(
        self, request: pb.ListGrantsRequest, context: Context
    ) -> pb.ListGrantsResponse:
        return pb.ListGrantsResponse(grants=[_grant(g) for g in await self._access.grants()])

    async def SetAnonymousPull(
        self, request: pb.SetAnonymousPullRequest, context: Context
    ) -> pb.SetAnonymousPullResponse:
        await self._access.set_anonymous_pull(_actor(context), request.pattern, request.enabled)
        return pb.SetAnonymousPullResponse()

    async def ListAnonymousPull(
        self, request: pb.ListAnonymousPullRequest, context: Context
    ) -> pb.ListAnonymousPullResponse:
        return pb.ListAnonymousPullResponse(patterns=await self._access.anonymous_pull())

    async def SetRetention(
        self, request: pb.SetRetentionRequest, context: Context
    ) -> pb.SetRetentionResponse:
        r = request.rule
        rule = RetentionRule(r.pattern, int(r.keep_last), float(r.keep_days))
        await self._access.set_retention(_actor(context), rule)
        return pb.SetRetentionResponse()

    async def DeleteRetention(
        self, request: pb.DeleteRetentionRequest, context: Context
    ) -> pb.DeleteRetentionResponse:
        await self._access.delete_retention(_actor(context), request.pattern)
        return pb.DeleteRetentionResponse()

    async def ListRetention(
        self, request: pb.ListRetentionRequest, context: Context
    ) -> pb.ListRetentionResponse:
        rules = await self._access.retention()
        return pb.ListRetentionResponse(
            rules=[
                pb.RetentionRule(pattern=r.pattern, keep_last=r.keep_last, keep_days=r.keep_days)
                for r in rules
            ]
        )

    async def ListAudit(
        self, request: pb.ListAuditRequest, context: Context
    ) -> pb.ListAuditResponse:
        entries = await self._access.audit(
            _since(request.since), request.actor, request.limit or 100
        )
        return pb.ListAuditResponse(
            entries=[
                pb.AuditEntry(
                    id=e.id,
                    at=timestamp(e.at),
                    actor=e.actor,
                    action=e.action,
                    target=e.target,
                    outcome=e.outcome,
                    address=e.address,
                    detail=e.detail,
                )
                for e in entries
            ]
        )

    async def RotateSigningKey(
        self, request: pb.RotateSigningKeyRequest, context: Context
    ) -> pb.RotateSigningKeyResponse:
        if self._auth is None:
            raise errors.FailedPrecondition(
                "authentication is off; there is no signing key", reason="AUTH_OFF"
            )
        return pb.RotateSigningKeyResponse(kid=await self._auth.rotate_key())

    def register(self, server: grpc.aio.Server) -> None:
        access_pb2_grpc.add_AccessServicer_to_server(self, server)
